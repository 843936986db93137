"""`python -m cutmix_course bench-similarity N [N ...]`: the similarity review's cost for classes of N students.

Each synthetic student's answers are the course's solution with every variable renamed at random, so every pair is a
candidate (the worst case for the review's index); it prints comparisons, flagged pairs and seconds per class size.
"""
from __future__ import annotations

import argparse
import random
import re

import nbformat

from ..grading.course_folders import course_folders
from ..grading.similarity import REFERENCE, answers, review
from ..notebook.paths import course_root


def bench(counts, exercises=None) -> None:
    """Synthetic classes: each student's answers are the solution with every variable renamed at random, so every
    pair is a candidate (the worst case for the index). Prints the time per class size."""
    source = course_folders(course_root(required=True)).source()
    solution = {}
    for path in sorted(source.glob("*.ipynb")):
        solution.update(answers(nbformat.read(path, as_version=4)))
    if exercises:
        solution = {e: c for e, c in solution.items() if e in exercises}
    rng = random.Random(0)

    def renamed(code: str) -> str:
        names = sorted(set(re.findall(r"\b(?!def\b|return\b|for\b|in\b|if\b|else\b|not\b|and\b|or\b|None\b)"
                                      r"[a-z_][a-z_0-9]*\b(?=\s*[=,)])", code)))
        for name in names:
            code = re.sub(rf"\b{name}\b", f"{name}_{rng.randrange(10**6)}", code)
        return code

    for n in counts:
        students = {f"student{i:05d}": {e: renamed(c) for e, c in solution.items()} for i in range(n)}
        refs = {e: [(f"{REFERENCE}: the solution", c)] for e, c in solution.items()}
        result = review(students, refs, keep_pairs=False)
        print(f"{n} students: {result.comparisons} comparisons, {result.flagged_count} pairs flagged, "
              f"{result.seconds:.1f} s", flush=True)



def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cutmix_course bench-similarity", description=__doc__.splitlines()[0])
    p.add_argument("students", type=int, nargs="+", metavar="N", help="class sizes to time")
    p.add_argument("--exercises", nargs="+", default=None, help="only these exercises (default: all)")
    args = p.parse_args(argv)
    bench(args.students, args.exercises)
    return 0
