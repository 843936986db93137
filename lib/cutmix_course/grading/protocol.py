"""The grader <-> kernel protocol, defined and parsed here and nowhere else. Standard library only (kernel side too):
the variable's name is notebook.environment's, like every variable the course reads.

Two messages cross the sandbox's wall:

- the kernel's spec, written by the grader into the environment variable KERNEL_ENV as JSON (`KernelSpec`): the
  memory and file-size limits and the paths the kernel may read and write;
- audit lines, written by the kernel on its stderr (which the grader keeps as the kernel's log): one line per
  attempt to reach a path outside the sandbox's world, `AUDIT_MARK` followed by JSON {"event", "path"}.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from ..notebook import environment

KERNEL_ENV = environment.GRADING_KERNEL
AUDIT_MARK = "CUTMIX-AUDIT "


@dataclass(frozen=True)
class KernelSpec:
    memory_mb: int = 0        # RLIMIT_DATA of the kernel; 0: no limit
    file_size_mb: int = 0     # RLIMIT_FSIZE; 0: no limit
    readable: list = field(default_factory=list)  # read-only world of the kernel
    writable: list = field(default_factory=list)  # its working folder, sockets, /tmp, /dev

    def to_env(self) -> dict:
        return {KERNEL_ENV: json.dumps(asdict(self))}

    @classmethod
    def pop_from_env(cls, environ=os.environ) -> "KernelSpec | None":
        """The spec the grader wrote, removed from the environment (student code should not read it); None if none."""
        raw = environ.pop(KERNEL_ENV, None)
        if not raw:
            return None
        data = json.loads(raw)
        return cls(**{k: data[k] for k in ("memory_mb", "file_size_mb", "readable", "writable") if k in data})


@dataclass(frozen=True)
class AuditEvent:
    event: str   # the audit event, with " (write)" appended for a write
    path: str

    @property
    def is_write(self) -> bool:
        return self.event.endswith("(write)")

    def line(self) -> str:
        return AUDIT_MARK + json.dumps({"event": self.event, "path": self.path}) + "\n"


def parse_audit(text: str) -> list:
    """The audit events in a kernel's log, in order; a line that has the mark but no readable JSON is kept as an
    event named 'unreadable audit line' (a student can print the mark too: that is evidence of its own)."""
    events = []
    for line in text.splitlines():
        if not line.startswith(AUDIT_MARK):
            continue
        try:
            data = json.loads(line[len(AUDIT_MARK):])
            events.append(AuditEvent(str(data["event"]), str(data["path"])))
        except (ValueError, KeyError, TypeError):
            events.append(AuditEvent("unreadable audit line", line[:120]))
    return events


def summarise_audit(events: list) -> str | None:
    """One line for the instructor about a kernel's audit events, or None if there were none."""
    if not events:
        return None
    writes = sum(e.is_write for e in events)
    shown = sorted(events, key=lambda e: not e.is_write)[:2]
    return (f"tried to reach {len(events)} path(s) outside its sandbox ({writes} write(s)); see the kernel log for "
            "all; e.g. " + ", ".join(f"{e.event} {e.path}" for e in shown))
