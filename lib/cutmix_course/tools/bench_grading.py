"""`python -m cutmix_course bench-grade`: grading throughput with 1 and 2 local workers, measured in one run.

Grades N distinct copies of the bundled solution submission (tests/submissions/submitted/s01-solution; each copy
gets one extra markdown cell with its number, and --reuse-identical stays off, so every notebook really runs) with
each worker count in turn, and prints students per hour, seconds per student, the ratio between the worker counts,
and where one student's time goes (mean over the students of the one-worker run). Projections for bigger machines
are printed as such, with their formula.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from ..notebook import paths


def _copies(course: Path, dest: Path, n: int, assignment: str) -> Path:
    import nbformat
    from nbformat.v4 import new_markdown_cell

    solution = course / "tests" / "submissions" / "submitted" / "s01-solution" / assignment
    if not solution.is_dir():
        raise SystemExit(f"bench-grade: no bundled solution submission at {solution}")
    submitted = dest / "submitted"
    for i in range(1, n + 1):
        folder = submitted / f"bench-{i:03d}" / assignment
        folder.mkdir(parents=True)
        for path in sorted(solution.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            nb.cells.append(new_markdown_cell(f"Benchmark copy {i}."))
            nbformat.write(nb, folder / path.name)
    return submitted


def main(argv=None) -> int:
    from ..grading.options import GradingOptions
    from ..grading.run import grade

    p = argparse.ArgumentParser(prog="python -m cutmix_course bench-grade", description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=4, help="distinct copies of the solution to grade (default 4)")
    p.add_argument("--workers", default="1,2", help="worker counts to compare, comma-separated (default 1,2)")
    p.add_argument("--course", help="course folder (default: this repository)")
    p.add_argument("--out", default=None, help="work folder (default: COURSE/build/bench-grade, replaced)")
    args = p.parse_args(argv)
    course = Path(args.course).resolve() if args.course else paths.course_root(required=True)
    counts = [int(w) for w in args.workers.split(",")]
    out = Path(args.out or course / "build" / "bench-grade").resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    submitted = _copies(course, out, args.students, GradingOptions().assignment)
    print(f"bench-grade: {args.students} distinct copies of the solution, reuse off, workers {counts}", flush=True)
    rows = []
    for workers in counts:
        t0 = time.monotonic()
        run = grade(submitted, course, out / f"workers-{workers}", workers=workers, reuse=False,
                    progress=lambda line: print("  " + line, flush=True))
        wall = time.monotonic() - t0
        bad = [s.student for s in run.students if s.score != s.max_score]
        phases = {}
        for s in run.students:
            for phase, seconds in s.timings.items():
                phases[phase] = phases.get(phase, 0.0) + seconds / len(run.students)
        busy = sum(s.seconds for s in run.students) / args.students
        rows.append(dict(workers=workers, students=len(run.students), seconds=wall, per_student=wall / args.students,
                         per_hour=3600 * args.students / wall, busy=busy, phases=phases, not_full_marks=bad))
    print("\nworkers  students  wall s  s/student  students/hour  mean s in a worker per student")
    for r in rows:
        print(f"{r['workers']:>7}  {r['students']:>8}  {r['seconds']:>6.1f}  {r['per_student']:>9.1f}  "
              f"{r['per_hour']:>13.1f}  {r['busy']:>6.1f}")
    base = rows[0]
    for r in rows[1:]:
        print(f"{r['workers']} workers / {base['workers']}: {r['per_hour'] / base['per_hour']:.2f}x students per hour")
    print(f"\nwhere one student's time goes ({base['workers']} worker(s), mean over {base['students']} students):")
    for phase, seconds in sorted(base["phases"].items(), key=lambda kv: -kv[1]):
        print(f"  {phase:<52} {seconds:6.1f} s  {100 * seconds / max(base['busy'], 1e-9):5.1f} %")
    if len(rows) > 1:
        best = rows[-1]
        efficiency = best["per_hour"] / base["per_hour"] / (best["workers"] / base["workers"])
        t1 = base["per_student"] * base["workers"]  # seconds of one worker per student
        print(f"\nPROJECTIONS (not measured): time for 1,000 students = 1000 x {t1:.1f} s "
              f"/ (workers x {efficiency:.2f}), "
              f"with t1 = {t1:.1f} s per student on one worker here and {efficiency:.2f} the parallel efficiency "
              f"measured at {best['workers']} workers, assumed to hold:")
        for label, w in (("one 16-core machine, 16 workers", 16), ("10 such machines on Dask, 160 workers", 160)):
            print(f"  {label}: {1000 * t1 / (w * efficiency) / 3600:.2f} h")
    if any(r["not_full_marks"] for r in rows):
        print(f"WARNING: copies below full marks: {[r['not_full_marks'] for r in rows]}")
    (out / "bench-grade.json").write_text(json.dumps(rows, indent=1))
    return 0
