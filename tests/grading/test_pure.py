"""The grader's record and export steps on a real nbgrader gradebook (sqlite, built here cell by cell), without
kernels: grades written the way nbgrader writes them, manual grades kept, late penalties, the CSV, report.json, the
summary table and the Canvas import. Expected values are written out from the set-up (points, seconds), never read
back from the code under test."""
from __future__ import annotations

import csv
import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cutmix_course.grading import GradingError
from cutmix_course.grading.export import (
    CSV_COLUMNS,
    CourseCsvExport,
    GradingRun,
    summary_table,
    write_canvas,
    write_report,
)
from cutmix_course.grading.intake import Submission
from cutmix_course.grading.record import (
    NotebookResult,
    StudentResult,
    record,
    refresh_from_gradebook,
    store_grades,
    write_files,
)
from cutmix_course.grading.task import NotebookOutcome, StudentOutcome

A = "hw"
DUE = datetime(2026, 3, 1, 12, 0)
# nb1: q1 (2 points, code), m1 (3 points, written answer); nb2: q2 (1 point)
POINTS = {("nb1", "q1"): 2.0, ("nb1", "m1"): 3.0, ("nb2", "q2"): 1.0}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """One gradebook for the module, made as nbgrader makes a new one (its tables, and alembic's version table holding
    nbgrader's head revision), except that the head is read in this process: nbgrader starts an `alembic`
    subprocess for it, seconds on a loaded machine, which mutation testing would pay for every mutant."""
    import sqlite3

    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.api import Gradebook

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    path = tmp_path_factory.mktemp("gb") / "gradebook.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (ScriptDirectory.from_config(config).get_current_head(),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush warnings from inside nbgrader
        with Gradebook(f"sqlite:///{path}") as book:
            book.add_assignment(A, duedate=DUE)
            book.add_notebook("nb1", A)
            book.add_grade_cell("q1", "nb1", A, max_score=2, cell_type="code")
            book.add_solution_cell("q1", "nb1", A)
            book.add_grade_cell("m1", "nb1", A, max_score=3, cell_type="markdown")
            book.add_solution_cell("m1", "nb1", A)
            book.add_notebook("nb2", A)
            book.add_grade_cell("q2", "nb2", A, max_score=1, cell_type="code")
            yield book


