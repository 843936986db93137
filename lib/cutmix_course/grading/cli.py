"""`python -m cutmix_course grade [SUBMISSIONS] [--course DIR] [--out DIR] [options]`: parse, grade, print."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..notebook import paths
from .options import GradingError, GradingOptions


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cutmix_course grade",
        description="Autograde nbgrader submissions (submitted/<student>/<assignment>/*.ipynb), write feedback and "
                    "a grades CSV, print a summary. With no SUBMISSIONS, grades the bundled example submissions.")
    p.add_argument("submissions", nargs="?", help="folder of student folders, or its parent holding submitted/ "
                   "(default: tests/submissions of the course)")
    p.add_argument("--course", help="course folder with nbgrader_config.py and the solutions (default: $CUTMIX_COURSE, "
                   "the working directory if it has nbgrader_config.py, else the repository of this package)")
    p.add_argument("--out", help="grading folder, replaced on each run (default: COURSE/build/grading)")
    GradingOptions.add_arguments(p)
    return p


def main(argv=None) -> int:
    from .export import summary_table
    from .run import grade

    args = parser().parse_args(argv)
    try:
        course = Path(args.course).resolve() if args.course else paths.course_root()
        if course is None:
            raise GradingError("--course: no course folder found; pass --course DIR or set $CUTMIX_COURSE")
        submissions = Path(args.submissions) if args.submissions else course / "tests" / "submissions"
        overrides = {}
        if not args.submissions:
            print(f"No SUBMISSIONS given: grading the bundled examples in {submissions} (with --reuse-identical)")
            overrides["reuse"] = True
        if args.duedate is None:
            for base in [submissions] + ([submissions.parent] if submissions.name == "submitted" else []):
                if (base / "duedate.txt").exists():
                    overrides["duedate"] = (base / "duedate.txt").read_text().strip()
                    break
        options = GradingOptions.from_namespace(args, **overrides)
        run = grade(submissions, course, args.out, options, progress=lambda line: print(line, flush=True),
                    bar=sys.stderr.isatty())
    except GradingError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    print()
    print(summary_table(run))
    return 0
