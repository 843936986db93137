"""Per-kernel limits that the Linux kernel enforces, in a control group of the grader's own per grading kernel.

Each kernel (bubblewrap and everything it starts) joins a fresh cgroup before it executes anything: `pids.max` caps
its processes and threads (a fork bomb stops there), the memory limit counts what it writes to its RAM-backed /tmp
as well as its heap, and a CFS quota gives it at most `cpus` CPUs (the sandbox passes its worker's share of the
cores), so busy threads of one student cannot starve the cells of another worker's student. Works with cgroup v1
hierarchies (one folder per controller, as on this project's machines) and with cgroup v2; creates and removes only
folders under `cutmix-grading/`, never touching a group it did not create. Where the machine offers no writable
cgroup (no root, no delegation) `CgroupLimits.create` returns None with the reason, and the sandbox's other limits
(rlimits, sized tmpfs) still hold.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "cutmix-grading"
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    pids: int = 512          # processes and threads of one kernel (torch's thread pools included)
    memory_mb: int = 4096    # heap, page cache and its tmpfs together
    cpus: float = 1.0        # CPU time per wall second


class CgroupLimits:
    """The cgroup folders of one kernel; `join()` (in the child, before exec) moves the calling process in."""

    def __init__(self, folders: list[Path]):
        self.folders = folders

    @classmethod
    def create(cls, limits: Limits) -> tuple["CgroupLimits | None", str]:
        """(the kernel's cgroup, what it limits), or (None, why the machine offers none)."""
        name = f"k-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            if (ROOT / "cgroup.controllers").is_file():
                folders = [_v2(name, limits)]
            else:
                folders = _v1(name, limits)
        except OSError as exc:
            return None, f"no cgroup of our own here ({exc.strerror or exc}): process, memory and CPU limits " \
                         "per kernel are not enforced by a cgroup"
        return cls(folders), (f"cgroup limits per kernel: {limits.pids} processes, {limits.memory_mb} MiB, "
                              f"{limits.cpus:g} CPU")

    def open_for_joining(self) -> list[int]:
        """Write ends of the groups' cgroup.procs, opened by the grader: `join(fds)` in the child needs no path."""
        return [os.open(folder / "cgroup.procs", os.O_WRONLY) for folder in self.folders]

    @staticmethod
    def join(fds: list[int]) -> None:
        """Move the calling process into the groups (in a child between fork and exec: writes only, "0" = me)."""
        for fd in fds:
            os.write(fd, b"0")

    def remove(self) -> None:
        """Kill what is left in the group (a kernel's stray children) and remove its folders."""
        for folder in self.folders:
            for _ in range(50):
                pids = _pids(folder)
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)
            try:
                folder.rmdir()
            except OSError:
                pass  # still busy: an empty group costs nothing, and the next run's names are fresh


def _pids(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _v1(name: str, limits: Limits) -> list[Path]:
    folders: list[Path] = []
    try:
        _v1_into(folders, name, limits)
    except OSError:
        for folder in folders:
            folder.rmdir()
        raise
    return folders


def _v1_into(folders: list, name: str, limits: Limits) -> None:
    settings = {
        "pids": {"pids.max": str(limits.pids)},
        "memory": {"memory.limit_in_bytes": str(limits.memory_mb << 20)},
        "cpu": {"cpu.cfs_period_us": str(CFS_PERIOD_US), "cpu.cfs_quota_us": str(int(limits.cpus * CFS_PERIOD_US))},
    }
    for controller, values in settings.items():
        folder = ROOT / controller / PARENT / name
        folder.mkdir(parents=True)
        folders.append(folder)
        for key, value in values.items():
            (folder / key).write_text(value)


def _v2(name: str, limits: Limits) -> Path:
    parent = ROOT / PARENT
    parent.mkdir(exist_ok=True)
    (ROOT / "cgroup.subtree_control").write_text("+pids +memory +cpu")
    (parent / "cgroup.subtree_control").write_text("+pids +memory +cpu")
    folder = parent / name
    folder.mkdir()
    (folder / "pids.max").write_text(str(limits.pids))
    (folder / "memory.max").write_text(str(limits.memory_mb << 20))
    (folder / "cpu.max").write_text(f"{int(limits.cpus * CFS_PERIOD_US)} {CFS_PERIOD_US}")
    return folder
