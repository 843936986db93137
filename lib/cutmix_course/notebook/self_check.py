"""`python -m cutmix_course check`: run a student's notebooks and list every public check (the student's `make check`).

Each notebook runs top to bottom in a fresh Jupyter kernel, in quick mode (`CUTMIX_QUICK=1`: small data, two
epochs), on a copy in a temporary folder, so the student's files are never touched. Every graded test cell (nbgrader
metadata `grade: true`) is then one line: passed, not answered yet (the stub's `NotImplementedError` reached it), or
failed with the first line of what the check said. The grade itself comes from hidden tests when the notebook is
graded; these are the same public checks the notebook's cells run.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from nbgrader.utils import is_grade, is_solution

from . import environment

PASSED, OPEN, FAILED, NOT_RUN = "passed", "not answered yet", "failed", "not run"


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


def run_notebook(path: Path, timeout: int = 600) -> list[dict]:
    """Execute a copy of the notebook at `path` (quick mode) and return its `cell_results`."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="cutmix-check-") as tmp:
        work = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        nb = nbformat.read(work / path.name, as_version=4)
        with environment.overridden(environment.QUICK, "1"):
            NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                           resources={"metadata": {"path": str(work)}}).execute()
    return cell_results(nb)


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
        for row in run_notebook(nb_path):
            counts[row["status"]] += 1
            detail = f"  ({row['message']})" if row["message"] and row["status"] != OPEN else ""
            print(f"  {row['grade_id']:<28} {row['status']}{detail}", flush=True)
    print(f"\n{counts[PASSED]} passed, {counts[OPEN]} not answered yet, {counts[FAILED]} failed, "
          f"{counts[NOT_RUN]} not run. The grade comes from hidden tests on other inputs when your notebooks are "
          "graded.")
    return 0 if counts[PASSED] and not (counts[OPEN] or counts[FAILED] or counts[NOT_RUN]) else 1
