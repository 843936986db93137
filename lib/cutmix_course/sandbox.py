"""The grading sandbox: bubblewrap around each grading kernel, and what runs first inside it.

Grader side: `bwrap_command` wraps a command in new namespaces with a fresh root that holds only what the kernel
needs (`python_paths`), `probe_sandbox` says whether bubblewrap works here. Kernel side: `kernel_main` is the
kernel's entry point (memory and file-size limits, then an audit hook that records every attempt to reach a path
outside the sandbox's world, then the ordinary IPython kernel). Standard library only: it runs in every kernel.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL_ENV = "CUTMIX_GRADING_KERNEL"  # the kernel's spec (limits, readable and writable paths), as JSON
AUDIT_MARK = "CUTMIX-AUDIT "  # prefix of the audit hook's lines on the kernel's stderr


# -------------------------------------------------------------------------------------------- grader side
SYSTEM_READ_ONLY = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives", "/etc/fonts",
                    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/mime.types",
                    "/etc/ssl/certs"]


def bwrap_command(cmd: list[str], read_only: list[str], binds: dict[str, str], env: dict, cwd: str) -> list[str]:
    """`cmd` wrapped in bubblewrap: new user/pid/net/ipc/uts namespaces, all capabilities dropped, uid 65534,
    a fresh root with `read_only` paths bound read-only, `binds` (host -> sandbox) writable, a private /tmp."""
    args = ["bwrap", "--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
            "--hostname", "grader", "--clearenv"]
    # the private /tmp first: bwrap mounts in order, so paths under /tmp (a venv or course kept there) bound after it
    # stay visible instead of being hidden by it
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in [*SYSTEM_READ_ONLY, *read_only]:
        args += ["--ro-bind-try", path, path]
    for src, dst in binds.items():
        args += ["--bind", src, dst]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--chdir", cwd, "--", *cmd]


def probe_sandbox() -> str | None:
    """None if bubblewrap can run a process here, else the reason it cannot."""
    import shutil
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


# -------------------------------------------------------------------------------------------- kernel side
def kernel_main():
    """Entry point of a grading kernel: memory limit, audit hook, then the ordinary IPython kernel."""
    import resource
    import signal

    spec = json.loads(os.environ.pop(KERNEL_ENV, "{}"))
    # bwrap is started with SIGINT ignored (else an interrupt would kill the sandbox); the kernel wants it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if spec.get("memory_mb"):
        limit = int(spec["memory_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if spec.get("file_size_mb"):
        limit = int(spec["file_size_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    if "writable" in spec:
        _install_audit_hook(spec["readable"], spec["writable"], os.dup(2))
    from ipykernel import kernelapp

    sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
    kernelapp.launch_new_instance()


# audit event -> its path arguments, each (position, is a write)
_PATH_EVENTS = {
    "open": ((0, None),), "os.listdir": ((0, False),), "os.scandir": ((0, False),), "glob.glob": ((0, False),),
    "os.chdir": ((0, False),), "os.remove": ((0, True),), "os.rmdir": ((0, True),), "os.mkdir": ((0, True),),
    "os.rename": ((0, True), (1, True)), "os.link": ((0, False), (1, True)), "os.symlink": ((1, True),),
    "os.chmod": ((0, True),), "os.chown": ((0, True),), "os.truncate": ((0, True),), "os.utime": ((0, True),),
    "shutil.rmtree": ((0, True),), "shutil.copyfile": ((0, False), (1, True)),
    "shutil.copytree": ((0, False), (1, True)), "shutil.move": ((0, True), (1, True)),
    "sqlite3.connect": ((0, True),),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _install_audit_hook(readable, writable, fd):
    """Write one line to `fd` per distinct file-system access (from Python) that leaves the sandbox's own world:
    reading outside `readable` + `writable` (the working folder, /tmp, the Python installation, the course package,
    system libraries), or writing outside `writable` or into `readable` (read-only even where it lies inside a
    writable folder, as a venv kept under /tmp does). Inside bubblewrap such paths do not exist or are read-only,
    so each line is an attempt at what the sandbox hides or protects (gradebook, solutions, other students)."""
    read_only = tuple(p.rstrip("/") + "/" for p in readable)
    readable = tuple(p.rstrip("/") + "/" for p in [*readable, *writable])
    writable = tuple(p.rstrip("/") + "/" for p in writable)
    seen, armed = set(), []
    write, getcwd, fspath, normpath, join = os.write, os.getcwd, os.fspath, os.path.normpath, os.path.join

    def hook(event, args):
        if not armed:  # IPython's own start-up looks around (/etc/ipython, ...): watch from the first cell on
            name = getattr(args[0], "co_filename", "") if event == "exec" and args else ""
            if "ipykernel_" in name or name.startswith("<ipython-input"):
                armed.append(True)
            return
        spec = _PATH_EVENTS.get(event)
        if spec is None:
            return
        for position, writes in spec:
            if position >= len(args) or not isinstance(args[position], (str, bytes, os.PathLike)):
                continue
            if writes is None:  # open(path, mode, flags)
                mode, flags = (list(args) + [None, None])[1:3]
                writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
            try:
                p = fspath(args[position])
                p = p.decode(errors="replace") if isinstance(p, bytes) else p
                if p in ("", ":memory:"):
                    continue
                full = normpath(join(getcwd(), p)) + "/"
            except Exception:
                continue
            allowed = full.startswith(writable) and not full.startswith(read_only) if writes else full.startswith(readable)
            if not allowed and (event, full) not in seen:
                seen.add((event, full))
                line = {"event": event + (" (write)" if writes else ""), "path": full.rstrip("/")}
                write(fd, (AUDIT_MARK + json.dumps(line) + "\n").encode())

    sys.addaudithook(hook)
