"""Grade the `cutout_cutmix` assignment: one command from collected submissions to grades, feedback and a CSV.

`python -m cutmix_course grade [SUBMISSIONS] [--course DIR] [--out DIR]` drives nbgrader 0.9.6's own converters
(generate_assignment, autograde, generate_feedback, the export plugin) in an isolated course folder under `--out`:

    out/course/source/<assignment>/      copy of the course's solutions (the gradebook is generated from it)
    out/course/submitted/<student>/...   the imported submissions (corrupt notebooks are left out, see below)
    out/course/autograded/, feedback/    nbgrader's outputs; feedback/ is what students get
    out/course/gradebook.db              the sqlite gradebook
    out/grades.csv, out/report.json      one row per student: score, late, problems
    out/logs/                            nbgrader's log per student, the kernel's own stderr per notebook

What nbgrader 0.9.6 does by default, and what this module changes (each point is tested in tests/grading/):

- Timeouts: `Execute.timeout` 30 s per cell, then SIGINT and a `CellTimeoutError` in that cell. Kept (configurable),
  but a kernel that ignores the interrupt or dies made nbgrader drop the *whole student* (all notebooks, score 0).
  `GuardedExecute` turns both into an error in that cell, skips the rest of that notebook only, and bounds the
  time of a notebook as a whole.
- Output: `LimitOutput` trims to 1000 lines *after* the run, so a print loop first fills the grader's memory.
  `GuardedExecute` also caps the bytes kept per cell while the cell runs.
- stderr: `utils.determine_grade` gives 0 to a test cell with *any* stderr output, so a library warning zeroes a
  correct answer. Policy here ("exceptions fail, warnings don't"): stderr of a test cell that raised nothing is kept
  in the feedback, relabelled as stdout. `--stderr fail` restores nbgrader's behaviour.
- Partial credit: `determine_grade` scores a test cell by its *first* error or execute_result; student code can
  publish a result ahead of every later error (an IPython pre_run_cell hook) and so pass failing tests (measured:
  stock 0.9.6 gives the point). `TestCellPolicy` puts a test cell's error first and records the attempt.
- Test cells: an edited locked cell is restored from the gradebook (checksum); a *deleted* one is not (the student
  simply loses nothing for a failing test). `OverwriteCells.add_missing_cells` is switched on, with a re-insertion
  that also works when a locked markdown cell precedes the test (upstream raises KeyError there). An unknown
  `grade_id` made nbgrader fail the whole student; here the cell's nbgrader metadata is dropped (its code still
  runs) and the real cell is restored.
- Ungradable notebooks (corrupt JSON, missing, kernel died) are recorded with the reason and score 0; the other
  notebooks and students are graded as usual, one autograde call per notebook.
- Feedback: nbgrader renders the autograded notebook, hidden tests included (upstream issue #917). `HideHiddenTests`
  replaces each hidden region by a one-line note and reduces a traceback in such a cell to its last line.
- Sandbox: nbgrader runs student code with the grader's rights. Here each kernel runs under bubblewrap: no network,
  a fresh root holding only the Python installation, the course package and the student's own working copy;
  solutions, hidden tests, the gradebook and other students do not exist inside. Memory is capped with
  RLIMIT_DATA. A Python audit hook in the kernel records attempts to reach those paths.
- Late: nbgrader's `LateSubmissionPlugin` (`--late-policy zero`: a late submission scores 0; `none`: flagged only);
  the CSV has `late` and `seconds_late` columns next to nbgrader's penalty.
- Speed (`--reuse-identical`, off by default): a notebook identical to one already run in this grading (same cells
  after sanitizing, same files beside it) is executed once; nbgrader still grades each student from the outputs.

Integrity: `forbid_reference` (in `integrity`, importable from here too) is used *inside* hidden tests, in the
grading kernel: it runs the student's function with the reference implementations behind a tripwire. The sandbox
itself (bubblewrap, the kernel's entry point and audit hook) is in `sandbox`.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .integrity import ReferenceUsedError, forbid_reference  # noqa: F401 (hidden tests import them from here)
from .sandbox import AUDIT_MARK, KERNEL_ENV, SYSTEM_READ_ONLY, bwrap_command, probe_sandbox, python_paths

ASSIGNMENT = "cutout_cutmix"
DEFAULTS = dict(timeout=60, notebook_timeout=600, max_output_kb=1024, memory_mb=3072)

# One grading run at a time per process; the preprocessors below append what they notice about the notebook
# being graded (kind, detail) here, and `_grade_student` collects it. (traitlets deep-copies config values, so a
# shared collector cannot travel through the config.)
_FINDINGS: list[tuple[str, str]] = []
_REUSE: dict = {}  # GuardedExecute.reuse: content digest -> (outputs per cell, findings, language_info)


def _note(kind: str, detail: str) -> None:
    _FINDINGS.append((kind, detail))


def _error_output(ename: str, evalue: str):
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _cell_label(cell, index: int) -> str:
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" ({gid})" if gid else "")


def _grader_classes():
    """The nbgrader/jupyter subclasses, defined on first use so that importing this module stays light."""
    global _CLASSES
    if "_CLASSES" in globals():
        return _CLASSES

    import copy
    import fnmatch
    import hashlib
    import shutil
    import tempfile
    import time

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbformat.v4 import new_output
    from traitlets import Bool, Enum, Integer, List, Unicode

    from nbgrader import utils as nbutils
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor, OverwriteCells
    from nbgrader.plugins import ExportPlugin

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the kernel through `sandbox.kernel_main`, over IPC sockets, inside bubblewrap (sandbox='bwrap')."""

        sandbox = Enum(["bwrap", "none"], "bwrap").tag(config=True)
        memory_mb = Integer(DEFAULTS["memory_mb"]).tag(config=True)
        file_size_mb = Integer(1024).tag(config=True)  # RLIMIT_FSIZE: no single file larger than this
        read_only = List(Unicode()).tag(config=True)       # paths visible (read-only) inside the sandbox
        workdir = Unicode("/home/student/work").tag(config=True)  # the kernel's working folder inside bwrap
        scratch_root = Unicode().tag(config=True)          # per-student writable copies of the working folder
        log_dir = Unicode().tag(config=True)               # kernel stderr (and audit lines) land here
        env_keep = List(Unicode(), ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED",
                                    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NBGRADER_EXECUTION"]).tag(config=True)

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._sockdir = tempfile.mkdtemp(prefix="cmg-")  # short path: unix socket names are limited
            self.transport = "ipc"
            self.ip = os.path.join(self._sockdir, "k")
            self.connection_file = os.path.join(self._sockdir, "kernel.json")
            fd, self.kernel_log = tempfile.mkstemp(prefix="kernel-", suffix=".log", dir=self.log_dir or None)
            os.close(fd)

        def _scratch_for(self, cwd: str) -> str:
            """The student's writable working copy (no notebooks: the autograded ones hold hidden tests)."""
            key = hashlib.sha1(cwd.encode()).hexdigest()[:16]
            scratch = os.path.join(self.scratch_root or self._sockdir, key)
            if not os.path.isdir(scratch):
                shutil.copytree(cwd, scratch, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_IN_WORKDIR))
            return scratch

        def _env(self) -> dict:
            env = {k: v for k, v in os.environ.items() if k in self.env_keep or k.startswith("CUTMIX_")}
            # No JPY_PARENT_PID: in a pid namespace the kernel's parent is pid 1 and ipykernel would take that for
            # its parent's death; bwrap --die-with-parent does that job.
            # No bytecode writes: the package and the venv are read-only in the sandbox (and the audit would
            # count the attempt).
            env.update(HOME="/tmp/home", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/mpl", MPLBACKEND="Agg",
                       PYTHONDONTWRITEBYTECODE="1")
            return env

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if cmd[1:3] != ["-m", "ipykernel_launcher"]:
                raise RuntimeError(f"grading needs an ipykernel kernelspec, got the command {cmd}")
            return [cmd[0], "-c", "from cutmix_course.sandbox import kernel_main; kernel_main()", *cmd[3:]]

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            scratch = self._scratch_for(os.path.realpath(kw.get("cwd") or os.getcwd()))
            workdir = self.workdir if self.sandbox == "bwrap" else scratch
            env = self._env()
            env[KERNEL_ENV] = json.dumps({
                "memory_mb": self.memory_mb, "file_size_mb": self.file_size_mb,
                "readable": ["/proc", "/sys", *SYSTEM_READ_ONLY, *self.read_only],
                "writable": [workdir, self._sockdir, "/tmp", "/dev"]})
            if self.sandbox == "bwrap":
                kernel_cmd = bwrap_command(kernel_cmd, self.read_only, {scratch: workdir, self._sockdir: self._sockdir},
                                           env, workdir)
                kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            else:
                kw["env"] = env
                kw["cwd"] = scratch
            log = open(self.kernel_log, "ab")
            kw.update(stdout=log, stderr=log, preexec_fn=_ignore_sigint)
            try:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()

        async def _async_cleanup_resources(self, restart=False):
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._sockdir, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    class GuardedExecute(Execute):
        """nbgrader's Execute, made robust: a dead or unresponsive kernel costs the rest of *this* notebook only
        (the cell says why; the cells before keep their grades), a notebook has a total time budget, and the
        output kept per cell is capped while it runs."""

        notebook_timeout = Integer(DEFAULTS["notebook_timeout"]).tag(config=True)
        max_output_bytes = Integer(DEFAULTS["max_output_kb"] * 1024).tag(config=True)
        reuse = Bool(False, help="run a notebook identical to one already run (same cells, same files in its "
                                 "folder) only once per grading run, reusing its outputs").tag(config=True)

        def __init__(self, **kw):
            kw["kernel_manager_class"] = SandboxedKernelManager
            super().__init__(**kw)

        def create_kernel_manager(self):
            self._last_km = super().create_kernel_manager()
            return self._last_km

        def _reuse_key(self, nb, resources) -> str:
            digest = hashlib.sha256(json.dumps(
                [[c.cell_type, c.source, c.metadata.get("nbgrader", {})] for c in nb.cells], sort_keys=True).encode())
            folder = (resources or {}).get("metadata", {}).get("path")
            if folder:
                for path in sorted(Path(folder).rglob("*")):
                    if path.is_file() and not any(fnmatch.fnmatch(path.name, p) for p in _NOT_IN_WORKDIR):
                        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
            return digest.hexdigest()

        def preprocess(self, nb, resources=None, km=None):
            key = self._reuse_key(nb, resources) if self.reuse else None
            if key in _REUSE:
                outputs, findings, language = _REUSE[key]
                for cell, (outs, count) in zip(nb.cells, outputs):
                    if cell.cell_type == "code":
                        cell.outputs, cell.execution_count = copy.deepcopy(outs), count
                nb.metadata["language_info"] = copy.deepcopy(language)
                _FINDINGS.extend(findings)
                _note("_reused", "identical to a notebook already run")
                return nb, resources
            self._stopped = None
            self._deadline = time.monotonic() + self.notebook_timeout
            self._out_bytes = {}
            self._last_km = None
            first = len(_FINDINGS)
            try:
                nb, resources = super().preprocess(nb, resources, km)
            finally:
                if self._last_km is not None:
                    info = (resources or {}).get("nbgrader", {})
                    _collect_kernel_log(self._last_km.kernel_log,
                                        f"{info.get('student', 'unknown')}--{info.get('notebook', 'unknown')}.log")
            if key is not None:
                _REUSE[key] = ([(copy.deepcopy(c.get("outputs", [])), c.get("execution_count")) for c in nb.cells],
                               _FINDINGS[first:], copy.deepcopy(nb.metadata.get("language_info", {})))
            return nb, resources

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type != "code" or not cell.source.strip():
                return cell, resources
            if self._stopped is None and time.monotonic() > self._deadline:
                self._stopped = f"the notebook ran out of its time budget ({self.notebook_timeout} s)"
                _note("timeout", f"notebook time budget of {self.notebook_timeout} s used up before {_cell_label(cell, index)}")
            if self._stopped:
                cell.outputs = [_error_output("NotRun", f"not run: {self._stopped}")]
                return cell, resources
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                status = self._exit_status()
                cell.outputs.append(_error_output(
                    "KernelDied", f"the kernel died while running this cell ({status}): sys.exit/os._exit, a crash "
                    "or the memory limit; the cells after it were not run"))
                self._stopped = "the kernel died in an earlier cell"
                _note("kernel died", f"{_cell_label(cell, index)}, {status}")
            except CellTimeoutError:  # the kernel did not come back after the timeout interrupt
                run_sync(self.km.shutdown_kernel)(now=True)
                cell.outputs.append(_error_output(
                    "CellTimeoutError", f"timed out after {self.timeout} s and did not stop when interrupted"))
                self._stopped = "the kernel stopped responding in an earlier cell"
                _note("timeout", f"{_cell_label(cell, index)} (kernel unresponsive, killed)")
            else:
                for out in cell.outputs:
                    if out.output_type != "error":
                        continue
                    if out.ename == "CellTimeoutError":
                        _note("timeout", f"{_cell_label(cell, index)} ran over {self.timeout} s and was interrupted")
                    elif out.ename == "MemoryError" or "can't allocate memory" in str(out.get("evalue", "")):
                        _note("memory", f"{_cell_label(cell, index)} ran out of memory ({out.ename})")
                    elif out.ename == "ReferenceUsedError":
                        _note("integrity", f"{_cell_label(cell, index)}: {out.evalue}")
                    elif out.ename == "SystemExit":
                        _note("exit", f"{_cell_label(cell, index)} called sys.exit() (the kernel survives it)")
            return cell, resources

        def _exit_status(self) -> str:
            proc = getattr(getattr(self.km, "provisioner", None), "process", None)
            code = proc.poll() if proc is not None else None
            return "killed by a signal" if code is None or code < 0 or code > 128 else f"exit status {code}"

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
            used = self._out_bytes.get(cell_index, 0)
            self._out_bytes[cell_index] = used + size
            if used + size > self.max_output_bytes:
                if used <= self.max_output_bytes:
                    outs.append(new_output("stream", name="stdout", text=(
                        f"\n... output truncated by the grader: more than {self.max_output_bytes // 1024} KiB ...\n")))
                    _note("output", f"cell {cell_index} printed more than {self.max_output_bytes // 1024} KiB "
                                    "(truncated)")
                return None
            return super().output(outs, msg, display_id, cell_index)

    class TestCellPolicy(NbGraderPreprocessor):
        """How a test cell's outputs count (nbgrader's determine_grade reads the *first* error or execute_result):

        - a test cell that raised fails, even if code run before it made a result appear ahead of the error (a
          pre_run_cell hook publishing an execute_result would otherwise earn the points: "partial credit");
        - stderr_as_output: stderr of a test cell that raised nothing is relabelled stdout (text kept, marked), so
          a harmless library warning does not zero a correct answer ("exceptions fail, warnings don't")."""

        stderr_as_output = Bool(True).tag(config=True)

        def preprocess_cell(self, cell, resources, index):
            if not (nbutils.is_grade(cell) and not nbutils.is_solution(cell) and cell.cell_type == "code"):
                return cell, resources
            errors = [o for o in cell.outputs if o.output_type == "error"]
            kinds = [o.output_type for o in cell.outputs]
            if errors and "execute_result" in kinds[: kinds.index("error")]:
                cell.outputs = errors + [o for o in cell.outputs if o.output_type != "error"]
                _note("tampering", f"{_cell_label(cell, index)} showed a result ahead of its error: counted failed")
            if self.stderr_as_output and not errors:
                for out in cell.outputs:
                    if out.output_type == "stream" and out.name == "stderr":
                        out.name = "stdout"
                        out.text = "[stderr] " + out.text
                        _note("stderr", f"{_cell_label(cell, index)} wrote to stderr (kept as output, not a failure)")
            return cell, resources

    class RestoringOverwriteCells(OverwriteCells):
        """OverwriteCells with add_missing_cells on, a re-insertion that finds its place robustly, unknown
        grade_ids neutralised instead of failing the notebook, and each restoration recorded."""

        add_missing_cells = Bool(True).tag(config=True)
        hidden_begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
        hidden_end = Unicode("END HIDDEN TESTS").tag(config=True)

        def preprocess_cell(self, cell, resources, index):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid is None:
                return cell, resources
            try:
                source_cell = self.gradebook.find_source_cell(gid, self.notebook_id, self.assignment_id)
            except MissingEntry:
                _note("restored", f"cell {index} has an unknown grade_id {gid!r}: treated as an ordinary cell")
                del cell.metadata["nbgrader"]
                return cell, resources
            if source_cell.locked and cell.source not in (source_cell.source, _strip_hidden(
                    source_cell.source, self.hidden_begin, self.hidden_end)):
                _note("restored", f"locked cell {gid!r} was edited: restored from the gradebook")
            return super().preprocess_cell(cell, resources, index)

        def add_missing_grade_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            order = [c.name for c in source_nb.source_cells]
            solution_ids = {c.name for c in source_nb.solution_cells}
            for grade_cell in source_nb.grade_cells:
                present = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
                if grade_cell.name in present:
                    continue
                _note("restored", f"test cell {grade_cell.name!r} was missing: added back from the gradebook")
                position = order.index(grade_cell.name)
                before = [present[n] for n in order[:position] if n in present]
                new_cell = self.missing_cell_transform(source_nb.source_cells[position], grade_cell.max_score,
                                                       is_solution=grade_cell.name in solution_ids)
                nb.cells.insert(before[-1] + 1 if before else 0, new_cell)
            return nb, resources

    class HideHiddenTests(ClearHiddenTests):
        """Feedback preprocessor: each hidden-test region becomes a one-line note, and an error in such a cell is
        shown as its last line only (a traceback quotes the lines around the failing one)."""

        enforce_metadata = Bool(False).tag(config=True)

        def preprocess_cell(self, cell, resources, index):
            if self.begin_test_delimeter not in cell.source:
                return cell, resources
            cell.source = _strip_hidden(cell.source, self.begin_test_delimeter, self.end_test_delimeter,
                                        note="# [hidden tests: not shown]")
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    out.traceback = [f"{out.ename}: {out.evalue}".rstrip(": ")]
            return cell, resources

    class CourseCsvExport(ExportPlugin):
        """nbgrader's CSV columns plus late/seconds_late/problems, written with the csv module in UTF-8."""

        problems = List().tag(config=True)  # [[student, "problem; problem"], ...]

        def export(self, gradebook):
            import csv

            problems = dict(map(tuple, self.problems))
            keys = ["assignment", "duedate", "timestamp", "student_id", "raw_score", "late", "seconds_late",
                    "late_submission_penalty", "score", "max_score", "problems"]
            with open(self.to or "grades.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, keys)
                writer.writeheader()
                for assignment in gradebook.assignments:
                    for student in gradebook.students:
                        row = dict(assignment=assignment.name, duedate=assignment.duedate or "", student_id=student.id,
                                   max_score=assignment.max_score, problems=problems.get(student.id, ""))
                        try:
                            sub = gradebook.find_submission(assignment.name, student.id)
                        except MissingEntry:
                            row.update(timestamp="", raw_score=0.0, late="no", seconds_late=0,
                                       late_submission_penalty=0.0, score=0.0)
                        else:
                            row.update(timestamp=sub.timestamp or "", raw_score=sub.score,
                                       late="yes" if sub.total_seconds_late > 0 else "no",
                                       seconds_late=round(sub.total_seconds_late),
                                       late_submission_penalty=sub.late_submission_penalty,
                                       score=max(0.0, sub.score - sub.late_submission_penalty))
                        writer.writerow(row)

    _CLASSES = dict(SandboxedKernelManager=SandboxedKernelManager, GuardedExecute=GuardedExecute,
                    TestCellPolicy=TestCellPolicy, RestoringOverwriteCells=RestoringOverwriteCells,
                    HideHiddenTests=HideHiddenTests, CourseCsvExport=CourseCsvExport)
    return _CLASSES


# Not copied into the kernel's working folder: the autograded notebooks hold the hidden tests, and the timestamp is
# nbgrader's business (leaving it out also keeps identical work identical for `reuse`).
_NOT_IN_WORKDIR = ("*.ipynb", ".ipynb_checkpoints", "timestamp.txt")


def _ignore_sigint():
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _strip_hidden(source: str, begin: str, end: str, note: str | None = None) -> str:
    """`source` without its hidden-test regions (delimiter lines included); `note` replaces each region."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if begin in line:
            hidden = True
            if note is not None:
                lines.append(line[: len(line) - len(line.lstrip())] + note)
        elif end in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def _collect_kernel_log(path: str, name: str) -> None:
    """Record the audit lines of a finished kernel's stderr log, and give the log a readable name."""
    try:
        text = Path(path).read_text(errors="replace")
        os.replace(path, os.path.join(os.path.dirname(path), name))
    except OSError:
        return
    attempts = []
    for line in text.splitlines():
        if line.startswith(AUDIT_MARK):
            try:
                event = json.loads(line[len(AUDIT_MARK):])
                attempts.append(f"{event['event']} {event['path']}")
            except (ValueError, KeyError):
                attempts.append(f"unreadable audit line {line[:120]!r}")
    if attempts:  # the full list stays in the kernel log
        writes = sum("(write)" in a for a in attempts)
        _note("sandbox", f"tried to reach {len(attempts)} path(s) outside its sandbox ({writes} write(s)); see the "
                         f"kernel log for all; e.g. " + ", ".join(sorted(attempts, key=lambda a: "(write)" not in a)[:2]))


# -------------------------------------------------------------------------------------------- the run
@dataclass
class NotebookResult:
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)  # grade_id -> score
    graded: bool = False       # False: missing, corrupt or ungradable (scored 0)
    seconds: float = 0.0       # wall time of its autograde (sanitize, run, save grades)
    reused: bool = False       # outputs reused from an identical notebook run earlier (--reuse-identical)


