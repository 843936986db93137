"""Every kind of problem the grader reports, in one enumeration: (kind, notebook, detail) rows in report.json, the
CSV's problems column and the summary table carry these values.
"""
from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    # intake: the submission folder, before anything runs
    STUDENT_ID = "student id"          # a name nbgrader cannot grade
    SYMLINK = "symlink"                # a symbolic link in the submission (not imported)
    EXTRA = "extra"                    # a file that is not a notebook of the assignment (not imported)
    MISSING = "missing"                # an assignment notebook not submitted
    TOO_LARGE = "too large"            # a notebook over the size limit
    CORRUPT = "corrupt"                # not a valid notebook
    LATE = "late"                      # submitted after the due date (penalty applied)
    # the static review of the submitted source
    HELD = "tamper"                    # code that touches the testing machinery: held for a person, tests 0
    # the graded run (the preprocessors)
    SANDBOX = "sandbox"                # what the sandbox's audit saw
    TIMEOUT = "timeout"                # a cell or the notebook ran over its time
    KERNEL_DIED = "kernel died"
    MEMORY = "memory"                  # a cell ran out of memory
    INTEGRITY = "integrity"            # the tripwire around a student function saw the reference called
    EXIT = "exit"                      # a cell called sys.exit()
    OUTPUT = "output"                  # a cell printed more than the output cap
    STDERR = "stderr"                  # the student's code wrote to stderr during a test (kept, not a failure)
    RESULT_BEFORE_ERROR = "result before error"  # a test cell showed a result ahead of its error: counted failed
    RESTORED = "restored"              # a locked or test cell edited or deleted: put back from the gradebook
    UNGRADABLE = "ungradable"          # nbgrader could not grade the notebook
    FEEDBACK = "feedback"              # nbgrader generate_feedback failed
    WORKER_DIED = "worker died"        # the worker process grading this student died (retried once)


def printable(text: str) -> str:
    """`text` with every non-printable character (ANSI escapes, carriage returns, newlines, bidi overrides) written
    as its escape: a line quoted from a submission cannot rewrite the terminal, the CSV or the report it lands in."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
