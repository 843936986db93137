"""`python -m cutmix_course check`: run a student's notebooks and list every public check (the student's `make check`).

Each notebook runs top to bottom in a fresh Jupyter kernel, in quick mode (`CUTMIX_QUICK=1`: small data, two
epochs), on a copy in a temporary folder, so the student's files are never touched. It runs what the grader runs
(`graded_cells`): a course cell the student changed runs as released (the release records its code cells in the
notebook's metadata; the grader uses the course's own copy), their own cells after it. The grader runs only the
set-up cell of the course's code besides the answers and the tests; this check runs every course cell (the public
checks need the data) and warns of an answer that reads a name only a skipped cell defines. Every graded test
cell (nbgrader metadata `grade: true`) is then one line: passed, not answered yet (the stub's
`NotImplementedError` reached it), or failed with the first line of what the check said. The grade itself comes from
hidden tests when the notebook is graded; these are the same public checks the notebook's cells run.
"""
from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
from pathlib import Path

from nbgrader.utils import is_grade, is_solution

from . import environment
from .regions import without_region

PASSED, OPEN, FAILED, NOT_RUN = "passed", "not answered yet", "failed", "not run"
METADATA_KEY = "cutmix_course"  # notebook metadata: {"course_cells": [...]}, see record_course_cells
# a course code cell the graded run executes (the set-up cell): the grader runs these, the answers and the tests, and
# no other course cell (data, figures, training, explorers: no hidden test needs them)
GRADED_RUN_TAG = "graded-run"


def runs_when_graded(cell) -> bool:
    return (cell.cell_type == "code" and (is_solution(cell) or is_grade(cell)
                                          or GRADED_RUN_TAG in cell.get("metadata", {}).get("tags", [])))


def _bound_names(source: str) -> set[str]:
    """Names a cell binds anywhere (assignments, definitions, parameters, imports), by a plain parse; nothing where it
    does not parse."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def names_missing_when_graded(cells) -> dict[str, list[str]]:
    """grade_id of each answer cell -> the names it reads that only course cells the graded run skips define (see
    runs_when_graded): such an answer passes its public check and fails when graded."""
    import ast

    defined = set().union(*[_bound_names(c.source) for c in cells if runs_when_graded(c)])
    skipped_only = set().union(*[_bound_names(c.source) for c in cells
                                 if c.cell_type == "code" and not runs_when_graded(c)]) - defined
    found = {}
    for cell in cells:
        if cell.cell_type != "code" or not is_solution(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError):
            continue
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        missing = sorted((read & skipped_only) - _bound_names(cell.source))
        if missing:
            found[cell.metadata["nbgrader"].get("grade_id", "?")] = missing
    return found


def graded_cells(course_cells, submitted_cells, keep_added: bool = True, only_needed: bool = False) -> list:
    """The cells a graded run executes. Every cell of
    `course_cells` as the course has it, in its order and with its metadata, except that each answer cell (a solution
    cell, matched by grade_id and cell type; the first one) takes the submitted source; a missing answer stays
    missing. A submitted code cell that is neither an answer nor a course cell as released (a cell the student added,
    a course cell they edited, a second copy of an answer) runs, with `keep_added`, right after the course cell it
    followed in the submission. With `only_needed` (the grader), a course code
    cell that is not runs_when_graded is not run. The grader and `make check` run what this returns."""
    answers = {}
    for cell in submitted_cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid is not None:
            answers.setdefault((gid, cell.cell_type), cell)
    position = {}  # id of a submitted cell -> index of the course cell it is
    for index, cell in enumerate(course_cells):
        if is_solution(cell):
            answer = answers.get((cell.metadata["nbgrader"]["grade_id"], cell.cell_type))
            if answer is not None:
                position[id(answer)] = index
    # a test cell is released without its hidden tests
    released = {}
    for index, cell in enumerate(course_cells):
        if not is_solution(cell):
            for text in (cell.source, without_region(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
                released.setdefault(text, index)
    after, anchor = {}, -1
    for cell in submitted_cells:
        if id(cell) in position:
            anchor = position[id(cell)]
        elif cell.source in released:
            anchor = released[cell.source]
        elif cell.cell_type == "code" and cell.source.strip():
            after.setdefault(anchor, []).append(cell)
    answered = {index: cell for cell in submitted_cells if (index := position.get(id(cell))) is not None}

    def added(index):  # the student's own cells have no role: nbgrader metadata comes from the course only
        kept = [copy.deepcopy(c) for c in after.get(index, [])] if keep_added else []
        for cell in kept:
            cell.metadata.pop("nbgrader", None)
        return kept

    cells = added(-1)
    for index, cell in enumerate(course_cells):
        if is_solution(cell):
            if index not in answered:
                continue
            cell = copy.deepcopy(cell)
            cell.source = answered[index].source
        else:
            cell = copy.deepcopy(cell)
        if not only_needed or cell.cell_type != "code" or runs_when_graded(cell):
            cells.append(cell)
        cells += added(index)
    return cells


def record_course_cells(nb) -> None:
    """Record the release's code cells in its metadata (their source, and their nbgrader metadata; an answer cell
    by its metadata only), so that `make check` can rebuild the graded run without the course's own copy."""
    nb.metadata.setdefault(METADATA_KEY, {})["course_cells"] = [
        {"nbgrader": c.metadata["nbgrader"]} if is_solution(c) else
        {"source": c.source, **{k: c.metadata[k] for k in ("nbgrader", "tags") if k in c.metadata}}
        for c in nb.cells if c.cell_type == "code"]