@dataclass
class StudentResult:
    student: str
    score: float = 0.0           # after the late penalty
    raw_score: float = 0.0
    max_score: float = 0.0
    late: bool = False
    seconds_late: float = 0.0
    penalty: float = 0.0
    seconds: float = 0.0         # wall time to grade this student
    problems: list = field(default_factory=list)  # [(kind, notebook, detail)]
    notebooks: dict = field(default_factory=dict)  # notebook -> NotebookResult

    def problem_text(self) -> str:
        return "; ".join(f"{kind}: {nb} {detail}".replace("  ", " ").strip() for kind, nb, detail in self.problems)


@dataclass
class GradingRun:
    out: Path
    sandbox: str
    students: list
    csv: Path
    feedback: Path
    gradebook: Path
    seconds: float = 0.0

    def by_student(self) -> dict:
        return {s.student: s for s in self.students}


class GradingError(RuntimeError):
    """Grading itself could not run (not a problem of one submission)."""


def _load_course_config(course: Path):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg_file = course / "nbgrader_config.py"
    if not cfg_file.exists():
        return Config()
    return PyFileConfigLoader(cfg_file.name, path=str(course)).load_config()


def _config(course: Path, root: Path, out: Path, submissions: Path, opts: dict, sandbox: str):
    """nbgrader configuration for the isolated course folder `root`, on top of the course's nbgrader_config.py
    (so generate_assignment makes the same stubs and checksums as the release the students got)."""
    classes = _grader_classes()
    c = _load_course_config(course)
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.CourseDirectory.student_id = "*"
    c.CourseDirectory.notebook_id = "*"

    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        GetGrades, IgnorePattern, LimitOutput, OverwriteKernelspec, SaveAutoGrades)

    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                          classes["RestoringOverwriteCells"], CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [classes["GuardedExecute"], IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, classes["TestCellPolicy"], SaveAutoGrades,
                                           AssignLatePenalties, CheckCellMetadata]
    c.TestCellPolicy.stderr_as_output = opts["stderr"] == "output"
    c.GenerateFeedback.preprocessors = [GetGrades, classes["HideHiddenTests"], CSSHTMLHeaderPreprocessor]
    c.Execute.timeout = opts["timeout"]
    c.GuardedExecute.notebook_timeout = opts["notebook_timeout"]
    c.GuardedExecute.max_output_bytes = opts["max_output_kb"] * 1024
    c.GuardedExecute.reuse = opts["reuse"]
    c.LateSubmissionPlugin.penalty_method = opts["late_policy"]

    km = c.SandboxedKernelManager
    km.sandbox = sandbox
    km.memory_mb = opts["memory_mb"]
    import cutmix_course

    # the quiz data: the course's quizzes/, the package's (cutmix_course.quiz looks beside lib/) or $CUTMIX_QUIZZES
    quizzes = [course / "quizzes", Path(cutmix_course.__file__).resolve().parents[2] / "quizzes",
               Path(os.environ.get("CUTMIX_QUIZZES") or course / "quizzes")]
    read_only = python_paths() + [str(p) for p in opts["allow_read"]]
    read_only += sorted({str(q.resolve()) for q in quizzes if q.is_dir()})
    km.read_only = read_only
    km.scratch_root = str(out / "scratch")
    km.log_dir = str(out / "logs" / "kernels")
    return c


