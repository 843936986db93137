"""Where the course's things are: the assignment's name, the course root and the quiz data, found in one place.

A course root is a folder with `nbgrader_config.py` (the instructor repository, or a copy of it). Lookups, first hit
wins:

- course root: `$CUTMIX_COURSE`; the working directory if it holds nbgrader_config.py; the repository this package
  was installed from in editable mode (lib/cutmix_course -> the folder above lib/); else None (a plain install of
  the package has no course: pass one with --course).
- quiz data: `$CUTMIX_QUIZZES`; the package's own copy (cutmix_course/quizzes/, put there when a wheel is built); the
  course root's quizzes/.
"""
from __future__ import annotations

import os
from pathlib import Path

ASSIGNMENT = "cutout_cutmix"  # the nbgrader assignment (and the folder under solutions/ and notebooks/)
COURSE_ENV = "CUTMIX_COURSE"
QUIZ_ENV = "CUTMIX_QUIZZES"

_PACKAGE = Path(__file__).resolve().parent


def _is_course(folder: Path) -> bool:
    return (folder / "nbgrader_config.py").is_file()


def course_root(required: bool = False) -> Path | None:
    """The course root (see the module docstring), or None; `required=True` raises FileNotFoundError instead."""
    if os.environ.get(COURSE_ENV):
        return Path(os.environ[COURSE_ENV]).resolve()
    for candidate in (Path.cwd(), _PACKAGE.parent.parent):
        if _is_course(candidate):
            return candidate.resolve()
    if required:
        raise FileNotFoundError(f"no course folder found: run from a folder with nbgrader_config.py, or set "
                                f"${COURSE_ENV} (the package at {_PACKAGE} is not inside one)")
    return None


def quiz_dir() -> Path:
    """The folder holding the quiz files (<name>.json); see the module docstring for the order of lookups."""
    if os.environ.get(QUIZ_ENV):
        return Path(os.environ[QUIZ_ENV])
    packaged = _PACKAGE / "quizzes"
    if packaged.is_dir():
        return packaged
    root = course_root()
    return (root or _PACKAGE.parent.parent) / "quizzes"
