"""The written reflection of notebook 6, end to end: autograding leaves it to a human (make grade lists it), a grade
entered through nbgrader's API (what the formgrader does) counts, and the CSV export carries it."""
import csv
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import cutmix_course
import kernel_timeouts as kt
from cutmix_course.grading import grade
from cutmix_course.grading.export import CourseCsvExport, summary_table

COURSE = Path(cutmix_course.__file__).resolve().parents[2]
EXAMPLES = COURSE / "tests" / "submissions"
STUDENT = "s01-solution"

pytestmark = pytest.mark.slow


def test_a_reflection_graded_by_hand_reaches_the_csv(tmp_path):
    submitted = tmp_path / "submitted"
    shutil.copytree(EXAMPLES / "submitted" / STUDENT, submitted / STUDENT)
    run = grade(submitted, COURSE, tmp_path / "out", duedate=(EXAMPLES / "duedate.txt").read_text().strip(),
                sandbox="bwrap", timeout=kt.COURSE_CELL, progress=print)
    result = run.by_student()[STUDENT]
    assert result.manual == ["06_quiz/reflection"]
    assert result.raw_score == result.max_score - 2  # everything else autograded in full
    table = summary_table(run)
    assert "Awaiting grading by hand: 1 cell(s) in 1 submission(s) (06_quiz/reflection)" in table
    assert f"  {STUDENT}: 06_quiz/reflection" in table

    with Gradebook(run.db_url) as gb:  # what the formgrader's Manual Grading page does when a score is saved
        nb = gb.find_submission_notebook("06_quiz", "cutout_cutmix", STUDENT)
        assert nb.needs_manual_grade
        reflection = gb.find_grade("reflection", "06_quiz", "cutout_cutmix", STUDENT)
        assert reflection.score is None or reflection.score == 0
        reflection.manual_score = 1.5
        reflection.needs_manual_grade = False
        gb.db.commit()
    with Gradebook(run.db_url) as gb:
        assert not gb.find_submission_notebook("06_quiz", "cutout_cutmix", STUDENT).needs_manual_grade
        out = tmp_path / "grades-after.csv"
        CourseCsvExport(to=str(out)).export(gb)
    rows = {row["student_id"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert float(rows[STUDENT]["raw_score"]) == result.raw_score + 1.5
    assert float(rows[STUDENT]["score"]) == result.raw_score + 1.5
