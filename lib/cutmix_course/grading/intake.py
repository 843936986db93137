"""Intake: check one student's submission folder and read it into data (`Submission`), before anything runs.

Only the assignment's notebooks (and nbgrader's timestamp.txt) are taken from a submission folder. What is refused,
with the reason recorded as a problem: any other file or folder (a `torch.py` beside the notebooks would be imported
by the kernel ahead of the real torch), symbolic links (followed, a link would carry its target, e.g. the solutions,
into the sandbox's working copy), notebooks over the size limit, corrupt notebooks, and student ids nbgrader cannot
glob. A refused or missing notebook scores 0;
the rest of the submission is graded as usual. The submission travels as bytes, so a worker needs no shared folder.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .problems import Problem

TIMESTAMP = "timestamp.txt"  # nbgrader's record of when the submission was made (late penalties read it)


@dataclass
class Submission:
    student: str
    files: dict = field(default_factory=dict)       # path relative to the assignment folder -> bytes
    problems: list = field(default_factory=list)    # (kind, notebook or file, detail)
    ungradable: dict = field(default_factory=dict)  # notebook -> reason it scores 0 without running

    def write_to(self, folder: Path) -> None:
        for rel, data in self.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _notebook_problem(path: Path, max_mb: int) -> tuple[str, str] | None:
    import nbformat

    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        return Problem.TOO_LARGE, f"{size_mb:.0f} MiB, more than the {max_mb} MiB a notebook may have"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. cells without ids: nbformat fixes those itself
            nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as exc:  # noqa: BLE001 - corrupt JSON or not a notebook: left out, so it scores 0
        return Problem.CORRUPT, f"not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:150]})"
    return None


def read_submission(student: str, folder: Path, notebooks: list, max_notebook_mb: int = 50) -> Submission:
    """Check and read `folder` (submitted/<student>/<assignment>/) for the assignment's `notebooks` (names)."""
    sub = Submission(student)
    if any(c in student for c in "*?[]"):  # nbgrader globs the student id: such a folder can never be found
        sub.ungradable = {nb: "the student id contains one of * ? [ ]" for nb in notebooks}
        sub.problems.append((Problem.STUDENT_ID, "", "contains one of * ? [ ] (nbgrader cannot grade it): rename the "
                                               "folder and grade again"))
        return sub
    for item in sorted(folder.iterdir()) if folder.is_dir() else []:
        links = [item] if item.is_symlink() else [p for p in item.rglob("*") if p.is_symlink()]
        if links:
            sub.problems.append((Problem.SYMLINK, item.name, f"contains symbolic links ({links[0].name} -> "
                                                       f"{os.readlink(links[0])}); not imported"))
            continue
        if item.name == TIMESTAMP and item.is_file():
            sub.files[item.name] = item.read_bytes()
            continue
        if not (item.suffix == ".ipynb" and item.stem in notebooks and item.is_file()):
            sub.problems.append((Problem.EXTRA, item.name, "is not a notebook of the assignment (not imported: only "
                                                           "the assignment's notebooks are graded)"))
            continue
        problem = _notebook_problem(item, max_notebook_mb)
        if problem:
            sub.ungradable[item.stem] = problem[1]
            sub.problems.append((problem[0], item.name, problem[1]))
            continue
        sub.files[item.name] = item.read_bytes()
    for nb in notebooks:
        if nb not in sub.ungradable and f"{nb}.ipynb" not in sub.files:
            sub.ungradable[nb] = "the notebook was not submitted"
            sub.problems.append((Problem.MISSING, f"{nb}.ipynb", "not submitted"))
    return sub


def students_in(submitted: Path) -> list[str]:
    return sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith("."))
