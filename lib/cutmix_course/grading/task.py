"""The per-student grading task: a pure function of (submission, course, options) -> outcome, all as data.

`grade_student(task)` lays out a throw-away nbgrader course in a temporary folder (the course source, a copy of the
template gradebook, the student's files), autogrades the student notebook by notebook in sandboxed kernels, renders
the feedback, and returns everything the grader needs (grades, findings, feedback pages, autograded notebooks, logs)
in a `StudentOutcome`. It writes nothing outside its folder, so the same task runs in a local worker process or on a
Dask worker without a shared file system, and the grader stays the single writer of the real gradebook.
"""
from __future__ import annotations

import html
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .findings import GradingState
from .intake import Submission
from .options import GradingError, GradingOptions


@dataclass(frozen=True)
class CourseBundle:
    """What every task needs of the course, as data (the same for every student of a run)."""
    assignment: str
    notebooks: tuple              # notebook names, sorted
    source: dict                  # source/<assignment>/ files: relative path -> bytes
    gradebook: bytes              # sqlite gradebook made by generate_assignment (cells, checksums, due date)
    read_only: tuple              # host paths the kernels may read (Python, the package, quiz data, --allow-read)


@dataclass
class StudentTask:
    submission: Submission
    course: CourseBundle
    options: GradingOptions
    reuse: dict = field(default_factory=dict)  # outputs of identical notebooks run earlier (options.reuse)
    work_parent: str | None = None             # where to make the temporary folder (None: the system's)


@dataclass
class NotebookOutcome:
    graded: bool                  # False: missing, refused or ungradable (scored 0 without running)
    reused: bool = False
    seconds: float = 0.0
    penalty: float | None = None  # nbgrader's late_submission_penalty of this notebook
    grades: dict = field(default_factory=dict)    # grade_id -> (auto_score, needs_manual_grade)
    comments: dict = field(default_factory=dict)  # grade_id -> auto_comment


@dataclass
class StudentOutcome:
    student: str
    timestamp: object = None      # the submission's timestamp (datetime, UTC) or None
    notebooks: dict = field(default_factory=dict)  # name -> NotebookOutcome
    problems: list = field(default_factory=list)   # (kind, notebook, detail)
    files: dict = field(default_factory=dict)      # path relative to the grading folder -> bytes
    reuse: dict = field(default_factory=dict)      # cache entries this task added
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)    # phase -> seconds: where this student's time went


def put_interpreter_on_path() -> None:
    """nbgrader runs the `alembic` executable (next to the interpreter) when it creates a gradebook."""
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def quiet_logger(name: str = "cutmix_course.grading.nbgrader"):
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False  # nbgrader's chatter goes to the per-student log files, not the console
    return log


def course_config(root: Path, assignment: str):
    """nbgrader configuration of a course folder laid out as source/, release/, submitted/, autograded/, feedback/
    with its gradebook in root/gradebook.db."""
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.CourseDirectory.student_id = "*"
    c.CourseDirectory.notebook_id = "*"
    c.CourseDirectory.assignment_id = assignment
    # a real course row: nbgrader's default id '' is never created, which only sqlite (no foreign keys) tolerates
    c.CourseDirectory.course_id = "default_course"
    return c


def note_page(student: str, notebook: str, reason: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}</title></head><body>"
            f"<h1>{html.escape(notebook)}</h1><p>Student: {html.escape(student)}</p>"
            f"<p><b>This notebook could not be graded:</b> {html.escape(reason)}. It scores 0. "
            "Please contact the instructor.</p></body></html>\n")


