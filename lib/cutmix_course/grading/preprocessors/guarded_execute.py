"""nbgrader's Execute, made robust for hostile notebooks, with kernels started in the sandbox."""
import ast
import contextlib
import copy
import fnmatch
import hashlib
import json
import os
import queue
import re
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils as nbutils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Integer

from ...notebook.regions import hidden_tests
from ..findings import cell_label, state_of
from ..problems import Problem
from ..protocol import parse_audit, summarise_audit
from ..sandbox import NOT_IN_WORKDIR, SandboxedKernelManager
from ..verdict import REPLY_LIMIT, KernelChannel, run_hidden_tests

_DEPENDS_ON_STUDENT = re.compile(r"graded_id\(|answers\.load\(|answers import")
# what the kernel evaluates for one request of the verdict's channel (see notebook.hidden.serve)
SERVE = "__import__('cutmix_course.notebook.hidden', fromlist=['serve']).serve({!r})"


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """Test cells are graded in this process (..verdict): their hidden region runs here and calls the student's
    functions in the kernel through a channel of plain data; nothing of a test cell is sent to the kernel. A dead or
    unresponsive kernel costs the rest of *this* notebook only (the cell says why; the cells before keep their
    grades), a notebook has a total time budget, the output kept per cell is capped while it runs, and the kernel's
    audit lines (see ..protocol) become findings. With `reuse`, a notebook identical to one already
    run (same cells, same files in its folder) takes that run's outputs from the state's cache."""

    notebook_timeout = Integer(600).tag(config=True)
    max_output_bytes = Integer(1024 * 1024).tag(config=True)
    reuse = Bool(False, help="run a notebook identical to one already run (same cells, same files in its "
                             "folder) only once per grading run, reusing its outputs").tag(config=True)
    trusted_tests = Dict(help="notebook -> {grade_id: test code} from the course's own notebooks: which cells are "
                              "test cells and what runs for them here (never the submission's metadata or source)"
                         ).tag(config=True)

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
                if path.is_file() and not any(fnmatch.fnmatch(path.name, p) for p in NOT_IN_WORKDIR):
                    digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
        # tests (restored from the gradebook) that ask who is graded or load the student's other notebooks depend
        # on more than this notebook: on the student, and on every notebook they submitted
        if any(_DEPENDS_ON_STUDENT.search(c.source) for c in nb.cells if nbutils.is_grade(c)):
            sandbox = self.config.get("SandboxedKernelManager", {})
            digest.update(b"\0student\0" + str(sandbox.get("student", "")).encode())
            submitted = sandbox.get("submitted", "")
            for path in sorted(Path(submitted).glob("*.ipynb")) if submitted else []:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def preprocess(self, nb, resources=None, km=None):
        resources = {} if resources is None else resources
        self._state = state = state_of(resources)
        state.reused = False
        key = self._reuse_key(nb, resources) if self.reuse else None
        if key in state.reuse:
            outputs, findings, language = state.reuse[key]
            for cell, (outs, count) in zip(nb.cells, outputs):
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = copy.deepcopy(outs), count
            nb.metadata["language_info"] = copy.deepcopy(language)
            state.findings.extend(findings)
            state.reused = True
            return nb, resources
        self._stopped = None
        self._tests = dict(self.trusted_tests.get((resources.get("nbgrader") or {}).get("notebook"), {}))
        self._deadline = time.monotonic() + self.notebook_timeout
        self._out_bytes = {}
        self._last_km = None
        first = len(state.findings)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if self._last_km is not None:
                info = resources.get("nbgrader", {})
                self._collect_kernel_log(self._last_km.kernel_log,
                                         f"{info.get('student', 'unknown')}--{info.get('notebook', 'unknown')}.log")
        if key is not None:
            state.reuse[key] = ([(copy.deepcopy(c.get("outputs", [])), c.get("execution_count")) for c in nb.cells],
                                state.findings[first:], copy.deepcopy(nb.metadata.get("language_info", {})))
        return nb, resources

    def _collect_kernel_log(self, path: str, name: str) -> None:
        """Record the audit lines of a finished kernel's stderr log, and give the log a readable name."""
        try:
            text = Path(path).read_text(errors="replace")
            os.replace(path, os.path.join(os.path.dirname(path), name))
        except OSError:
            return
        summary = summarise_audit(parse_audit(text))  # the full list stays in the kernel log
        if summary:
            self._state.note(Problem.SANDBOX, summary)

    # where a notebook's time goes (the benchmark's breakdown): starting and stopping kernels, running cells
    @contextlib.contextmanager
    def _timing(self, phase: str):
        t0 = time.monotonic()
        try:
            yield
        finally:
            state = getattr(self, "_state", None)
            if state is not None:
                state.timed(phase, time.monotonic() - t0)

    async def async_start_new_kernel(self, **kwargs):
        with self._timing("kernel start"):
            return await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        with self._timing("kernel start"):
            return await super().async_start_new_kernel_client()

    async def _async_cleanup_kernel(self):
        with self._timing("kernel stop"):
            return await super()._async_cleanup_kernel()

    # nbclient binds its sync wrappers to its own coroutines at class creation: bind them to the timed ones
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def preprocess_cell(self, cell, resources, index):
        with self._timing("cells (student code and tests)"):
            return self._preprocess_cell(cell, resources, index)

    def _preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        note = self._state.note
        if self._stopped is None and time.monotonic() > self._deadline:
            self._stopped = f"the notebook ran out of its time budget ({self.notebook_timeout} s)"
            note(Problem.TIMEOUT, f"notebook time budget of {self.notebook_timeout} s used up before "
                            f"{cell_label(cell, index)}")
        if self._stopped:
            cell.outputs = [error_output("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        try:
            if gid in self._tests:
                self._grade_here(cell, self._tests.pop(gid))  # popped: a second cell with its id is student code
            elif nbutils.is_grade(cell) and not nbutils.is_solution(cell):
                cell.outputs = [error_output("NotRun", "not run: not a test cell of the course")]
            else:
                cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            status = self._exit_status()
            cell.outputs.append(error_output(
                "KernelDied", f"the kernel died while running this cell ({status}): sys.exit/os._exit, a crash "
                "or the memory limit; the cells after it were not run"))
            self._stopped = "the kernel died in an earlier cell"
            note(Problem.KERNEL_DIED, f"{cell_label(cell, index)}, {status}")
        except CellTimeoutError:  # the kernel did not come back after the timeout interrupt
            run_sync(self.km.shutdown_kernel)(now=True)
            cell.outputs.append(error_output(
                "CellTimeoutError", f"timed out after {self.timeout} s and did not stop when interrupted"))
            self._stopped = "the kernel stopped responding in an earlier cell"
            note(Problem.TIMEOUT, f"{cell_label(cell, index)} (kernel unresponsive, killed)")
        else:
            self._note_errors(cell, index)
        return cell, resources

    def _grade_here(self, cell, tests: str) -> None:
        """Run a test cell's code (from the course, see trusted_tests) here; its outputs are what the student's code
        printed while answering, and the failure."""
        self._streams = []
        student = self.config.get("SandboxedKernelManager", {}).get("student") or None
        failure = run_hidden_tests(tests, KernelChannel(self._request, graded=student), fatal=(DeadKernelError,))
        cell.outputs = [new_output("stream", name=name, text=text) for name, text in self._streams]
        if failure is not None:
            cell.outputs.append(error_output(*failure))
        cell.execution_count = None

    def _request(self, text: str) -> str:
        return run_sync(self._async_request)(text)

    async def _async_request(self, text: str) -> str:
        """One request of the channel: the kernel evaluates SERVE as a user expression (no history, no output);
        its value, a str, is the reply. A kernel that dies or does not answer within the cell timeout fails it."""
        msg_id = self.kc.execute("", silent=True, store_history=False, allow_stdin=False,
                                 user_expressions={"reply": SERVE.format(text)})
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                await self.km.interrupt_kernel()
                raise TimeoutError(f"the student's code did not answer within {self.timeout} s")
            try:
                msg = await self.kc.get_shell_msg(timeout=min(1.0, left))
            except queue.Empty:
                if not await self.km.is_alive():
                    raise DeadKernelError("the kernel died while the tests called the student's code") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                break
        value = msg.get("content", {}).get("user_expressions", {}).get("reply", {})
        text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
        if type(text) is not str or len(text) > REPLY_LIMIT + 2:
            raise ConnectionError(f"the kernel did not answer the tests' request ({value.get('ename', 'no reply')})")
        reply = ast.literal_eval(text)
        if type(reply) is not str:
            raise ConnectionError("the kernel's answer is not a reply")
        await self._collect_streams(msg_id, deadline)
        return reply

    async def _collect_streams(self, msg_id: str, deadline: float) -> None:
        """What the student's code printed while answering request `msg_id`, kept for the test cell (capped like
        any cell's output): their own output, so nbgrader's stderr rule and the feedback see it."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await self.kc.get_iopub_msg(timeout=min(5.0, left))
            except queue.Empty:
                return
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = msg.get("content", {})
            if msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
                return
            if msg.get("msg_type") == "stream" and content.get("name") in ("stdout", "stderr"):
                text = str(content.get("text", ""))
                used = sum(len(t) for _, t in self._streams)
                if used >= self.max_output_bytes:
                    continue
                if used + len(text) > self.max_output_bytes:
                    text = text[: self.max_output_bytes - used] + "\n... output truncated by the grader ...\n"
                if self._streams and self._streams[-1][0] == content["name"]:
                    self._streams[-1] = (content["name"], self._streams[-1][1] + text)
                else:
                    self._streams.append((content["name"], text))

    def _note_errors(self, cell, index) -> None:
        note = self._state.note
        for out in cell.outputs:
            if out.output_type != "error":
                continue
            if out.ename in ("CellTimeoutError", "TimeoutError"):
                note(Problem.TIMEOUT, f"{cell_label(cell, index)} ran over {self.timeout} s and was interrupted")
            elif out.ename == "MemoryError" or "can't allocate memory" in str(out.get("evalue", "")):
                note(Problem.MEMORY, f"{cell_label(cell, index)} ran out of memory ({out.ename})")
            elif out.ename == "ReferenceUsedError":
                note(Problem.INTEGRITY, f"{cell_label(cell, index)}: {out.evalue}")
            elif out.ename == "SystemExit":
                note(Problem.EXIT, f"{cell_label(cell, index)} called sys.exit() (the kernel survives it)")

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
                self._state.note(Problem.OUTPUT, f"cell {cell_index} printed more than {self.max_output_bytes // 1024} "
                                           "KiB (truncated)")
            return None
        return super().output(outs, msg, display_id, cell_index)


def trusted_tests(notebooks: dict) -> dict:
    """GuardedExecute.trusted_tests of the course's own notebooks ({name: NotebookNode}): each test cell's hidden
    regions (the whole cell where it has none)."""
    found = {}
    for name, nb in notebooks.items():
        found[name] = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and nbutils.is_grade(cell) and not nbutils.is_solution(cell):
                regions = hidden_tests(cell.source)
                found[name][cell.metadata["nbgrader"]["grade_id"]] = "\n".join(regions) if regions else cell.source
    return found
