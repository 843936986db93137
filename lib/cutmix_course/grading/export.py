"""Export: the grades CSV (nbgrader's export plugin, with the course's columns), report.json and the summary table."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import List

CSV_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "raw_score", "late", "seconds_late",
               "late_submission_penalty", "score", "max_score", "problems"]


@dataclass
class GradingRun:
    out: Path
    sandbox: str
    students: list      # StudentResult, in student order
    csv: Path
    feedback: Path
    gradebook: Path     # the sqlite file (also reachable through db_url)
    db_url: str = ""
    workers: int = 1        # local worker processes; 0: a Dask cluster
    graded: int = 0         # students graded in this run (the others were kept by --resume)
    seconds: float = 0.0
    canvas: Path | None = None          # canvas.csv (with --canvas)
    canvas_unmatched: list = field(default_factory=list)  # graded students not in the roster, roster rows not graded
    similarity: object = None   # similarity.Review of the run (None: not run)

    def by_student(self) -> dict:
        return {s.student: s for s in self.students}


class CourseCsvExport(ExportPlugin):
    """nbgrader's CSV columns plus late/seconds_late/problems, one row per student, written in UTF-8."""

    problems = List().tag(config=True)  # [[student, "problem; problem"], ...]

    def export(self, gradebook):
        problems = dict(map(tuple, self.problems))
        with open(self.to or "grades.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, CSV_COLUMNS)
            writer.writeheader()
            for assignment in gradebook.assignments:
                for student in gradebook.students:
                    row = dict(assignment=assignment.name, duedate=assignment.duedate or "", student_id=student.id,
                               max_score=assignment.max_score, problems=problems.get(student.id, ""))
                    try:
                        sub = gradebook.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        row.update(timestamp="", raw_score=0.0, late="no", seconds_late=0,
                                   late_submission_penalty=0.0, score=0.0)
                    else:
                        row.update(timestamp=sub.timestamp or "", raw_score=sub.score,
                                   late="yes" if sub.total_seconds_late > 0 else "no",
                                   seconds_late=round(sub.total_seconds_late),
                                   late_submission_penalty=sub.late_submission_penalty,
                                   score=max(0.0, sub.score - sub.late_submission_penalty))
                    writer.writerow(row)


def write_report(run: GradingRun) -> None:
    data = {"sandbox": run.sandbox, "workers": run.workers, "graded": run.graded, "seconds": round(run.seconds, 1),
            "canvas_unmatched": run.canvas_unmatched, "students": [
        {"student": s.student, "score": s.score, "raw_score": s.raw_score, "max_score": s.max_score,
         "late": s.late, "seconds_late": s.seconds_late, "penalty": s.penalty, "seconds": round(s.seconds, 2),
         "attempts": s.attempts, "timings": {k: round(v, 2) for k, v in s.timings.items()},
         "problems": [list(p) for p in s.problems], "awaiting_manual_grading": s.manual,
         "notebooks": {k: vars(v) for k, v in s.notebooks.items()}} for s in run.students]}
    if run.similarity is not None:
        sim = run.similarity
        data["similarity"] = {"compared": sim.compared, "skipped": sim.skipped, "seconds": round(sim.seconds, 2),
                              "comparisons": sim.comparisons, "pairs": [p.to_dict() for p in sim.pairs]}
    (run.out / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def summary_table(run: GradingRun) -> str:
    """The instructor's table: student, score, max, late, time, problems."""
    rows = [("student", "score", "max", "late", "time", "problems")]
    for s in run.students:
        rows.append((s.student, f"{s.score:g}", f"{s.max_score:g}", "yes" if s.late else "no", f"{s.seconds:.1f}s",
                     s.problem_text() or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    n = max(1, len(run.students))
    lines.append(f"\n{len(run.students)} submission(s) in {run.seconds:.1f} s ({run.seconds / n:.1f} s each on "
                 f"average, {run.workers} worker(s)); sandbox: {run.sandbox}")
    lines.append(f"grades: {run.csv}\nfeedback: {run.feedback}\ngradebook: {run.db_url or run.gradebook}")
    waiting = [s for s in run.students if s.manual]
    if waiting:
        cells = sorted({m for s in waiting for m in s.manual})
        lines.append(f"\nAwaiting grading by hand: {sum(len(s.manual) for s in waiting)} cell(s) in {len(waiting)} "
                     f"submission(s) ({', '.join(cells)}). Grade them in the formgrader (make lab-instructor, then "
                     f"Nbgrader > Formgrader > Manual Grading) on {run.db_url or run.gradebook}; the scores count from "
                     f"the next export (nbgrader export, or make grade ARGS=\"... --resume\").")
        for s in waiting[:20]:
            lines.append(f"  {s.student}: {', '.join(s.manual)}")
        if len(waiting) > 20:
            lines.append(f"  ... and {len(waiting) - 20} more (report.json: awaiting_manual_grading)")
    if run.similarity is not None:
        sim = run.similarity
        lines.append(f"\nSimilar code (for review; scores unchanged): {len(sim.pairs)} pair(s) "
                     f"at or above the threshold, {sim.comparisons} comparisons in {sim.seconds:.1f} s; "
                     f"both snippets in {run.out / 'similarity.md'}")
        for student, hits in sorted(sim.flagged().items()):
            lines.append(f"  {student}: " + "; ".join(f"{ex} {sim_:.0%} like {other}" for ex, other, sim_ in hits[:3])
                         + (f"; and {len(hits) - 3} more" if len(hits) > 3 else ""))
    if run.canvas:
        lines.append(f"Canvas import: {run.canvas}")
        lines += [f"  not matched: {item}" for item in run.canvas_unmatched]
    return "\n".join(lines)


CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_canvas(roster: Path, dest: Path, assignment: str, results: list) -> tuple[Path, list]:
    """Canvas's gradebook import file from its roster (a Canvas gradebook export): the roster's five student
    columns and one column for the assignment (the roster's own column for it when there is one, so Canvas matches
    it by its id; else a new column named after the assignment), students matched by SIS Login ID = the nbgrader
    student id. Returns the file and what did not match (graded students missing from the roster, roster students
    without a graded submission: left blank, which Canvas treats as no change); nobody is dropped silently."""
    from .options import GradingError

    with open(roster, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in CANVAS_COLUMNS if c not in header]
        if missing:
            raise GradingError(f"--canvas: {roster} is not a Canvas roster: no column(s) {', '.join(missing)} "
                               f"(expected a Canvas gradebook export, columns {', '.join(CANVAS_COLUMNS)}, ...)")
        rows = list(reader)
    column = next((h for h in header if h == assignment or h.startswith(assignment + " (")), assignment)
    by_login = {r.student: r for r in results}
    unmatched, out_rows = [], []
    for row in rows:
        if (row.get("Student") or "").strip() == "Points Possible":
            max_score = results[0].max_score if results else ""
            out_rows.append({**{c: row.get(c, "") for c in CANVAS_COLUMNS}, column: f"{max_score:g}"
                             if results else ""})
            continue
        login = (row.get("SIS Login ID") or "").strip()
        result = by_login.pop(login, None)
        if result is None:
            unmatched.append(f"roster {row.get('Student', '')} ({login or 'no login'}): no graded submission, "
                             "left blank")
        out_rows.append({**{c: row.get(c, "") for c in CANVAS_COLUMNS},
                         column: f"{result.score:g}" if result is not None else ""})
    unmatched += [f"graded {student}: not in the roster (no SIS Login ID {student!r}), not in the import"
                  for student in by_login]
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, [*CANVAS_COLUMNS, column])
        writer.writeheader()
        writer.writerows(out_rows)
    return dest, unmatched
