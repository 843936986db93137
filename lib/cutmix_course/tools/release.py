"""The student release: `nbgrader generate_assignment` from solutions/ to notebooks/, plus two course rules.

nbgrader_config.py sets `GenerateAssignment.preprocessors = RELEASE_PREPROCESSORS`: nbgrader's own list with its
`ClearOutput` replaced by two preprocessors defined here, so that plain `nbgrader generate_assignment` (from the
command line, the formgrader or `python -m cutmix_course grade`) always makes the same release:

- `KeepCheckedOutputs` clears every output except those of cells tagged `nbval-check-output`: nbval compares
  exactly those cells with a fresh run, so their seeded outputs must travel into the release;
- `TagRaisingCells` tags `raises-exception` the cells of the release that raise while the student has not
  answered yet (the test cells and top-level stubs), so `pytest --nbval-lax notebooks/` runs clean. The
  solutions carry no such tag: there, nbval fails on any exception, including a failing test.

A third, `RecordCourseCells`, runs last: it writes the release's code cells into the notebook's metadata, so the
student's `make check` runs the course's cells as released and the answers, as the grader does.

`refresh_outputs` re-runs the instructor notebooks in quick mode and stores the outputs of the checked cells only
(run it after editing one of them: `python -m cutmix_course release --refresh-outputs`).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearOutput, NbGraderPreprocessor

from ..grading.course_folders import course_folders
from ..notebook import environment, paths
from ..notebook.paths import ASSIGNMENT
from ..notebook.self_check import is_test_cell, record_course_cells

CHECK_TAG = "nbval-check-output"
RAISES_TAG = "raises-exception"
_TOP_LEVEL_STUB = re.compile(r"^raise NotImplementedError\(\)\s*$", re.MULTILINE)


def _tags(cell) -> list:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def is_checked(cell) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


class KeepCheckedOutputs(ClearOutput):
    """nbgrader's ClearOutput, except for cells tagged nbval-check-output (their outputs are compared by nbval)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and is_checked(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


class TagRaisingCells(NbGraderPreprocessor):
    """Tag raises-exception the release's test cells and the solution cells whose stub raises at top level."""

    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta:
            test = is_test_cell(cell)
            stub = meta.get("solution") and _TOP_LEVEL_STUB.search(cell.source)
            if (test or stub) and RAISES_TAG not in _tags(cell):
                _tags(cell).append(RAISES_TAG)
        return cell, resources


class RecordCourseCells(NbGraderPreprocessor):
    """Record the release's code cells in its metadata (see notebook.self_check.as_graded)."""

    def preprocess(self, nb, resources):
        record_course_cells(nb)
        return nb, resources


def _release_preprocessors() -> list:
    out = []
    for pp in GenerateAssignment.class_traits()["preprocessors"].default():
        out += [KeepCheckedOutputs, TagRaisingCells] if pp is ClearOutput else [pp]
    if TagRaisingCells not in out:
        raise RuntimeError("nbgrader's GenerateAssignment no longer uses ClearOutput; "
                           "update cutmix_course.tools.release")
    return [*out, RecordCourseCells]


RELEASE_PREPROCESSORS = _release_preprocessors()


# ------------------------------------------------------------------------------------------------- commands
def nbgrader_command() -> list[str]:
    """nbgrader from the running interpreter's environment (so its kernels are this environment's Python)."""
    exe = Path(sys.executable).absolute().with_name("nbgrader")  # absolute: the commands run with another cwd
    return [str(exe)] if exe.exists() else [str(Path(sys.executable).absolute()), "-m", "nbgrader"]


def generate(root=None, release_directory: str | None = None, db_url: str | None = None,
             assignment: str = ASSIGNMENT) -> subprocess.CompletedProcess:
    """Run `nbgrader generate_assignment ASSIGNMENT --force` in the course root (config from its nbgrader_config.py).

    `release_directory` / `db_url` redirect the output and the gradebook (the tests use a temporary folder)."""
    root = Path(root or paths.course_root(required=True))
    cmd = [*nbgrader_command(), "generate_assignment", assignment, "--force"]
    if release_directory is not None:
        cmd.append(f"--CourseDirectory.release_directory={release_directory}")
    if db_url is not None:
        cmd.append(f"--CourseDirectory.db_url={db_url}")
    # nbgrader runs `alembic` (next to it) to create the gradebook, and its kernels from this environment
    bin_dir = str(Path(sys.executable).absolute().parent)
    env = {**os.environ, "PATH": environment.path_with(bin_dir)}
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def refresh_outputs(paths, timeout: int = 600) -> None:
    """Run each instructor notebook in quick mode; keep the outputs of nbval-check-output cells, clear the rest."""
    import nbformat
    from nbclient import NotebookClient

    with environment.overridden(environment.QUICK, "1"):
        for path in paths:
            path = Path(path)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            for cell in nb.cells:
                if cell.cell_type == "code" and not is_checked(cell):
                    cell.outputs, cell.execution_count = [], None
            nb.metadata.pop("widgets", None)
            nbformat.write(nb, path)
            print(f"refreshed checked outputs of {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutmix_course release",
                                     description="Regenerate the student notebooks from the instructor source "
                                                 "(nbgrader_config.py names both folders).")
    parser.add_argument("--refresh-outputs", action="store_true",
                        help="first re-run the solutions in quick mode and store the nbval-checked outputs")
    args = parser.parse_args(argv)
    folders = course_folders(paths.course_root(required=True))
    if args.refresh_outputs:
        refresh_outputs(sorted(folders.source().glob("*.ipynb")))
    result = generate(folders.root)
    sys.stdout.write(result.stdout)
    print(f"released {ASSIGNMENT} into {folders.release()}")
    return 0

