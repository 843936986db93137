"""The fast paths inside cutmix_course.core.augment: each is checked against the plain operation it replaces."""
from __future__ import annotations

import pytest
import torch

from cutmix_course.core import augment as A


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("weight_shape", [(6, 1, 5, 7), (5, 7), (1, 3, 1, 1)])
def test_blend_is_torch_where(dtype, weight_shape):
    g = gen(0)
    if dtype == torch.uint8:
        base, other = (torch.randint(0, 256, (6, 3, 5, 7), generator=g, dtype=dtype) for _ in range(2))
    else:
        base, other = ((100 * torch.randn(6, 3, 5, 7, generator=g)).to(dtype) for _ in range(2))
    weight = (torch.rand(weight_shape, generator=g) < 0.5).to(dtype)
    expected = torch.where(weight.bool(), other, base)
    assert torch.equal(A._blend(base, other, weight), expected)
    inplace = other.clone()
    assert torch.equal(A._blend(base, inplace, weight, out=inplace), expected)
    assert torch.equal(A._blend(base, torch.tensor(7, dtype=dtype), weight),
                       torch.where(weight.bool(), 7, base).to(dtype))


@pytest.mark.parametrize("n, size", [(1, 1), (5, 1), (5, 2), (5, 3), (8, 8), (9, 4), (32, 7)])
def test_hole_spans_table_is_the_clipped_square(n, size):
    table = A._hole_spans(n, size, torch.uint8, torch.device("cpu"))
    for centre in range(n):
        start = centre - size // 2
        expected = [1 if max(start, 0) <= i < min(start + size, n) else 0 for i in range(n)]
        assert table[centre].tolist() == expected


def test_box_spans_and_mask_agree_with_slicing():
    boxes = A.rand_bbox(9, 13, torch.rand(200, generator=gen(1), dtype=torch.float64), generator=gen(2))
    masks = A.box_mask(boxes, 9, 13)
    for box, mask in zip(boxes.tolist(), masks):
        x1, y1, x2, y2 = box
        expected = torch.zeros(9, 13, dtype=torch.bool)
        expected[y1:y2, x1:x2] = True
        assert torch.equal(mask, expected)


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_flow_through_cutmix_and_cutout(per_sample):
    """The in-place paste (out=...) is skipped when autograd records: every output pixel is a copy of one input."""
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    out, _ = A.cutmix(x, torch.arange(4), 4, per_sample=per_sample, generator=gen(0))
    out.sum().backward()
    assert x.grad.sum().item() == out.numel()
    y = torch.randn(4, 3, 8, 8, requires_grad=True)
    A.cutout(y, 3, generator=gen(0)).sum().backward()
    assert set(y.grad.unique().tolist()) <= {0.0, 1.0}
