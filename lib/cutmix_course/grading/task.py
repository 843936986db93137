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

from ..notebook import environment
from .findings import GradingState
from .intake import Submission
from .options import GradingError, GradingOptions
from .problems import Problem


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
    os.environ["PATH"] = environment.path_with(os.path.dirname(os.path.abspath(sys.executable)))


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
        except Exception as exc:  # noqa: BLE001 - a review that cannot decide holds (fail closed)
            held.append(nb)
            outcome.problems.append((Problem.HELD, nb, f"held for review: the static review failed "
                                     f"({type(exc).__name__}: {str(exc)[:200]})"))
            continue
        if findings:
            held.append(nb)
            outcome.problems.append((Problem.HELD, nb, "held for review, autograded tests 0 until graded by hand: "
                                     + summary(findings)))
    for nb in course.notebooks:  # a notebook whose hidden tests run the student's code of a held one is held too
        source = course.source.get(f"{nb}.ipynb")
        if nb in held or nb in ungradable or source is None:
            continue
        uses = nbformat.reads(source.decode("utf-8"), as_version=4).metadata.get("cutmix_course", {}).get("uses", [])
        tainted = [u for u in uses if u in held]
        if tainted:
            held.append(nb)
            outcome.problems.append((Problem.HELD, nb, f"held for review: its tests run the student's code of "
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
    """Grade the task's student in the empty folder `work`; returns the outcome, its files, logs and timings in it."""
    import warnings

    sub, course = task.submission, task.course
    outcome = StudentOutcome(sub.student, problems=list(sub.problems))
    ungradable = dict(sub.ungradable)
    space = _lay_out(work, task)
    state = GradingState(reuse=dict(task.reuse))

    held = review_tampering(sub, course, ungradable, outcome)

    with warnings.catch_warnings():
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings on every submission; they are harmless
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        _autograde(space, course.notebooks, state, ungradable, outcome)
        _settle_gradebook(space, ungradable, held, outcome)
        if len(ungradable) < len(course.notebooks):
            _generate_feedback(space, state, outcome)
    _write_note_pages(space, ungradable)

    outcome.files.update(_produced_files(space))
    outcome.reuse = {k: v for k, v in state.reuse.items() if k not in task.reuse}
    outcome.timings = _phase_timings(state.timings)
    return outcome


@dataclass(frozen=True)
class _Workspace:
    """One student's throw-away nbgrader course: its folders and the nbgrader objects configured on them."""
    student: str
    assignment: str
    root: Path            # the course folder: source/, submitted/, autograded/, feedback/, gradebook.db
    logs: Path            # nbgrader's log of each notebook and of the feedback
    kernel_logs: Path     # each kernel's stderr
    parent: object        # the LoggingConfigurable that carries the configuration
    coursedir: object     # nbgrader's CourseDirectory of root
    db_url: str           # the gradebook, a copy of the template

    def area(self, name: str) -> Path:
        """The student's folder of the assignment in the course's `name` area (submitted, autograded, feedback)."""
        return self.root / name / self.student / self.assignment


def _lay_out(work: Path, task: StudentTask) -> _Workspace:
    """Write the student's course under `work` (the course source, a copy of the template gradebook, the student's
    files, empty log folders); returns it as a _Workspace with nbgrader configured on it."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import LoggingConfigurable

    sub, course = task.submission, task.course
    root = work / "course"
    _write_tree(root / "source" / course.assignment, course.source)
    (root / "gradebook.db").write_bytes(course.gradebook)
    submitted = root / "submitted" / sub.student / course.assignment
    submitted.mkdir(parents=True)
    sub.write_to(submitted)
    logs, kernel_logs = work / "logs" / sub.student, work / "logs" / "kernels"
    logs.mkdir(parents=True)
    kernel_logs.mkdir(parents=True)
    put_interpreter_on_path()

    config = _student_config(task, root, submitted, scratch=work / "scratch", kernel_logs=kernel_logs)
    parent = LoggingConfigurable(config=config, log=quiet_logger())
    coursedir = CourseDirectory(parent=parent)
    return _Workspace(sub.student, course.assignment, root, logs, kernel_logs, parent, coursedir, coursedir.db_url)


def _write_tree(folder: Path, files: dict) -> None:
    """Write `files` (path relative to `folder` -> bytes) under `folder`, making the folders they need."""
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _student_config(task: StudentTask, root: Path, submitted: Path, *, scratch: Path, kernel_logs: Path):
    """The nbgrader configuration of the student's course at `root`: the run's options and the student's sandbox."""
    from .converters import configure
    from .preprocessors.guarded_execute import trusted_tests

    student = task.submission.student
    config = course_config(root, task.course.assignment)
    configure(config, task.options)
    config.SandboxedKernelManager.read_only = list(task.course.read_only)
    config.SandboxedKernelManager.scratch_root = str(scratch)
    config.SandboxedKernelManager.log_dir = str(kernel_logs)
    config.SandboxedKernelManager.student = student  # CUTMIX_STUDENT in the kernel: hidden tests seed numbers with it
    config.SandboxedKernelManager.submitted = str(submitted)  # CUTMIX_SUBMITTED: what answers.load reads while grading
    course = _course_notebooks(task.course)
    config.CourseCells.course = {name: text for name, (text, _) in course.items()}
    config.ModelAnswers.course = config.CourseCells.course
    config.GuardedExecute.trusted_tests = trusted_tests({name: nb for name, (_, nb) in course.items()})
    return config


def _course_notebooks(course: CourseBundle) -> dict:
    """notebook name -> (JSON text, NotebookNode) of the course's source: what CourseCells rebuilds each graded
    notebook from, and where GuardedExecute takes the test code (never from the submission)."""
    import nbformat

    found = {}
    for name in course.notebooks:
        if f"{name}.ipynb" in course.source:
            text = course.source[f"{name}.ipynb"].decode("utf-8")
            found[name] = (text, nbformat.reads(text, as_version=4))
    return found


def _autograde(space: _Workspace, notebooks: tuple, state: GradingState, ungradable: dict,
               outcome: StudentOutcome) -> None:
    """Autograde the gradable notebooks one by one into outcome.notebooks (with their findings as problems); one that
    nbgrader could not grade joins `ungradable`. Raises GradingError when the grading kernel does not start."""
    for nb in notebooks:
        if nb in ungradable:
            outcome.notebooks[nb] = NotebookOutcome(graded=False)
            continue
        done, seconds = _run_autograde(space, nb, state)
        (space.logs / f"{nb}.autograde.log").write_text(done.get("log", "") + done.get("error", ""), encoding="utf-8")
        for kind, detail in state.findings:
            if (kind, nb, detail) not in outcome.problems:
                outcome.problems.append((kind, nb, detail))
        outcome.notebooks[nb] = NotebookOutcome(graded=True, reused=state.reused, seconds=seconds)
        if not done["success"] or not (space.area("autograded") / f"{nb}.ipynb").exists():
            last = _last_line(done)
            if _kernel_did_not_start(done):
                raise GradingError(f"the grading kernel could not start (student {space.student}, {nb}): {last}")
            ungradable[nb] = f"nbgrader could not grade it ({last})"
            outcome.notebooks[nb].graded = False
            outcome.problems.append((Problem.UNGRADABLE, nb, last))


def _run_autograde(space: _Workspace, nb: str, state: GradingState) -> tuple:
    """nbgrader's autograde of one notebook, its time added to `state`; returns (capture_log's result, seconds)."""
    from nbgrader.utils import capture_log, temp_attrs

    from .converters import CourseAutograde

    state.findings.clear()
    state.reused = False
    t0 = time.monotonic()
    with temp_attrs(space.coursedir, student_id=space.student, notebook_id=nb):
        done = capture_log(CourseAutograde(coursedir=space.coursedir, parent=space.parent, force=True,
                                           create_student=True, state=state))
    seconds = time.monotonic() - t0
    state.timed("nbgrader autograde", seconds)
    return done, seconds


def _last_line(done: dict) -> str:
    """The last line (200 characters at most) of what a failed nbgrader command said: its error, else its log."""
    return (done.get("error") or done.get("log") or "unknown error").strip().splitlines()[-1][:200]


def _kernel_did_not_start(done: dict) -> bool:
    """Whether a failed autograde failed because its kernel did not start (grading cannot run here at all)."""
    return "Kernel didn't respond" in done.get("error", "") or "Failed to run command" in done.get("log", "")


def _settle_gradebook(space: _Workspace, ungradable: dict, held: list, outcome: StudentOutcome) -> None:
    """Give the student a submission in the gradebook, score its ungradable and held notebooks, and copy what the
    gradebook then says (timestamp, penalties, grades, comments) into `outcome`."""
    from nbgrader.api import Gradebook, MissingEntry

    student, assignment = space.student, space.assignment
    with Gradebook(space.db_url) as gb:
        gb.update_or_create_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:  # nothing gradable at all: record the submission so it has a row and a 0
            gb.add_submission(assignment, student)
        _zero_scores(gb, assignment, student, ungradable, held)
        gb.db.commit()
        _read_grades(gb.find_submission(assignment, student), outcome)


def _zero_scores(gb, assignment: str, student: str, ungradable: dict, held: list) -> None:
    """Score 0 the grades of the ungradable notebooks (nothing to grade by hand) and the autograded grades of the held
    ones (to grade by hand)."""
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


def _read_grades(submission, outcome: StudentOutcome) -> None:
    """Copy the gradebook's submission (timestamp; each notebook's penalty, grades and comments) into `outcome`."""
    outcome.timestamp = submission.timestamp
    for snb in submission.notebooks:
        result = outcome.notebooks.setdefault(snb.name, NotebookOutcome(graded=False))
        result.penalty = snb.late_submission_penalty
        result.grades = {g.name: (g.auto_score, bool(g.needs_manual_grade)) for g in snb.grades}
        result.comments = {c.name: c.auto_comment for c in snb.comments}


def _generate_feedback(space: _Workspace, state: GradingState, outcome: StudentOutcome) -> None:
    """nbgrader's generate_feedback of the student's autograded notebooks, its time added to `state`; a failure is a
    problem of `outcome`."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log, temp_attrs

    t0 = time.monotonic()
    with temp_attrs(space.coursedir, student_id=space.student, notebook_id="*"):
        fb = capture_log(GenerateFeedback(coursedir=space.coursedir, parent=space.parent, force=True))
    state.timed("feedback", time.monotonic() - t0)
    (space.logs / "feedback.log").write_text(fb.get("log", "") + fb.get("error", ""), encoding="utf-8")
    if not fb["success"]:
        outcome.problems.append((Problem.FEEDBACK, "", "nbgrader generate_feedback failed (see logs)"))


def _write_note_pages(space: _Workspace, ungradable: dict) -> None:
    """Write the feedback page of each ungradable notebook: why it could not be graded."""
    feedback = space.area("feedback")
    feedback.mkdir(parents=True, exist_ok=True)
    for nb, reason in ungradable.items():
        (feedback / f"{nb}.html").write_text(note_page(space.student, nb, reason), encoding="utf-8")


def _produced_files(space: _Workspace) -> dict:
    """What the grading made, for the grading folder: path relative to it -> bytes (autograded notebooks, feedback,
    nbgrader's and the kernels' logs)."""
    files = {}
    for area in ("autograded", "feedback"):
        folder = space.area(area)
        if folder.is_dir():
            files.update(_files_under(folder, f"course/{area}/{space.student}/{space.assignment}"))
    files.update(_files_under(space.logs, f"logs/{space.student}"))
    files.update(_files_under(space.kernel_logs, "logs/kernels"))
    return files


def _phase_timings(timings: dict) -> dict:
    """The student's time by phase: `timings` with nbgrader's autograde time replaced by what of it was nbgrader's
    own bookkeeping (the kernels and the cells, timed inside it, are phases of their own)."""
    timings = dict(timings)
    autograde = timings.pop("nbgrader autograde", 0.0)  # includes the kernels and the cells: the rest is nbgrader's
    inside = sum(timings.get(k, 0.0) for k in ("kernel start", "kernel stop", "cells (student code and tests)"))
    timings["nbgrader bookkeeping (sanitize, grades, gradebook)"] = max(0.0, autograde - inside)
    return timings
