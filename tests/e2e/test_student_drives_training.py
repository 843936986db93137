"""Notebook 4 trains with the student's own Cutout and CutMix: a deliberate bug in notebook 2's cutout_batch (a 16-px
square where the contract says `size`, 8) shows in notebook 4's data-flow row, and the line before the training says
whose functions it uses. Quick mode; the notebooks run in a copy of the instructor's folder."""
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import kernel_timeouts as kt

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / "cutout_cutmix"

pytestmark = pytest.mark.slow


def run_notebook_4(folder: Path) -> tuple[str, float]:
    """(the printed note on whose augmentations train, the hidden share of the data-flow row) of notebook 4."""
    nb = nbformat.read(folder / "04_training.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "CUTMIX_STUDENT")}
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update({**env, "CUTMIX_QUICK": "1"})
    try:
        NotebookClient(nb, timeout=kt.NBVAL_CELL, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    cells = {c.get("id"): c for c in nb.cells}
    note = "".join(o.get("text", "") for o in cells["04-12"].outputs)
    table = "".join(o.get("data", {}).get("text/markdown", "") for o in cells["04-flow-table"].outputs)
    share = float(re.search(r"([\d.]+)% of pixels hidden", table).group(1)) / 100
    return note, share


def test_a_bug_in_the_students_cutout_shows_in_the_training_notebook(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    shutil.copytree(SOLUTIONS, good)
    shutil.copytree(SOLUTIONS, bad)
    nb = nbformat.read(bad / "02_cutout.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cutout_batch")
    cell.source = cell.source.replace("    b, _, h, w = images.shape\n",
                                      "    size = 2 * size  # the bug: a 16-px square for size=8\n"
                                      "    b, _, h, w = images.shape\n", 1)
    assert "the bug" in cell.source
    nbformat.write(nb, bad / "02_cutout.ipynb")

    note_good, share_good = run_notebook_4(good)
    note_bad, share_bad = run_notebook_4(bad)
    assert "training with your cutout_batch from 02_cutout.ipynb" in note_good
    assert "training with your cutmix_batch from 03_cutmix.ipynb" in note_good
    assert "training with your cutout_batch" in note_bad  # the bug does not break it: it trains with it
    # an 8x8 square hides at most 64 of 1024 pixels per image (6.25%); the buggy 16x16 one up to 25%
    assert 0.03 < share_good <= 0.0625 < 0.12 < share_bad <= 0.25, (share_good, share_bad)