def _capture(converter) -> dict:
    from nbgrader.utils import capture_log

    return capture_log(converter)


def _students(submitted: Path) -> list[str]:
    return sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith("."))


def _zero_notebook(gb, notebook: str, assignment: str, student: str) -> None:
    """What nbgrader does for a missing notebook: every grade of it auto-scored 0, nothing to grade by hand."""
    sub = gb.find_submission_notebook(notebook, assignment, student)
    for grade in sub.grades:
        grade.auto_score = 0
        grade.needs_manual_grade = False
    gb.db.commit()


def _note_page(student: str, notebook: str, reason: str) -> str:
    import html

    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}</title></head><body>"
            f"<h1>{html.escape(notebook)}</h1><p>Student: {html.escape(student)}</p>"
            f"<p><b>This notebook could not be graded:</b> {html.escape(reason)}. It scores 0. "
            "Please contact the instructor.</p></body></html>\n")


def grade(submissions, course=None, out=None, *, assignment: str = ASSIGNMENT, duedate: str | None = None,
          late_policy: str = "zero", stderr: str = "output", sandbox: str = "bwrap",
          timeout: int = DEFAULTS["timeout"], notebook_timeout: int = DEFAULTS["notebook_timeout"],
          max_output_kb: int = DEFAULTS["max_output_kb"], memory_mb: int = DEFAULTS["memory_mb"],
          allow_read=(), reuse: bool = False, progress=print) -> GradingRun:
    """Autograde every student in `submissions` (nbgrader's submitted/ layout), write feedback and the CSV.

    Raises GradingError only when grading itself cannot run; each submission's problems are in the result.
    """
    import warnings

    with warnings.catch_warnings():
        # nbgrader's gradebook code trips SQLAlchemy's autoflush warnings on every submission; they are harmless
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        return _grade(submissions, course, out, assignment=assignment, duedate=duedate, late_policy=late_policy,
                      stderr=stderr, sandbox=sandbox, timeout=timeout, notebook_timeout=notebook_timeout,
                      max_output_kb=max_output_kb, memory_mb=memory_mb, allow_read=allow_read, reuse=reuse,
                      progress=progress)


