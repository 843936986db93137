"""A tiny nbgrader course laid out like the real one, built in a temporary folder by the grading tests.

It mirrors the real repository: `nbgrader_config.py` at the root with `source_directory='solutions'` and
`release_directory='notebooks'`, one assignment `cutout_cutmix`, two notebooks:

- `01_cutout.ipynb` imports torch and asks for `cutout_one` (one image, one clipped square); its hidden test calls the
  student's function through the grader's channel (notebook.hidden), which runs it under the exercise's tripwire, so
  delegating to torchvision's `erase` or the course's `augment.cutout` scores 0 for that test;
- `02_basics.ipynb` needs no torch (fast kernel) and asks for `mean` and `clip`; a locked read-only markdown cell
  sits right before a test cell (the case that trips nbgrader's own `add_missing_cells`).

Maximum score 5: test_cutout_one 2, test_mean 2, test_clip 1. Every hidden test region contains a line with the
word HIDDEN_SENTINEL, so a test can assert that no hidden source reaches students.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT = "cutout_cutmix"
SENTINEL = "HIDDEN_SENTINEL"
MAX_SCORE = 5.0
POINTS = {"test_cutout_one": 2.0, "test_mean": 2.0, "test_clip": 1.0}


def _nbgrader(cell, grade_id, *, grade=False, solution=False, locked=False, points=0):
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def _setup(cell):
    """A course cell the graded run executes (the grader runs no other course code cell)."""
    cell.metadata["tags"] = ["graded-run"]
    return cell


def _notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


CUTOUT_SOLUTION = '''\
def cutout_one(image, size, cy, cx):
    """Copy of image (C, H, W) with a size x size square centred on (cy, cx) set to 0, clipped at the borders."""
    ### BEGIN SOLUTION
    out = image.clone()
    h, w = image.shape[-2:]
    y1, y2 = max(cy - size // 2, 0), min(cy - size // 2 + size, h)
    x1, x2 = max(cx - size // 2, 0), min(cx - size // 2 + size, w)
    out[:, y1:y2, x1:x2] = 0
    return out
    ### END SOLUTION
'''

CUTOUT_TEST = f'''\
img = torch.ones(3, 8, 8)
out = cutout_one(img, 4, 4, 4)
assert out.shape == img.shape, "the shape must not change"
assert int((out[0] == 0).sum()) == 16, "a 4x4 patch inside the image hides 16 pixels"
### BEGIN HIDDEN TESTS
{SENTINEL}_1 = "corner"
import torch as _torch
from cutmix_course.notebook.hidden import student as _student
_cutout_one = _student.function("cutout_one")
_img = _torch.ones(3, 8, 8)
_corner = _cutout_one(_img, 4, 0, 0)
assert int((_corner[0] == 0).sum()) == 4, "a patch at the corner must be clipped"
assert int((_cutout_one(_img, 4, 4, 4)[0] == 0).sum()) == 16, "a 4x4 patch inside the image hides 16 pixels"
### END HIDDEN TESTS
'''

MEAN_SOLUTION = '''\
def mean(xs):
    """Arithmetic mean of a non-empty sequence."""
    ### BEGIN SOLUTION
    return sum(xs) / len(xs)
    ### END SOLUTION
'''

MEAN_TEST = f'''\
assert mean([1, 2, 3]) == 2, "mean([1, 2, 3]) should be 2"
### BEGIN HIDDEN TESTS
from cutmix_course.notebook.hidden import student as _student
_mean = _student.function("mean")
{SENTINEL}_2 = [1.5]
assert _mean({SENTINEL}_2) == 1.5
assert _mean([-1, 1]) == 0 and _mean([1, 2, 3]) == 2
### END HIDDEN TESTS
'''

CLIP_SOLUTION = '''\
def clip(x, lo, hi):
    """x limited to the interval [lo, hi]."""
    ### BEGIN SOLUTION
    return min(max(x, lo), hi)
    ### END SOLUTION
'''

CLIP_TEST = f'''\
### BEGIN HIDDEN TESTS
from cutmix_course.notebook.hidden import student as _student
_clip = _student.function("clip")
{SENTINEL}_3 = (5, 0, 3)
assert _clip(*{SENTINEL}_3) == 3
assert _clip(-1, 0, 3) == 0 and _clip(2, 0, 3) == 2
### END HIDDEN TESTS
'''


def source_notebooks() -> dict[str, nbformat.NotebookNode]:
    """The instructor version of the toy assignment (solutions and hidden tests)."""
    cutout = _notebook([
        _nbgrader(new_markdown_cell("# Toy Cutout\nImplement Cutout for one image."), "intro", locked=True),
        _setup(new_code_cell("import torch")),
        _nbgrader(new_code_cell(CUTOUT_SOLUTION), "cutout_one", solution=True),
        _nbgrader(new_code_cell(CUTOUT_TEST), "test_cutout_one", grade=True, locked=True, points=2),
    ])
    basics = _notebook([
        _setup(new_code_cell("import warnings")),
        _nbgrader(new_code_cell(MEAN_SOLUTION), "mean", solution=True),
        _nbgrader(new_markdown_cell("The next cell tests `mean`."), "about_mean_test", locked=True),
        _nbgrader(new_code_cell(MEAN_TEST), "test_mean", grade=True, locked=True, points=2),
        _nbgrader(new_code_cell(CLIP_SOLUTION), "clip", solution=True),
        _nbgrader(new_code_cell(CLIP_TEST), "test_clip", grade=True, locked=True, points=1),
    ])
    return {"01_cutout": cutout, "02_basics": basics}


def make_course(root: Path) -> Path:
    """Write the toy course into `root` and generate its release with nbgrader; returns `root`."""
    root = Path(root)
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.source_directory = 'solutions'\n"
        "c.CourseDirectory.release_directory = 'notebooks'\n"
        "c.CourseDirectory.db_url = 'sqlite:///release-gradebook.db'\n"
    )
    for name, nb in source_notebooks().items():
        nbformat.write(nb, root / "solutions" / ASSIGNMENT / f"{name}.ipynb")
    # nbgrader runs the `alembic` executable when it creates a gradebook: it must be on PATH (the venv's bin).
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN"],
        cwd=root, check=True, capture_output=True, text=True, env=env,
    )
    return root