@pytest.fixture
def gb(book):
    """The module's gradebook with no students: each test starts from the assignment alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield book
        for student in list(book.students):
            book.remove_student(student.id)


def outcome(student: str, late_hours: float = 0.0, penalty: float | None = None, q1=2.0, q2=1.0, nb2=True,
            problems=()) -> StudentOutcome:
    notebooks = {"nb1": NotebookOutcome(graded=True, seconds=1.5, penalty=penalty,
                                        grades={"q1": (q1, False), "m1": (0.0, True)},
                                        comments={"q1": "well done", "m1": None})}
    if nb2:
        notebooks["nb2"] = NotebookOutcome(graded=True, seconds=0.5, penalty=penalty, grades={"q2": (q2, False)})
    return StudentOutcome(student, timestamp=DUE + timedelta(hours=late_hours), notebooks=notebooks,
                          problems=list(problems), seconds=2.25, timings={"cells": 1.234, "kernel start": 0.5},
                          files={f"course/autograded/{student}/{A}/nb1.ipynb": b"{}",
                                 f"course/feedback/{student}/{A}/nb1.html": "é".encode()})


def grades(gb, student):
    sub = gb.find_submission(A, student)
    return {(nb.name, g.name): (g.score, g.auto_score, g.manual_score, g.needs_manual_grade)
            for nb in sub.notebooks for g in nb.grades}


# --------------------------------------------------------------------------------------------------- record
def test_store_grades_writes_auto_scores_comments_and_penalty(gb):
    store_grades(gb, A, outcome("ann", penalty=0.5, q1=1.0))
    got = grades(gb, "ann")
    assert got[("nb1", "q1")] == (1.0, 1.0, None, False)
    assert got[("nb1", "m1")] == (0.0, 0.0, None, True), "a written answer waits for the instructor"
    assert got[("nb2", "q2")] == (1.0, 1.0, None, False)
    sub = gb.find_submission(A, "ann")
    assert {nb.name: nb.late_submission_penalty for nb in sub.notebooks} == {"nb1": 0.5, "nb2": 0.5}
    comments = {c.name: c.auto_comment for nb in sub.notebooks for c in nb.comments}
    assert comments == {"q1": "well done", "m1": None}
    assert sub.timestamp == DUE


def test_store_grades_keeps_a_manual_grade_and_flags_it_for_review(gb):
    store_grades(gb, A, outcome("bob"))
    grade = gb.find_grade("m1", "nb1", A, "bob")
    grade.manual_score = 2.5
    gb.db.commit()
    store_grades(gb, A, outcome("bob", q1=0.0))  # graded again (--resume after a change)
    got = grades(gb, "bob")
    assert got[("nb1", "m1")] == (2.5, 0.0, 2.5, True), "the instructor's 2.5 stays; the grade asks for a look"
    assert got[("nb1", "q1")] == (0.0, 0.0, None, False)


def test_a_notebook_without_an_outcome_scores_zero(gb):
    store_grades(gb, A, outcome("cat", nb2=False))
    got = grades(gb, "cat")
    assert got[("nb2", "q2")] == (0.0, 0.0, None, False)
    gb.find_grade("q2", "nb2", A, "cat").manual_score = 1.0
    gb.db.commit()
    store_grades(gb, A, outcome("cat", nb2=False))
    assert grades(gb, "cat")[("nb2", "q2")][3] is True, "a manual score on it still waits for review"


def test_record_writes_the_files_and_returns_the_gradebooks_scores(gb, tmp_path):
    out = tmp_path / "out"
    stale = out / "course" / "feedback" / "dan" / A / "old.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier run")
    other = out / "course" / "feedback" / "eve" / A / "nb1.html"
    other.parent.mkdir(parents=True)
    other.write_text("another student's")
    submission = Submission("dan", files={"nb1.ipynb": b"{\"cells\": []}", "data/x.txt": b"x"})

    result = record(gb, out, A, submission, outcome("dan", late_hours=3, penalty=1.0, problems=[("timeout", "nb1",
                                                                                                "cell 3")]),
                    attempts=2)

    assert (out / "course" / "submitted" / "dan" / A / "nb1.ipynb").read_bytes() == b"{\"cells\": []}"
    assert (out / "course" / "submitted" / "dan" / A / "data" / "x.txt").read_bytes() == b"x"
    assert (out / "course" / "feedback" / "dan" / A / "nb1.html").read_text(encoding="utf-8") == "é"
    assert not stale.exists(), "what an earlier run left of this student is replaced"
    assert other.read_text() == "another student's", "other students are untouched"
    # 2 + 0 (written answer) + 1 = 3 raw points; penalty 1.0 per notebook, 2 notebooks
    assert (result.raw_score, result.max_score, result.penalty) == (3.0, 6.0, 2.0)
    assert result.score == 1.0 and result.late and result.seconds_late == 3 * 3600
    assert result.attempts == 2 and result.seconds == 2.25 and result.timings == {"cells": 1.234,
                                                                                 "kernel start": 0.5}
    assert result.notebooks["nb1"].cells == {"q1": 2.0, "m1": 0.0}
    assert (result.notebooks["nb1"].score, result.notebooks["nb1"].max_score) == (2.0, 5.0)
    assert result.notebooks["nb1"].graded and result.notebooks["nb1"].seconds == 1.5
    assert result.problems == [("timeout", "nb1", "cell 3"), ("late", "", "3.0 h after the due date, penalty 2")]


def test_an_empty_submission_still_gets_its_folder_and_an_on_time_one_no_late_problem(gb, tmp_path):
    result = record(gb, tmp_path, A, Submission("fay", files={}), outcome("fay", late_hours=-1))
    assert (tmp_path / "course" / "submitted" / "fay" / A).is_dir()
    assert not result.late and result.seconds_late == 0 and result.problems == []
    assert result.score == result.raw_score == 5.0 - 2.0  # the written answer's 3 points await the instructor


def test_a_penalty_larger_than_the_score_gives_zero_not_a_negative_grade(gb):
    store_grades(gb, A, outcome("gus", late_hours=30, penalty=5.0, q1=0.0, q2=1.0))
    result = refresh_from_gradebook(gb, A, StudentResult("gus"))
    assert result.raw_score == 1.0 and result.penalty == 10.0 and result.score == 0.0


def test_refresh_picks_up_a_manual_grade(gb):
    store_grades(gb, A, outcome("hal"))
    result = refresh_from_gradebook(gb, A, StudentResult("hal"))
    assert result.score == 3.0
    gb.find_grade("m1", "nb1", A, "hal").manual_score = 3.0
    gb.db.commit()
    assert refresh_from_gradebook(gb, A, result).score == 6.0
    assert result.notebooks["nb1"].cells["m1"] == 3.0


@pytest.mark.parametrize("rel", ["../escape.txt", "a/../../escape.txt", "/tmp/absolute.txt"])
def test_write_files_refuses_paths_outside_the_folder(tmp_path, rel):
    with pytest.raises(ValueError, match="outside"):
        write_files(tmp_path / "out", {rel: b"x"})
    assert not (tmp_path / "escape.txt").exists()


def test_write_files_writes_nested_paths(tmp_path):
    write_files(tmp_path, {"a/b/c.txt": b"1", "d.txt": b"2"})
    assert (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"1" and (tmp_path / "d.txt").read_bytes() == b"2"


def test_student_result_survives_a_round_trip_through_json():
    result = StudentResult("ivy", score=1.5, raw_score=2.5, max_score=6.0, late=True, seconds_late=60.0, penalty=1.0,
                           seconds=3.0, attempts=2, timings={"cells": 2.0}, problems=[("timeout", "nb1", "cell 2")],
                           notebooks={"nb1": NotebookResult(2.5, 5.0, {"q1": 2.5}, True, 1.0, True)})
    back = StudentResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result
    assert isinstance(back.problems[0], tuple) and isinstance(back.notebooks["nb1"], NotebookResult)


def test_problem_text_joins_problems_readably():
    result = StudentResult("jo", problems=[("timeout", "nb1", "cell 2"), ("late", "", "2.0 h"), ("missing", "nb2", "")])
    assert result.problem_text() == "timeout: nb1 cell 2; late: 2.0 h; missing: nb2"
    assert StudentResult("kim").problem_text() == ""


# --------------------------------------------------------------------------------------------------- export
def test_csv_export_has_a_row_per_student_with_late_penalties_and_problems(gb, tmp_path):
    store_grades(gb, A, outcome("ann"))
    store_grades(gb, A, outcome("bob", late_hours=2, penalty=0.25, q1=0.0))
    gb.add_student("zoë")  # on the roster, never submitted
    to = tmp_path / "grades.csv"
    CourseCsvExport(to=str(to), problems=[["bob", "late: 2.0 h"], ["zoë", "missing: everything"]]).export(gb)
    with open(to, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == CSV_COLUMNS
        rows = {r["student_id"]: r for r in reader}
    assert set(rows) == {"ann", "bob", "zoë"}
    assert rows["ann"]["raw_score"] == "3.0" and rows["ann"]["score"] == "3.0" and rows["ann"]["late"] == "no"
    assert rows["ann"]["max_score"] == "6.0" and rows["ann"]["problems"] == "" and rows["ann"]["assignment"] == A
    assert rows["ann"]["duedate"] == str(DUE) and rows["ann"]["timestamp"] == str(DUE)
    assert rows["bob"]["raw_score"] == "1.0" and rows["bob"]["late"] == "yes" and rows["bob"]["seconds_late"] == "7200"
    assert rows["bob"]["late_submission_penalty"] == "0.5" and rows["bob"]["score"] == "0.5"
    assert rows["bob"]["problems"] == "late: 2.0 h"
    assert rows["zoë"]["raw_score"] == "0.0" and rows["zoë"]["score"] == "0.0" and rows["zoë"]["timestamp"] == ""
    assert rows["zoë"]["late"] == "no" and rows["zoë"]["seconds_late"] == "0" and rows["zoë"]["max_score"] == "6.0"
    assert rows["zoë"]["problems"] == "missing: everything"


def test_csv_export_never_gives_a_negative_score(gb, tmp_path):
    store_grades(gb, A, outcome("gus", late_hours=30, penalty=5.0, q1=0.0, q2=0.0))
    CourseCsvExport(to=str(tmp_path / "g.csv")).export(gb)
    row = next(csv.DictReader(open(tmp_path / "g.csv", encoding="utf-8")))
    assert row["score"] == "0.0" and row["raw_score"] == "0.0"


def run_of(tmp_path, students, **kw) -> GradingRun:
    return GradingRun(out=tmp_path, sandbox="bwrap", students=students, csv=tmp_path / "grades.csv",
                      feedback=tmp_path / "feedback", gradebook=tmp_path / "gradebook.db", **kw)


def test_report_json_holds_every_student_with_rounded_times(tmp_path):
    ann = StudentResult("ann", score=4.0, raw_score=5.0, max_score=6.0, late=True, seconds_late=90.0, penalty=1.0,
                        seconds=12.3456, attempts=2, timings={"cells": 10.987}, problems=[("late", "", "0.0 h")],
                        notebooks={"nb1": NotebookResult(5.0, 5.0, {"q1": 2.0}, True, 8.0)})
    run = run_of(tmp_path, [ann, StudentResult("bob")], workers=2, graded=1, seconds=33.333,
                 canvas_unmatched=["roster x"])
    write_report(run)
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert (data["sandbox"], data["workers"], data["graded"], data["seconds"]) == ("bwrap", 2, 1, 33.3)
    assert data["canvas_unmatched"] == ["roster x"]
    first = data["students"][0]
    assert first["student"] == "ann" and first["seconds"] == 12.35 and first["timings"] == {"cells": 10.99}
    assert (first["score"], first["raw_score"], first["max_score"], first["penalty"]) == (4.0, 5.0, 6.0, 1.0)
    assert first["late"] is True and first["seconds_late"] == 90.0 and first["attempts"] == 2
    assert first["problems"] == [["late", "", "0.0 h"]]
    assert first["notebooks"]["nb1"] == {"score": 5.0, "max_score": 5.0, "cells": {"q1": 2.0}, "graded": True,
                                         "seconds": 8.0, "reused": False}
    assert [s["student"] for s in data["students"]] == ["ann", "bob"]


def test_summary_table_lists_each_student_in_aligned_columns(tmp_path):
    students = [StudentResult("ann", score=4.5, max_score=6.0, late=True, seconds=12.34,
                              problems=[("timeout", "nb1", "cell 3")]),
                StudentResult("bartholomew", score=6.0, max_score=6.0, seconds=3.0)]
    text = summary_table(run_of(tmp_path, students, workers=2, seconds=20.0))
    lines = text.splitlines()
    assert lines[0].split() == ["student", "score", "max", "late", "time", "problems"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["ann", "4.5", "6", "yes", "12.3s", "timeout:", "nb1", "cell", "3"]
    assert lines[3].split() == ["bartholomew", "6", "6", "no", "3.0s", "-"]
    assert lines[2].index("4.5") == lines[3].index("6") == lines[0].index("score"), "columns line up"
    assert "2 submission(s) in 20.0 s (10.0 s each on average, 2 worker(s)); sandbox: bwrap" in text
    assert f"grades: {tmp_path / 'grades.csv'}" in text and "Canvas" not in text
    assert "0 submission(s) in 0.0 s (0.0 s each" in summary_table(run_of(tmp_path, []))


ROSTER = ["Student,ID,SIS User ID,SIS Login ID,Section,hw (1234)",
          "Points Possible,,,,,6",
          "Ann A,1,u1,ann,S1,",
          "Cy C,3,u3,cy,S1,5"]


def test_canvas_import_matches_students_by_login_and_says_who_did_not_match(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeff" + "\n".join(ROSTER) + "\n", encoding="utf-8")  # Canvas writes a BOM
    results = [StudentResult("ann", score=4.5, max_score=6.0), StudentResult("dee", score=2.0, max_score=6.0)]
    dest, unmatched = write_canvas(roster, tmp_path / "canvas.csv", A, results)
    rows = list(csv.DictReader(open(dest, encoding="utf-8")))
    assert list(rows[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw (1234)"], \
        "the roster's own column for the assignment, so Canvas matches it by id"
    assert [(r["Student"], r["hw (1234)"]) for r in rows] == [("Points Possible", "6"), ("Ann A", "4.5"), ("Cy C", "")]
    assert rows[1]["SIS Login ID"] == "ann" and rows[1]["Section"] == "S1"
    assert unmatched == ["roster Cy C (cy): no graded submission, left blank",
                         "graded dee: not in the roster (no SIS Login ID 'dee'), not in the import"]


def test_canvas_import_adds_a_column_when_the_roster_has_none(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(line.rsplit(",", 1)[0] for line in ROSTER) + "\n", encoding="utf-8")
    dest, _ = write_canvas(roster, tmp_path / "canvas.csv", A, [StudentResult("cy", score=6.0, max_score=6.0)])
    rows = list(csv.DictReader(open(dest, encoding="utf-8")))
    assert list(rows[0])[-1] == A and [r[A] for r in rows] == ["6", "", "6"]


def test_canvas_import_refuses_a_file_that_is_not_a_roster(tmp_path):
    roster = tmp_path / "grades.csv"
    roster.write_text("student_id,score\nann,3\n", encoding="utf-8")
    with pytest.raises(GradingError, match=r"not a Canvas roster: no column\(s\) Student, ID, SIS User ID, "
                                           r"SIS Login ID, Section"):
        write_canvas(roster, tmp_path / "canvas.csv", A, [])
    assert not (tmp_path / "canvas.csv").exists()


def test_summary_table_footer_average_dashes_database_and_canvas(tmp_path):
    one = [StudentResult("ann", score=1.0, max_score=6.0, seconds=20.0, problems=[("note", "nb1", "x" * 300)])]
    run = run_of(tmp_path, one, workers=1, seconds=20.0, db_url="postgresql://grader@db/course",
                 canvas=tmp_path / "canvas.csv", canvas_unmatched=["roster Cy C (cy): no graded submission"])
    lines = summary_table(run).splitlines()
    assert lines[1] == "-" * 120, "the rule under the header stops at 120 characters however long a line is"
    assert "1 submission(s) in 20.0 s (20.0 s each on average, 1 worker(s))" in lines[-6]
    assert lines[-3] == "gradebook: postgresql://grader@db/course", "the database the grades went to"
    assert lines[-2:] == [f"Canvas import: {tmp_path / 'canvas.csv'}",
                          "  not matched: roster Cy C (cy): no graded submission"]
    assert summary_table(run_of(tmp_path, one)).splitlines()[-1] == f"gradebook: {tmp_path / 'gradebook.db'}"


def test_report_json_is_readable_utf8_one_value_per_line(tmp_path):
    write_report(run_of(tmp_path, [StudentResult("zoë", problems=[("late", "", "1.0 h")])]))
    raw = (tmp_path / "report.json").read_bytes()
    assert "zoë".encode("utf-8") in raw, "names are written as they are, in UTF-8, not as \\u escapes"
    assert raw.startswith(b'{\n "sandbox": "bwrap",\n "workers": 1,\n'), "indented one space, a value per line"


def test_a_result_saved_without_problems_or_notebooks_loads_with_none():
    back = StudentResult.from_dict({"student": "ann", "score": 2.0})
    assert back == StudentResult("ann", score=2.0) and back.problems == [] and back.notebooks == {}


# --------------------------------------------------------------------------------------------------- options
def test_options_messages_say_what_was_expected(tmp_path):
    from cutmix_course.grading import GradingOptions

    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    cases = [
        (dict(workers=-1), "--workers must be a non-negative integer, got -1"),
        (dict(retries=-2), "--retries must be a non-negative integer, got -2"),
        (dict(timeout=0), "--timeout must be a positive integer, got 0"),
        (dict(late_policy="soft"), "--late-policy must be one of 'zero', 'none', got 'soft'"),
        (dict(assignment="a*b"), "--assignment must be a plain folder name, got 'a*b'"),
        (dict(scheduler="tcp://h:8786"), "--scheduler must be a tls:// address (the workers receive hidden tests), "
                                         "got 'tcp://h:8786'"),
        (dict(scheduler="tls://h:8786", tls_ca=str(pem)), "--scheduler tls://h:8786 needs --tls-cert, --tls-key "
                                                         "(TLS certificates)"),
        (dict(tls_key=str(tmp_path / "none.pem")), f"--tls-key must be a PEM file, got "
                                                   f"{str(tmp_path / 'none.pem')!r} (not a file)"),
        (dict(canvas=str(tmp_path)), f"--canvas must be a roster CSV file, got {str(tmp_path)!r} (not a file)"),
        (dict(db="gradebook.db"), "--db must be a database URL such as postgresql+psycopg://..., got 'gradebook.db'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(GradingError) as info:
            GradingOptions(**kwargs)
        assert str(info.value) == message, kwargs
    assert GradingOptions(workers=0, retries=0).worker_count >= 1, "0 workers and 0 retries are allowed"
    good = GradingOptions(scheduler="tls://h:8786", tls_ca=str(pem), tls_cert=str(pem), tls_key=str(pem),
                          canvas=str(pem), db="sqlite:///x.db")
    assert good.scheduler == "tls://h:8786" and good.db == "sqlite:///x.db"


def test_the_policy_is_what_decides_a_grade():
    from cutmix_course.grading import GradingOptions

    policy = GradingOptions(timeout=7, workers=3, resume=True).policy()
    assert set(policy) == {"assignment", "duedate", "late_policy", "stderr", "sandbox", "timeout", "notebook_timeout",
                           "max_output_kb", "memory_mb", "max_notebook_mb", "allow_read"}
    assert policy["timeout"] == 7 and policy["assignment"] == GradingOptions().assignment
    assert GradingOptions(workers=3).policy() == GradingOptions(workers=1, retries=5).policy()


def test_the_command_line_shows_each_options_help_metavar_and_choices():
    import argparse

    from cutmix_course.grading import GradingOptions

    parser = argparse.ArgumentParser()
    GradingOptions.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    assert actions["timeout"].help == "seconds per cell" and actions["timeout"].default == 60
    assert actions["canvas"].metavar == "ROSTER.csv" and actions["allow_read"].metavar == "PATH"
    assert actions["late_policy"].choices == ("zero", "none") and actions["timeout"].choices is None
    assert actions["reuse"].option_strings == ["--reuse-identical"]
    assert parser.parse_args(["--allow-read", "a", "--allow-read", "b"]).allow_read == ["a", "b"]
    assert parser.parse_args([]).allow_read == []
    text = parser.format_help()
    assert "--canvas ROSTER.csv" in text and "--allow-read PATH" in text


# --------------------------------------------------------------------------------------------------- intake
def test_intake_reports_each_kind_of_problem(tmp_path):
    import nbformat

    from cutmix_course.grading.intake import read_submission, students_in

    sub = tmp_path / "submitted"
    good = nbformat.v4.new_notebook()
    (sub / "ann").mkdir(parents=True)
    nbformat.write(good, sub / "ann" / "nb1.ipynb")
    (sub / "ann" / "notes.txt").write_text("x")
    (sub / "ann" / "big.ipynb").write_bytes(b"{" + b" " * (2 * 2**20) + b"}")
    (sub / "ann" / "nb2.ipynb").write_text("{not json")
    (sub / ".hidden").mkdir()
    (sub / "file.txt").write_text("x")
    (sub / "b*b").mkdir()
    assert students_in(sub) == ["ann", "b*b"], "folders only, hidden ones left out, sorted"

    nbformat.write(good, sub / "ann" / "other.ipynb")
    (sub / "ann" / "data").mkdir()
    (sub / "ann" / "data" / "link").symlink_to(tmp_path)
    got = read_submission("ann", sub / "ann", ["nb1", "nb2", "nb3", "big"], max_notebook_mb=1)
    assert set(got.files) == {"nb1.ipynb"}, "what cannot be graded is not imported, nor what is no notebook"
    assert got.ungradable["nb3"] == "the notebook was not submitted"
    assert got.ungradable["nb2"].startswith("not a valid notebook (") and "nb1" not in got.ungradable
    assert got.ungradable["big"] == "2 MiB, more than the 1 MiB a notebook may have"
    assert ("missing", "nb3.ipynb", "not submitted") in got.problems
    assert ("too large", "big.ipynb", got.ungradable["big"]) in got.problems
    assert ("corrupt", "nb2.ipynb", got.ungradable["nb2"]) in got.problems
    refused = "is not a notebook of the assignment (not imported: only the assignment's notebooks are graded)"
    assert ("extra", "other.ipynb", refused) in got.problems and ("extra", "notes.txt", refused) in got.problems
    assert ("symlink", "data", f"contains symbolic links (link -> {tmp_path}); not imported") in got.problems
    assert "JSONDecodeError" in got.ungradable["nb2"] or "NotJSONError" in got.ungradable["nb2"]
    odd = read_submission("b*b", sub / "b*b", ["nb1"])
    assert odd.ungradable == {"nb1": "the student id contains one of * ? [ ]"} and odd.student == "b*b"
    assert odd.problems == [("student id", "", "contains one of * ? [ ] (nbgrader cannot grade it): rename the "
                                               "folder and grade again")]
    (sub / "ann" / "big.ipynb").write_bytes(b"{" + b" " * (2**20 - 2) + b"}")  # exactly 1 MiB: not too large
    assert read_submission("ann", sub / "ann", ["big"], max_notebook_mb=1).ungradable["big"].startswith("not a valid")
    assert read_submission("cy", sub / "cy", ["nb1"]).ungradable == {"nb1": "the notebook was not submitted"}