def _grade(submissions, course, out, *, assignment, duedate, late_policy, stderr, sandbox, timeout,
           notebook_timeout, max_output_kb, memory_mb, allow_read, reuse, progress) -> GradingRun:
    import shutil
    import time

    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import LoggingConfigurable

    started = time.monotonic()
    course = Path(course or default_course()).resolve()
    submissions = Path(submissions)
    if (submissions / "submitted").is_dir():
        submissions = submissions / "submitted"
    submissions = submissions.resolve()
    source = course / _source_directory(course) / assignment
    if not source.is_dir() or not list(source.glob("*.ipynb")):
        raise GradingError(f"--course: no notebooks in {source} (expected the nbgrader source of '{assignment}')")
    if not submissions.is_dir():
        raise GradingError(f"SUBMISSIONS: {submissions} is not a folder (expected submitted/<student>/{assignment}/)")
    if late_policy not in ("zero", "none"):
        raise GradingError(f"--late-policy must be 'zero' or 'none', got {late_policy!r}")
    if stderr not in ("output", "fail"):
        raise GradingError(f"--stderr must be 'output' or 'fail', got {stderr!r}")
    for name, value in dict(timeout=timeout, notebook_timeout=notebook_timeout, max_output_kb=max_output_kb,
                            memory_mb=memory_mb).items():
        if not isinstance(value, int) or value <= 0:
            raise GradingError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if sandbox in ("auto", "bwrap"):
        reason = probe_sandbox()
        if reason:
            raise GradingError(f"--sandbox: {reason}. Student code is not run unconfined unless you ask for it "
                               "with --sandbox none.")
        sandbox = "bwrap"
    elif sandbox == "none":
        progress("WARNING: --sandbox none: student code runs with your rights (it can read the solutions and "
                 "write the gradebook)")
    else:
        raise GradingError(f"--sandbox must be 'bwrap' or 'none', got {sandbox!r}")

    out = Path(out or course / "build" / "grading").resolve()
    if out.exists():
        if any(out.iterdir()) and not (out / ".cutmix-grading").exists():
            raise GradingError(f"--out: {out} exists and is not a grading folder made by this command; "
                               "choose an empty or new folder")
        shutil.rmtree(out)
    root = out / "course"
    (root / "source").mkdir(parents=True)
    (out / "logs" / "kernels").mkdir(parents=True)
    (out / ".cutmix-grading").write_text("made by python -m cutmix_course grade; deleted on the next run\n")
    os.chmod(out, 0o700)
    shutil.copytree(source, root / "source" / assignment)
    # nbgrader runs the `alembic` executable when it creates a gradebook; make the venv's one findable.
    os.environ["PATH"] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get("PATH", "")

    opts = dict(timeout=timeout, notebook_timeout=notebook_timeout, max_output_kb=max_output_kb,
                memory_mb=memory_mb, late_policy=late_policy, stderr=stderr, allow_read=list(allow_read),
                reuse=bool(reuse))
    _REUSE.clear()
    config = _config(course, root, out, submissions, opts, sandbox)
    log = _quiet_logger()
    parent = LoggingConfigurable(config=config, log=log)
    coursedir = CourseDirectory(parent=parent)
    coursedir.assignment_id = assignment

    generated = _capture(GenerateAssignment(coursedir=coursedir, parent=parent, force=True))
    if not generated["success"]:
        raise GradingError("nbgrader generate_assignment failed on the course source:\n"
                           + generated.get("error", "") + generated.get("log", "")[-2000:])
    db_url = config.CourseDirectory.db_url
    with Gradebook(db_url) as gb:
        if duedate:
            from nbgrader.utils import parse_utc

            try:
                gb.update_or_create_assignment(assignment, duedate=parse_utc(duedate))
            except Exception as exc:
                raise GradingError(f"--duedate: cannot read {duedate!r} as a date ({exc})") from None
        notebooks = sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)

    students = _students(submissions)
    progress(f"Grading {len(students)} submission(s) of '{assignment}' ({len(notebooks)} notebooks each), "
             f"sandbox: {sandbox}, cell timeout {timeout} s")
    results = []
    for number, student in enumerate(students, 1):
        t0 = time.monotonic()
        result = _grade_student(student, submissions / student / assignment, root, assignment, notebooks,
                                coursedir, parent, db_url, out)
        result.seconds = time.monotonic() - t0
        results.append(result)
        summary = " ".join(f"{nb[:2]}:{r.score:g}/{r.max_score:g}{'r' if r.reused else ''}"
                           for nb, r in result.notebooks.items())
        progress(f"[{number:>{len(str(len(students)))}}/{len(students)}] {student}: {summary}  "
                 f"{result.seconds:.1f} s" + (f"  ({len(result.problems)} problem(s))" if result.problems else ""))

    csv_path = out / "grades.csv"
    exporter = _grader_classes()["CourseCsvExport"](parent=parent, to=str(csv_path),
                                                    problems=[[r.student, r.problem_text()] for r in results])
    with Gradebook(db_url) as gb:
        exporter.export(gb)
    run = GradingRun(out=out, sandbox=sandbox, students=results, csv=csv_path, feedback=root / "feedback",
                     gradebook=root / "gradebook.db", seconds=time.monotonic() - started)
    _write_report(run)
    return run


