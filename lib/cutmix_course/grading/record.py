"""Record: the grader, the single writer of the gradebook and the grading folder, writes one task's outcome."""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .intake import Submission
from .problems import Problem, printable
from .task import StudentOutcome


@dataclass
class NotebookResult:
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)  # grade_id -> score
    graded: bool = False       # False: missing, corrupt or ungradable (scored 0)
    seconds: float = 0.0       # wall time of its autograde (sanitize, run, save grades)
    reused: bool = False       # outputs reused from an identical notebook run earlier (--reuse-identical)


@dataclass
class StudentResult:
    student: str
    score: float = 0.0           # after the late penalty
    raw_score: float = 0.0
    max_score: float = 0.0
    late: bool = False
    seconds_late: float = 0.0
    penalty: float = 0.0
    seconds: float = 0.0         # wall time to grade this student (in its worker)
    attempts: int = 1            # 2 or more: a worker died while grading this student and it was graded again
    timings: dict = field(default_factory=dict)  # phase -> seconds (kernel start, cells, nbgrader, feedback, other)
    problems: list = field(default_factory=list)  # [(kind, notebook, detail)]
    notebooks: dict = field(default_factory=dict)  # notebook -> NotebookResult
    manual: list = field(default_factory=list)     # "notebook/grade_id" of each cell awaiting grading by hand

    def problem_text(self) -> str:
        return "; ".join(f"{kind}: {nb} {detail}".replace("  ", " ").strip() for kind, nb, detail in self.problems)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["problems"] = [list(p) for p in self.problems]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StudentResult":
        data = dict(data)
        data["problems"] = [tuple(p) for p in data.get("problems", [])]
        data["notebooks"] = {k: NotebookResult(**v) for k, v in data.get("notebooks", {}).items()}
        return cls(**data)


def write_files(out: Path, files: dict) -> None:
    """Write `files` (relative path -> bytes) under `out`, refusing any path that would leave it."""
    base = out.resolve()
    for rel, data in files.items():
        path = (base / rel).resolve()
        if base not in path.parents:
            raise ValueError(f"refusing to write {rel!r} outside {base}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def store_grades(gb, assignment: str, outcome: StudentOutcome) -> None:
    """Copy the task's grades into the gradebook `gb` the way nbgrader's autograde writes them (SaveAutoGrades,
    AssignLatePenalties): auto scores, comments, late penalties; a manual score already there is kept (the grade
    is marked for review, as nbgrader does)."""
    gb.update_or_create_student(outcome.student)
    kwargs = {"timestamp": outcome.timestamp} if outcome.timestamp else {}
    submission = gb.update_or_create_submission(assignment, outcome.student, **kwargs)
    for snb in submission.notebooks:
        data = outcome.notebooks.get(snb.name)
        if data is None:  # not graded at all (its worker died every time): 0, nothing waits for a human
            for grade in snb.grades:
                grade.auto_score, grade.needs_manual_grade = 0.0, grade.manual_score is not None
            continue
        snb.late_submission_penalty = data.penalty
        for grade in snb.grades:
            if grade.name in data.grades:
                grade.auto_score, needs_manual = data.grades[grade.name]
                grade.needs_manual_grade = needs_manual or grade.manual_score is not None
        for comment in snb.comments:
            comment.auto_comment = data.comments.get(comment.name)
    gb.db.commit()


def record(gb, out: Path, assignment: str, submission: Submission, outcome: StudentOutcome,
           attempts: int = 1) -> StudentResult:
    """Write the submission (as imported), the outcome's files and grades; return the student's result as the
    gradebook now has it. What an earlier run (--resume) left of this student is replaced, not merged."""
    for area in ("submitted", "autograded", "feedback"):
        shutil.rmtree(out / "course" / area / submission.student, ignore_errors=True)
    write_files(out / "course" / "submitted" / submission.student / assignment, submission.files)
    (out / "course" / "submitted" / submission.student / assignment).mkdir(parents=True, exist_ok=True)
    write_files(out, outcome.files)
    store_grades(gb, assignment, outcome)
    return result_from_gradebook(gb, assignment, outcome, attempts)


def refresh_from_gradebook(gb, assignment: str, result: StudentResult) -> StudentResult:
    """`result` with its scores as the gradebook has them now (manual grades included)."""
    sub = gb.find_submission(assignment, result.student)
    result.raw_score, result.max_score = sub.score, sub.max_score
    result.seconds_late = sub.total_seconds_late
    result.late = result.seconds_late > 0
    result.penalty = sub.late_submission_penalty or 0.0
    result.score = max(0.0, result.raw_score - result.penalty)
    result.manual = []
    for snb in sorted(sub.notebooks, key=lambda n: n.name):
        nb = result.notebooks.setdefault(snb.name, NotebookResult())
        nb.score, nb.max_score, nb.cells = snb.score, snb.max_score, {g.name: g.score for g in snb.grades}
        result.manual += [f"{snb.name}/{g.name}" for g in sorted(snb.grades, key=lambda g: g.name)
                          if g.needs_manual_grade]
    return result


def result_from_gradebook(gb, assignment: str, outcome: StudentOutcome, attempts: int = 1) -> StudentResult:
    result = StudentResult(outcome.student, problems=[(kind, printable(nb), printable(detail))
                                                      for kind, nb, detail in outcome.problems],
                           seconds=outcome.seconds,
                           attempts=attempts, timings=dict(outcome.timings))
    for name, data in sorted(outcome.notebooks.items()):
        result.notebooks[name] = NotebookResult(graded=data.graded, reused=data.reused, seconds=data.seconds)
    refresh_from_gradebook(gb, assignment, result)
    if result.late:
        result.problems.append((Problem.LATE, "", f"{result.seconds_late / 3600:.1f} h after the due date, penalty "
                                            f"{result.penalty:g}"))
    return result
