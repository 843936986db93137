"""Saved runs (cutmix_course.notebook.saved_models): notebook 4's models reused by notebook 5 only while the data and
the code that trained them are unchanged, trained afresh (and said why) otherwise, never loaded or saved while a
grader runs."""
import pytest
import torch

from cutmix_course.core.data import make_synthetic
from cutmix_course.core.train import predict_logits, train
from cutmix_course.notebook import environment, saved_models

SMALL = dict(epochs=1, widths=(8, 16, 16, 16), eval_train_size=50, progress=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(120, 40, seed=3)


@pytest.fixture(scope="module")
def trained(data):
    return train(data, augment="cutout", **SMALL)


@pytest.fixture(autouse=True)
def not_grading(monkeypatch):
    for name in ("NBGRADER_EXECUTION", "CUTMIX_STUDENT"):
        monkeypatch.delenv(name, raising=False)


def test_a_saved_run_comes_back_with_the_same_predictions_and_history(tmp_path, data, trained):
    model, history = trained
    code = saved_models.code_hash("reference", "reference")
    path = saved_models.save(model, history, data, code, "Cutout", tmp_path)
    assert path == tmp_path / "Cutout.pt" and path.is_file()
    again, hist, why = saved_models.load(data, code, "Cutout", tmp_path)
    assert why is None
    x = data.normalize(data.test_images)
    assert torch.equal(predict_logits(again, x), predict_logits(model, x))  # the whitening layer came back too
    assert hist.to_json() == history.to_json()


def test_the_code_hash_covers_the_student_augmentations():
    assert saved_models.code_hash("reference", "reference") == saved_models.code_hash("reference", "reference")
    assert saved_models.code_hash("def cutout_batch(): ...", "reference") != \
        saved_models.code_hash("reference", "reference")
    assert saved_models.code_hash("a", "b") != saved_models.code_hash("b", "a")


def test_stale_or_missing_runs_are_not_loaded_and_say_why(tmp_path, data, trained):
    model, history = trained
    code = saved_models.code_hash("reference", "reference")
    assert "no saved Cutout model" in saved_models.load(data, code, "Cutout", tmp_path)[2]
    saved_models.save(model, history, data, code, "Cutout", tmp_path)
    got, _, why = saved_models.load(data, saved_models.code_hash("def cutout_batch(images, size): ...", "reference"),
                                    "Cutout", tmp_path)
    assert got is None and "trained by other code" in why
    other = make_synthetic(120, 40, seed=4)  # same sizes, other images: the digest tells them apart
    got, _, why = saved_models.load(other, code, "Cutout", tmp_path)
    assert got is None and "other data" in why
    (tmp_path / "Cutout.pt").write_bytes(b"not a checkpoint")
    got, _, why = saved_models.load(data, code, "Cutout", tmp_path)
    assert got is None and "could not be read" in why


def test_load_or_train_trains_once_then_reuses(tmp_path, data):
    code = saved_models.code_hash("reference", "reference")
    kwargs = dict(augment="none", **SMALL)
    m1, h1, note1 = saved_models.load_or_train(data, code, "baseline", tmp_path, **kwargs)
    assert note1.startswith("trained a new baseline model: no saved baseline model")
    m2, h2, note2 = saved_models.load_or_train(data, code, "baseline", tmp_path, **kwargs)
    assert note2.startswith("reusing notebook 4's baseline model (1 epochs")
    x = data.normalize(data.test_images)
    assert torch.equal(predict_logits(m1, x), predict_logits(m2, x)) and h1.epochs == h2.epochs


def test_while_grading_nothing_is_saved_and_a_submitted_file_is_never_loaded(tmp_path, data, trained, monkeypatch):
    model, history = trained
    code = saved_models.code_hash("reference", "reference")
    saved_models.save(model, history, data, code, "Cutout", tmp_path)  # as if it came with the submission
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert saved_models.save(model, history, data, code, "Other", tmp_path) is None
    assert not (tmp_path / "Other.pt").exists()
    _, _, note = saved_models.load_or_train(data, code, "Cutout", tmp_path, augment="cutout", **SMALL)
    assert note == "trained a new Cutout model: a grader is running this notebook: saved models are not used"


def test_the_folder_comes_from_the_environment(tmp_path, data, trained, monkeypatch):
    monkeypatch.setenv(environment.TRAINED, str(tmp_path / "elsewhere"))
    model, history = trained
    assert saved_models.save(model, history, data, "h", "CutMix") == tmp_path / "elsewhere" / "CutMix.pt"
    assert saved_models.save(model, history, data, "h", "Cutout→CutMix").name == "Cutout_CutMix.pt"