def _grade_student(student, folder: Path, root: Path, assignment, notebooks, coursedir, parent, db_url, out,
                   max_notebook_mb: int = 50):
    """Import one student's submission, autograde it notebook by notebook, and generate the feedback."""
    import shutil
    import time
    import warnings

    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.utils import temp_attrs

    result = StudentResult(student)
    dest = root / "submitted" / student / assignment
    dest.mkdir(parents=True)
    ungradable = {}
    if any(c in student for c in "*?[]"):  # nbgrader globs the student id: such a folder can never be found
        ungradable = {nb: "the student id contains one of * ? [ ]" for nb in notebooks}
        result.problems.append(("student id", "", "contains one of * ? [ ] (nbgrader cannot grade it): rename "
                                                  "the folder and grade again"))
    for item in sorted(folder.iterdir()) if folder.is_dir() and not ungradable else []:
        links = [item] if item.is_symlink() else [p for p in item.rglob("*") if p.is_symlink()]
        if links:  # followed, a link would carry its target (solutions, ...) into the sandbox's working copy
            result.problems.append(("symlink", item.name, f"contains symbolic links ({links[0].name} -> "
                                                          f"{os.readlink(links[0])}); not imported"))
            continue
        if item.suffix == ".ipynb":
            if item.stem not in notebooks:
                result.problems.append(("extra", item.name, "is not part of the assignment (ignored)"))
                continue
            size_mb = item.stat().st_size / 2**20
            if size_mb > max_notebook_mb:
                reason = f"{size_mb:.0f} MiB, more than the {max_notebook_mb} MiB a notebook may have"
                ungradable[item.stem] = reason
                result.problems.append(("too large", item.name, reason))
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # e.g. cells without ids: nbformat fixes those itself
                    nbformat.validate(nbformat.read(item, as_version=4))
            except Exception as exc:  # corrupt JSON or not a notebook: left out, so nbgrader scores it 0
                reason = f"not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:150]})"
                ungradable[item.stem] = reason
                result.problems.append(("corrupt", item.name, reason))
                continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name)
        else:
            shutil.copy2(item, dest / item.name)
    for nb in notebooks:
        if nb not in ungradable and not (dest / f"{nb}.ipynb").exists():
            ungradable[nb] = "the notebook was not submitted"
            result.problems.append(("missing", f"{nb}.ipynb", "not submitted"))

    logs = out / "logs" / student
    logs.mkdir(parents=True, exist_ok=True)
    reused, seconds = set(), {}
    for nb in notebooks:
        if nb in ungradable:
            continue
        _FINDINGS.clear()
        t0 = time.monotonic()
        with temp_attrs(coursedir, student_id=student, notebook_id=nb):
            done = _capture(Autograde(coursedir=coursedir, parent=parent, force=True, create_student=True))
        seconds[nb] = time.monotonic() - t0
        (logs / f"{nb}.autograde.log").write_text(done.get("log", "") + done.get("error", ""), encoding="utf-8")
        for kind, detail in _FINDINGS:
            if kind == "_reused":
                reused.add(nb)
            elif (kind, nb, detail) not in result.problems:
                result.problems.append((kind, nb, detail))
        if not done["success"] or not (root / "autograded" / student / assignment / f"{nb}.ipynb").exists():
            last = (done.get("error") or done.get("log") or "unknown error").strip().splitlines()[-1][:200]
            if "Kernel didn't respond" in done.get("error", "") or "Failed to run command" in done.get("log", ""):
                raise GradingError(f"the grading kernel could not start (student {student}, {nb}): {last}")
            ungradable[nb] = f"nbgrader could not grade it ({last})"
            result.problems.append(("ungradable", nb, last))

    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:  # nothing gradable at all: record the submission so it has a row and a 0
            gb.add_submission(assignment, student)
        for nb in ungradable:
            _zero_notebook(gb, nb, assignment, student)
        sub = gb.find_submission(assignment, student)
        result.raw_score, result.max_score = sub.score, sub.max_score
        result.seconds_late = sub.total_seconds_late
        result.late = result.seconds_late > 0
        result.penalty = sub.late_submission_penalty or 0.0
        result.score = max(0.0, result.raw_score - result.penalty)
        for snb in sub.notebooks:
            result.notebooks[snb.name] = NotebookResult(
                score=snb.score, max_score=snb.max_score, graded=snb.name not in ungradable,
                reused=snb.name in reused, seconds=seconds.get(snb.name, 0.0),
                cells={g.name: g.score for g in snb.grades})
    if result.late:
        result.problems.append(("late", "", f"{result.seconds_late / 3600:.1f} h after the due date, penalty "
                                            f"{result.penalty:g}"))

    if len(ungradable) < len(notebooks):
        with temp_attrs(coursedir, student_id=student, notebook_id="*"):
            fb = _capture(GenerateFeedback(coursedir=coursedir, parent=parent, force=True))
        (logs / "feedback.log").write_text(fb.get("log", "") + fb.get("error", ""), encoding="utf-8")
        if not fb["success"]:
            result.problems.append(("feedback", "", "nbgrader generate_feedback failed (see logs)"))
    feedback = root / "feedback" / student / assignment
    feedback.mkdir(parents=True, exist_ok=True)
    for nb, reason in ungradable.items():
        (feedback / f"{nb}.html").write_text(_note_page(student, nb, reason), encoding="utf-8")
    result.notebooks = dict(sorted(result.notebooks.items()))
    shutil.rmtree(out / "scratch", ignore_errors=True)  # the student's working copy, shared by their notebooks
    return result


