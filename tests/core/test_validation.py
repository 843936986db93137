"""Argument checks shared by the stages (cutmix_course.core.validate): non-finite numbers are rejected by name."""
from __future__ import annotations

import math

import pytest
import torch

from cutmix_course.core import augment as A
from cutmix_course.core import validate

IMG = torch.zeros(4, 3, 8, 8)
LAB = torch.arange(4)


@pytest.mark.parametrize("alpha", [math.inf, float("inf"), 1e400])
@pytest.mark.parametrize("call", [
    lambda a, g: A.cutmix(IMG, LAB, 4, alpha=a, generator=g),
    lambda a, g: A.cutmix(IMG, LAB, 4, alpha=a, per_sample=True, generator=g),
    lambda a, g: A.sample_lambda(a, 3, generator=g),
    lambda a, g: A.CutMix(num_classes=4, alpha=a, generator=g),
], ids=["cutmix", "cutmix per sample", "sample_lambda", "CutMix"])
def test_infinite_alpha_is_rejected_by_name_before_any_draw(call, alpha):
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    with pytest.raises(ValueError, match=r"^alpha must be a finite number > 0, got inf$"):
        call(alpha, g)
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("value, message", [
    (0.0, r"^lr must be a number > 0, got 0\.0$"),
    (-math.inf, r"^lr must be a number > 0, got -inf$"),
    (math.nan, r"^lr must be a number > 0, got nan$"),
    (math.inf, r"^lr must be a finite number > 0, got inf$"),
    ("1", r"^lr must be a number > 0, got '1'$"),
])
def test_positive_float_messages(value, message):
    with pytest.raises(ValueError, match=message):
        validate.positive_float(value, "lr")


def test_positive_float_accepts_finite_positive_numbers():
    assert validate.positive_float(1e-300, "x") == 1e-300 and validate.positive_float(3, "x") == 3.0


def test_class_labels_range_message_reports_both_ends():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] \(num_classes=3\), got values from -1 to 5"):
        validate.class_labels(torch.tensor([5, 0, -1, 2]), 4, 3)
    onehot = validate.class_labels(torch.tensor([2, 0, 1, 2], dtype=torch.uint8), 4, 3)
    assert torch.equal(onehot, torch.eye(3)[[2, 0, 1, 2]])