def _files_under(folder: Path, prefix: str) -> dict:
    return {f"{prefix}/{p.relative_to(folder)}": p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def review_tampering(sub: Submission, course: CourseBundle, ungradable: dict, outcome: StudentOutcome) -> list:
    """The static review of tamper.py on every gradable submitted notebook; each one with findings is held (returned)
    and reported as a "tamper" problem quoting the lines. It reads the source only: nothing of the student runs."""
    import nbformat

    from .tamper import scan, summary

    held = []
    for nb in course.notebooks:
        data, source = sub.files.get(f"{nb}.ipynb"), course.source.get(f"{nb}.ipynb")
        if nb in ungradable or data is None or source is None:
            continue
        try:
            findings = scan(nbformat.reads(data.decode("utf-8"), as_version=4),
                            nbformat.reads(source.decode("utf-8"), as_version=4))
        except Exception as exc:  # noqa: BLE001 - intake already refused unreadable notebooks; never lose a grade here
            outcome.problems.append(("tamper", nb, f"the static review could not read it ({exc}); not held"))
            continue
        if findings:
            held.append(nb)
            outcome.problems.append(("tamper", nb, "held for review, autograded tests 0 until graded by hand: "
                                     + summary(findings)))
    for nb in course.notebooks:  # a notebook whose hidden tests run the student's code of a held one is held too
        source = course.source.get(f"{nb}.ipynb")
        if nb in held or nb in ungradable or source is None:
            continue
        uses = nbformat.reads(source.decode("utf-8"), as_version=4).metadata.get("cutmix_course", {}).get("uses", [])
        tainted = [u for u in uses if u in held]
        if tainted:
            held.append(nb)
            outcome.problems.append(("tamper", nb, f"held for review: its tests run the student's code of "
                                     f"{', '.join(tainted)}, which is held"))
    return held


def grade_student(task: StudentTask) -> StudentOutcome:
    """Grade one student (see the module docstring). Raises GradingError only when grading itself cannot run
    here (the grading kernel does not start); every problem of the submission is in the outcome."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cutmix-grade-", dir=task.work_parent))
    try:
        outcome = _grade_in(work, task)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome.seconds = time.monotonic() - started
    outcome.timings["other (set-up, copies, clean-up)"] = max(0.0, outcome.seconds - sum(outcome.timings.values()))
    return outcome


def _grade_in(work: Path, task: StudentTask) -> StudentOutcome:
    import warnings

    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log, temp_attrs
    from traitlets.config import LoggingConfigurable

    from .converters import CourseAutograde, configure

    sub, course, options = task.submission, task.course, task.options
    student, assignment = sub.student, course.assignment
    outcome = StudentOutcome(student, problems=list(sub.problems))
    ungradable = dict(sub.ungradable)

    root = work / "course"
    for rel, data in course.source.items():
        path = root / "source" / assignment / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "gradebook.db").write_bytes(course.gradebook)
    dest = root / "submitted" / student / assignment
    dest.mkdir(parents=True)
    sub.write_to(dest)
    logs, kernel_logs = work / "logs" / student, work / "logs" / "kernels"
    logs.mkdir(parents=True)
    kernel_logs.mkdir(parents=True)
    put_interpreter_on_path()

    config = course_config(root, assignment)
    configure(config, options)
    config.SandboxedKernelManager.read_only = list(course.read_only)
    config.SandboxedKernelManager.scratch_root = str(work / "scratch")
    config.SandboxedKernelManager.log_dir = str(kernel_logs)
    config.SandboxedKernelManager.student = student  # CUTMIX_STUDENT in the kernel: hidden tests seed numbers with it
    config.SandboxedKernelManager.submitted = str(dest)  # CUTMIX_SUBMITTED: what student.load reads while grading
    parent = LoggingConfigurable(config=config, log=quiet_logger())
    coursedir = CourseDirectory(parent=parent)
    db_url = coursedir.db_url
    state = GradingState(reuse=dict(task.reuse))

    held = review_tampering(sub, course, ungradable, outcome)

    with warnings.catch_warnings():
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings on every submission; they are harmless
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for nb in course.notebooks:
            if nb in ungradable:
                outcome.notebooks[nb] = NotebookOutcome(graded=False)
                continue
            state.findings.clear()
            state.reused = False
            t0 = time.monotonic()
            with temp_attrs(coursedir, student_id=student, notebook_id=nb):
                done = capture_log(CourseAutograde(coursedir=coursedir, parent=parent, force=True,
                                                   create_student=True, state=state))
            seconds = time.monotonic() - t0
            state.timed("nbgrader autograde", seconds)
            (logs / f"{nb}.autograde.log").write_text(done.get("log", "") + done.get("error", ""), encoding="utf-8")
            for kind, detail in state.findings:
                if (kind, nb, detail) not in outcome.problems:
                    outcome.problems.append((kind, nb, detail))
            outcome.notebooks[nb] = NotebookOutcome(graded=True, reused=state.reused, seconds=seconds)
            if not done["success"] or not (root / "autograded" / student / assignment / f"{nb}.ipynb").exists():
                last = (done.get("error") or done.get("log") or "unknown error").strip().splitlines()[-1][:200]
                if "Kernel didn't respond" in done.get("error", "") or "Failed to run command" in done.get("log", ""):
                    raise GradingError(f"the grading kernel could not start (student {student}, {nb}): {last}")
                ungradable[nb] = f"nbgrader could not grade it ({last})"
                outcome.notebooks[nb].graded = False
                outcome.problems.append(("ungradable", nb, last))

        with Gradebook(db_url) as gb:
            gb.update_or_create_student(student)
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:  # nothing gradable at all: record the submission so it has a row and a 0
                gb.add_submission(assignment, student)
            for nb in ungradable:  # what nbgrader does for a missing notebook: auto-scored 0, nothing to grade by hand
                for grade in gb.find_submission_notebook(nb, assignment, student).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            for nb in held:  # held for review (tamper.py): 0 until the instructor grades it by hand in the formgrader
                if nb in ungradable:
                    continue
                for grade in gb.find_submission_notebook(nb, assignment, student).grades:
                    if grade.auto_score is not None:
                        grade.auto_score = 0
                        grade.needs_manual_grade = True
            gb.db.commit()
            submission = gb.find_submission(assignment, student)
            outcome.timestamp = submission.timestamp
            for snb in submission.notebooks:
                result = outcome.notebooks.setdefault(snb.name, NotebookOutcome(graded=False))
                result.penalty = snb.late_submission_penalty
                result.grades = {g.name: (g.auto_score, bool(g.needs_manual_grade)) for g in snb.grades}
                result.comments = {c.name: c.auto_comment for c in snb.comments}

        if len(ungradable) < len(course.notebooks):
            t0 = time.monotonic()
            with temp_attrs(coursedir, student_id=student, notebook_id="*"):
                fb = capture_log(GenerateFeedback(coursedir=coursedir, parent=parent, force=True))
            state.timed("feedback", time.monotonic() - t0)
            (logs / "feedback.log").write_text(fb.get("log", "") + fb.get("error", ""), encoding="utf-8")
            if not fb["success"]:
                outcome.problems.append(("feedback", "", "nbgrader generate_feedback failed (see logs)"))
    feedback = root / "feedback" / student / assignment
    feedback.mkdir(parents=True, exist_ok=True)
    for nb, reason in ungradable.items():
        (feedback / f"{nb}.html").write_text(note_page(student, nb, reason), encoding="utf-8")

    for area in ("autograded", "feedback"):
        folder = root / area / student / assignment
        if folder.is_dir():
            outcome.files.update(_files_under(folder, f"course/{area}/{student}/{assignment}"))
    outcome.files.update(_files_under(logs, f"logs/{student}"))
    outcome.files.update(_files_under(kernel_logs, "logs/kernels"))
    outcome.reuse = {k: v for k, v in state.reuse.items() if k not in task.reuse}
    timings = dict(state.timings)
    autograde = timings.pop("nbgrader autograde", 0.0)  # includes the kernels and the cells: the rest is nbgrader's
    inside = sum(timings.get(k, 0.0) for k in ("kernel start", "kernel stop", "cells (student code and tests)"))
    timings["nbgrader bookkeeping (sanitize, grades, gradebook)"] = max(0.0, autograde - inside)
    outcome.timings = timings
    return outcome