def _quiet_logger():
    import logging

    log = logging.getLogger("cutmix_course.grade.nbgrader")
    log.setLevel(logging.INFO)
    log.propagate = False  # nbgrader's chatter goes to the per-student log files, not the console
    return log


def _source_directory(course: Path) -> str:
    cfg = _load_course_config(course)
    return cfg.CourseDirectory.get("source_directory", "source")


def default_course() -> Path:
    """The course root: the working directory if it holds nbgrader_config.py, else the repository of this package."""
    here = Path.cwd()
    if (here / "nbgrader_config.py").exists():
        return here
    return Path(__file__).resolve().parents[2]


def _write_report(run: GradingRun) -> None:
    data = {"sandbox": run.sandbox, "seconds": round(run.seconds, 1), "students": [
        {"student": s.student, "score": s.score, "raw_score": s.raw_score, "max_score": s.max_score,
         "late": s.late, "seconds_late": s.seconds_late, "penalty": s.penalty, "seconds": round(s.seconds, 2),
         "problems": [list(p) for p in s.problems],
         "notebooks": {k: vars(v) for k, v in s.notebooks.items()}} for s in run.students]}
    (run.out / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def summary_table(run: GradingRun) -> str:
    """The instructor's table: student, score, max, late, time, problems."""
    rows = [("student", "score", "max", "late", "time", "problems")]
    for s in run.students:
        rows.append((s.student, f"{s.score:g}", f"{s.max_score:g}", "yes" if s.late else "no", f"{s.seconds:.1f}s",
                     s.problem_text() or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    n = max(1, len(run.students))
    lines.append(f"\n{len(run.students)} submission(s) in {run.seconds:.1f} s ({run.seconds / n:.1f} s each on "
                 f"average); sandbox: {run.sandbox}")
    lines.append(f"grades: {run.csv}\nfeedback: {run.feedback}\ngradebook: {run.gradebook}")
    return "\n".join(lines)


def main_grade(argv=None) -> int:
    """`python -m cutmix_course grade [SUBMISSIONS] [--course DIR] [--out DIR] ...`; returns the exit status."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m cutmix_course grade",
        description="Autograde nbgrader submissions (submitted/<student>/<assignment>/*.ipynb), write feedback and "
                    "a grades CSV, print a summary. With no SUBMISSIONS, grades the bundled example submissions.")
    parser.add_argument("submissions", nargs="?", help="folder of student folders, or its parent holding submitted/"
                        " (default: tests/submissions of the course)")
    parser.add_argument("--course", help="course root with nbgrader_config.py and the solutions (default: the "
                        "working directory if it has nbgrader_config.py, else this repository)")
    parser.add_argument("--out", help="grading folder, replaced on each run (default: COURSE/build/grading)")
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--duedate", help="due date, e.g. '2025-03-01 23:59:59 UTC' (default: SUBMISSIONS/duedate.txt "
                        "if present, else none: nothing is late)")
    parser.add_argument("--late-policy", choices=["zero", "none"], default="zero",
                        help="nbgrader LateSubmissionPlugin: 'zero' scores a late submission 0, 'none' only flags it")
    parser.add_argument("--stderr", choices=["output", "fail"], default="output",
                        help="'output': stderr in a test cell that raised nothing is kept as output (default); "
                             "'fail': nbgrader's default, any stderr scores the test 0")
    parser.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                        help="bwrap (default): each kernel in a bubblewrap sandbox, grading stops if bubblewrap "
                             "does not work here; none: student code runs with your rights")
    parser.add_argument("--timeout", type=int, default=DEFAULTS["timeout"], help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=int, default=DEFAULTS["notebook_timeout"],
                        help="seconds per notebook in total")
    parser.add_argument("--max-output-kb", type=int, default=DEFAULTS["max_output_kb"], help="output kept per cell")
    parser.add_argument("--memory-mb", type=int, default=DEFAULTS["memory_mb"], help="memory limit of a kernel")
    parser.add_argument("--allow-read", action="append", default=[], metavar="PATH",
                        help="extra path the sandboxed kernel may read (e.g. a data set folder); repeatable")
    parser.add_argument("--reuse-identical", action="store_true",
                        help="run a notebook identical to one already run in this grading (same cells, same files) "
                             "only once and reuse its outputs (on for the bundled examples, which repeat a lot)")
    args = parser.parse_args(argv)

    course = Path(args.course).resolve() if args.course else default_course()
    submissions = Path(args.submissions) if args.submissions else course / "tests" / "submissions"
    if not args.submissions:
        print(f"No SUBMISSIONS given: grading the bundled examples in {submissions} (with --reuse-identical)")
        args.reuse_identical = True
    duedate = args.duedate
    for base in [submissions] + ([submissions.parent] if submissions.name == "submitted" else []):
        if duedate is None and (base / "duedate.txt").exists():
            duedate = (base / "duedate.txt").read_text().strip()
    try:
        run = grade(submissions, course, args.out, assignment=args.assignment, duedate=duedate,
                    late_policy=args.late_policy, stderr=args.stderr, sandbox=args.sandbox, timeout=args.timeout,
                    notebook_timeout=args.notebook_timeout, max_output_kb=args.max_output_kb,
                    memory_mb=args.memory_mb, allow_read=args.allow_read, reuse=args.reuse_identical,
                    progress=lambda line: print(line, flush=True))
    except GradingError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    print()
    print(summary_table(run))
    return 0


if __name__ == "__main__":
    sys.exit(main_grade())
