"""The grading options: one frozen object, validated once; the command line is built from its fields.

Each field carries its command-line help in its metadata (`flag` when the option's name differs from the field's);
`add_arguments` turns the fields into argparse options and `from_namespace` back into `GradingOptions`, so an option
is written once. Where things are (submissions, course, output folder) is not an option: see `run.grade`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from ..paths import ASSIGNMENT


class GradingError(RuntimeError):
    """Grading itself could not run (bad options, no course, no sandbox): not a problem of one submission."""


def _opt(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class GradingOptions:
    assignment: str = _opt(ASSIGNMENT, "the nbgrader assignment to grade")
    duedate: str | None = _opt(None, "due date, e.g. '2025-03-01 23:59:59 UTC' (default: SUBMISSIONS/duedate.txt "
                                     "if present, else none: nothing is late)")
    late_policy: str = _opt("zero", "nbgrader LateSubmissionPlugin: 'zero' scores a late submission 0, 'none' "
                                    "only flags it", choices=("zero", "none"))
    stderr: str = _opt("output", "'output': stderr in a test cell that raised nothing is kept as output (default); "
                                 "'fail': nbgrader's default, any stderr scores the test 0", choices=("output", "fail"))
    sandbox: str = _opt("bwrap", "bwrap (default): each kernel in a bubblewrap sandbox, grading stops if bubblewrap "
                                 "does not work here; none: student code runs with your rights",
                        choices=("bwrap", "none"))
    timeout: int = _opt(60, "seconds per cell")
    notebook_timeout: int = _opt(600, "seconds per notebook in total")
    max_output_kb: int = _opt(1024, "output kept per cell, in KiB")
    memory_mb: int = _opt(3072, "memory limit of a kernel, in MiB")
    max_notebook_mb: int = _opt(50, "a submitted notebook larger than this is not graded (scored 0)")
    allow_read: tuple = _opt((), "extra path the sandboxed kernel may read (e.g. a data set folder); repeatable",
                             metavar="PATH")
    reuse: bool = _opt(False, "run a notebook identical to one already run in this grading (same cells, same "
                              "files) only once and reuse its outputs (on for the bundled examples, which repeat a "
                              "lot)", flag="reuse-identical")
    workers: int = _opt(0, "students graded at a time, each by its own worker process with its own kernels "
                           "(default 0: the number of cores)")
    retries: int = _opt(1, "times a student is graded again after their worker died (killed, out of memory) "
                           "before they are recorded as ungraded")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise GradingError(f"{flag} must be one of {', '.join(map(repr, choices))}, got {value!r}")
            if f.type == "int":
                minimum = 0 if f.name in ("workers", "retries") else 1
                if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                    kind = "a non-negative" if minimum == 0 else "a positive"
                    raise GradingError(f"{flag} must be {kind} integer, got {value!r}")
            if f.type == "bool" and not isinstance(value, bool):
                raise GradingError(f"{flag} must be True or False, got {value!r}")
        if isinstance(self.allow_read, (str, bytes)) or not all(isinstance(p, str) for p in self.allow_read):
            raise GradingError(f"--allow-read takes paths (strings), got {self.allow_read!r}")
        object.__setattr__(self, "allow_read", tuple(os.path.abspath(p) for p in self.allow_read))
        if not self.assignment or any(c in self.assignment for c in "/\\*?[]"):
            raise GradingError(f"--assignment must be a plain folder name, got {self.assignment!r}")

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    # ------------------------------------------------------------------------------------- command line
    @classmethod
    def add_arguments(cls, parser) -> None:
        defaults = cls.__dataclass_fields__
        for f in fields(cls):
            flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
            kw = dict(dest=f.name, help=f.metadata["help"])
            if f.type == "bool":
                kw.update(action="store_true")
            elif f.type == "tuple":
                kw.update(action="append", default=[], metavar=f.metadata.get("metavar"))
            else:
                kw.update(default=defaults[f.name].default, type=int if f.type == "int" else str)
                if "choices" in f.metadata:
                    kw["choices"] = f.metadata["choices"]
            parser.add_argument(flag, **kw)

    @classmethod
    def from_namespace(cls, namespace, **overrides) -> "GradingOptions":
        values = {f.name: getattr(namespace, f.name) for f in fields(cls)}
        values.update(overrides)
        values["allow_read"] = tuple(values["allow_read"])
        return cls(**values)
