"""The course notebooks: valid nbgrader metadata, the committed release equal to a fresh `nbgrader generate_assignment`,
no solution or hidden test in a student notebook, and nbval (`pytest --nbval-lax`, quick mode) on the six solutions
(the six student notebooks run under nbval inside the student kit: tests/tools/test_student_kit.py).

nbval runs in a subprocess per notebook, so a kernel that dies or hangs fails that notebook's test only, and the
cells' own pass/fail lines are in the assertion message.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import kernel_timeouts as kt
from cutmix_course.notebook.regions import outside_regions
from cutmix_course.tools import release

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "cutout_cutmix"
SOLUTIONS = ROOT / "solutions" / ASSIGNMENT
RELEASE = ROOT / "notebooks" / ASSIGNMENT
NAMES = ["01_dataset", "02_cutout", "03_cutmix", "04_training", "05_prediction_trace", "06_quiz"]
BEGIN = {"solution": "### BEGIN SOLUTION", "hidden": "### BEGIN HIDDEN TESTS"}
END = {"solution": "### END SOLUTION", "hidden": "### END HIDDEN TESTS"}


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def regions(source: str, kind: str) -> list[str]:
    """The lines inside the ### BEGIN/END regions of `kind` ('solution' or 'hidden') of a cell's source."""
    out, inside = [], False
    for line in source.splitlines():
        if BEGIN[kind] in line:
            inside = True
        elif END[kind] in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def test_both_folders_hold_the_six_agreed_notebooks():
    for folder in (SOLUTIONS, RELEASE):
        assert sorted(p.stem for p in folder.glob("*.ipynb")) == NAMES, folder


