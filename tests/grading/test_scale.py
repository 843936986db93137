"""Grading at class scale on the toy course, with real services: a PostgreSQL gradebook, a Dask cluster over TLS
(real `dask scheduler` / `dask worker` processes, one killed on purpose), and --resume after the grader was killed.

Every run is compared with one reference run (local workers, sqlite) of the same students: the same score per
student, notebook and test cell, and the same problem kinds.
"""
import csv
import json
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

import kernel_timeouts as kt
from cutmix_course.grading import GradingError, grade

from . import examples as ex
from . import services
from . import toy_course as tc
from .test_grading import TOY_DELEGATION, _scores

pytestmark = pytest.mark.slow



def _examples():
    return [ex.Example("c1-solution", "the solution"),
            ex.Example("c2-no-cutout", "01_cutout missing", edits=[ex.remove("01_cutout")],
                       fail={"01_cutout": "*"}, problems=["missing"]),
            TOY_DELEGATION]


@pytest.fixture(scope="module")
def reference(course, tmp_path_factory):
    """The three students graded locally into sqlite: what every other way of grading them must reproduce."""
    work = tmp_path_factory.mktemp("reference")
    submitted = ex.build(_examples(), course.solution, course.release, work / "examples", tc.ASSIGNMENT)
    run = grade(submitted, course.root, work / "out", sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED, workers=2,
                progress=lambda line: None)
    expected = json.loads((work / "examples" / "expected.json").read_text(encoding="utf-8"))
    assert ex.mismatches(run, expected) == []
    return SimpleNamespace(run=run, submitted=submitted, expected=expected)


def _csv(path) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


# ------------------------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="module")
def postgres():
    server = services.Postgres()
    yield server
    server.stop()


def test_postgres_gradebook_gives_the_same_scores_as_sqlite(course, reference, postgres, tmp_path):
    url = postgres.create_database("gradebook")
    run = grade(reference.submitted, course.root, tmp_path / "out", sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED,
                workers=2, db=url, progress=lambda line: None)
    assert run.db_url == url and not (tmp_path / "out" / "course" / "gradebook.db").exists()
    assert _scores(run) == _scores(reference.run)
    assert ex.mismatches(run, reference.expected) == []  # read back from PostgreSQL itself
    rows, ref = _csv(run.csv), _csv(reference.run.csv)
    assert set(rows) == set(ref)
    for student in rows:
        assert rows[student]["score"] == ref[student]["score"] and rows[student]["problems"] == ref[student]["problems"]
    # the same database again without --resume: refused, nothing overwritten
    with pytest.raises(GradingError, match="--resume"):
        grade(reference.submitted, course.root, tmp_path / "again", sandbox="bwrap", db=url,
              progress=lambda line: None)


# ------------------------------------------------------------------------------------------------ Dask
def test_dask_cluster_over_tls_survives_a_killed_worker(course, reference, tmp_path):
    certs = services.make_certificates(tmp_path / "certs")
    cluster = services.DaskCluster(tmp_path / "cluster", certs, workers=2, allowed_failures=1)
    slow = ex.Example("c4-slow", "a slow cell: the worker grading it is killed once",
                      edits=[ex.insert_after("02_basics", "mean", services.SLOW_WITH_MARKER)])
    submitted = ex.build([*_examples(), slow], course.solution, course.release, tmp_path / "examples",
                         tc.ASSIGNMENT)
    expected = json.loads((tmp_path / "examples" / "expected.json").read_text(encoding="utf-8"))
    def worker_holding_the_marker():
        for worker, tmp in zip(cluster.workers, cluster.tmpdirs):
            if list(tmp.glob("cutmix-grade-*/scratch/*/KILL-ME")):
                return worker.pid
        return None

    try:
        with services.kill_once_when(worker_holding_the_marker, group=True) as killed:
            run = grade(submitted, course.root, tmp_path / "out", sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED,
                        scheduler=cluster.address, tls_ca=certs["ca"], tls_cert=certs["cert"],
                        tls_key=certs["key"], progress=lambda line: None)
    finally:
        cluster.stop()
    slow_result = run.by_student().get("c4-slow")
    assert killed, ("the slow student never ran, so no worker was killed: "
                    f"{slow_result.problem_text() if slow_result else 'c4-slow was not graded'}")
    assert ex.mismatches(run, expected) == []
    scores = _scores(run)
    assert {s: scores[s] for s in _scores(reference.run)} == _scores(reference.run)
    assert sorted(_csv(run.csv)) == sorted(expected["students"])  # each student once: nothing lost or doubled
    sent = (tmp_path / "out" / "logs" / "workers.log").read_text().splitlines()
    assert sorted(line.split()[-1] for line in sent) == sorted(expected["students"])  # each sent to Dask once
    assert run.workers == 0 and "worker died" not in slow_result.problem_text()


