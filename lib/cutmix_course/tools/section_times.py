"""`python -m cutmix_course section-times`: the table of time per section at the top of each solutions notebook.

For every `## ` section: the reading time, its markdown's words at `WORDS_PER_MINUTE` rounded up to a minute, and
for a section with points an estimate of the time its exercises take, `MINUTES_PER_POINT` per point (the points
are nbgrader's, from the graded cells in the section). The reading time is counted; the exercise time is the
course authors' estimate, not measured with students, and the table says so. The table sits between two HTML
comments in the notebook's first cell; tests/tools/test_section_times.py checks that it matches the notebook.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import nbformat

from ..notebook.paths import ASSIGNMENT

ROOT = Path(__file__).resolve().parents[3]
WORDS_PER_MINUTE = 200  # an unhurried reading speed for technical prose
MINUTES_PER_POINT = 10
BEGIN, END = "<!-- section times, counted from this notebook -->", "<!-- end of section times -->"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def sections(nb) -> list[tuple[str, int, float]]:
    """(heading, words, points) for each `## ` section of `nb`, in order; a section runs to the next `## `, and the
    text before the first one is the introduction."""
    found = [["Introduction", 0, 0.0]]
    for cell in nb.cells:
        text = _BLOCK.sub("", cell.source) if cell.cell_type == "markdown" else ""
        for part in re.split(r"(?m)^(?=## )", text):
            if part.startswith("## "):
                found.append([part.splitlines()[0][3:].strip(), 0, 0.0])
            found[-1][1] += len(re.findall(r"\w+", part))
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            found[-1][2] += float(meta.get("points", 0))
    return [tuple(s) for s in found if s[1] or s[2]]


def table(nb) -> str:
    """The folded table: a summary line with the totals, then one row per section and how it was counted."""
    rows, reading_total, work_total = ["| section | reading | exercises (estimate) |", "| --- | --- | --- |"], 0, 0.0
    for heading, words, points in sections(nb):
        reading = max(1, math.ceil(words / WORDS_PER_MINUTE))
        reading_total, work_total = reading_total + reading, work_total + MINUTES_PER_POINT * points
        work = f"{MINUTES_PER_POINT * points:g} min ({points:g} points)" if points else ""
        rows.append(f"| {heading.replace('|', '/')} | {reading} min | {work} |")
    summary = f"Time per section: about {reading_total} min of reading" + \
        (f" and {work_total:g} min of exercises" if work_total else "")
    note = (f"*Reading: each section's text at {WORDS_PER_MINUTE} words per minute, counted. Exercises: "
            f"{MINUTES_PER_POINT} minutes per point, the course authors' estimate, not measured with students.*")
    return "\n".join([BEGIN, f"<details><summary>{summary}</summary>", "", *rows, "", note, "", "</details>", END])


def with_table(source: str, nb) -> str:
    """`source` (the first cell's) with the section table in place: replaced if there, else appended."""
    block = table(nb)
    if _BLOCK.search(source):
        return _BLOCK.sub(lambda _: block, source)
    return source.rstrip() + "\n\n" + block


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutmix_course section-times",
                                     description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    for path in sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        new = with_table(nb.cells[0].source, nb)
        if new != nb.cells[0].source:
            nb.cells[0].source = new
            nbformat.write(nb, path)
            print(f"updated {path.relative_to(ROOT)}")
    print("now run `make release` to carry the tables into the student notebooks")
    return 0
