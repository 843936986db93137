"""`python -m cutmix_course <command> [options]`: every command of the course, in one table.

The student kit ships the package without `tools/` and `grading/`: there only `check` and `photos` exist, and the
instructor's commands say so instead of failing on an import.
"""
from __future__ import annotations

import importlib
import sys

# command -> (module:function taking argv, what it does); `--help` after a command gives its options
COMMANDS = {
    "trace": ("cutmix_course.tools.trace_report:main",
              "the main job: data -> Cutout/CutMix -> trainings -> the trace tables and a report folder"),
    "check": ("cutmix_course.notebook.self_check:main",
              "run notebooks in quick mode (on a copy) and list every public check (the student's make check)"),
    "photos": ("cutmix_course.notebook.datasets:main",
               "which data set the notebooks use; --download fetches CIFAR-10 once (opt-in, needs internet)"),
    "release": ("cutmix_course.tools.release:main", "regenerate the student notebooks from the instructor source"),
    "figures": ("cutmix_course.tools.figures:main",
                "the static pictures stored in the solutions' markdown cells (then `make release`)"),
    "section-times": ("cutmix_course.tools.section_times:main",
                      "the table of reading and exercise time per section atop each solutions notebook"),
    "site": ("cutmix_course.tools.site:main",
             "a static HTML copy of the executed student notebooks, figures included: site/index.html"),
    "kit": ("cutmix_course.tools.kit:main", "the student kit: dist/cutout_cutmix-student.zip"),
    "grade": ("cutmix_course.grading.cli:main", "autograde a folder of nbgrader submissions, hardened"),
    "bench": ("cutmix_course.tools.bench_speed:main", "augmentation and training speed, as ratios in one run"),
    "bench-grade": ("cutmix_course.tools.bench_grading:main", "grading throughput with 1 and 2 workers"),
    "bench-similarity": ("cutmix_course.tools.bench_similarity:main", "the similarity review's cost for N students"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return "usage: python -m cutmix_course <command> [options]   (--help after a command for its options)\n" + \
        "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        return 2
    target, _ = COMMANDS[argv[0]]
    module, function = target.split(":")
    try:
        command = getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("cutmix_course."):
            raise
        print(f"python -m cutmix_course {argv[0]}: not part of this installation ({exc.name} is missing; the student "
              "kit has only check and photos)", file=sys.stderr)
        return 2
    return command(argv[1:])


if __name__ == "__main__":  # not when a spawned grading worker re-imports the main module
    sys.exit(main())
