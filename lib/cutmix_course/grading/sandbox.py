"""Grader side of the grading sandbox: bubblewrap around each grading kernel, and the kernel manager that starts it.

`bwrap_command` wraps a command in new namespaces with a fresh root that holds only what the kernel needs
(`python_paths`); `probe_sandbox` says whether bubblewrap works here; `SandboxedKernelManager` is the jupyter kernel
manager nbgrader's Execute uses, starting `kernel.kernel_main` inside bubblewrap with its `KernelSpec`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Enum, Float, Integer, List, Unicode

from ..notebook import environment
from .limits import CgroupLimits, Limits
from .protocol import AUDIT_MARK, KernelSpec

SYSTEM_READ_ONLY = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives", "/etc/fonts",
                    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/mime.types",
                    "/etc/ssl/certs"]


def bwrap_command(cmd: list[str], read_only: list[str], binds: dict[str, str], env: dict, cwd: str,
                  tmp_mb: int = 512, work_mb: int = 0, seeds: dict[str, str] | None = None) -> list[str]:
    """`cmd` wrapped in bubblewrap: new user/pid/net/ipc/uts namespaces, all capabilities dropped, uid 65534,
    a fresh root with `read_only` paths bound read-only, `binds` (host -> sandbox) writable, a private /tmp and
    /dev/shm of `tmp_mb` MiB each (RAM-backed: the size is what bounds them, the cgroup counts them). With `work_mb`,
    the working folder `cwd` is a tmpfs of that size too, and `seeds` (host -> sandbox) are bound read-only in it."""
    args = ["bwrap", "--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
            "--hostname", "grader", "--clearenv"]
    # the private /tmp first: bwrap mounts in order, so paths under /tmp (a venv or course kept there) bound after it
    # stay visible instead of being hidden by it
    size = str(tmp_mb << 20)
    args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--size", size, "--tmpfs",
             "/tmp", "--dir", "/tmp/home"]
    for path in [*SYSTEM_READ_ONLY, *read_only]:
        args += ["--ro-bind-try", path, path]
    if work_mb:
        args += ["--size", str(work_mb << 20), "--tmpfs", cwd]
    for src, dst in binds.items():
        args += ["--bind", src, dst]
    for src, dst in (seeds or {}).items():
        args += ["--ro-bind", src, dst]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--chdir", cwd, "--", *cmd]


def probe_sandbox() -> str | None:
    """None if bubblewrap can run a process here, else the reason it cannot."""
    import subprocess

    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)"
    cmd = bwrap_command([sys.executable, "-c", "print('ok')"], python_paths(), {}, {}, "/")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return f"bwrap cannot create its namespaces here: {done.stderr.strip()[:300]}"
    return None


def python_paths() -> list[str]:
    """What the kernel needs to read: the interpreter, the venv and the course package's folder."""
    import cutmix_course

    paths = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             str(Path(cutmix_course.__file__).resolve().parent.parent),
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p)


# Not copied into the kernel's working folder: the autograded notebooks hold the hidden tests, and the timestamp is
# nbgrader's business (leaving it out also keeps identical work identical for `reuse`).
NOT_IN_WORKDIR = ("*.ipynb", ".ipynb_checkpoints", "timestamp.txt")
SUBMITTED_DIR = "_submitted"  # in the kernel's working folder: the student's notebooks as submitted


def _short_tmp() -> str:
    """Where the kernel's sockets go: the temporary folder, unless its path is so long that a socket path in it
    would pass the 107 bytes a unix socket name may have (a Dask worker's TMPDIR inside a test's folder does)."""
    base = tempfile.gettempdir()
    return base if len(base) <= 40 else "/tmp"


def _child_setup(cgroup_fds: list[int]):
    """What the kernel's process does between fork and exec: join its cgroup, ignore SIGINT (an interrupt would
    kill bubblewrap; the kernel takes SIGINT back itself)."""
    import signal

    def setup():
        CgroupLimits.join(cgroup_fds)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return setup


