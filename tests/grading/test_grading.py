"""The grading command end to end on a toy course: real nbgrader, real kernels in bubblewrap, a real sqlite gradebook.

The toy course (toy_course.py) has the real course's layout; its example submissions come from the same generator
as the real course's (examples.py). One grading run covers the standard examples (with --reuse-identical, as
`make grade` does); a second, small run without reuse covers the guards that need unusual timing settings.
"""
import csv
import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch

import cutmix_course
import kernel_timeouts as kt
from cutmix_course.grading import grade, summary_table

from . import examples as ex
from . import services
from . import toy_course as tc

pytestmark = pytest.mark.slow

DUE = ex.DUEDATE

DELEGATE = '''\
from torchvision.transforms.v2 import functional as TF
def cutout_one(image, size, cy, cx):
    h, w = image.shape[-2:]
    y1, y2 = max(cy - size // 2, 0), min(cy - size // 2 + size, h)
    x1, x2 = max(cx - size // 2, 0), min(cx - size // 2 + size, w)
    return TF.erase(image, y1, x1, y2 - y1, x2 - x1, 0)
'''
TOY_DELEGATION = ex.Example(
    "s14-delegation", "cutout_one hands the work to torchvision's erase",
    edits=[ex.set_source("01_cutout", "cutout_one", DELEGATE)], fail={"01_cutout": "*"},
    problems=["integrity", "tamper"])  # held by the review (it imports torchvision), and the tripwire saw it too


_text = ex.page_text


def _printed(run, student: str, notebook: str) -> str:
    """Everything the cells of a graded notebook printed (stdout), from the autograded notebook."""
    nb = nbformat.read(run.out / "course" / "autograded" / student / tc.ASSIGNMENT / f"{notebook}.ipynb", 4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")


def _tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy(course, tmp_path_factory):
    work = tmp_path_factory.mktemp("grading")
    examples = ex.standard_examples(course.solution, course.release, "02_basics", TOY_DELEGATION)
    submitted = ex.build(examples, course.solution, course.release, work / "examples", tc.ASSIGNMENT, duedate=DUE)
    before = _tree_digest(submitted)
    lines = []
    run = grade(submitted, course.root, work / "out", duedate=DUE, sandbox="bwrap", timeout=kt.TOY_CELL, memory_mb=1536,
                reuse=True, progress=lines.append)
    expected = json.loads((work / "examples" / "expected.json").read_text(encoding="utf-8"))
    return SimpleNamespace(run=run, expected=expected, submitted=submitted, before=before, lines=lines,
                           examples={e.student: e for e in examples})


def test_every_example_gets_its_expected_grades_and_problems(toy):
    assert toy.run.sandbox == "bwrap"
    assert ex.mismatches(toy.run, toy.expected) == []


def test_gradebook_and_csv_hold_every_student(toy):
    from nbgrader.api import Gradebook

    students = set(toy.expected["students"])
    with Gradebook(f"sqlite:///{toy.run.gradebook}") as gb:
        assert {s.id for s in gb.students} == students
        assert {s.student.id for s in gb.assignment_submissions(tc.ASSIGNMENT)} == students
        stuck = [(g.student.id, g.name) for s in gb.assignment_submissions(tc.ASSIGNMENT)
                 for nb in s.notebooks for g in nb.grades if g.needs_manual_grade]
    # restored, corrupt, missing, dead kernels: all decided; only the held notebook (the delegation, which the review
    # reads in its answer cell) waits for the instructor
    assert stuck == [("s14-delegation", "test_cutout_one")]
    with open(toy.run.csv, newline="", encoding="utf-8") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == students and ex.NON_ASCII_STUDENT in rows
    for student, row in rows.items():
        result = toy.run.by_student()[student]
        assert float(row["score"]) == result.score and float(row["max_score"]) == tc.MAX_SCORE
        assert row["late"] == ("yes" if toy.expected["students"][student]["late"] else "no")
        assert bool(row["problems"]) == bool(toy.expected["students"][student]["problems"]), student
    late = rows["s16-late"]
    assert float(late["raw_score"]) == tc.MAX_SCORE and float(late["late_submission_penalty"]) == tc.MAX_SCORE
    submitted_at, due = (datetime.strptime(t[:19], "%Y-%m-%d %H:%M:%S") for t in (ex.LATE, DUE))
    assert int(late["seconds_late"]) == (submitted_at - due).total_seconds()
    assert rows["s01-solution"]["timestamp"].startswith("2025-03-01 12:00:00")


def test_good_students_are_unaffected_by_the_bad_ones(toy):
    full = [s for s, want in toy.expected["students"].items() if not want["fail"] and not want["late"]]
    assert len(full) >= 10
    for student in full:
        assert toy.run.by_student()[student].raw_score == tc.MAX_SCORE, student


def test_feedback_shows_public_tests_and_scores_but_no_hidden_test(toy):
    feedback = toy.run.feedback
    for student in toy.expected["students"]:
        for nb in ("01_cutout", "02_basics"):
            page = feedback / student / tc.ASSIGNMENT / f"{nb}.html"
            for text in (page.read_text(encoding="utf-8"), _text(page)):
                assert tc.SENTINEL not in text, f"hidden test source in {page}"
                assert "BEGIN HIDDEN TESTS" not in text and "forbid_reference" not in text
    source = ex.read_set(toy.run.out / "course" / "source" / tc.ASSIGNMENT)
    release = ex.read_set(toy.run.out / "course" / "release" / tc.ASSIGNMENT)
    hidden = ex.hidden_lines(source, release)  # every hidden line, not just the sentinels
    assert len(hidden) >= 8 and any(tc.SENTINEL in line for line in hidden)
    assert ex.leaks(feedback, hidden) == []
    page = _text(feedback / "s01-solution" / tc.ASSIGNMENT / "01_cutout.html")
    assert "a 4x4 patch inside the image hides 16 pixels" in page  # the public test
    assert "[hidden tests: not shown]" in page
    assert "out[:, y1:y2, x1:x2] = 0" in page  # the student's own code
    assert "Score: 2.0 / 2.0" in page
    delegation = _text(feedback / "s14-delegation" / tc.ASSIGNMENT / "01_cutout.html")
    assert "integrity: cutout_one called the reference implementation" in delegation
    assert "torchvision.transforms.v2.functional.erase" in delegation
    assert "Score: 0.0 / 2.0" in delegation
    corrupt = _text(feedback / "s12-corrupt-json" / tc.ASSIGNMENT / "02_basics.html")
    assert "could not be graded" in corrupt and "not a valid notebook" in corrupt


def test_hostile_submissions_got_nothing_and_were_recorded(toy):
    out, feedback = toy.run.out, toy.run.feedback
    assert "stolen: 0\n" in _printed(toy.run, "s18-read-secrets", "02_basics")
    assert "stolen: 0" in _text(feedback / "s18-read-secrets" / tc.ASSIGNMENT / "02_basics.html")
    write = _printed(toy.run, "s19-write-gradebook", "02_basics")
    assert "no luck with" in write and "changed" not in write
    others = _printed(toy.run, "s20-touch-others", "02_basics")
    assert "no luck with cutmix_course" in others and "no luck with torch" in others
    assert "removed" not in others and "planted a file" not in others
    for area in ("submitted", "autograded", "feedback"):
        assert {p.name for p in (out / "course" / area).iterdir()} == set(toy.expected["students"]), area
    assert not list(out.rglob("HACKED*"))
    for package in (cutmix_course, torch):
        assert not (Path(package.__file__).parent / "HACKED.py").exists()
    assert _tree_digest(toy.submitted) == toy.before  # the submissions folder itself is untouched
    problems = {s.student: s.problem_text() for s in toy.run.students}
    assert "gradebook.db" in problems["s18-read-secrets"] and "gradebook.db" in problems["s19-write-gradebook"]
    assert "(2 write(s))" in problems["s20-touch-others"]
    log = (out / "logs" / "kernels" / "s20-touch-others--02_basics.log").read_text()
    assert log.count("(write)") == 2 and log.count("HACKED.py") == 2


def test_identical_notebooks_are_run_once_and_reported(toy):
    results = toy.run.by_student()
    assert not any(r.reused for r in results["s01-solution"].notebooks.values())
    assert all(r.reused for r in results[ex.NON_ASCII_STUDENT].notebooks.values())
    assert not results["s04-infinite-loop"].notebooks["02_basics"].reused


def test_progress_and_summary_report_time_per_submission(toy):
    assert toy.lines[0].startswith(f"Grading {len(toy.expected['students'])} submission(s)")
    assert len([line for line in toy.lines if line.startswith("[")]) == len(toy.expected["students"])
    assert all(s.seconds > 0 for s in toy.run.students)
    table = summary_table(toy.run)
    for student in toy.expected["students"]:
        assert student in table
    assert "s each on average" in table and "sandbox: bwrap" in table


# ----------------------------------------------------------------------------------------------- the guards
IGNORE_INTERRUPT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
GRADER_MARK = Path(f"/tmp/cutmix-grader-ran-student-code-{__import__('os').getpid()}")
# would leave a file in the host's /tmp if it ran in the grader's process (the kernel's /tmp is its own)
FAKE_TEST = f"open({str(GRADER_MARK)!r}, 'w').write('ran')\n"


def _fake_test_cell(notebook: str, code: str):
    def edit(nbs):
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 5,
                                     "grade_id": "test_mine", "schema_version": 3}
        nbs[notebook].cells.append(cell)
    return edit


