"""The course's grader: nbgrader's autograde made safe for hostile notebooks and fast for big classes.

One concern per module, the kernel side kept apart (it runs in the student's kernel and never imports the rest):

    options.py          GradingOptions: every option once, validated once; the command line is built from it
    intake.py           check a submission folder and read it into data (refused files, missing notebooks)
    task.py             grade one student in a throw-away nbgrader course: (submission, course, options) -> outcome
    pool.py             local worker processes (--workers), a dead worker costs one student, who is retried
    record.py           the single writer: outcome -> gradebook + grading folder
    export.py           grades CSV (an nbgrader export plugin), report.json, the summary table
    run.py              grade(): prepare the course once, run the tasks, record, export
    cli.py              `python -m cutmix_course grade`
    course_folders.py   the course folder's layout, read from its nbgrader_config.py
    problems.py         Problem: every kind of problem the grader reports
    verdict.py          the hidden tests run here, calling the student's functions in the kernel as plain data
    policy.py           the course's grading policy: what the review treats as touching the tests, the allowlist
    tamper.py           the static review of the submitted source (held notebooks)
    similarity.py       the similarity review of the graded answers (a report, never a score)
    converters.py       nbgrader's Autograde with the run's state in each notebook's resources; the pipelines
    preprocessors/      the course's nbgrader preprocessors, one per module (state in resources: findings.py)
    sandbox.py          grader side of the sandbox: bubblewrap command, probe, the kernel manager
    limits.py           a cgroup of the grader's own per kernel: processes, memory, CPU
    protocol.py         the grader <-> kernel protocol (kernel spec, audit lines): defined and parsed here only
    kernel.py           kernel side: the kernel's entry point and audit hook          (standard library only)

Importing this package imports nothing heavy (the kernel side lives under it); `grade` and friends load on use.
"""
from .options import GradingError, GradingOptions

_LAZY = {"grade": "run", "GradingRun": "export", "summary_table": "export", "StudentResult": "record",
         "NotebookResult": "record", "main": "cli"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["GradingError", "GradingOptions", *_LAZY]
