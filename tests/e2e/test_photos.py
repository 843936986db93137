"""The course on photographs: with CUTMIX_DATASET pointing at the shared CIFAR-10 copy (the `npz:` loader, the course's
5000/1000 subset; quick mode), notebook 1 describes photographs, notebook 3 mixes a real cat with a real dog at
λ = 0.61, notebook 4 trains with the photo recipe and saves its models, and notebook 5 reuses notebook 4's Cutout model.
The notebooks run in a copy of the instructor's folder, in order, with one folder for saved models, each notebook's
code cells in one IPython process (scripts/notebook_times.run_cells, which also measures the README's times):
nbclient, on this loaded 2-core machine, now and then never saw an explorer cell finish and waited out its whole
timeout with the kernel idle."""
import os
import shutil
import sys
from pathlib import Path

import pytest

import kernel_timeouts as kt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_times import run_cells  # noqa: E402 - the same runner that measures the README's notebook times

SOLUTIONS = ROOT / "solutions" / "cutout_cutmix"
SHARED = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10_test_jpeg.npz"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED.is_file(), reason="shared CIFAR-10 copy not present")]


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    shutil.copytree(SOLUTIONS, folder, dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "CUTMIX_STUDENT")}
    env.update({"CUTMIX_QUICK": "1", "CUTMIX_DATASET": f"npz:{SHARED}", "CUTMIX_TRAINED": str(folder / "trained"),
                "MPLBACKEND": "Agg"})
    outputs = {}
    for name in ("01_dataset", "03_cutmix", "04_training", "05_prediction_trace"):
        p = run_cells(folder / f"{name}.ipynb", env, timeout=kt.NBVAL_RUN)
        assert p.returncode == 0 and "Traceback" not in p.stdout + p.stderr, p.stdout[-3000:] + p.stderr[-3000:]
        outputs[name] = p.stdout
    return folder, outputs


def test_notebook_1_loads_the_photographs_and_says_so(photo_run):
    _, out = photo_run
    assert f"data: npz:{SHARED} (set by $CUTMIX_DATASET): 5000 training and 1000 test images, classes airplane" \
        in out["01_dataset"]
    assert "'cat': 500" in out["01_dataset"] and "'disc'" not in out["01_dataset"]


def test_notebook_3_mixes_a_real_cat_and_dog_at_the_pages_label(photo_run):
    _, out = photo_run
    assert "λ = 1 − 400 / 1024 = 0.6094; the label of the mix: 0.61 cat + 0.39 dog" in out["03_cutmix"]


def test_notebook_4_trains_with_the_photo_recipe_and_saves_its_models(photo_run):
    folder, out = photo_run
    assert "training options beyond the course's recipe: {'flip': True, 'crop_padding': 2, 'tta_flip': True}" \
        in out["04_training"]
    assert sorted(p.name for p in (folder / "trained").glob("*.pt")) == \
        ["CutMix.pt", "Cutout.pt", "Cutout_CutMix.pt", "baseline.pt"]


def test_notebook_5_reuses_notebook_4s_cutout_model(photo_run):
    _, out = photo_run
    assert "reusing notebook 4's Cutout model (2 epochs" in out["05_prediction_trace"]