RESULT_BEFORE_ERROR = '''\
def clip(x, lo, hi):
    return x  # wrong
_ip = get_ipython()
_ip.events.register("pre_run_cell", lambda *args: _ip.displayhook("full marks please"))
'''


READ_THROUGH_LINK = '''\
try:
    print(len(open("data/cutout_cutmix/02_basics.ipynb").read()), "characters of the solutions")
except OSError:
    print("solutions not found")
'''


def test_guards_without_reuse(course, tmp_path):
    """Cell timeout with an interrupt-proof loop, SIGKILL, the notebook time budget, the execute_result trick,
    nbgrader's own stderr rule (--stderr fail) and a symlink in a submission. 01_cutout is left out (scored 0 as
    missing) to keep this quick."""
    solution, release = course.solution, course.release
    tests = ["test_mean", "test_clip"]
    no_cutout = ex.remove("01_cutout")
    examples = [
        ex.Example("g1-ignores-interrupt", "a loop that ignores SIGINT: the kernel is killed",
                   edits=[no_cutout, ex.insert_after("02_basics", "mean", IGNORE_INTERRUPT)],
                   fail={"01_cutout": "*", "02_basics": tests}, problems=["missing", "timeout"]),
        ex.Example("g2-sigkill", "the kernel is killed (as by the OOM killer) before the last test",
                   edits=[no_cutout, ex.insert_before("02_basics", "test_clip",
                                                      "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")],
                   fail={"01_cutout": "*", "02_basics": ["test_clip"]}, problems=["missing", "kernel died"]),
        ex.Example("g3-slow", "three 5 s cells use up the 12 s notebook budget",
                   edits=[no_cutout] + [ex.insert_after("02_basics", "mean", "import time\ntime.sleep(4)\n")] * 4,
                   fail={"01_cutout": "*", "02_basics": tests}, problems=["missing", "timeout"]),
        ex.Example("g4-result-before-error", "a wrong clip plus a hook that shows a result ahead of every error",
                   edits=[no_cutout, ex.set_source("02_basics", "clip", RESULT_BEFORE_ERROR)],
                   # held by the static review (get_ipython): the whole notebook waits for the instructor; the hook
                   # never sees a test cell, which is graded in the grader's process
                   fail={"01_cutout": "*", "02_basics": "*"}, problems=["missing", "tamper"]),
        ex.Example("g5-warns-stderr-fail", "a correct mean that warns, under nbgrader's rule: stderr fails",
                   edits=[no_cutout, ex.append_source("02_basics", "mean", ex.WARN_WRAPPER.format(name="mean"))],
                   fail={"01_cutout": "*", "02_basics": ["test_mean"]}, problems=["missing"]),
        ex.Example("g7-glob[1]", "a student id nbgrader cannot glob: recorded, scored 0, not a crash",
                   fail={"01_cutout": "*", "02_basics": "*"}, problems=["student id"]),
        ex.Example("g8-fake-test-cell", "marks a cell of its own as a test cell worth 5 points",
                   edits=[no_cutout, _fake_test_cell("02_basics", FAKE_TEST)], fail={"01_cutout": "*"},
                   problems=["missing", "restored"]),  # nbgrader: "an unknown grade_id: treated as an ordinary cell"
        ex.Example("g6-symlink", "submits a link to the solutions folder and reads through it",
                   edits=[no_cutout, ex.insert_after("02_basics", "mean", READ_THROUGH_LINK)],
                   fail={"01_cutout": "*"}, problems=["missing", "symlink"]),
    ]
    submitted = ex.build(examples, solution, release, tmp_path / "examples", tc.ASSIGNMENT)
    (submitted / "g6-symlink" / tc.ASSIGNMENT / "data").symlink_to(course.root / "solutions")
    run = grade(submitted, course.root, tmp_path / "out", sandbox="bwrap", timeout=kt.TOY_CELL_TIGHT,
                notebook_timeout=kt.TOY_NOTEBOOK_TIGHT, stderr="fail", reuse=False, progress=lambda line: None)
    expected = json.loads((tmp_path / "examples" / "expected.json").read_text(encoding="utf-8"))
    assert ex.mismatches(run, expected) == []
    results = run.by_student()
    assert "killed by a signal" in results["g2-sigkill"].problem_text()
    assert not GRADER_MARK.exists(), "a cell the submission calls a test cell ran in the grader's process"
    assert "test_mine" not in results["g8-fake-test-cell"].notebooks["02_basics"].cells  # worth nothing either
    assert "did not stop when interrupted" in _text(run.feedback / "g1-ignores-interrupt" / tc.ASSIGNMENT /
                                                    "02_basics.html")
    assert "time budget" in results["g3-slow"].problem_text()
    assert "not found" in _printed(run, "g6-symlink", "02_basics")


