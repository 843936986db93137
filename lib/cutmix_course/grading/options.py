"""The grading options: one frozen object, validated once; the command line is built from its fields.

Each field carries its command-line help in its metadata (`flag` when the option's name differs from the field's);
`add_arguments` turns the fields into argparse options and `from_namespace` back into `GradingOptions`, so an option
is written once. Where things are (submissions, course, output folder) is not an option: see `run.grade`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from ..notebook.paths import ASSIGNMENT


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
                              "lot)", flag="reuse-identical", policy=False)
    workers: int = _opt(0, "students graded at a time, each by its own worker process with its own kernels "
                           "(default 0: the number of cores)", policy=False)
    retries: int = _opt(1, "times a student is graded again after their worker died (killed, out of memory) "
                           "before they are recorded as ungraded", policy=False)
    scheduler: str | None = _opt(None, "address of a Dask distributed scheduler (tls://HOST:PORT): grade on its "
                                       "workers instead of local ones (needs --tls-ca, --tls-cert, --tls-key)",
                                 policy=False)
    tls_ca: str | None = _opt(None, "CA certificate (PEM) that signed the scheduler's and workers' certificates",
                              policy=False)
    tls_cert: str | None = _opt(None, "this grader's TLS certificate (PEM), signed by --tls-ca", policy=False)
    tls_key: str | None = _opt(None, "the private key of --tls-cert (PEM)", policy=False)
    db: str | None = _opt(None, "gradebook URL for nbgrader (e.g. postgresql+psycopg://user@/gradebook?host=/run/"
                                "postgresql); default: sqlite in OUT/course/gradebook.db", policy=False)
    resume: bool = _opt(False, "keep OUT and its gradebook, and grade only the students whose submission, the "
                               "course source or the grading options changed since they were last graded",
                        policy=False)
    canvas: str | None = _opt(None, "a Canvas roster (its gradebook export, CSV): also write OUT/canvas.csv for "
                                    "Canvas's gradebook import, matching students by SIS Login ID",
                              metavar="ROSTER.csv", policy=False)

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
        tls = {"--tls-ca": self.tls_ca, "--tls-cert": self.tls_cert, "--tls-key": self.tls_key}
        if self.scheduler is not None:
            if not self.scheduler.startswith("tls://"):
                raise GradingError(f"--scheduler must be a tls:// address (the workers receive hidden tests), got "
                                   f"{self.scheduler!r}")
            missing = [flag for flag, value in tls.items() if not value]
            if missing:
                raise GradingError(f"--scheduler {self.scheduler} needs {', '.join(missing)} (TLS certificates)")
        for flag, value in tls.items():
            if value is not None and not os.path.isfile(value):
                raise GradingError(f"{flag} must be a PEM file, got {value!r} (not a file)")
        if self.canvas is not None and not os.path.isfile(self.canvas):
            raise GradingError(f"--canvas must be a roster CSV file, got {self.canvas!r} (not a file)")
        if self.db is not None and "://" not in self.db:
            raise GradingError(f"--db must be a database URL such as postgresql+psycopg://..., got {self.db!r}")

    def policy(self) -> dict:
        """The options that decide a grade (not where or how fast it is computed): part of a result's hash."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("policy", True)}

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
            if "metavar" in f.metadata and f.type != "tuple":
                kw["metavar"] = f.metadata["metavar"]
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
