"""Every environment variable the course reads, defined here and nowhere else, with the few readers of them.

Standard library only: the grading kernel imports it before any student cell runs.

Set by the person running the course:
- `CUTMIX_QUICK`: any non-empty value shrinks epochs and data (set by CI and the tests); `0` also means quick.
- `CUTMIX_DATASET`: the data set of every notebook whose DATASET setting is "auto" (see notebook.datasets).
- `CUTMIX_COURSE_DATA`: the course's data folder, where CIFAR-10 is looked for (default ~/.cache/cutmix_course).
- `CUTMIX_TRAINED`: the folder of notebook 4's saved models (default trained/ beside the notebooks).
- `CUTMIX_COURSE`: the course folder (the one with nbgrader_config.py), for the instructor's commands.
- `CUTMIX_QUIZZES`: the folder holding the quiz files, overriding the package's copy.

Set by the graders and the hub (never by hand):
- `NBGRADER_EXECUTION`: nbgrader, while it autogrades or validates a notebook.
- `CUTMIX_STUDENT`: the course's grader, in the grading kernel: the id being graded.
- `CUTMIX_SUBMITTED`: the course's grader: the folder of the student's notebooks as submitted.
- `CUTMIX_GRADING_KERNEL`: the course's grader: the kernel's limits and paths as JSON (grading.protocol).
- `JUPYTERHUB_USER`: JupyterHub, in the student's own session.
"""
from __future__ import annotations

import contextlib
import os

QUICK = "CUTMIX_QUICK"
DATASET = "CUTMIX_DATASET"
COURSE_DATA = "CUTMIX_COURSE_DATA"
TRAINED = "CUTMIX_TRAINED"
COURSE = "CUTMIX_COURSE"
QUIZZES = "CUTMIX_QUIZZES"
NBGRADER = "NBGRADER_EXECUTION"
STUDENT = "CUTMIX_STUDENT"
SUBMITTED = "CUTMIX_SUBMITTED"
GRADING_KERNEL = "CUTMIX_GRADING_KERNEL"
HUB_USER = "JUPYTERHUB_USER"
COURSE_PREFIX = "CUTMIX_"  # what the grader passes on to its kernels (besides a short list of system variables)


def get(name: str) -> str:
    """The variable's value, "" when unset."""
    return os.environ.get(name, "")


def quick_mode() -> bool:
    """True when CUTMIX_QUICK or NBGRADER_EXECUTION is set to a non-empty value."""
    return bool(get(QUICK) or get(NBGRADER))


def grading() -> bool:
    """True while a grader runs the notebook (nbgrader sets NBGRADER_EXECUTION; the course's grader CUTMIX_STUDENT)."""
    return bool(get(NBGRADER) or get(STUDENT))


@contextlib.contextmanager
def overridden(name: str, value: str):
    """Set `name` to `value` for the block, then restore what it was (unset stays unset)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def path_with(folder: str, path: str | None = None) -> str:
    """PATH (or `path`) with `folder` first, once: subprocesses then find this environment's programs."""
    parts = [p for p in (os.environ.get("PATH", "") if path is None else path).split(os.pathsep) if p]
    return os.pathsep.join([folder] + [p for p in parts if p != folder])