def test_command_line(course, tmp_path):
    examples = [ex.Example("only-student", "the solution")]
    submitted = ex.build(examples, course.solution, course.release, tmp_path / "examples", tc.ASSIGNMENT)
    cmd = [sys.executable, "-m", "cutmix_course", "grade", str(submitted.parent), "--course", str(course.root),
           "--out", str(tmp_path / "out"), "--timeout", str(kt.TOY_CELL_RELAXED)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[1/1] only-student" in done.stdout and "only-student  5" in done.stdout
    assert (tmp_path / "out" / "grades.csv").exists() and (tmp_path / "out" / "report.json").exists()
    # rerunning replaces the grading folder it made; a foreign folder is refused, naming the option
    bad = subprocess.run([*cmd[:-4], "--out", str(course.root), "--timeout", "20"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--out" in bad.stderr
    missing = subprocess.run([*cmd[:5], "--course", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and "--course" in missing.stderr


def test_sandbox_sees_read_only_paths_under_tmp_but_not_the_rest_of_tmp(tmp_path):
    """A venv or course under /tmp must stay visible inside the sandbox's private /tmp (CI clones can live there)."""
    from cutmix_course.grading.sandbox import bwrap_command

    shared, private = tmp_path / "venv", tmp_path / "other"
    shared.mkdir()
    private.mkdir()
    (shared / "seen.txt").write_text("visible")
    (private / "secret.txt").write_text("hidden")
    cmd = bwrap_command(["/bin/sh", "-c", f"cat {shared}/seen.txt; ls {private} 2>&1 || true; touch {shared}/x 2>&1"],
                        [str(shared)], {}, {}, "/")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("visible"), done
    assert "secret" not in done.stdout + done.stderr  # the rest of the host's /tmp is not there
    assert "Read-only file system" in done.stdout + done.stderr  # bound read-only
    assert not (shared / "x").exists()


# ----------------------------------------------------------------------------------------------- parallel workers
def _scores(run) -> dict:
    """What must be identical between runs: score per student, notebook and test cell, and the problem kinds."""
    return {s.student: ({nb: r.cells for nb, r in s.notebooks.items()}, sorted({k for k, _, _ in s.problems}),
                        s.score) for s in run.students}


def test_one_worker_and_two_workers_give_identical_scores(course, tmp_path, capsys):
    examples = [ex.Example("p1-solution", "the solution"),
                ex.Example("p2-no-cutout", "01_cutout missing", edits=[ex.remove("01_cutout")],
                           fail={"01_cutout": "*"}, problems=["missing"]),
                TOY_DELEGATION,
                ex.Example("p4-release", "the untouched release", base="release",
                           fail={"01_cutout": "*", "02_basics": "*"})]
    submitted = ex.build(examples, course.solution, course.release, tmp_path / "examples", tc.ASSIGNMENT)
    expected = json.loads((tmp_path / "examples" / "expected.json").read_text(encoding="utf-8"))
    runs = {}
    for workers in (1, 2):
        runs[workers] = grade(submitted, course.root, tmp_path / f"out{workers}", sandbox="bwrap",
                              timeout=kt.TOY_CELL_RELAXED, workers=workers, progress=lambda line: None,
                              bar=workers == 2)
        assert runs[workers].workers == workers
        assert ex.mismatches(runs[workers], expected) == []
    assert _scores(runs[1]) == _scores(runs[2])
    bar = capsys.readouterr().err  # the progress bar: students done, failures, time left
    assert "4/4" in bar and "student" in bar and "failed=0" in bar
    with open(runs[2].csv, newline="", encoding="utf-8") as fh:
        assert sorted(row["student_id"] for row in csv.DictReader(fh)) == sorted(expected["students"])




def test_a_worker_killed_in_the_middle_of_a_student_costs_nothing(course, tmp_path):
    """SIGKILL of the worker process while it grades a student (as the OOM killer would): the student is graded
    again by a new worker, every student appears once, with the scores of an undisturbed run."""
    examples = [ex.Example("k1-solution", "the solution"),
                ex.Example("k2-slow", "a slow cell: its worker is killed once",
                           edits=[ex.insert_after("02_basics", "mean", services.SLOW_WITH_MARKER)]),
                ex.Example("k3-no-cutout", "01_cutout missing", edits=[ex.remove("01_cutout")],
                           fail={"01_cutout": "*"}, problems=["missing"])]
    submitted = ex.build(examples, course.solution, course.release, tmp_path / "examples", tc.ASSIGNMENT)
    expected = json.loads((tmp_path / "examples" / "expected.json").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    with services.kill_once_when(services.local_worker_of(out, "k2-slow")) as killed:
        run = grade(submitted, course.root, out, sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED, workers=2, retries=1,
                    progress=lambda line: None)
    assert killed, "the slow cell never ran, so nothing was killed"
    assert ex.mismatches(run, expected) == []
    assert run.by_student()["k2-slow"].attempts == 2
    assert [s.attempts for s in run.students if s.student != "k2-slow"] == [1, 1]
    workers_log = (out / "logs" / "workers.log").read_text().splitlines()
    assert [line.split()[1:] for line in workers_log if line.endswith("k2-slow")] == [["1", "k2-slow"],
                                                                                     ["2", "k2-slow"]]
    with open(run.csv, newline="", encoding="utf-8") as fh:
        assert sorted(row["student_id"] for row in csv.DictReader(fh)) == sorted(expected["students"])


def test_a_student_whose_worker_always_dies_is_recorded_with_the_reason(course, tmp_path):
    """With no retry left, the student gets a row, a 0 and the reason; the others are graded as usual."""
    examples = [ex.Example("d1-solution", "the solution"),
                ex.Example("d2-doomed", "its worker is killed; no retries",
                           edits=[ex.remove("01_cutout"),
                                  ex.insert_after("02_basics", "mean", services.SLOW_WITH_MARKER)],
                           fail={"01_cutout": "*", "02_basics": "*"}, problems=["missing", "worker died"])]
    submitted = ex.build(examples, course.solution, course.release, tmp_path / "examples", tc.ASSIGNMENT)
    expected = json.loads((tmp_path / "examples" / "expected.json").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    with services.kill_once_when(services.local_worker_of(out, "d2-doomed")) as killed:
        run = grade(submitted, course.root, out, sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED, workers=2, retries=0,
                    progress=lambda line: None)
    assert killed
    assert ex.mismatches(run, expected) == []
    doomed = run.by_student()["d2-doomed"]
    assert "killed by SIGKILL" in doomed.problem_text() and doomed.score == 0
