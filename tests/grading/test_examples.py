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

import cutmix_course
import pytest

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
    assert all(run.by_student()[s].raw_score == run.by_student()[s].max_score for s in good)
