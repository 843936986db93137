"""The bundled example submissions (tests/submissions/): up to date with the course's notebooks, and graded as
expected in one run (`make grade` grades the same folder).

These tests need the course notebooks (solutions/ and notebooks/); until those are written they are skipped with
that reason. Once the notebooks exist, the examples must exist too: a missing tests/submissions/expected.json fails.
"""
import csv
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cutmix_course
import kernel_timeouts as kt
from cutmix_course.grading import grade

from . import examples as ex

COURSE = Path(cutmix_course.__file__).resolve().parents[2]
ASSIGNMENT = "cutout_cutmix"
EXAMPLES = COURSE / "tests" / "submissions"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not any((COURSE / "solutions" / ASSIGNMENT).glob("*.ipynb")),
                       reason="the course notebooks (solutions/cutout_cutmix) are not written yet"),
]


def _expected() -> dict:
    path = EXAMPLES / "expected.json"
    assert path.exists(), "no bundled examples: run .venv/bin/python tests/submissions/make_examples.py"
    return json.loads(path.read_text(encoding="utf-8"))


def test_examples_are_up_to_date_with_the_notebooks(tmp_path):
    _expected()
    copy = tmp_path / "submissions"
    subprocess.run([sys.executable, str(EXAMPLES / "make_examples.py"), "--out", str(copy)], check=True,
                   capture_output=True, text=True)
    compare = filecmp.dircmp(EXAMPLES / "submitted", copy / "submitted")
    stale = []

    def walk(cmp, prefix=""):
        stale.extend(prefix + name for name in cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, prefix + name + "/")

    walk(compare)
    for name in ("expected.json", "duedate.txt"):
        if (EXAMPLES / name).read_bytes() != (copy / name).read_bytes():
            stale.append(name)
    assert stale == [], "tests/submissions is out of date: run .venv/bin/python tests/submissions/make_examples.py"


def test_bundled_examples_grade_as_expected(tmp_path):
    expected = _expected()
    run = grade(EXAMPLES, COURSE, tmp_path / "out", duedate=expected["duedate"], sandbox="bwrap", reuse=True,
                timeout=kt.COURSE_CELL, progress=print)
    assert ex.mismatches(run, expected) == []
    with open(run.csv, newline="", encoding="utf-8") as fh:
        assert {row["student_id"] for row in csv.DictReader(fh)} == set(expected["students"])
    hidden = ex.hidden_lines(ex.read_set(COURSE / "solutions" / ASSIGNMENT),
                             ex.read_set(COURSE / "notebooks" / ASSIGNMENT))
    hidden -= ex.student_lines(EXAMPLES / "submitted")
    assert len(hidden) >= 10, "the course's notebooks have (almost) no hidden tests?"
    assert ex.leaks(run.feedback, hidden) == []
    good = [s for s, want in expected["students"].items() if not want["fail"] and not want["late"]]
    by_hand = 2.0  # 06_quiz/reflection waits for the instructor: the good ones score everything else
    assert all(run.by_student()[s].raw_score == run.by_student()[s].max_score - by_hand for s in good)
    assert all(run.by_student()[s].manual == ["06_quiz/reflection"] for s in good)
    for s in good:  # the reflection's model answer and rubric come with the feedback (the release has neither)
        page = ex.page_text(run.feedback / s / ASSIGNMENT / "06_quiz.html")
        assert "model answer and rubric for reflection" in page and "Rubric." in page, s
    assert "Rubric." not in (COURSE / "notebooks" / ASSIGNMENT / "06_quiz.ipynb").read_text(encoding="utf-8")
    _check_attacks(run)
    _check_read_the_grader(run)
    _check_similarity(run)


def _make_examples():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_attacks(run):
    """Each attack scores no more than its plain wrong twin, and is flagged with the lines quoted."""
    mk = _make_examples()
    results = run.by_student()
    for student, (_, code) in mk.ATTACKS.items():
        twin = "s14-delegation" if student == "s24-tripwire-off" else mk.TWIN
        got, plain = results[student], results[twin]
        assert got.score <= plain.score, f"{student} scored {got.score}, its plain twin {twin} {plain.score}"
        flagged = [detail for kind, _, detail in got.problems if kind == "tamper"]
        assert flagged and any(line.strip()[:60] in flagged[0] for line in code.splitlines()
                               if len(line.strip()) > 12), \
            f"{student}: not flagged with its lines: {got.problem_text()}"


def _check_read_the_grader(run):
    """The attacks written after reading the grader: none scores more than its plain twin, and each is held with a
    quoted line, or refused at intake, or (the history echo) harmless: it shows no hidden test (`leaks` above)."""
    mk = _make_examples()
    results = run.by_student()
    for example in mk.read_the_grader_examples():
        twin = "s14-delegation" if example.student == "t04-thread-delegation" else mk.TWIN
        got = results[example.student]
        assert got.score <= results[twin].score, f"{example.student} scored {got.score} > {twin}"
        kinds = {kind for kind, _, _ in got.problems}
        if "tamper" in example.problems:
            assert "tamper" in kinds and " line " in got.problem_text(), got.problem_text()
    assert "torch.py is not a notebook of the assignment" in results["t06-torch-py"].problem_text()


def _check_similarity(run):
    """The renamed copy and the sharing pair are flagged (with both snippets), the independent solution
    is not, and the review changes no score (all four examples score full marks: `mismatches` above)."""
    mk = _make_examples()
    flagged = run.similarity.flagged()
    for student, want in mk.SIMILAR.items():
        for exercise, other in want.items():
            hits = [o for e, o, _ in flagged.get(student, []) if e == exercise]
            assert any(o == other or o.startswith(other + ":") for o in hits), \
                f"{student}/{exercise}: expected a pair with {other}, got {hits}"
    assert mk.INDEPENDENT_STUDENT not in flagged, flagged.get(mk.INDEPENDENT_STUDENT)
    report = json.loads((run.out / "report.json").read_text(encoding="utf-8"))
    shared = [p for p in report["similarity"]["pairs"] if {p["a"], p["b"]} == {"s29-shared-a", "s30-shared-b"}
              and p["exercise"] == "cutout_batch"]
    assert shared and mk.SHARED_CUTOUT_BATCH.splitlines()[4].strip() in shared[0]["code_a"] + shared[0]["code_b"]
    assert "softmax" in report["similarity"]["skipped"]
    page = (run.out / "similarity.md").read_text(encoding="utf-8")  # the most similar pairs, both snippets each
    assert page.count("```python") >= 2 and "Scores are not changed" in page
