"""Similarity review: every graded function of every student against the reference and against every other student.

Code is compared with copydetect (winnowed fingerprints of k-grams of *normalised* code: pygments tokens with names,
strings and numbers replaced by one letter each, comments and blanks dropped; Schleimer, Wilkerson and Aiken 2003,
the method of MOSS), so renaming variables or reformatting changes nothing. The unit is an exercise's answer cell
(one function). References: the instructor's solution and the course functions the exercise's tripwire lists (the
student kit ships those, so a renamed copy of them is the copy the tripwire cannot see).

A pair is flagged when the larger of its two shares (copied characters over the characters of one side) reaches
THRESHOLD; the instructor gets the share and both snippets, and **no score changes**: similar code is a reason to
look, not a verdict. Answers shorter than MIN_CHARS normalised characters (a two-line softmax: 60) are left out,
since correct answers that short cannot help being alike.

Cost: fingerprints once per answer, then copydetect's comparison only for the pairs that share a fingerprint (an
inverted index); `python -m cutmix_course bench-similarity 200 1000` measures it.
"""
from __future__ import annotations

import inspect
import io
import time
from dataclasses import dataclass, field

from ..notebook.regions import without_solution_markers

THRESHOLD = 0.8
MIN_CHARS = 100      # normalised characters (names as V, strings as S): cutout_one's answer has 121, softmax's 60
K, WINDOW = 25, 6    # copydetect's defaults: noise threshold 25, guarantee threshold 30 (= K + WINDOW - 1)
REFERENCE = "reference"


@dataclass
class Pair:
    exercise: str
    a: str               # student id, or "reference: <what>"
    b: str
    similarity: float    # max(share of a, share of b)
    shares: tuple
    code_a: str
    code_b: str

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "a": self.a, "b": self.b, "similarity": round(self.similarity, 3),
                "shares": [round(s, 3) for s in self.shares], "code_a": self.code_a, "code_b": self.code_b}


@dataclass
class Review:
    pairs: list = field(default_factory=list)
    compared: dict = field(default_factory=dict)   # exercise -> number of answers compared
    skipped: dict = field(default_factory=dict)    # exercise -> why it was left out
    seconds: float = 0.0
    comparisons: int = 0
    flagged_count: int = 0

    def flagged(self) -> dict:
        """student -> [(exercise, the other side, similarity)]."""
        out: dict = {}
        for p in self.pairs:
            for me, other in ((p.a, p.b), (p.b, p.a)):
                if not me.startswith(REFERENCE):
                    out.setdefault(me, []).append((p.exercise, other, p.similarity))
        return out


def answers(nb) -> dict:
    """grade_id -> code of every answer (solution) cell of a notebook, without nbgrader's region markers."""
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = without_solution_markers(cell.source)
    return out


def normalised_length(code: str) -> int:
    from copydetect.utils import filter_code

    return len(filter_code(code, "answer.py", "python")[0])


def _fingerprint(code: str):
    from copydetect import CodeFingerprint

    return CodeFingerprint("answer.py", K, WINDOW, fp=io.StringIO(code), language="python")


def course_references(exercise: str, solution_code: str | None) -> list:
    """[(label, code)]: the instructor's solution and the Python source of the exercise's forbidden course functions."""
    import importlib

    from ..notebook.exercises import FORBIDDEN

    refs = [(f"{REFERENCE}: the solution", solution_code)] if solution_code else []
    for path in FORBIDDEN.get(exercise, ()):
        if not path.startswith("cutmix_course."):
            continue
        module, _, name = path.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            module, _, cls = module.rpartition(".")  # a method: cutmix_course.core.data.DataSplit.normalize
            obj = getattr(getattr(importlib.import_module(module), cls), name)
        obj = getattr(obj, "__wrapped__", obj)
        try:
            refs.append((f"{REFERENCE}: {path}", inspect.getsource(obj)))
        except (OSError, TypeError):
            continue
    return refs


