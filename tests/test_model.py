"""Tests of cutmix_course.model: the course CNN, its prediction-trace stages and seeded initialisation."""
from __future__ import annotations

import pytest
import torch

from cutmix_course.model import STAGES, CourseCNN, count_parameters, make_model


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
    conv, pooled = shapes["convolution"], shapes["pooling"]
    assert len(conv) == 4 and conv[0] == 3 and conv[1] == model.widths[-1]
    # pooling keeps the channels and shrinks the feature maps
    assert pooled[:2] == conv[:2] and pooled[2] < conv[2] and pooled[3] < conv[3]
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


def test_widths_set_the_channels_and_the_size_of_the_model():
    small, large = make_model(widths=(8, 16, 32)), make_model(widths=(16, 32, 64))
    assert small.trace(images(1))[1].shape[1] == 32
    assert count_parameters(small) < count_parameters(large)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 0}, "num_classes"),
    ({"widths": (8, 16)}, "widths"),
    ({"widths": (8, 16, 0)}, "widths"),
    ({"widths": (8, 16, 2.5)}, "widths"),
    ({"image_size": 30}, "image_size"),
])
def test_bad_arguments_are_rejected_with_the_argument_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CourseCNN(**kwargs)


def test_trace_rejects_uint8_and_wrong_shapes():
    model = make_model(seed=0)
    with pytest.raises(TypeError, match="floating-point"):
        model.trace(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="x must have shape"):
        model.trace(torch.zeros(32, 32))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model.trace([[0.0]])
