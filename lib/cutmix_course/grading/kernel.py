"""Kernel side of the grading sandbox: what runs first inside each grading kernel, before any student cell.

`kernel_main` is the kernel's entry point: memory and file-size limits from the grader's `KernelSpec`, then an audit
hook that records every attempt to reach a path outside the sandbox's world (as `AuditEvent` lines on stderr), then
the ordinary IPython kernel. Standard library only, and it never imports the grader.
"""
from __future__ import annotations

import os
import sys

from .protocol import AuditEvent, KernelSpec


def kernel_main():
    """Entry point of a grading kernel: memory limit, audit hook, then the ordinary IPython kernel."""
    import resource
    import signal

    spec = KernelSpec.pop_from_env()
    # bwrap is started with SIGINT ignored (else an interrupt would kill the sandbox); the kernel wants it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if spec is not None:
        if spec.memory_mb:
            limit = int(spec.memory_mb) << 20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        if spec.file_size_mb:
            limit = int(spec.file_size_mb) << 20
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        _install_audit_hook(spec.readable, spec.writable, os.dup(2))
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
            except Exception:  # noqa: BLE001
                continue
            allowed = (full.startswith(writable) and not full.startswith(read_only) if writes
                       else full.startswith(readable))
            if not allowed and (event, writes, full) not in seen:  # a write after a read counts too
                seen.add((event, writes, full))
                audit = AuditEvent(event + (" (write)" if writes else ""), full.rstrip("/"))
                write(fd, audit.line().encode())

    sys.addaudithook(hook)