def as_graded(nb) -> None:
    """Turn the student's notebook `nb` into what the grader runs (see graded_cells), from the record the release
    left in its metadata (every course cell, so that the public checks have their data). A notebook without the
    record is kept as it is."""
    from nbformat.v4 import new_code_cell

    recorded = nb.metadata.get(METADATA_KEY, {}).get("course_cells")
    if recorded is None:
        return
    course = [new_code_cell(entry.get("source", ""), metadata={k: entry[k] for k in ("nbgrader", "tags") if k in entry})
              for entry in recorded]
    nb.cells = graded_cells(course, [c for c in nb.cells if c.cell_type == "code"])


def _error(outputs) -> tuple[str, str] | None:
    for out in outputs:
        if out.get("output_type") == "error":
            return out.get("ename", ""), str(out.get("evalue", ""))
    return None


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, and not the student's answer (nbgrader's own rule)."""
    return bool(is_grade(cell)) and not is_solution(cell)


def cell_results(nb) -> list[dict]:
    """One dict per graded test cell of an executed notebook: grade_id, points, status, message."""
    rows = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not is_test_cell(cell):
            continue
        if cell.get("execution_count") is None and not cell.get("outputs"):
            status, message = NOT_RUN, "an earlier cell stopped the notebook"
        else:
            err = _error(cell.get("outputs", []))
            if err is None:
                status, message = PASSED, ""
            elif err[0] == "NotImplementedError":
                status, message = OPEN, "the exercise still raises NotImplementedError"
            else:
                status, message = FAILED, f"{err[0]}: {err[1].strip().splitlines()[0] if err[1].strip() else ''}"
        rows.append({"grade_id": meta.get("grade_id", "?"), "points": meta.get("points", 0), "status": status,
                     "message": message})
    return rows


def run_notebook(path: Path, timeout: int = 600) -> tuple[list[dict], list[str]]:
    """Execute a copy of the notebook at `path` (quick mode) as the grader does (see as_graded); return its
    `cell_results` and a warning for each answer that reads a name the graded run does not define."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="cutmix-check-") as tmp:
        work = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        nb = nbformat.read(work / path.name, as_version=4)
        as_graded(nb)
        warnings = [f"your answer {gid!r} reads {', '.join(names)}, which the graded run does not define (it runs "
                     "the set-up cell and your answers only): pass it in or define it in the answer"
                     for gid, names in names_missing_when_graded(nb.cells).items()]
        with environment.overridden(environment.QUICK, "1"):
            # the kernel's log level: its warning about TCP on localhost, once per notebook, read as a fault
            NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                           extra_arguments=["--IPKernelApp.log_level=ERROR"],
                           resources={"metadata": {"path": str(work)}}).execute()
    return cell_results(nb), warnings


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cutmix_course check",
                                description="Run your notebooks (quick mode, on a copy) and list every public check.")
    p.add_argument("paths", nargs="*", default=["notebooks/cutout_cutmix"],
                   help="notebooks or folders of notebooks (default: %(default)s)")
    args = p.parse_args(argv)
    notebooks = []
    for arg in args.paths:
        path = Path(arg)
        if path.is_dir():
            notebooks.extend(sorted(path.glob("[0-9]*.ipynb")))
        elif path.suffix == ".ipynb" and path.is_file():
            notebooks.append(path)
        else:
            print(f"check: expected a notebook (.ipynb) or a folder of them, got {arg!r} (not found)", file=sys.stderr)
            return 2
    if not notebooks:
        print(f"check: no notebooks (NN_name.ipynb) in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    counts = {PASSED: 0, OPEN: 0, FAILED: 0, NOT_RUN: 0}
    for nb_path in notebooks:
        print(f"{nb_path.name}", flush=True)
        rows, warnings = run_notebook(nb_path)
        for line in warnings:
            print(f"  warning: {line}", flush=True)
        for row in rows:
            counts[row["status"]] += 1
            detail = f"  ({row['message']})" if row["message"] and row["status"] != OPEN else ""
            print(f"  {row['grade_id']:<28} {row['status']}{detail}", flush=True)
    print(f"\n{counts[PASSED]} passed, {counts[OPEN]} not answered yet, {counts[FAILED]} failed, "
          f"{counts[NOT_RUN]} not run. The grade comes from hidden tests on other inputs when your notebooks are "
          "graded.")
    if counts[FAILED] or counts[NOT_RUN]:
        print("Exit status 1: a check failed or did not run; its line above says what it found.")
        return 1
    return 0  # exercises not answered yet are work still to do, not a fault of the check
