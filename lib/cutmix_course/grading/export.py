"""Export: the grades CSV (nbgrader's export plugin, with the course's columns), report.json and the summary table."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
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
    workers: int = 1
    seconds: float = 0.0

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
    data = {"sandbox": run.sandbox, "workers": run.workers, "seconds": round(run.seconds, 1), "students": [
        {"student": s.student, "score": s.score, "raw_score": s.raw_score, "max_score": s.max_score,
         "late": s.late, "seconds_late": s.seconds_late, "penalty": s.penalty, "seconds": round(s.seconds, 2),
         "attempts": s.attempts, "problems": [list(p) for p in s.problems],
         "notebooks": {k: vars(v) for k, v in s.notebooks.items()}} for s in run.students]}
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
    lines.append(f"grades: {run.csv}\nfeedback: {run.feedback}\ngradebook: {run.gradebook}")
    return "\n".join(lines)