def review(students: dict, references: dict, threshold: float = THRESHOLD, min_chars: int = MIN_CHARS,
           keep_pairs: bool = True) -> Review:
    """students: id -> {exercise: code}; references: exercise -> [(label, code)]. Every student's answer against
    every other student's and every reference; pairs at or above `threshold` are returned, best first."""
    from copydetect import compare_files

    started = time.monotonic()
    result = Review()
    exercises = sorted({e for codes in students.values() for e in codes} | set(references))
    for exercise in exercises:
        sizes = {}
        for sid, codes in students.items():
            if exercise in codes and codes[exercise].strip():
                sizes[sid] = normalised_length(codes[exercise])
        reference_sizes = [normalised_length(code) for _, code in references.get(exercise, ())]
        if not sizes or max(sizes.values()) < min_chars:
            longest = max([*sizes.values(), *reference_sizes], default=0)
            result.skipped[exercise] = (f"answers shorter than {min_chars} normalised characters "
                                        f"(longest {max(sizes.values(), default=0)}; "
                                        f"reference {max(reference_sizes, default=0)})"
                                        if longest else "no answers")
            continue
        entries = [(sid, students[sid][exercise]) for sid, n in sizes.items() if n >= min_chars]
        entries += [(label, code) for label, code in references.get(exercise, ())
                    if normalised_length(code) >= min_chars]
        prints = {who: _fingerprint(code) for who, code in entries}
        code_of = dict(entries)
        result.compared[exercise] = sum(1 for who, _ in entries if not who.startswith(REFERENCE))
        index: dict = {}
        for who, fp in prints.items():
            for h in set(fp.hashes):
                index.setdefault(h, []).append(who)
        candidates = set()
        for group in index.values():
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    if not (a.startswith(REFERENCE) and b.startswith(REFERENCE)):
                        candidates.add((a, b) if a < b else (b, a))
        for a, b in sorted(candidates):
            _, shares, _ = compare_files(prints[a], prints[b])
            result.comparisons += 1
            similarity = max(float(shares[0]), float(shares[1]))
            if similarity >= threshold:
                result.flagged_count += 1
                if keep_pairs:
                        result.pairs.append(Pair(exercise, a, b, similarity, (float(shares[0]), float(shares[1])),
                                             code_of[a], code_of[b]))
    result.pairs.sort(key=lambda p: (-p.similarity, p.exercise, p.a, p.b))
    result.seconds = time.monotonic() - started
    return result


def markdown(result: Review, max_lines: int = 25, max_pairs: int = 100) -> str:
    """The instructor's page: what was compared, what was left out, and each flagged pair with both snippets."""
    lines = ["# Similarity review", "",
             f"Each answer compared with every other student's and with the reference (copydetect, k = {K}, window "
             f"{WINDOW}); pairs at or above {THRESHOLD:.0%} shown with both snippets. **Scores are not changed**: "
             "look, then decide.", ""]
    for exercise, n in sorted(result.compared.items()):
        lines.append(f"- `{exercise}`: {n} answers compared")
    for exercise, why in sorted(result.skipped.items()):
        lines.append(f"- `{exercise}`: left out, {why}")
    lines += ["", f"{len(result.pairs)} pair(s) flagged; {result.comparisons} comparisons "
                  f"in {result.seconds:.1f} s.", ""]
    if len(result.pairs) > max_pairs:
        lines += [f"The {max_pairs} most similar pairs follow; all {len(result.pairs)} are in report.json "
                  "(`similarity.pairs`).", ""]
    for p in result.pairs[:max_pairs]:
        lines += [f"## `{p.exercise}`: {p.a} and {p.b}, {p.similarity:.0%} "
                  f"(shares {p.shares[0]:.0%} / {p.shares[1]:.0%})", ""]
        for who, code in ((p.a, p.code_a), (p.b, p.code_b)):
            body = code.strip().splitlines()
            more = [f"# ... {len(body) - max_lines} more lines"] if len(body) > max_lines else []
            lines += [f"{who}:", "", "```python", *body[:max_lines], *more, "```", ""]
    return "\n".join(lines) + "\n"
