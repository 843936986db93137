"""The grading run: prepare the course once, grade every student as a task (local workers or Dask), record, export.

    out/course/source/<assignment>/      copy of the course's solutions (the gradebook is generated from it)
    out/course/release/<assignment>/     what generate_assignment made of it (checksums for restoring cells)
    out/course/template.db               the gradebook as generate_assignment made it: each task grades in a copy
    out/course/submitted/<student>/...   the imported submissions (refused files are left out, see intake)
    out/course/autograded/, feedback/    nbgrader's outputs; feedback/ is what students get
    out/course/gradebook.db              the sqlite gradebook (unless --db), written by this process only
    out/grades.csv, out/report.json      one row per student: score, late, problems; canvas.csv with --canvas
    out/done.jsonl                       one line per student recorded: what --resume reads
    out/logs/                            nbgrader's log per student, each kernel's stderr, the workers' log
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..notebook import paths
from .export import CourseCsvExport, GradingRun, write_canvas, write_report
from .intake import read_submission, students_in
from .options import GradingError, GradingOptions
from .pool import WorkerDied, run_dask, run_local
from .problems import Problem, printable
from .record import StudentResult, record, refresh_from_gradebook
from .sandbox import probe_sandbox, python_paths
from .task import CourseBundle, StudentOutcome, StudentTask, course_config, put_interpreter_on_path, quiet_logger

MARKER = ".cutmix-grading"


def grade(submissions, course=None, out=None, options: GradingOptions | None = None, *, progress=print,
          bar: bool = False, **overrides) -> GradingRun:
    """Autograde every student in `submissions` (nbgrader's submitted/ layout), write feedback and the CSV.

    `options` (or keyword overrides of GradingOptions' fields) say how; `course` defaults to `paths.course_root()`,
    `out` to COURSE/build/grading; `bar` shows a tqdm progress bar on stderr. Raises GradingError only when grading
    itself cannot run; each submission's problems are in the result."""
    try:
        options = dataclasses.replace(options or GradingOptions(), **overrides)
    except TypeError as exc:
        raise GradingError(f"unknown grading option: {exc}") from None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        return _grade(submissions, course, out, options, progress, bar)


def _course_config_file(course: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


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


def _prepare_out(out: Path, resume: bool) -> dict:
    """Make (or, with resume, keep) the grading folder; return the records of done.jsonl (student -> record)."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise GradingError(f"--out: {out} exists and is not a grading folder made by this command; "
                           "choose an empty or new folder")
    done = {}
    if resume and (out / "done.jsonl").exists():
        for line in (out / "done.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short when the previous run was killed
                continue
            done[entry["student"]] = entry
    elif out.exists():
        shutil.rmtree(out)
    (out / "logs" / "kernels").mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by python -m cutmix_course grade; replaced on the next run unless --resume\n")
    os.chmod(out, 0o700)
    return done


def _generate(course: Path, root: Path, db_url: str, options: GradingOptions) -> list:
    """generate_assignment of root/source into the gradebook at `db_url` (with the course's own nbgrader_config.py,
    so the checksums equal the students' release), the due date set; returns the notebook names."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log, parse_utc
    from traitlets.config import LoggingConfigurable

    config = _course_config_file(course)
    config.merge(course_config(root, options.assignment))
    config.CourseDirectory.db_url = db_url
    parent = LoggingConfigurable(config=config, log=quiet_logger())
    generated = capture_log(GenerateAssignment(coursedir=CourseDirectory(parent=parent), parent=parent, force=True))
    if not generated["success"]:
        raise GradingError("nbgrader generate_assignment failed on the course source:\n"
                           + generated.get("error", "") + generated.get("log", "")[-2000:])
    with Gradebook(db_url) as gb:
        if options.duedate:
            try:
                gb.update_or_create_assignment(options.assignment, duedate=parse_utc(options.duedate))
            except Exception as exc:  # noqa: BLE001
                raise GradingError(f"--duedate: cannot read {options.duedate!r} as a date ({exc})") from None
        return sorted(nb.name for nb in gb.find_assignment(options.assignment).notebooks)


def _prepare_course(course: Path, root: Path, db_url: str, options: GradingOptions) -> list:
    """Copy the course source into root/source; generate the template gradebook (fresh) and the real one."""
    source = course / _course_config_file(course).CourseDirectory.get("source_directory", "source") / \
        options.assignment
    if not source.is_dir() or not list(source.glob("*.ipynb")):
        raise GradingError(f"--course: no notebooks in {source} (expected the nbgrader source of "
                           f"'{options.assignment}')")
    shutil.rmtree(root / "source", ignore_errors=True)
    shutil.copytree(source, root / "source" / options.assignment)
    (root / "template.db").unlink(missing_ok=True)
    notebooks = _generate(course, root, f"sqlite:///{root / 'template.db'}", options)
    main = root / "gradebook.db"
    if db_url == f"sqlite:///{main}" and not main.exists():
        shutil.copy2(root / "template.db", main)  # a new sqlite gradebook starts as the template
    else:  # PostgreSQL, or a gradebook kept by --resume: nbgrader brings it up to date
        _generate(course, root, db_url, options)
    return notebooks


def _check_fresh_database(db_url: str, assignment: str, resume: bool) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    if resume:
        return
    with Gradebook(db_url) as gb:
        try:
            n = len(gb.assignment_submissions(assignment))
        except MissingEntry:
            n = 0
    if n:
        raise GradingError(f"--db: the gradebook already holds {n} submission(s) of '{assignment}' (manual grades "
                           "among them are kept): continue it with --resume, or give an empty database")


def _read_only(course: Path, options: GradingOptions) -> tuple:
    """What a kernel may read: the Python installation and the package, the quiz data, --allow-read."""
    quizzes = {q.resolve() for q in (course / "quizzes", paths.quiz_dir()) if q.is_dir()}
    return tuple(python_paths() + list(options.allow_read) + sorted(map(str, quizzes)))


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, dict) and all(isinstance(v, bytes) for v in part.values()):  # files
            for key in sorted(part):
                h.update(key.encode() + b"\0" + part[key] + b"\0")
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\1")
    return h.hexdigest()


def _grade(submissions, course, out, options: GradingOptions, progress, show_bar: bool) -> GradingRun:
    """What grade() does, its options settled; returns the run's GradingRun."""
    started = time.monotonic()
    course, submitted = _locate(submissions, course, options)
    _check_sandbox(options.sandbox, progress)
    out = Path(out or course / "build" / "grading").resolve()
    done = _prepare_out(out, options.resume)
    root = out / "course"
    root.mkdir(exist_ok=True)
    put_interpreter_on_path()
    db_url = options.db or f"sqlite:///{root / 'gradebook.db'}"
    if options.db:
        _check_fresh_database(db_url, options.assignment, options.resume)
    notebooks = _prepare_course(course, root, db_url, options)
    bundle = _course_bundle(course, root, notebooks, options)
    batch = _take_in(submitted, bundle, options, done, work=out / "work")
    workers = max(1, min(options.worker_count, len(batch.todo) or 1))
    progress(_plan_line(batch, len(notebooks), workers))
    results = _grade_and_record(batch, out, db_url, workers, progress, show_bar)
    return _export(batch, results, out, db_url, workers, started)


def _check_sandbox(sandbox: str, progress) -> None:
    """Raises GradingError when the bwrap sandbox cannot run here; warns through `progress` when there is none."""
    if sandbox == "bwrap":
        reason = probe_sandbox()
        if reason:
            raise GradingError(f"--sandbox: {reason}. Student code is not run unconfined unless you ask for it "
                               "with --sandbox none.")
    else:
        progress("WARNING: --sandbox none: student code runs with your rights (it can read the solutions and "
                 "write the gradebook)")


def _course_bundle(course: Path, root: Path, notebooks: list, options: GradingOptions) -> CourseBundle:
    """What every task needs of the course prepared in `root`: its source files, the template gradebook, what the
    kernels may read."""
    source = root / "source" / options.assignment
    return CourseBundle(
        assignment=options.assignment, notebooks=tuple(notebooks),
        source={str(p.relative_to(source)): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()},
        gradebook=(root / "template.db").read_bytes(), read_only=_read_only(course, options))


def _read_submission(submitted: Path, options: GradingOptions, notebooks: list, course_hash: str,
                     student: str) -> tuple:
    """The student's submission as read now, and the digest of it with the course (what --resume compares)."""
    sub = read_submission(student, submitted / student / options.assignment, notebooks, options.max_notebook_mb)
    return sub, _digest(sub.files, sub.problems, course_hash)


@dataclass
class _Batch:
    """The students of a run and their tasks. A submission is read when its task is built and held only until its
    outcome is recorded, so that only the students in flight are held in memory, not the class."""
    students: list        # every student in the submissions, in order
    todo: list            # those to grade; with --resume, the others are kept from done.jsonl
    done: dict            # done.jsonl's records: student -> record
    hashes: dict          # student -> digest of the submission and the course, as last read
    read: Callable        # student -> (Submission, its digest)
    bundle: CourseBundle
    options: GradingOptions
    work: Path            # where the tasks make their temporary folders
    intake: dict = field(default_factory=dict)  # student -> Submission, from its task's start to its record
    reuse: dict = field(default_factory=dict)   # outputs of the notebooks graded so far (options.reuse)

    def make_task(self, student: str) -> StudentTask:
        """The student's task, its submission read again (and held) now."""
        self.intake[student], self.hashes[student] = self.read(student)
        return StudentTask(self.intake[student], self.bundle, self.options,
                           reuse=dict(self.reuse) if self.options.reuse else {}, work_parent=str(self.work))

    def finish(self, student: str, outcome) -> tuple:
        """The student's submission, no longer held, and its outcome (a WorkerDied made into one with that problem),
        whose reusable outputs the next tasks get."""
        if isinstance(outcome, WorkerDied):
            outcome = StudentOutcome(student, problems=[*self.intake[student].problems,
                                                        (Problem.WORKER_DIED, "", outcome.reason)])
        self.reuse.update(outcome.reuse)
        return self.intake.pop(student), outcome


def _take_in(submitted: Path, bundle: CourseBundle, options: GradingOptions, done: dict, work: Path) -> _Batch:
    """The run's students, every submission read once for its digest: with --resume only those whose submission or
    course changed since the last run are to grade."""
    course_hash = _digest(bundle.source, options.policy())
    students = students_in(submitted)
    read = functools.partial(_read_submission, submitted, options, list(bundle.notebooks), course_hash)
    hashes = {student: read(student)[1] for student in students}
    todo = [s for s in students if done.get(s, {}).get("hash") != hashes[s]]
    return _Batch(students, todo, done, hashes, read, bundle, options, work)


def _plan_line(batch: _Batch, notebooks: int, workers: int) -> str:
    """The line that announces the run: how many submissions, how they are graded, how many are kept."""
    options, students, todo = batch.options, batch.students, batch.todo
    where = f"Dask at {options.scheduler}" if options.scheduler else f"{workers} worker(s)"
    return (f"Grading {len(students)} submission(s) of '{options.assignment}' ({notebooks} notebooks each), "
            f"sandbox: {options.sandbox}, cell timeout {options.timeout} s, {where}"
            + (f"; {len(students) - len(todo)} unchanged since the last run, kept" if options.resume else ""))


def _grade_and_record(batch: _Batch, out: Path, db_url: str, workers: int, progress, show_bar: bool) -> dict:
    """Grade batch.todo on the workers (or the Dask cluster), recording each student in the gradebook, the grading
    folder and done.jsonl as it finishes; returns student -> StudentResult of every student, the kept ones too."""
    from nbgrader.api import Gradebook

    options = batch.options
    batch.work.mkdir(exist_ok=True)
    workers_log = (out / "logs" / "workers.log").open("a", encoding="utf-8")
    on_start = functools.partial(_log_start, workers_log)
    bar = _ProgressBar(len(batch.todo), progress, show_bar)
    tasks = run_dask(batch.todo, batch.make_task, options, on_start) if options.scheduler else \
        run_local(batch.todo, batch.make_task, workers, options.retries, on_start)
    try:
        with Gradebook(db_url) as gb, (out / "done.jsonl").open("a", encoding="utf-8") as journal:
            results = _kept_results(gb, batch)
            for student, attempts, outcome in tasks:
                submission, outcome = batch.finish(student, outcome)
                result = record(gb, out, options.assignment, submission, outcome, attempts)
                results[student] = result
                journal.write(_journal_line(student, batch.hashes[student], result))
                journal.flush()
                bar.recorded(len(results) - (len(batch.students) - len(batch.todo)), student, result)
    finally:
        bar.close()
        workers_log.close()
        shutil.rmtree(batch.work, ignore_errors=True)
    return results


def _log_start(log, student: str, attempt: int, pid) -> None:
    """Note in workers.log which worker process (or "dask") took which student, at which attempt."""
    log.write(f"{pid} {attempt} {student}\n")
    log.flush()


def _kept_results(gb, batch: _Batch) -> dict:
    """student -> StudentResult of the students kept from the last run, with their scores as the gradebook has them
    now (an instructor may have graded by hand since)."""
    return {student: refresh_from_gradebook(gb, batch.options.assignment,
                                            StudentResult.from_dict(batch.done[student]["result"]))
            for student in batch.students if student not in batch.todo}


def _journal_line(student: str, digest: str, result: StudentResult) -> str:
    """The line of done.jsonl that records the student: what --resume reads."""
    return json.dumps({"student": student, "hash": digest, "result": result.to_dict()}, ensure_ascii=False) + "\n"


class _ProgressBar:
    """The run's progress: a tqdm bar on stderr (shown with `show`) counting the students recorded and the failed
    ones, and a line per student through `progress` (above the bar when it is shown)."""

    def __init__(self, total: int, progress, show: bool):
        from tqdm import tqdm

        self.total, self.width, self.failed = total, len(str(total)), 0
        self.bar = tqdm(total=total, unit="student", file=sys.stderr, disable=not show, dynamic_ncols=True)
        self.say = (lambda line: self.bar.write(line, file=sys.stdout)) if show else progress

    def recorded(self, position: int, student: str, result: StudentResult) -> None:
        """Count the student recorded `position`-th and print its line."""
        self.failed += any(k in (Problem.WORKER_DIED, Problem.UNGRADABLE) for k, _, _ in result.problems)
        self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(1)
        self.say(f"[{position:>{self.width}}/{self.total}] {printable(student)}: {_scores_line(result)}  "
                 f"{result.seconds:.1f} s" + (f"  ({len(result.problems)} problem(s))" if result.problems else ""))

    def close(self) -> None:
        """Close the bar; it stays on the screen with its last counts."""
        self.bar.close()


def _scores_line(result: StudentResult) -> str:
    """Each notebook's score of the student, short: "01:2/2 02:1.5/3r" (r: its outputs were reused)."""
    return " ".join(f"{nb[:2]}:{r.score:g}/{r.max_score:g}{'r' if r.reused else ''}"
                    for nb, r in result.notebooks.items())


def _export(batch: _Batch, results: dict, out: Path, db_url: str, workers: int, started: float) -> GradingRun:
    """Write grades.csv, similarity.md, canvas.csv (with --canvas) and report.json; returns the run's GradingRun."""
    from nbgrader.api import Gradebook

    options, root = batch.options, out / "course"
    csv_path = out / "grades.csv"
    ordered = [results[s] for s in batch.students]
    with Gradebook(db_url) as gb:
        CourseCsvExport(to=str(csv_path), problems=[[r.student, r.problem_text()] for r in ordered]).export(gb)
    run = GradingRun(out=out, sandbox=options.sandbox, students=ordered, csv=csv_path, feedback=root / "feedback",
                     gradebook=root / "gradebook.db", db_url=db_url, workers=0 if options.scheduler else workers,
                     graded=len(batch.todo), seconds=time.monotonic() - started)
    run.similarity = similarity_review(out, root, options.assignment, batch.students)
    if options.canvas:
        run.canvas, run.canvas_unmatched = write_canvas(Path(options.canvas), out / "canvas.csv", options.assignment,
                                                        ordered)
    write_report(run)
    return run


def similarity_review(out: Path, root: Path, assignment: str, students: list):
    """similarity.py over the graded submissions (as imported into out/course/submitted) and the course source;
    writes similarity.md and returns the Review (report.json and the summary carry it). Scores are not touched."""
    import nbformat

    from .similarity import answers, course_references, markdown, review

    def read(path):
        try:
            return answers(nbformat.read(path, as_version=4))
        except Exception:  # noqa: BLE001 - a corrupt notebook is already reported and scored 0; nothing to compare
            return {}

    codes = {}
    for student in students:
        codes[student] = {}
        for path in sorted((out / "course" / "submitted" / student / assignment).glob("*.ipynb")):
            codes[student].update(read(path))
    solution = {}
    for path in sorted((root / "source" / assignment).glob("*.ipynb")):
        solution.update(read(path))
    result = review(codes, {e: course_references(e, code) for e, code in solution.items()})
    (out / "similarity.md").write_text(markdown(result), encoding="utf-8")
    return result


__all__ = ["grade", "GradingRun"]
