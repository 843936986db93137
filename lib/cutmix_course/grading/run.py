"""The grading run: prepare the course once, grade every student as a task (in local workers), record, export.

    out/course/source/<assignment>/      copy of the course's solutions (the gradebook is generated from it)
    out/course/release/<assignment>/     what generate_assignment made of it (checksums for restoring cells)
    out/course/submitted/<student>/...   the imported submissions (refused files are left out, see intake)
    out/course/autograded/, feedback/    nbgrader's outputs; feedback/ is what students get
    out/course/gradebook.db              the sqlite gradebook, written by this process only
    out/grades.csv, out/report.json      one row per student: score, late, problems
    out/logs/                            nbgrader's log per student, each kernel's stderr, the workers' log
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from .. import paths
from .export import CourseCsvExport, GradingRun, summary_table, write_report  # noqa: F401 (summary_table: API)
from .intake import read_submission, students_in
from .options import GradingError, GradingOptions
from .pool import WorkerDied, run_local
from .record import record, result_from_gradebook
from .sandbox import probe_sandbox, python_paths
from .task import CourseBundle, StudentOutcome, StudentTask, course_config, quiet_logger

MARKER = ".cutmix-grading"


def grade(submissions, course=None, out=None, options: GradingOptions | None = None, *, progress=print,
          **overrides) -> GradingRun:
    """Autograde every student in `submissions` (nbgrader's submitted/ layout), write feedback and the CSV.

    `options` (or keyword overrides of GradingOptions' fields) say how; `course` defaults to `paths.course_root()`,
    `out` to COURSE/build/grading. Raises GradingError only when grading itself cannot run; each submission's
    problems are in the result."""
    try:
        options = dataclasses.replace(options or GradingOptions(), **overrides)
    except TypeError as exc:
        raise GradingError(f"unknown grading option: {exc}") from None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        return _grade(submissions, course, out, options, progress)


def _source_directory(course: Path) -> str:
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return cfg.CourseDirectory.get("source_directory", "source")


def _locate(submissions, course, options) -> tuple[Path, Path]:
    if course is None:
        course = paths.course_root()
        if course is None:
            raise GradingError("--course: no course folder found (a folder with nbgrader_config.py and the "
                               "solutions); pass --course DIR or set $CUTMIX_COURSE")
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise GradingError(f"--course: {course} has no nbgrader_config.py (expected the course folder)")
    submissions = Path(submissions)
    if (submissions / "submitted").is_dir():
        submissions = submissions / "submitted"
    if not submissions.is_dir():
        raise GradingError(f"SUBMISSIONS: {submissions} is not a folder (expected "
                           f"submitted/<student>/{options.assignment}/)")
    return course, submissions.resolve()


def _prepare_out(out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise GradingError(f"--out: {out} exists and is not a grading folder made by this command; "
                               "choose an empty or new folder")
        shutil.rmtree(out)
    (out / "logs" / "kernels").mkdir(parents=True)
    (out / MARKER).write_text("made by python -m cutmix_course grade; deleted on the next run\n")
    os.chmod(out, 0o700)


def _prepare_course(course: Path, root: Path, options: GradingOptions) -> tuple[str, list]:
    """Copy the course source into root/source, run generate_assignment (release + gradebook), set the due date.
    Returns the gradebook's URL and the assignment's notebook names."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log, parse_utc
    from traitlets.config import LoggingConfigurable
    from traitlets.config.loader import PyFileConfigLoader

    source = course / _source_directory(course) / options.assignment
    if not source.is_dir() or not list(source.glob("*.ipynb")):
        raise GradingError(f"--course: no notebooks in {source} (expected the nbgrader source of "
                           f"'{options.assignment}')")
    shutil.copytree(source, root / "source" / options.assignment)
    # the course's own nbgrader_config.py (its release preprocessors), so the checksums equal the students' release
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.merge(course_config(root, options.assignment))
    parent = LoggingConfigurable(config=config, log=quiet_logger())
    coursedir = CourseDirectory(parent=parent)
    generated = capture_log(GenerateAssignment(coursedir=coursedir, parent=parent, force=True))
    if not generated["success"]:
        raise GradingError("nbgrader generate_assignment failed on the course source:\n"
                           + generated.get("error", "") + generated.get("log", "")[-2000:])
    with Gradebook(coursedir.db_url) as gb:
        if options.duedate:
            try:
                gb.update_or_create_assignment(options.assignment, duedate=parse_utc(options.duedate))
            except Exception as exc:
                raise GradingError(f"--duedate: cannot read {options.duedate!r} as a date ({exc})") from None
        notebooks = sorted(nb.name for nb in gb.find_assignment(options.assignment).notebooks)
    return coursedir.db_url, notebooks


def _read_only(course: Path, options: GradingOptions) -> tuple:
    """What a kernel may read: the Python installation and the package, the quiz data, --allow-read."""
    quizzes = {q.resolve() for q in (course / "quizzes", paths.quiz_dir()) if q.is_dir()}
    return tuple(python_paths() + list(options.allow_read) + sorted(map(str, quizzes)))


def _grade(submissions, course, out, options: GradingOptions, progress) -> GradingRun:
    from nbgrader.api import Gradebook

    started = time.monotonic()
    course, submitted = _locate(submissions, course, options)
    if options.sandbox == "bwrap":
        reason = probe_sandbox()
        if reason:
            raise GradingError(f"--sandbox: {reason}. Student code is not run unconfined unless you ask for it "
                               "with --sandbox none.")
    else:
        progress("WARNING: --sandbox none: student code runs with your rights (it can read the solutions and "
                 "write the gradebook)")
    out = Path(out or course / "build" / "grading").resolve()
    _prepare_out(out)
    root = out / "course"
    # nbgrader runs the `alembic` executable (next to the interpreter) when it creates a gradebook
    os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")
    db_url, notebooks = _prepare_course(course, root, options)
    source = root / "source" / options.assignment
    bundle = CourseBundle(
        assignment=options.assignment, notebooks=tuple(notebooks),
        source={str(p.relative_to(source)): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()},
        gradebook=(root / "gradebook.db").read_bytes(), read_only=_read_only(course, options))

    students = students_in(submitted)
    workers = max(1, min(options.worker_count, len(students)))
    progress(f"Grading {len(students)} submission(s) of '{options.assignment}' ({len(notebooks)} notebooks each), "
             f"sandbox: {options.sandbox}, cell timeout {options.timeout} s, {workers} worker(s)")
    intake, reuse = {}, {}
    (out / "work").mkdir()

    def make_task(student):
        intake[student] = read_submission(student, submitted / student / options.assignment, notebooks,
                                          options.max_notebook_mb)
        return StudentTask(intake[student], bundle, options, reuse=dict(reuse) if options.reuse else {},
                           work_parent=str(out / "work"))

    workers_log = (out / "logs" / "workers.log").open("a", encoding="utf-8")

    def on_start(student, attempt, pid):
        workers_log.write(f"{pid} {attempt} {student}\n")
        workers_log.flush()

    results = {}
    width = len(str(len(students)))
    try:
        with Gradebook(db_url) as gb:
            for student, attempts, outcome in run_local(students, make_task, workers, options.retries, on_start):
                if isinstance(outcome, WorkerDied):
                    sub = intake[student]
                    outcome = StudentOutcome(student, problems=[*sub.problems, ("worker died", "", outcome.reason)])
                reuse.update(outcome.reuse)
                result = record(gb, out, options.assignment, intake.pop(student), outcome, attempts)
                results[student] = result
                summary = " ".join(f"{nb[:2]}:{r.score:g}/{r.max_score:g}{'r' if r.reused else ''}"
                                   for nb, r in result.notebooks.items())
                progress(f"[{len(results):>{width}}/{len(students)}] {student}: {summary}  {result.seconds:.1f} s"
                         + (f"  ({len(result.problems)} problem(s))" if result.problems else ""))
    finally:
        workers_log.close()
        shutil.rmtree(out / "work", ignore_errors=True)

    csv_path = out / "grades.csv"
    ordered = [results[s] for s in students]
    exporter = CourseCsvExport(to=str(csv_path), problems=[[r.student, r.problem_text()] for r in ordered])
    with Gradebook(db_url) as gb:
        exporter.export(gb)
    run = GradingRun(out=out, sandbox=options.sandbox, students=ordered, csv=csv_path, feedback=root / "feedback",
                     gradebook=root / "gradebook.db", db_url=db_url, workers=workers,
                     seconds=time.monotonic() - started)
    write_report(run)
    return run


__all__ = ["grade", "GradingRun", "result_from_gradebook"]
