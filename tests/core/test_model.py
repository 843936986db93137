"""Tests of cutmix_course.core.model: the course CNN, its prediction-trace stages and seeded initialisation."""
from __future__ import annotations

import pytest
import torch

from cutmix_course.core.model import DEFAULT_WIDTHS, STAGES, CourseCNN, PatchWhitening, count_parameters, make_model


def images(b: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_forward_gives_one_logit_per_class():
    model = make_model(num_classes=7, seed=0)
    assert model(images(5)).shape == (5, 7)


def test_trace_has_the_six_stages_in_order_with_consistent_shapes():
    model = make_model(seed=0)
    x = images(3)
    stages = model.trace(x)
    assert [s.name for s in stages] == list(STAGES) == [
        "input", "convolution", "pooling", "fully connected", "softmax", "prediction"]
    shapes = {s.name: s.shape for s in stages}
    assert shapes["input"] == (3, 3, 32, 32)
    # one 2x2 max-pooling between consecutive conv blocks: 32 -> 16 -> 8 -> 4 with the four default widths
    assert shapes["convolution"] == (3, DEFAULT_WIDTHS[-1], 4, 4)
    assert shapes["pooling"] == (3, DEFAULT_WIDTHS[-1], 1, 1)  # global max-pooling
    assert shapes["fully connected"] == shapes["softmax"] == (3, 10)
    assert shapes["prediction"] == (3,)


def test_trace_agrees_with_forward_and_softmax_is_a_distribution():
    model = make_model(seed=1)
    x = images(6, seed=2)
    stages = {s.name: s.activation for s in model.trace(x)}
    model.eval()
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(stages["fully connected"], logits)
    probs = stages["softmax"]
    torch.testing.assert_close(probs.sum(1), torch.ones(6))
    assert (probs >= 0).all()
    assert torch.equal(stages["prediction"], logits.argmax(1))
    assert torch.equal(stages["input"], x)


def test_trace_keeps_the_training_mode_and_does_not_track_gradients():
    model = make_model(seed=0).train()
    stages = model.trace(images(2))
    assert model.training
    assert not any(s.activation.requires_grad for s in stages)
    model.eval()
    model.trace(images(2))
    assert not model.training


def test_trace_accepts_a_single_image():
    stages = make_model(seed=0).trace(images(1)[0])
    assert stages[0].shape == (1, 3, 32, 32) and stages[-1].shape == (1,)


def test_make_model_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = make_model(seed=5), make_model(seed=5), make_model(seed=6)
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_widths_set_the_blocks_channels_and_the_size_of_the_model():
    small, large = make_model(widths=(8, 16, 32)), make_model(widths=(16, 32, 64))
    assert small.trace(images(1))[1].shape == (1, 32, 8, 8)  # three blocks: 32 -> 16 -> 8
    assert make_model(widths=[8]).trace(images(1))[1].shape == (1, 8, 32, 32)  # a list is fine too
    assert count_parameters(small) < count_parameters(large)


def test_global_max_pooling_is_the_maximum_of_each_feature_map():
    stages = make_model(seed=3).trace(images(2))
    conv, pooled = stages[1].activation, stages[2].activation
    torch.testing.assert_close(pooled, conv.amax(dim=(2, 3), keepdim=True))


# ---------------------------------------------------------------------------------------------- whitening
def patches_2x2(x: torch.Tensor) -> torch.Tensor:
    """All 2x2 patches of x (N, C, H, W) as rows (C*2*2 values in (c, dy, dx) order), straight from the pixels."""
    rows = [x[:, :, dy:dy + x.shape[2] - 1, dx:dx + x.shape[3] - 1] for dy in range(2) for dx in range(2)]
    stacked = torch.stack(rows, dim=2)  # (N, C, 4, H-1, W-1)
    return stacked.permute(0, 3, 4, 1, 2).reshape(-1, x.shape[1] * 4)


def test_fitted_whitening_decorrelates_the_patches_of_the_images_it_was_fitted_on():
    g = torch.Generator().manual_seed(0)
    # correlated pixels: a smooth random field plus a little noise, like images
    smooth = torch.nn.functional.interpolate(torch.randn(64, 3, 8, 8, generator=g), size=32, mode="bilinear")
    x = (smooth + 0.1 * torch.randn(64, 3, 32, 32, generator=g)).double()
    layer = PatchWhitening(3, eps=0.0).double().fit(x, chunk=10)  # chunks must not change the result
    weight = layer.conv.weight  # (24, 3, 2, 2): 12 filters and their negatives
    assert weight.shape == (24, 3, 2, 2) and not weight.requires_grad
    torch.testing.assert_close(weight[12:], -weight[:12])
    p = patches_2x2(x)
    responses = p @ weight[:12].reshape(12, -1).T  # the filters applied to every patch (no bias)
    second_moment = responses.T @ responses / responses.shape[0]
    torch.testing.assert_close(second_moment, torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)


def test_whitening_keeps_the_image_size_and_only_its_bias_learns():
    model = make_model(seed=0)
    assert isinstance(model.whitening, PatchWhitening)
    assert model.whitening(images(2)).shape == (2, 24, 32, 32)
    assert not model.whitening.conv.weight.requires_grad and model.whitening.conv.bias.requires_grad
    assert make_model(seed=0, whiten=False).whitening is None


def test_make_model_fits_the_whitening_to_fit_images():
    x = images(20, seed=4)
    fitted, unfitted = make_model(seed=0, fit_images=x), make_model(seed=0)
    assert not torch.equal(fitted.whitening.conv.weight, unfitted.whitening.conv.weight)
    refit = PatchWhitening(3).fit(x)
    torch.testing.assert_close(fitted.whitening.conv.weight, refit.conv.weight)


def test_whitening_fit_rejects_bad_images():
    layer = PatchWhitening(3)
    with pytest.raises(TypeError, match="floating-point"):
        layer.fit(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="3 channels"):
        layer.fit(torch.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 0}, "num_classes"),
    ({"widths": ()}, "widths"),
    ({"widths": 64}, "widths"),
    ({"widths": (8, 16, 0)}, "widths"),
    ({"widths": (8, 16, 2.5)}, "widths"),
    ({"image_size": 28}, "image_size"),  # four blocks halve 3 times: a multiple of 8 is needed
])
def test_bad_arguments_are_rejected_with_the_argument_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CourseCNN(**kwargs)


def test_whiten_must_be_a_bool():
    with pytest.raises(TypeError, match="whiten"):
        CourseCNN(whiten="yes")


def test_trace_rejects_uint8_and_wrong_shapes():
    model = make_model(seed=0)
    with pytest.raises(TypeError, match="floating-point"):
        model.trace(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="x must have shape"):
        model.trace(torch.zeros(32, 32))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model.trace([[0.0]])
