"""Where the course's things are: the assignment's name, the course folder and the quiz data, found in one place.

A course folder holds `nbgrader_config.py` (the instructor repository, or a copy of it). Lookups, first hit wins:

- course folder: `$CUTMIX_COURSE`; the working directory if it is one; the nearest folder above this package that is
  one (an editable install inside the instructor repository); else None (a plain install of the package has no
  course: pass one with --course). Which of its folders hold the solutions and the release, nbgrader_config.py says
  (grading.course reads it).
- quiz data: `$CUTMIX_QUIZZES`; the package's own copy (cutmix_course/quizzes/, put there when a wheel is built); the
  course folder's quizzes/; the nearest quizzes/ above the package (a source tree: the student kit has quizzes/ beside
  lib/ and no nbgrader_config.py).
"""
from __future__ import annotations

from pathlib import Path

from . import environment

ASSIGNMENT = "cutout_cutmix"  # the nbgrader assignment (and the folder under the source and release directories)

_PACKAGE = Path(__file__).resolve().parent.parent


def _is_course(folder: Path) -> bool:
    return (folder / "nbgrader_config.py").is_file()


def course_root(required: bool = False) -> Path | None:
    """The course folder (see the module docstring), or None; `required=True` raises FileNotFoundError instead."""
    if environment.get(environment.COURSE):
        return Path(environment.get(environment.COURSE)).resolve()
    for candidate in (Path.cwd(), *_PACKAGE.parents):
        if _is_course(candidate):
            return candidate.resolve()
    if required:
        raise FileNotFoundError(f"no course folder found: run from a folder with nbgrader_config.py, or set "
                                f"${environment.COURSE} (the package at {_PACKAGE} is not inside one)")
    return None


def quiz_dir() -> Path:
    """The folder holding the quiz files (<name>.json); see the module docstring for the order of lookups."""
    if environment.get(environment.QUIZZES):
        return Path(environment.get(environment.QUIZZES))
    packaged = _PACKAGE / "quizzes"
    if packaged.is_dir():
        return packaged
    root = course_root()
    if root and (root / "quizzes").is_dir():
        return root / "quizzes"
    return next((folder / "quizzes" for folder in _PACKAGE.parents if (folder / "quizzes").is_dir()), packaged)