def test_a_scheduler_without_tls_is_refused_before_anything_runs(course, reference, tmp_path):
    with pytest.raises(GradingError, match="tls://"):
        grade(reference.submitted, course.root, tmp_path / "out", scheduler="tcp://127.0.0.1:8786")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ --resume
def _feedback_scores(out) -> dict:
    pages = sorted((out / "course" / "feedback").rglob("*.html"))
    return {str(p.relative_to(out)): [line for line in ex.page_text(p).splitlines() if "Score:" in line]
            for p in pages}


def _graded(stdout: str) -> list:
    """The students a run graded, from its progress lines ('[i/n] student: ...')."""
    return re.findall(r"^\[\s*\d+/\d+\] (\S+):", stdout, flags=re.M)


def test_resume_after_the_grader_was_killed_grades_only_what_is_left(course, reference, tmp_path):
    out = tmp_path / "out"
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,cutout_cutmix (77)\n"
                      "    Points Possible,,,,,5\n"
                      + "".join(f"Name {s},{i},{i},{s},A,\n" for i, s in enumerate(["c1-solution", "c2-no-cutout"]))
                      + "Nobody,9,9,nobody,A,\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "cutmix_course", "grade", str(reference.submitted), "--course", str(course.root),
           "--out", str(out), "--timeout", str(kt.TOY_CELL_RELAXED), "--workers", "1", "--canvas", str(roster)]
    grader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not ((out / "done.jsonl").exists() and (out / "done.jsonl").read_text().count("\n") >= 1):
        assert grader.poll() is None and time.monotonic() < deadline, grader.communicate()[0]
        time.sleep(0.2)
    grader.send_signal(signal.SIGKILL)  # mid-run: one student recorded, the next one in the middle
    grader.wait()
    assert not (out / "grades.csv").exists()

    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 unchanged since the last run, kept" in done.stdout
    first = json.loads((out / "done.jsonl").read_text().splitlines()[0])["student"]
    assert sorted(_graded(done.stdout)) == sorted(set(ref_students := list(_csv(reference.run.csv))) - {first})
    rows, ref = _csv(out / "grades.csv"), _csv(reference.run.csv)
    assert {s: (r["score"], r["problems"]) for s, r in rows.items()} == \
        {s: (r["score"], r["problems"]) for s, r in ref.items()}
    assert _feedback_scores(out) == _feedback_scores(reference.run.out)
    canvas = list(csv.DictReader(open(out / "canvas.csv", newline="", encoding="utf-8")))
    value = {r["SIS Login ID"]: r["cutout_cutmix (77)"] for r in canvas}
    assert list(value) == ["", "c1-solution", "c2-no-cutout", "nobody"]  # the roster's rows, in its order
    assert value[""] == "5" and value["nobody"] == ""  # points possible; no submission: blank, not 0
    assert [float(value[s]) for s in ("c1-solution", "c2-no-cutout")] == \
        [float(ref[s]["score"]) for s in ("c1-solution", "c2-no-cutout")]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert any("nobody" in u for u in report["canvas_unmatched"])
    assert any(TOY_DELEGATION.student in u for u in report["canvas_unmatched"])

    # a manual grade entered by the instructor survives every later run
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gb:
        gb.find_grade("test_clip", "02_basics", tc.ASSIGNMENT, "c1-solution").manual_score = 0.5
        gb.db.commit()
    again = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert "3 unchanged since the last run, kept" in again.stdout and _graded(again.stdout) == []
    manual = float(_csv(out / "grades.csv")["c1-solution"]["score"])
    assert manual < float(ref["c1-solution"]["score"])
    changed = subprocess.run([*cmd[:-6], "--timeout", "21", "--workers", "1", "--canvas", str(roster), "--resume"],
                             capture_output=True, text=True, timeout=600)
    assert changed.returncode == 0 and sorted(_graded(changed.stdout)) == sorted(ref_students)  # an option changed
    assert float(_csv(out / "grades.csv")["c1-solution"]["score"]) == manual
    # one submission changed: only that student
    nb = reference.submitted / "c2-no-cutout" / tc.ASSIGNMENT / "02_basics.ipynb"
    original = nb.read_bytes()
    try:
        nb.write_bytes(original.replace(b'"cells"', b'"cells"', 1) + b"\n")
        one = subprocess.run([*cmd[:-6], "--timeout", "21", "--workers", "1", "--canvas", str(roster), "--resume"],
                             capture_output=True, text=True, timeout=600)
    finally:
        nb.write_bytes(original)
    assert _graded(one.stdout) == ["c2-no-cutout"]
