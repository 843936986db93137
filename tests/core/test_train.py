"""Tests of cutmix_course.core.train: the training loop, its history, evaluation and the occlusion functions.

Training runs use a tiny slice of the embedded data set and a narrow network so the whole file stays fast.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from cutmix_course.core.augment import cutout
from cutmix_course.core.data import DataSplit, make_synthetic
from cutmix_course.core.train import (
    AUGMENTATIONS,
    History,
    TrainConfig,
    evaluate,
    occlude,
    occlusion_robustness,
    recipe,
    train,
)

TINY = dict(widths=(8, 16, 32), eval_train_size=100, batch_size=50)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(200, 100, seed=0)


@pytest.fixture(scope="module")
def run(data):
    """One short baseline run shared by several tests: (model, history)."""
    return train(data, epochs=6, progress=False, device="cpu", seed=0, **TINY)


# ---------------------------------------------------------------------------------------------- training
def test_training_loss_falls_and_the_history_has_one_record_per_epoch(run):
    model, hist = run
    assert [e["epoch"] for e in hist.epochs] == list(range(1, 7))
    assert all(set(e) == set(History.EPOCH_KEYS) for e in hist.epochs)
    losses = hist.column("train_loss")
    assert losses[-1] < 0.8 * losses[0], losses
    assert hist.final["clean_train_acc"] > 0.2  # well above chance (0.1) on the images it trained on
    assert not model.training  # returned ready for evaluation


@pytest.mark.parametrize("augment", ["cutout", "cutmix", "cutout+cutmix"])
def test_every_augmentation_trains_and_records_finite_numbers(data, augment):
    _, hist = train(data, augment=augment, epochs=1, progress=False, device="cpu", **TINY)
    e = hist.final
    assert all(torch.isfinite(torch.tensor(float(e[k]))) for k in History.EPOCH_KEYS)
    assert 0 <= e["test_acc"] <= 1 and 0 <= e["train_acc"] <= 1 and e["seconds"] > 0


def test_training_is_deterministic_for_a_seed(data):
    runs = [train(data, augment="cutmix", epochs=2, progress=False, device="cpu", seed=3, flip=True,
                  crop_padding=2, **TINY) for _ in range(2)]
    (m1, h1), (m2, h2) = runs
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h.epochs]  # noqa: E731
    assert strip(h1) == strip(h2)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    _, h3 = train(data, augment="cutmix", epochs=2, progress=False, device="cpu", seed=4, flip=True,
                  crop_padding=2, **TINY)
    assert strip(h3) != strip(h1)


def test_on_epoch_sees_each_record_and_overrides_reach_the_config(data):
    seen = []
    _, hist = train(data, TrainConfig(epochs=3, lr=0.01), progress=False, device="cpu", on_epoch=seen.append,
                    epochs=2, **TINY)
    assert seen == hist.epochs and len(seen) == 2
    assert hist.config["epochs"] == 2 and hist.config["lr"] == 0.01 and tuple(hist.config["widths"]) == (8, 16, 32)


def test_history_round_trips_through_json(run, tmp_path):
    _, hist = run
    path = hist.save(tmp_path / "sub" / "history.json")
    again = History.load(path)
    assert again.epochs == hist.epochs and again.classes == hist.classes and again.dataset == hist.dataset
    assert again.config == json.loads(hist.to_json())["config"]
    assert History.from_json(again.to_json()) == again


def test_history_rejects_json_that_is_not_a_history():
    with pytest.raises(ValueError, match="missing keys"):
        History.from_json(json.dumps({"config": {}, "epochs": []}))


def test_evaluate_matches_a_direct_computation(run, data):
    model, hist = run
    x, y = data.normalize(data.test_images), data.test_labels
    loss, acc = evaluate(model, x, y, batch_size=33)  # batch size not dividing N
    with torch.no_grad():
        logits = model(x)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-4)
    assert acc == pytest.approx(hist.final["test_acc"])


def test_flip_evaluation_averages_the_logits_of_each_image_and_its_mirror(run, data):
    model, _ = run
    x, y = data.normalize(data.test_images), data.test_labels
    with torch.no_grad():
        logits = (model(x) + model(x.flip(3))) / 2
    loss, acc = evaluate(model, x, y, batch_size=33, flip=True)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-4)


def test_training_fits_the_whitening_once_and_never_changes_its_filters(data):
    model, hist = train(data, epochs=1, progress=False, device="cpu", **TINY)
    x = data.normalize(data.train_images)
    from cutmix_course.core.model import PatchWhitening
    fitted = PatchWhitening(3).fit(x).conv.weight  # what the filters were fitted to, before any step
    torch.testing.assert_close(model.whitening.conv.weight, fitted)
    assert hist.config["whiten"] is True
    plain, _ = train(data, epochs=1, progress=False, device="cpu", whiten=False, **TINY)
    assert plain.whitening is None


def test_tta_flip_is_recorded_and_used_for_the_test_accuracy(data):
    model, hist = train(data, epochs=1, progress=False, device="cpu", tta_flip=True, **TINY)
    x, y = data.normalize(data.test_images), data.test_labels
    assert hist.final["test_acc"] == pytest.approx(evaluate(model, x, y, flip=True)[1])
    assert occlusion_robustness(model, data, sizes=(0,), flip=True)[0] == pytest.approx(hist.final["test_acc"])


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("overrides, match", [
    ({"augment": "mixup"}, "augment must be one of"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"cutout_size": 0}, "cutout_size"),
    ({"cutmix_alpha": 0.0}, "cutmix_alpha"),
    ({"cutmix_p": 1.5}, "cutmix_p"),
    ({"label_smoothing": -0.1}, "label_smoothing"),
    ({"crop_padding": -1}, "crop_padding"),
    ({"weight_decay": -0.5}, "weight_decay"),
    ({"weight_decay": float("nan")}, "weight_decay"),
    ({"momentum": 1.0}, "momentum"),
])
def test_bad_config_is_rejected_before_training(overrides, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**overrides)


@pytest.mark.parametrize("name", ["flip", "per_sample", "whiten", "tta_flip"])
def test_switches_must_be_bools(name):
    with pytest.raises(TypeError, match=name):
        TrainConfig(**{name: "yes"})


def test_train_rejects_bad_data_and_unknown_overrides(data):
    with pytest.raises(TypeError, match="DataSplit"):
        train((data.train_images, data.train_labels), progress=False)
    with pytest.raises(TypeError, match="no_such_option"):
        train(data, progress=False, no_such_option=1)
    with pytest.raises(ValueError, match="augment must be one of"):
        train(data, progress=False, augment="erase")


def test_augmentations_listed():
    assert AUGMENTATIONS[:3] == ("none", "cutout", "cutmix")


# ---------------------------------------------------------------------------------------------- occlusion
def test_center_occlusion_covers_exactly_the_central_square():
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) + 5  # no pixel is 0 by chance
    out = occlude(x, 8, "center")
    hidden = (out == 0).all(1)  # (B, H, W)
    expected = torch.zeros(32, 32, dtype=torch.bool)
    expected[12:20, 12:20] = True
    assert all(torch.equal(h, expected) for h in hidden)
    assert torch.equal(out[:, :, ~expected], x[:, :, ~expected])
    odd = (occlude(x, 5, "center", fill=-1.0) == -1).all(1)[0]
    rows, cols = odd.any(1).nonzero().squeeze(1), odd.any(0).nonzero().squeeze(1)
    assert rows.tolist() == cols.tolist() == list(range(13, 18)) and int(odd.sum()) == 25
    assert (occlude(x, 32, "center") == 0).all()


def test_random_occlusion_is_cutout_with_the_same_generator():
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    a = occlude(x, 12, "random", generator=torch.Generator().manual_seed(7))
    b = cutout(x, 12, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, x)


def test_size_zero_leaves_the_images_unchanged():
    x = torch.randn(2, 3, 32, 32)
    for where in ("center", "random"):
        assert torch.equal(occlude(x, 0, where), x)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": -1}, "size must be an integer >= 0"),
    ({"size": 2.5}, "size must be an integer >= 0"),
    ({"size": 33}, "size must be at most"),
    ({"size": 4, "where": "corner"}, "where must be 'center' or 'random'"),
])
def test_occlude_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        occlude(torch.zeros(1, 3, 32, 32), **kwargs)


def test_occlusion_robustness_is_clean_accuracy_at_size_zero_and_deterministic(run, data):
    model, hist = run
    sizes = (0, 8, 32)
    center = occlusion_robustness(model, data, sizes=sizes, where="center")
    assert list(center) == list(sizes)
    assert center[0] == pytest.approx(hist.final["test_acc"])
    x_all_hidden = data.normalize(data.test_images) * 0
    assert center[32] == pytest.approx(evaluate(model, x_all_hidden, data.test_labels)[1])
    rand1 = occlusion_robustness(model, data, sizes=(16,), where="random", seed=1)
    assert rand1 == occlusion_robustness(model, data, sizes=(16,), where="random", seed=1)


def test_a_run_of_a_single_optimiser_step_trains():
    """One epoch of at most one batch: warm-up and decay have one step between them (it divided 0 by 0)."""
    small = make_synthetic(100, 20, seed=5)
    _, history = train(small, epochs=1, widths=(8, 8, 8, 8), eval_train_size=20, progress=False)
    assert len(history.epochs) == 1 and math.isfinite(history.final["train_loss"])


def test_the_photo_recipe_is_used_for_photographs_only(data):
    assert recipe(data) == {}
    photos = DataSplit("npz:photos.npz", data.train_images, data.train_labels, data.test_images, data.test_labels,
                       data.classes)
    assert recipe(photos) == {"flip": True, "crop_padding": 2, "tta_flip": True}
    TrainConfig(**recipe(photos))  # every key is a training option


def test_the_given_loss_is_the_one_the_training_minimises(data):
    from cutmix_course.core.augment import soft_target_cross_entropy

    seen = []

    def counted(logits, targets):
        seen.append(targets.shape)
        return soft_target_cross_entropy(logits, targets)

    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h.epochs]  # noqa: E731
    _, default = train(data, augment="cutmix", epochs=2, progress=False, device="cpu", **TINY)
    _, given = train(data, augment="cutmix", epochs=2, progress=False, device="cpu", loss_fn=counted, **TINY)
    assert strip(given) == strip(default) and seen == [(50, data.num_classes)] * 8  # 200 images, batches of 50
    _, flat = train(data, epochs=2, progress=False, device="cpu", **TINY,
                    loss_fn=lambda logits, targets: 0 * soft_target_cross_entropy(logits, targets))
    assert flat.column("train_loss") == [0.0, 0.0] and flat.final["test_acc"] < default.final["test_acc"]
