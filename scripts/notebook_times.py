r"""How long each notebook's default run takes: every code cell in order, in one IPython process per notebook, in a
copy of the instructor's notebooks (the cells' compute time, Python and torch start-up included, without Jupyter's
messaging), not in quick mode.

    .venv/bin/python scripts/notebook_times.py synthetic \
        01_dataset,02_cutout,03_cutmix,04_training,05_prediction_trace,06_quiz
    .venv/bin/python scripts/notebook_times.py npz:../shared/data/cifar10/cifar10_test_jpeg.npz \
        01_dataset,03_cutmix,04_training,05_prediction_trace

The first argument is the data setting (CUTMIX_DATASET). Notebook 5 is timed twice when it is listed: after notebook
4 (reusing its saved model) and again with no saved models (it trains one).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions" / "cutout_cutmix"


def run_cells(notebook: Path, env: dict, timeout=None) -> subprocess.CompletedProcess:
    """Run every code cell of `notebook`, in order, in one IPython process in the notebook's folder (no Jupyter
    messaging: tests/e2e/test_photos.py uses it too, since nbclient now and then waits out a cell's timeout under
    load)."""
    nb = nbformat.read(notebook, as_version=4)
    script = notebook.with_suffix(".py")
    script.write_text("\n\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    return subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--quick", str(script)], cwd=notebook.parent,
                          env=env, capture_output=True, text=True, timeout=timeout)


def main(setting: str, names: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="notebook-times-"))
    shutil.copytree(SOLUTIONS, folder, dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CUTMIX_QUICK", "NBGRADER_EXECUTION", "CUTMIX_STUDENT")}
    env.update(CUTMIX_DATASET=setting, CUTMIX_TRAINED=str(folder / "trained"), MPLBACKEND="Agg")

    def run(name: str, tag: str = "") -> None:
        start = time.perf_counter()
        p = run_cells(folder / f"{name}.ipynb", env)
        notes = [line for line in p.stdout.splitlines()
                 if any(k in line for k in ("reusing", "trained a new", "per epoch", "data:"))]
        print(f"{name}{tag}: {time.perf_counter() - start:.0f} s, exit code {p.returncode}", *notes, sep="\n    ",
              flush=True)
        if p.returncode:
            print(p.stdout[-2000:], p.stderr[-2000:])

    for name in names:
        run(name)
    if "05_prediction_trace" in names:
        shutil.rmtree(folder / "trained", ignore_errors=True)
        run("05_prediction_trace", " (no saved models)")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
