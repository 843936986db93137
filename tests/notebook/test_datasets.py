"""The notebooks' data setting (cutmix_course.notebook.datasets): "auto", $CUTMIX_DATASET, photos or the shapes."""
from pathlib import Path

import pytest
import torch

from cutmix_course.core import data as D
from cutmix_course.notebook import datasets, environment

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10"


def test_the_default_cifar_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CUTMIX_COURSE_DATA", str(tmp_path / "mine"))
    assert datasets.default_cifar_root() == tmp_path / "mine"
    monkeypatch.delenv("CUTMIX_COURSE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.default_cifar_root() == tmp_path / ".cache" / "cutmix_course"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No grader, no $CUTMIX_DATASET, an empty course data folder."""
    for name in ("NBGRADER_EXECUTION", "CUTMIX_STUDENT", environment.DATASET):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUTMIX_COURSE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_auto_without_photos_is_the_embedded_set_with_one_line_saying_how_to_get_them(clean_env, capsys):
    name, why = datasets.resolve_setting("auto")
    assert name == "synthetic"
    assert str(clean_env) in why and "python -m cutmix_course photos --download" in why and "cifar10:FOLDER" in why
    ds = datasets.course_data("auto", n_train=20, n_test=10)
    out = capsys.readouterr().out
    assert ds.name == "synthetic" and out.count("\n") == 1 and out.startswith("data: the embedded shapes")


def test_auto_finds_cifar10_in_the_course_folder_and_never_downloads(clean_env):
    (clean_env / "cifar-10-batches-py").mkdir(parents=True)
    assert datasets.resolve_setting("auto") == ("cifar10", f"data: CIFAR-10 photographs from {clean_env}")


def test_the_environment_variable_sets_every_notebook_but_a_notebook_setting_wins(clean_env, monkeypatch):
    monkeypatch.setenv(environment.DATASET, "npz:/somewhere/photos.npz")
    assert datasets.resolve_setting("auto") == ("npz:/somewhere/photos.npz",
                                                "data: npz:/somewhere/photos.npz (set by $CUTMIX_DATASET)")
    assert datasets.resolve_setting("synthetic")[0] == "synthetic"


@pytest.mark.parametrize("env", ["NBGRADER_EXECUTION", "CUTMIX_STUDENT"])
def test_graded_runs_always_use_the_embedded_set(clean_env, monkeypatch, env):
    monkeypatch.setenv(env, "1")
    monkeypatch.setenv(environment.DATASET, "cifar10")
    (clean_env / "cifar-10-batches-py").mkdir(parents=True)
    for setting in ("auto", "cifar10", "npz:/x.npz"):
        assert datasets.resolve_setting(setting)[0] == "synthetic"


def test_a_bad_setting_says_what_was_expected_and_what_came(clean_env, monkeypatch):
    with pytest.raises(ValueError, match=r"DATASET = 'photos': expected one of \('auto', 'synthetic'"):
        datasets.resolve_setting("photos")
    monkeypatch.setenv(environment.DATASET, "imagenet")
    with pytest.raises(ValueError, match=r"\$CUTMIX_DATASET = 'imagenet'"):
        datasets.resolve_setting("auto")
    with pytest.raises(TypeError, match="DATASET must be a string"):
        datasets.resolve_setting(None)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        datasets.course_data(f"cifar10:{clean_env / 'nothing here'}", n_train=10, n_test=10)


@pytest.mark.skipif(not (SHARED / "cifar10_test_jpeg.npz").is_file(), reason="shared CIFAR-10 copy not present")
def test_photos_through_the_setting_give_the_course_sizes_balanced(clean_env, monkeypatch, capsys):
    monkeypatch.setenv(environment.DATASET, f"npz:{SHARED / 'cifar10_test_jpeg.npz'}")
    ds = datasets.course_data()
    assert D.is_photos(ds) and ds.classes == D.CIFAR10_CLASSES
    assert ds.train_images.shape == (5000, 3, 32, 32) and ds.test_images.shape == (1000, 3, 32, 32)
    assert torch.bincount(ds.test_labels).tolist() == [100] * 10
    assert "classes airplane, automobile" in capsys.readouterr().out
    assert not D.is_photos(D.make_synthetic(10, 10))