@pytest.mark.parametrize("name", NAMES)
def test_nbgrader_metadata(name):
    nb = read(SOLUTIONS / f"{name}.ipynb")
    assert nb.metadata.kernelspec["name"] == "python3" and nb.metadata.kernelspec["language"] == "python"
    graded = [c for c in nb.cells if nbgrader_meta(c)]
    solutions = [c for c in graded if nbgrader_meta(c).get("solution")]
    tests = [c for c in graded if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert solutions and tests, "every notebook has at least one exercise and one graded test"
    for cell in graded:
        meta = nbgrader_meta(cell)
        assert meta["schema_version"] == 3
        assert re.fullmatch(r"[a-z0-9_]+", meta["grade_id"]), meta["grade_id"]
        assert cell.id == meta["grade_id"], "stable cell ids: the grade_id"
    for cell in solutions:
        if cell.cell_type == "markdown":  # a written answer graded by hand: the release replaces the whole cell
            assert nbgrader_meta(cell).get("grade") and nbgrader_meta(cell)["points"] > 0, cell.id
            continue
        assert regions(cell.source, "solution"), f"{cell.id}: no ### BEGIN/END SOLUTION region"
    for cell in tests:
        meta = nbgrader_meta(cell)
        assert meta["locked"] and meta["points"] > 0, cell.id
        assert cell.id.startswith("test_")
        assert regions(cell.source, "hidden"), f"{cell.id}: no ### BEGIN/END HIDDEN TESTS region"
        assert cell.source.splitlines()[0].startswith("checks.check_"), f"{cell.id}: starts with its public check"


def test_grade_ids_are_unique_across_the_assignment():
    ids = [nbgrader_meta(c)["grade_id"] for n in NAMES for c in read(SOLUTIONS / f"{n}.ipynb").cells
           if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("name", NAMES)
def test_solutions_store_outputs_only_where_nbval_compares_them(name):
    """No stray outputs in the instructor source; the cells tagged nbval-check-output keep a stored, executed
    output (nbval compares only executed cells: an unexecuted one would silently pass)."""
    checked = 0
    for cell in read(SOLUTIONS / f"{name}.ipynb").cells:
        if cell.cell_type != "code":
            continue
        if release.is_checked(cell):
            checked += 1
            assert cell.outputs and cell.execution_count is not None, f"{cell.id}: run release --refresh-outputs"
            assert all(o.output_type == "stream" and o.name == "stdout" for o in cell.outputs), cell.id
        else:
            assert not cell.outputs and cell.execution_count is None, f"{cell.id} has a stray output"
        assert "raises-exception" not in cell.metadata.get("tags", []), "solutions must run clean under nbval"
    assert checked >= 1


def test_the_committed_release_equals_a_fresh_generate_assignment(tmp_path):
    """Regenerate with nbgrader (the course's nbgrader_config.py) into a temporary folder and compare JSON: the
    only thing normalised is the serialisation (key order, indentation), nothing nbgrader writes."""
    release.generate(ROOT, release_directory=str(tmp_path / "release"), db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    fresh = tmp_path / "release" / ASSIGNMENT
    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in RELEASE.iterdir())
    for name in NAMES:
        new = json.loads((fresh / f"{name}.ipynb").read_text(encoding="utf-8"))
        old = json.loads((RELEASE / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert new == old, f"notebooks/{ASSIGNMENT}/{name}.ipynb is out of date: run `make release`"


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_reaches_a_student_notebook(name):
    source = read(SOLUTIONS / f"{name}.ipynb")
    student = read(RELEASE / f"{name}.ipynb")
    text = json.dumps(student)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "forbid_reference"):
        assert marker not in text
    student_lines = {line.strip() for c in student.cells for line in c.source.splitlines()}
    secret = [line.strip() for c in source.cells for kind in ("solution", "hidden") for line in regions(c.source, kind)]
    public = {line.strip() for c in source.cells for line in outside_regions(c.source)}  # e.g. `import torch`
    leaked = [line for line in secret if len(line) >= 12 and line in student_lines and line not in public]
    assert not leaked, f"solution/hidden lines in the student notebook: {leaked}"
    # and every checked output shown to students is one the instructor's notebook produced
    for s_cell, r_cell in zip(source.cells, student.cells):
        if release.is_checked(s_cell):
            assert r_cell.outputs == s_cell.outputs and r_cell.source == s_cell.source


@pytest.mark.parametrize("name", NAMES)
def test_the_release_tags_exactly_the_cells_that_may_raise(name):
    student = read(RELEASE / f"{name}.ipynb")
    for cell in student.cells:
        meta, tags = nbgrader_meta(cell), cell.metadata.get("tags", [])
        stub = meta.get("solution") and re.search(r"^raise NotImplementedError\(\)$", cell.source, re.M)
        test = meta.get("grade") and not meta.get("solution")
        assert ("raises-exception" in tags) == bool(stub or test), cell.id


def nbval(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUTMIX_QUICK": "1"}
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", f"--nbval-cell-timeout={kt.NBVAL_CELL}", "-q",
           "-p", "no:cacheprovider", "-o", "addopts=", str(path.relative_to(ROOT))]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=kt.NBVAL_RUN)


@pytest.mark.slow
# the release (notebooks/) runs under nbval in the student kit, from its own folder: tests/tools/test_student_kit.py
@pytest.mark.parametrize("folder", ["solutions"])
# Why the outputs of the cells tagged nbval-check-output are golden (stored, compared by nbval), and right:
# - 01_dataset, the data set's summary: 5000 training and 1000 test images of (3, 32, 32), 500 per class: the
#   page's numbers, which the prose states; a change is a change of the data set students are told about.
# - 02_cutout, hidden pixels per image of a seeded batch (64, or fewer where a border clips the 8x8 square): the
#   clipping shown on numbers; tests/core/test_augment.py checks the rule itself against a plain-Python replay.
# - 03_cutmix, five seeded draws of λ and four boxes with their corrected λ: the λ correction shown on numbers; the
#   draw order behind them is the one tests/core/test_augment.py replays in plain Python.
# - 04_training, the seeded box, its λ and the first partners: the trace's data-flow row is read from them.
# - 05_prediction_trace, the six stages' shapes: the architecture the prose walks through (256x4x4 -> 10).
# - 06_quiz, the number of questions.
# They pin what the prose says; the properties behind them are tested on their own, not through these outputs.
@pytest.mark.parametrize("name", NAMES)
def test_nbval(folder, name):
    """Every code cell runs (the stubs and their checks in the release may raise NotImplementedError only where
    tagged raises-exception), and the cells tagged nbval-check-output reproduce their stored output."""
    result = nbval(ROOT / folder / ASSIGNMENT / f"{name}.ipynb")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and "skipped" not in result.stdout


@pytest.mark.slow
def test_nbval_really_compares_the_checked_outputs(tmp_path):
    """The tag nbval-check-output is live: a stored output that no longer matches a fresh run fails nbval."""
    nb = read(RELEASE / "06_quiz.ipynb")
    cell = next(c for c in nb.cells if release.is_checked(c))
    cell.outputs[0].text = cell.outputs[0].text.replace("3 questions", "4 questions")
    nbformat.write(nb, tmp_path / "06_quiz.ipynb")
    env = {**os.environ, "CUTMIX_QUICK": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "06_quiz.ipynb")], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode != 0 and "Cell outputs differ" in result.stdout, result.stdout[-3000:]