def pump_capped(source: int, log_path: str, cap: int) -> threading.Thread:
    """Copy what a kernel writes to stdout/stderr (the pipe `source`) into `log_path`, keeping its first `cap`
    bytes and, after that, its audit lines only (up to another `cap` bytes): a flood costs neither memory nor disk,
    and cannot push the audit out. Returns the thread, which ends when the kernel closes the pipe."""
    def run():
        kept = audit = 0
        with os.fdopen(source, "rb") as pipe, open(log_path, "ab") as log:
            for line in iter(lambda: pipe.readline(1 << 16), b""):  # bounded reads: a flood has no newlines
                if kept + len(line) <= cap:
                    kept += len(line)
                    log.write(line)
                elif line.startswith(AUDIT_MARK.encode()) and audit + len(line) <= cap:
                    audit += len(line)
                    log.write(line)
                elif kept <= cap:
                    kept = cap + 1
                    log.write(f"\n... kernel output over {cap // 1024} KiB dropped by the grader ...\n".encode())
    thread = threading.Thread(target=run, name="kernel-log", daemon=True)
    thread.start()
    return thread


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through `kernel.kernel_main`, over IPC sockets, inside bubblewrap (sandbox='bwrap')."""

    sandbox = Enum(["bwrap", "none"], "bwrap").tag(config=True)
    memory_mb = Integer(3072).tag(config=True)
    file_size_mb = Integer(1024).tag(config=True)  # RLIMIT_FSIZE: no single file larger than this
    tmp_mb = Integer(512).tag(config=True)         # size of the kernel's /tmp and of its /dev/shm
    work_mb = Integer(0).tag(config=True)  # >0: its working folder is a tmpfs of this size (bwrap), emptied per kernel
    pids_max = Integer(512).tag(config=True)       # processes and threads of one kernel (its cgroup)
    cpus = Float(0.0).tag(config=True)             # CPU time per wall second of one kernel (its cgroup); 0: its
    # worker's share of the cores (OMP_NUM_THREADS, which the local pool sets to cores / workers), else all of them
    log_kb = Integer(1024).tag(config=True)        # what is kept of a kernel's stdout/stderr
    read_only = List(Unicode()).tag(config=True)       # paths visible (read-only) inside the sandbox
    workdir = Unicode("/home/student/work").tag(config=True)  # the kernel's working folder inside bwrap
    scratch_root = Unicode().tag(config=True)          # per-student writable copies of the working folder
    log_dir = Unicode().tag(config=True)               # kernel stderr (and audit lines) land here
    student = Unicode("").tag(config=True)             # the student being graded: CUTMIX_STUDENT in the kernel
    submitted = Unicode("").tag(config=True)           # their submitted notebooks: copied to _submitted/ each launch
    env_keep = List(Unicode(), ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS", environment.NBGRADER]).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._sockdir = tempfile.mkdtemp(prefix="cmg-", dir=_short_tmp())
        self.transport = "ipc"
        self.ip = os.path.join(self._sockdir, "k")
        self.connection_file = os.path.join(self._sockdir, "kernel.json")
        fd, self.kernel_log = tempfile.mkstemp(prefix="kernel-", suffix=".log", dir=self.log_dir or None)
        os.close(fd)
        self._cgroup, self.limits_note = None, ""
        self._log_pump = None

    def _scratch_for(self, cwd: str) -> str:
        """The student's writable working copy (no notebooks: the autograded ones hold hidden tests)."""
        key = hashlib.sha1(cwd.encode()).hexdigest()[:16]
        scratch = os.path.join(self.scratch_root or self._sockdir, key)
        if not os.path.isdir(scratch):
            shutil.copytree(cwd, scratch, symlinks=True, ignore=shutil.ignore_patterns(*NOT_IN_WORKDIR))
        if self.submitted:  # the student's notebooks as submitted (no hidden tests), fresh for every kernel: a later
            # notebook may run the student's code of an earlier one (answers.load), never what a kernel rewrote
            shutil.rmtree(os.path.join(scratch, SUBMITTED_DIR), ignore_errors=True)
            shutil.copytree(self.submitted, os.path.join(scratch, SUBMITTED_DIR),
                            ignore=lambda folder, names: [n for n in names if not n.endswith(".ipynb")])
        return scratch

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k in self.env_keep or k.startswith(environment.COURSE_PREFIX)}
        env.pop(environment.STUDENT, None)
        env.pop(environment.SUBMITTED, None)
        if self.student:
            env[environment.STUDENT] = self.student
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
        return [cmd[0], "-c", "from cutmix_course.grading.kernel import kernel_main; kernel_main()", *cmd[3:]]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        scratch = self._scratch_for(os.path.realpath(kw.get("cwd") or os.getcwd()))
        workdir = self.workdir if self.sandbox == "bwrap" else scratch
        env = self._env()
        if self.submitted:
            env[environment.SUBMITTED] = os.path.join(workdir, SUBMITTED_DIR)
        env.update(KernelSpec(memory_mb=self.memory_mb, file_size_mb=self.file_size_mb,
                              readable=["/proc", "/sys", *SYSTEM_READ_ONLY, *self.read_only],
                              writable=[workdir, self._sockdir, "/tmp", "/dev"]).to_env())
        if self.sandbox == "bwrap":
            # work_mb: the working folder is a sized tmpfs (nothing in it outlives the kernel), the submitted
            # notebooks bound into it read-only; 0: the student's scratch folder, bounded per file only
            binds, seeds = {self._sockdir: self._sockdir}, {}
            if not self.work_mb:
                binds[scratch] = workdir
            elif self.submitted:
                seeds[os.path.join(scratch, SUBMITTED_DIR)] = os.path.join(workdir, SUBMITTED_DIR)
            kernel_cmd = bwrap_command(kernel_cmd, self.read_only, binds, env, workdir,
                                       tmp_mb=self.tmp_mb, work_mb=self.work_mb, seeds=seeds)
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            kw["env"] = env
            kw["cwd"] = scratch
        self._cgroup, self.limits_note = CgroupLimits.create(
            Limits(pids=self.pids_max, memory_mb=self.memory_mb + 2 * self.tmp_mb + self.work_mb + 512,
                   cpus=self._cpu_share()))
        join = self._cgroup.open_for_joining() if self._cgroup else []
        read_end, write_end = os.pipe()
        kw.update(stdout=write_end, stderr=write_end, preexec_fn=_child_setup(join))
        try:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            for fd in (write_end, *join):
                os.close(fd)
            self._log_pump = pump_capped(read_end, self.kernel_log, self.log_kb << 10)

    def _cpu_share(self) -> float:
        if self.cpus > 0:
            return self.cpus
        try:
            return max(1.0, float(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
        except ValueError:
            return float(os.cpu_count() or 1)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._cgroup is not None:
            self._cgroup.remove()  # what the kernel left running dies with its group
            self._cgroup = None
        if self._log_pump is not None:
            self._log_pump.join(timeout=10)
            self._log_pump = None
        if not restart:
            shutil.rmtree(self._sockdir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources
