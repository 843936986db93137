"""Tests of cutmix_course.core.augment: Cutout, CutMix and the soft-target loss.

Expectations are computed independently of the implementation wherever possible: boxes are read back from the
pixels that changed (images are filled with distinct constants, so every pasted pixel names its source image),
clipping is checked against a plain-Python model of the reference code, and the per-batch CutMix is compared with
torchvision's own `v2.CutMix`. Statistical checks use fixed seeds and bounds many standard deviations wide.
"""
from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms import v2

from cutmix_course.core import augment as A

SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = [torch.float32, torch.float64, torch.uint8]
seeds = st.integers(0, 2**31 - 1)


# --------------------------------------------------------------------------------------------------- helpers
def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def indexed_images(b: int, c: int, h: int, w: int, dtype=torch.float32) -> torch.Tensor:
    """Image i is filled with the constant i + 1, so a pasted pixel tells which image it came from."""
    values = torch.arange(1, b + 1, dtype=torch.float64).view(b, 1, 1, 1)
    return values.expand(b, c, h, w).to(dtype).contiguous()


def random_images(b: int, c: int, h: int, w: int, dtype, seed: int) -> torch.Tensor:
    g = gen(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)
    return torch.randn(b, c, h, w, generator=g, dtype=torch.float64).to(dtype)


def bounding_rect(mask2d: torch.Tensor):
    """(x1, y1, x2, y2), half-open, of the True pixels of a 2-D mask, or None when it is empty."""
    ys, xs = torch.nonzero(mask2d, as_tuple=True)
    if ys.numel() == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def rect_area(rect) -> int:
    x1, y1, x2, y2 = rect
    return (x2 - x1) * (y2 - y1)


def touches_border(rect, h: int, w: int) -> bool:
    x1, y1, x2, y2 = rect
    return x1 == 0 or y1 == 0 or x2 == w or y2 == h


def cutout_interval(centre: int, size: int, n: int) -> tuple[int, int]:
    """The reference Cutout's span along one axis: [centre - size//2, centre - size//2 + size) clipped to [0, n)."""
    lo = centre - size // 2
    return max(lo, 0), min(lo + size, n)


def replay_cutout_centres(g: torch.Generator, b: int, n_holes: int, h: int, w: int):
    """The documented draw order of `cutout`: all centre rows (B, n_holes), then all centre columns."""
    return torch.randint(h, (b, n_holes), generator=g), torch.randint(w, (b, n_holes), generator=g)


def chi_square(counts: torch.Tensor) -> float:
    counts = counts.double().flatten()
    expected = counts.sum() / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


# --------------------------------------------------------------------------------------------------- Cutout
@SETTINGS
@given(
    b=st.integers(1, 4),
    c=st.integers(1, 3),
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    size_frac=st.floats(0.0, 1.0),
    dtype=st.sampled_from(DTYPES),
    seed=seeds,
    data=st.data(),
)
def test_cutout_masks_exactly_one_clipped_square_per_image(b, c, h, w, size_frac, dtype, seed, data):
    size = 1 + int(size_frac * (min(h, w) - 1))
    if dtype == torch.uint8:
        fill = data.draw(st.integers(0, 255), label="fill")
    else:
        fill = data.draw(st.floats(-5, 5, allow_nan=False, width=16), label="fill")
    images = random_images(b, c, h, w, dtype, seed)
    before = images.clone()

    out, mask = A.cutout(images, size, fill=fill, generator=gen(seed + 1), return_mask=True)
    cy, cx = replay_cutout_centres(gen(seed + 1), b, 1, h, w)
    cy, cx = cy[:, 0], cx[:, 0]

    assert torch.equal(images, before), "cutout must not modify its input"
    assert out.shape == images.shape and out.dtype == dtype and mask.shape == (b, h, w) and mask.dtype == torch.bool
    # the mask is exactly where the output changed (or could have: a pixel may already hold the fill value)
    assert torch.equal(out[~mask[:, None].expand_as(out)], images[~mask[:, None].expand_as(images)])
    assert torch.all(out.permute(1, 0, 2, 3)[:, mask] == torch.tensor(fill, dtype=dtype))
    for i in range(b):
        rect = bounding_rect(mask[i])
        assert rect is not None, "the centre pixel is always hidden"
        x1, y1, x2, y2 = rect
        assert int(mask[i].sum()) == rect_area(rect), "the hidden pixels form one axis-aligned rectangle"
        assert x2 - x1 <= size and y2 - y1 <= size
        # the rectangle is the reference square around the centre the generator drew (rows, then columns)
        assert (x1, x2) == cutout_interval(int(cx[i]), size, w)
        assert (y1, y2) == cutout_interval(int(cy[i]), size, h)
        if not touches_border(rect, h, w):
            assert rect_area(rect) == size * size


@pytest.mark.parametrize("n_holes, p", [(1, 1.0), (3, 1.0), (2, 0.5)])
@pytest.mark.parametrize("size, h, w", [(4, 9, 13), (5, 8, 8), (1, 3, 5)])
def test_cutout_replays_the_generators_draws(n_holes, p, size, h, w):
    """Redraw the centres (and coins) from a generator with the same seed and build the mask pixel by pixel in
    plain Python: the mask and the image must be exactly that, hole by hole, image by image."""
    b = 24
    images = random_images(b, 2, h, w, torch.float64, 0) + 10  # no pixel equals the fill value
    out, mask = A.cutout(images, size, n_holes=n_holes, p=p, fill=0.5, generator=gen(11), return_mask=True)
    g = gen(11)
    cy, cx = replay_cutout_centres(g, b, n_holes, h, w)
    applied = (torch.rand(b, generator=g) < p).tolist() if p < 1 else [True] * b
    for i in range(b):
        expected = [[False] * w for _ in range(h)]
        for k in range(n_holes):
            (y1, y2), (x1, x2) = cutout_interval(int(cy[i, k]), size, h), cutout_interval(int(cx[i, k]), size, w)
            for y in range(y1, y2):
                for x in range(x1, x2):
                    expected[y][x] = applied[i]
        assert mask[i].tolist() == expected, i
    assert torch.equal(out, torch.where(mask[:, None], torch.tensor(0.5, dtype=torch.float64), images))
    if p < 1:
        assert 0 < sum(applied) < b, "the seed must give both outcomes of the coin"


def test_cutout_follows_the_device_of_the_images():
    """Every tensor cutout makes lives on the images' device. With one real device, PyTorch's meta device (shapes
    and devices, no data) stands in for a second one: a tensor left on the CPU would fail to mix with it."""
    images = torch.empty(5, 3, 9, 11, device="meta")
    for n_holes, p in ((1, 1.0), (2, 0.5)):
        out, mask = A.cutout(images, 4, n_holes=n_holes, p=p, generator=gen(0), return_mask=True)
        assert out.device.type == "meta" and mask.device.type == "meta"
        assert out.shape == images.shape and mask.shape == (5, 9, 11) and mask.dtype == torch.bool
    per_channel = A.cutout(images, 4, fill=(1.0, 2.0, 3.0), generator=gen(0))
    assert per_channel.device.type == "meta" and per_channel.shape == images.shape


def test_cutout_area_is_full_in_the_interior_and_smaller_at_the_edges():
    h = w = 32
    size = 8
    _, mask = A.cutout(torch.zeros(2000, 1, h, w), size, generator=gen(0), return_mask=True)
    rects = [bounding_rect(m) for m in mask]
    interior = [r for r in rects if not touches_border(r, h, w)]
    edge = [r for r in rects if touches_border(r, h, w)]
    assert interior and edge
    assert all(rect_area(r) == size * size for r in interior)
    assert any(rect_area(r) < size * size for r in edge)
    assert all(rect_area(r) <= size * size for r in edge)
    # the smallest clipped square: a centre on a corner keeps size - size//2 or size//2 + 1 pixels per axis
    assert min(rect_area(r) for r in edge) >= min(size - size // 2, size // 2 + 1) ** 2


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_cutout_corner_centres_give_the_reference_clipping(size):
    """Centres on the corner pixels are drawn in a large batch; their boxes must match the reference formula."""
    h, w = 5, 7
    _, mask = A.cutout(torch.zeros(3000, 1, h, w), size, generator=gen(size), return_mask=True)
    seen = {bounding_rect(m) for m in mask}
    expected_all = {
        (cutout_interval(cx, size, w)[0], cutout_interval(cy, size, h)[0],
         cutout_interval(cx, size, w)[1], cutout_interval(cy, size, h)[1])
        for cx in range(w) for cy in range(h)
    }  # fmt: skip
    assert seen == expected_all, "every centre pixel occurs in 3000 draws, each giving its clipped square"


def test_cutout_centres_are_uniform_over_the_image():
    """With size 1 the hidden pixel *is* the centre: its histogram must be flat (chi-square, 59 dof)."""
    h, w = 6, 10  # not square, so swapped axes would show
    b = 30_000
    _, mask = A.cutout(torch.zeros(b, 1, h, w), 1, generator=gen(1234), return_mask=True)
    assert torch.all(mask.sum(dim=(1, 2)) == 1)
    counts = mask.sum(dim=0)
    # mean of chi2(59) is 59, sd ~ 10.9; 160 is > 9 sd away
    assert chi_square(counts) < 160, counts


def test_cutout_draws_each_image_independently():
    """Pairs of neighbouring images: the joint histogram of their centres must be flat (chi-square, 15 dof)."""
    b = 16_000
    _, mask = A.cutout(torch.zeros(b, 1, 1, 4), 1, generator=gen(99), return_mask=True)
    col = mask[:, 0].float().argmax(dim=1)  # centre column of each image
    pairs = col[0::2] * 4 + col[1::2]
    counts = torch.bincount(pairs, minlength=16)
    assert chi_square(counts) < 70, counts  # mean 15, sd ~ 5.5
    # and in an ordinary batch, images get different boxes
    _, mask = A.cutout(torch.zeros(64, 3, 32, 32), 8, generator=gen(5), return_mask=True)
    assert len({bounding_rect(m) for m in mask}) > 40


def test_cutout_is_deterministic_for_a_seeded_generator():
    images = random_images(16, 3, 12, 12, torch.float32, 0)
    a, ma = A.cutout(images, 5, generator=gen(7), return_mask=True)
    b, mb = A.cutout(images, 5, generator=gen(7), return_mask=True)
    assert torch.equal(a, b) and torch.equal(ma, mb)
    g = gen(7)
    first = A.cutout(images, 5, generator=g, return_mask=True)[1]
    second = A.cutout(images, 5, generator=g, return_mask=True)[1]
    assert torch.equal(first, ma)
    assert not torch.equal(first, second), "the generator advances between calls"
    assert not torch.equal(ma, A.cutout(images, 5, generator=gen(8), return_mask=True)[1])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8])
def test_cutout_keeps_dtype_device_and_shape(dtype):
    images = random_images(3, 3, 9, 11, dtype, 0)
    out = A.cutout(images, 4, generator=gen(0))
    assert out.dtype == dtype and out.device == images.device and out.shape == images.shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_cutout_on_a_single_image(dtype):
    image = random_images(1, 3, 9, 11, dtype, 3)[0]
    out, mask = A.cutout(image, 4, generator=gen(1), return_mask=True)
    assert out.shape == image.shape and out.dtype == dtype and mask.shape == (9, 11)
    batch_out, batch_mask = A.cutout(image[None], 4, generator=gen(1), return_mask=True)
    assert torch.equal(out, batch_out[0]) and torch.equal(mask, batch_mask[0])
    assert torch.equal(A.cutout(image, 4, generator=gen(1)), out), "return_mask=False returns the image alone"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cutout_and_cutmix_keep_the_cuda_device():
    images = random_images(4, 3, 8, 8, torch.float32, 0).cuda()
    out, mask = A.cutout(images, 4, generator=gen(0), return_mask=True)
    assert out.device == images.device and mask.device == images.device
    cpu_out, cpu_mask = A.cutout(images.cpu(), 4, generator=gen(0), return_mask=True)
    assert torch.equal(out.cpu(), cpu_out) and torch.equal(mask.cpu(), cpu_mask)
    mixed, soft = A.cutmix(images, torch.arange(4, device="cuda"), 5, generator=gen(0))
    assert mixed.device == images.device and soft.device == images.device


def test_cutout_probability():
    images = random_images(4000, 1, 8, 8, torch.float32, 0)
    out, mask = A.cutout(images, 4, p=0.0, generator=gen(0), return_mask=True)
    assert torch.equal(out, images) and not mask.any()
    _, mask = A.cutout(images, 4, p=1.0, generator=gen(0), return_mask=True)
    assert mask.flatten(1).any(1).all()
    for p in (0.3, 0.7):
        _, mask = A.cutout(images, 4, p=p, generator=gen(1), return_mask=True)
        share = mask.flatten(1).any(1).double().mean().item()
        assert abs(share - p) < 0.05, (p, share)  # sd ~ 0.007


def test_cutout_n_holes():
    h = w = 32
    _, mask = A.cutout(torch.zeros(2000, 1, h, w), 1, n_holes=3, generator=gen(0), return_mask=True)
    hidden = mask.sum(dim=(1, 2))
    assert hidden.min() >= 1 and hidden.max() <= 3
    assert hidden.double().mean() > 2.95  # holes collide with probability ~3/1024: they are drawn independently
    _, mask = A.cutout(torch.zeros(500, 1, h, w), 4, n_holes=2, generator=gen(1), return_mask=True)
    hidden = mask.sum(dim=(1, 2))
    assert hidden.max() <= 2 * 16 and (hidden > 16).any()


def test_cutout_fills_with_zeros_by_default():
    """DeVries & Taylor's mask is zeros; on normalised images that is the data set's mean colour."""
    images = torch.full((5, 3, 12, 12), 7.0)
    out, mask = A.cutout(images, 4, generator=gen(3), return_mask=True)
    assert mask.any() and torch.all(out.permute(1, 0, 2, 3)[:, mask] == 0)


def test_cutout_fill_per_channel():
    images = torch.full((6, 3, 10, 10), 7, dtype=torch.uint8)
    out, mask = A.cutout(images, 6, fill=(10, 20, 30), generator=gen(0), return_mask=True)
    for ch, value in enumerate((10, 20, 30)):
        assert torch.all(out[:, ch][mask] == value)
        assert torch.all(out[:, ch][~mask] == 7)
    scalar_tensor = A.cutout(images, 6, fill=torch.tensor(9), generator=gen(0))  # a 0-d tensor is a number
    assert torch.equal(scalar_tensor, A.cutout(images, 6, fill=9, generator=gen(0)))
    floats = torch.zeros(4, 2, 8, 8, dtype=torch.float64)
    out, mask = A.cutout(floats, 5, fill=torch.tensor([-1.5, 2.25]), generator=gen(0), return_mask=True)
    assert torch.all(out[:, 0][mask] == -1.5) and torch.all(out[:, 1][mask] == 2.25)
    assert torch.all(out.permute(1, 0, 2, 3)[:, ~mask] == 0)


# --------------------------------------------------------------------------------------------------- boxes
@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), lam=st.floats(0.0, 1.0), seed=seeds)
def test_rand_bbox_boxes_lie_inside_and_lambda_is_the_kept_share(h, w, lam, seed):
    boxes = A.rand_bbox(h, w, torch.full((32,), lam, dtype=torch.float64), generator=gen(seed))
    assert boxes.shape == (32, 4) and boxes.dtype == torch.int64
    half_w = int(0.5 * (1.0 - lam) ** 0.5 * w)
    half_h = int(0.5 * (1.0 - lam) ** 0.5 * h)
    lams = A.lambda_from_boxes(boxes, h, w)
    masks = A.box_mask(boxes, h, w)
    for box, lam_box, mask in zip(boxes.tolist(), lams.tolist(), masks):
        x1, y1, x2, y2 = box
        assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
        area = (x2 - x1) * (y2 - y1)
        assert lam_box == 1.0 - area / (h * w)
        assert int(mask.sum()) == area
        assert x2 - x1 <= 2 * half_w and y2 - y1 <= 2 * half_h
        if 0 < x1 and x2 < w:
            assert x2 - x1 == 2 * half_w
        if 0 < y1 and y2 < h:
            assert y2 - y1 == 2 * half_h


def test_rand_bbox_area_far_from_the_edges():
    h, w, lam = 48, 64, 0.8
    boxes = A.rand_bbox(h, w, torch.full((400,), lam), generator=gen(0))
    expected = (2 * int(0.5 * (1 - lam) ** 0.5 * w)) * (2 * int(0.5 * (1 - lam) ** 0.5 * h))
    interior = [b for b in boxes.tolist() if not touches_border(b, h, w)]
    assert len(interior) > 100
    assert all(rect_area(b) == expected for b in interior)
    single = A.rand_bbox(h, w, lam, generator=gen(0))
    assert single.shape == (4,) and torch.equal(single, A.rand_bbox(h, w, [lam], generator=gen(0))[0])


def test_rand_bbox_centres_are_uniform():
    """lam = 1 gives an empty box sitting on its centre."""
    h, w = 5, 9
    boxes = A.rand_bbox(h, w, torch.ones(20_000), generator=gen(3))
    assert torch.equal(boxes[:, 0], boxes[:, 2]) and torch.equal(boxes[:, 1], boxes[:, 3])
    counts = torch.bincount(boxes[:, 1] * w + boxes[:, 0], minlength=h * w)
    assert counts.numel() == h * w and chi_square(counts) < 130  # chi2(44): mean 44, sd ~ 9.4


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_sample_lambda_is_beta_alpha_alpha(alpha):
    lam = A.sample_lambda(alpha, 40_000, generator=gen(0))
    assert lam.shape == (40_000,) and lam.min() >= 0 and lam.max() <= 1
    var = 1.0 / (4 * (2 * alpha + 1))  # variance of Beta(alpha, alpha)
    assert abs(lam.mean().item() - 0.5) < 0.01  # sd of the mean < 0.002
    assert abs(lam.var().item() - var) < 0.08 * var
    # the share below 0.1 separates alphas: Beta(a, a) puts more mass at the ends for smaller a
    ref = torch.distributions.Beta(alpha, alpha).sample((40_000,))
    assert abs((lam < 0.1).double().mean() - (ref < 0.1).double().mean()) < 0.015


# --------------------------------------------------------------------------------------------------- CutMix
def measure_cutmix(images, out):
    """Read back, per image, the pasted rectangle, its source image and lambda from the pixels that changed.

    `images` must be `indexed_images` (image i filled with i + 1). Returns a list of (rect or None, source, lam).
    """
    b, _, h, w = images.shape
    changed = (out != images).any(dim=1)
    result = []
    for i in range(b):
        rect = bounding_rect(changed[i])
        if rect is None:
            result.append((None, i, 1.0))
            continue
        x1, y1, x2, y2 = rect
        assert int(changed[i].sum()) == rect_area(rect), "the pasted pixels form one rectangle"
        patch = out[i, :, y1:y2, x1:x2]
        source = int(patch.flatten()[0].item()) - 1
        assert torch.all(patch == images[source, :, y1:y2, x1:x2]), "the patch is copied from one partner image"
        result.append((rect, source, 1.0 - rect_area(rect) / (h * w)))
    return result


@SETTINGS
@given(
    b=st.integers(1, 6),
    c=st.integers(1, 3),
    h=st.integers(2, 16),
    w=st.integers(2, 16),
    extra_classes=st.integers(0, 3),
    alpha=st.sampled_from([0.2, 1.0, 2.0]),
    p=st.sampled_from([0.0, 0.5, 1.0]),
    per_sample=st.booleans(),
    soft_input=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    seed=seeds,
)
def test_cutmix_lambda_equals_the_pasted_area(b, c, h, w, extra_classes, alpha, p, per_sample, soft_input, dtype, seed):
    k = b + extra_classes
    images = indexed_images(b, c, h, w, dtype)
    before = images.clone()
    if soft_input:
        labels = torch.softmax(torch.randn(b, k, generator=gen(seed)), dim=1)
        targets = labels
    else:
        labels = torch.randperm(k, generator=gen(seed))[:b]  # distinct classes, so the mix is visible in the labels
        targets = F.one_hot(labels, k).float()

    out, soft, params = A.cutmix(
        images, labels, k, alpha=alpha, p=p, per_sample=per_sample, generator=gen(seed), return_params=True
    )

    assert torch.equal(images, before), "cutmix must not modify its input"
    assert out.shape == images.shape and out.dtype == dtype
    assert soft.shape == (b, k) and soft.dtype == torch.float32
    assert torch.all(soft >= 0) and torch.all(soft <= 1)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(b), rtol=0, atol=1e-6)

    measured = measure_cutmix(images, out)
    rects = {rect for rect, _, _ in measured if rect is not None}
    if not per_sample:
        assert len(rects) <= 1, "per-batch mode pastes the same box into every image"
    for i, (rect, source, lam) in enumerate(measured):
        if rect is not None:  # something visible was pasted: its share is exactly 1 - lambda
            assert source != i
            assert params["lam"][i].item() == lam
            assert int(params["partner"][i]) == source
        expected = lam * targets[i] + (1 - lam) * targets[source]
        torch.testing.assert_close(soft[i], expected, rtol=0, atol=1e-6)
    if p == 0.0:
        assert torch.equal(out, images) and torch.equal(soft, targets)


def test_cutmix_per_sample_draws_a_box_lambda_and_partner_per_image():
    b = 64
    images = indexed_images(b, 3, 32, 32)
    out, soft, params = A.cutmix(images, torch.arange(b), b, per_sample=True, generator=gen(0), return_params=True)
    assert params["boxes"].shape == (b, 4) and params["lam"].shape == (b,) and params["partner"].shape == (b,)
    assert sorted(params["partner"].tolist()) == list(range(b)), "partners are a permutation of the batch"
    measured = measure_cutmix(images, out)
    rects = {rect for rect, _, _ in measured if rect is not None}
    assert len(rects) > 40 and len({lam for _, _, lam in measured}) > 30
    assert len({source for rect, source, _ in measured if rect is not None}) > 40

    out, soft, params = A.cutmix(images, torch.arange(b), b, generator=gen(0), return_params=True)
    assert params["boxes"].shape == (4,) and params["lam"].shape == (b,)
    assert len(set(params["lam"].tolist())) == 1
    assert len({rect for rect, _, _ in measure_cutmix(images, out) if rect is not None}) == 1


def replay_cutmix(seed: int, b: int, h: int, w: int, alpha: float, p: float, per_sample: bool):
    """The documented draws of `cutmix`, redone in plain Python from a generator with the same seed: lambda ~
    Beta(alpha, alpha) as a ratio of two Gamma draws, box centres x then y, the reference's half-sides
    int(0.5 * sqrt(1 - lambda) * side), clipping, the partner permutation, then the coins."""
    g = gen(seed)
    n = b if per_sample else 1
    gammas = torch._standard_gamma(torch.full((2, n), alpha, dtype=torch.float64), generator=g)
    lam = (gammas[0] / gammas.sum(0)).tolist()
    cx, cy = torch.randint(w, (n,), generator=g).tolist(), torch.randint(h, (n,), generator=g).tolist()
    partner = torch.randperm(b, generator=g).tolist()
    skip = (torch.rand(n, generator=g) >= p).tolist() if p < 1 else [False] * n
    boxes = []
    for j in range(n):
        hw, hh = int(0.5 * math.sqrt(1 - lam[j]) * w), int(0.5 * math.sqrt(1 - lam[j]) * h)
        box = (min(max(cx[j] - hw, 0), w), min(max(cy[j] - hh, 0), h), min(max(cx[j] + hw, 0), w),
               min(max(cy[j] + hh, 0), h))
        boxes.append((0, 0, 0, 0) if skip[j] else box)
    return boxes, partner


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("alpha, p", [(1.0, 1.0), (0.4, 1.0), (2.0, 0.5)])
def test_cutmix_replays_the_generators_draws(per_sample, alpha, p):
    """Image i must be image partner[i] inside the replayed box and itself outside, pixel by pixel, and its label
    lambda * y_i + (1 - lambda) * y_partner with lambda = 1 - box area / image area (the corrected lambda)."""
    b, h, w, k = 12, 10, 14, 12
    images = random_images(b, 2, h, w, torch.float32, 5)
    labels = torch.randperm(k, generator=gen(1))[:b]
    for seed in range(6):
        out, soft, params = A.cutmix(images, labels, k, alpha=alpha, p=p, per_sample=per_sample, generator=gen(seed),
                                     return_params=True)
        boxes, partner = replay_cutmix(seed, b, h, w, alpha, p, per_sample)
        assert params["partner"].tolist() == partner
        assert [tuple(x) for x in params["boxes"].view(-1, 4).tolist()] == boxes
        for i in range(b):
            x1, y1, x2, y2 = boxes[i if per_sample else 0]
            expected = images[i].clone()
            for y in range(y1, y2):
                for x in range(x1, x2):
                    expected[:, y, x] = images[partner[i], :, y, x]
            assert torch.equal(out[i], expected), (seed, i)
            lam = 1 - (x2 - x1) * (y2 - y1) / (h * w)
            assert params["lam"][i].item() == pytest.approx(lam, abs=1e-15)
            label = [0.0] * k
            label[int(labels[i])] += lam
            label[int(labels[partner[i]])] += 1 - lam
            assert soft[i].tolist() == pytest.approx(label, abs=1e-6), (seed, i)


def test_cutmix_partners_are_uniform_over_the_batch():
    """Over many seeds, image 0's partner is each of the B images equally often, and the partners of two images
    are independent apart from being different (a fixed pairing or a shift would fail at once)."""
    b, runs = 5, 4000
    images, labels = indexed_images(b, 1, 4, 4), torch.arange(b)
    firsts, pairs = torch.zeros(b), torch.zeros(b, b)
    for seed in range(runs):
        partner = A.cutmix(images, labels, b, generator=gen(seed), return_params=True)[2]["partner"]
        assert sorted(partner.tolist()) == list(range(b))
        firsts[partner[0]] += 1
        pairs[partner[0], partner[1]] += 1
    assert chi_square(firsts) < 25, firsts  # chi2(4): mean 4, sd ~ 2.8
    off_diagonal = pairs[~torch.eye(b, dtype=torch.bool)]
    assert torch.all(pairs.diagonal() == 0) and chi_square(off_diagonal) < 60, pairs  # chi2(19): mean 19, sd ~ 6.2


def test_cutmix_probability():
    images = indexed_images(4000, 1, 32, 32)  # boxes are empty only when lambda > 1 - 1/256
    labels = torch.zeros(4000, dtype=torch.long)
    out, soft, params = A.cutmix(images, labels, 3, p=0.4, per_sample=True, generator=gen(0), return_params=True)
    mixed = (params["boxes"][:, 2] > params["boxes"][:, 0]) & (params["boxes"][:, 3] > params["boxes"][:, 1])
    assert abs(mixed.double().mean().item() - 0.4) < 0.05
    assert torch.all(params["lam"][~mixed] == 1.0)
    assert torch.equal(out[~mixed], images[~mixed])
    # per batch: the coin is tossed once per call
    g = gen(1)
    small = indexed_images(4, 1, 8, 8)
    calls = [A.cutmix(small, torch.arange(4), 4, p=0.4, generator=g)[0] for _ in range(400)]
    share = sum(not torch.equal(x, small) for x in calls) / len(calls)
    assert 0.25 < share < 0.5  # 0.4 minus the rare empty/self-only draws; sd ~ 0.025


def test_cutmix_is_deterministic_for_a_seeded_generator():
    images = random_images(16, 3, 12, 12, torch.float32, 0)
    labels = torch.randint(0, 10, (16,), generator=gen(1))
    for per_sample in (False, True):
        a = A.cutmix(images, labels, 10, per_sample=per_sample, generator=gen(3))
        b = A.cutmix(images, labels, 10, per_sample=per_sample, generator=gen(3))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        c = A.cutmix(images, labels, 10, per_sample=per_sample, generator=gen(4))
        assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8])
def test_cutmix_keeps_dtype_device_and_shape(dtype):
    images = random_images(5, 3, 9, 11, dtype, 0)
    out, soft = A.cutmix(images, torch.arange(5), 7, generator=gen(0))
    assert out.dtype == dtype and out.device == images.device and out.shape == images.shape
    assert soft.shape == (5, 7) and soft.device == images.device


# --------------------------------------------------------------------------------------------------- torchvision
def run_torchvision_cutmix(images, labels, num_classes, seed):
    torch.manual_seed(seed)
    return v2.CutMix(num_classes=num_classes)(images, labels)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("soft_input", [False, True])
def test_per_batch_cutmix_equals_torchvision(dtype, soft_input):
    b, c, h, w, k = 5, 3, 10, 14, 7
    images = indexed_images(b, c, h, w, dtype)
    images = images + (torch.arange(h * w).view(1, 1, h, w) % 3).to(dtype) * 10  # some texture, still distinct
    labels = torch.tensor([3, 0, 6, 1, 4])
    if soft_input:
        labels = torch.softmax(torch.randn(b, k, generator=gen(0)), dim=1)
    partner = torch.arange(b).roll(1)  # torchvision pastes from the previous image
    kinds = set()
    for seed in range(40):
        tv_images, tv_labels = run_torchvision_cutmix(images, labels, k, seed)
        rect = bounding_rect((tv_images != images).any(dim=(0, 1)))
        box = torch.tensor(rect if rect is not None else (0, 0, 0, 0))
        kinds.add("empty" if rect is None else "edge" if touches_border(rect, h, w) else "interior")

        out, soft, lam = A.paste_boxes(images, labels, k, box, partner)

        assert torch.equal(out, tv_images), seed
        torch.testing.assert_close(soft, tv_labels, rtol=0, atol=1e-6)
        assert torch.all(lam == 1.0 - (0 if rect is None else rect_area(rect)) / (h * w))
    assert {"edge", "interior"} <= kinds, "the seeds must cover boxes clipped at the edge and boxes inside"


def test_per_batch_cutmix_matches_torchvision_formula_for_the_same_lambda_and_centre():
    """Our box formula (rand_bbox) is torchvision's: replay torchvision's draws and compare the boxes it pasted."""
    b, h, w = 3, 12, 20
    images = indexed_images(b, 1, h, w)
    for seed in range(20):
        torch.manual_seed(seed)
        lam = float(torch.distributions.Beta(torch.tensor([1.0]), torch.tensor([1.0])).sample(()))
        g = torch.Generator().manual_seed(0)
        g.set_state(torch.get_rng_state())  # the global generator right after torchvision's lambda draw
        ours = A.rand_bbox(h, w, lam, generator=g)
        tv_images, _ = run_torchvision_cutmix(images, torch.arange(b), b, seed)
        rect = bounding_rect((tv_images != images).any(dim=(0, 1)))
        if rect is None:
            assert A.box_area(ours) == 0
        else:
            assert tuple(ours.tolist()) == rect, seed


# --------------------------------------------------------------------------------------------------- loss
@SETTINGS
@given(
    b=st.integers(1, 8),
    k=st.integers(2, 10),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=seeds,
)
def test_soft_target_cross_entropy_is_the_cutmix_loss(b, k, dtype, seed):
    g = gen(seed)
    logits = (3 * torch.randn(b, k, generator=g, dtype=torch.float64)).to(dtype)
    ya = torch.randint(0, k, (b,), generator=g)
    yb = torch.randint(0, k, (b,), generator=g)
    lam = torch.rand(b, generator=g, dtype=torch.float64).to(dtype)
    targets = lam[:, None] * F.one_hot(ya, k).to(dtype) + (1 - lam[:, None]) * F.one_hot(yb, k).to(dtype)

    loss = A.soft_target_cross_entropy(logits, targets)
    expected = (
        lam * F.cross_entropy(logits, ya, reduction="none") + (1 - lam) * F.cross_entropy(logits, yb, reduction="none")
    ).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(
        A.soft_target_cross_entropy(logits, F.one_hot(ya, k).to(dtype)), F.cross_entropy(logits, ya)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_target_cross_entropy_at_extreme_logits(dtype):
    """Confident logits (softmax rounds to exactly 0 or 1) must give the finite loss and gradient of torch's own
    soft-target cross-entropy: log(softmax(x)) would give log(0) = -inf there, log_softmax does not."""
    logits = torch.tensor([[1000.0, -1000.0, 0.0], [-800.0, 50.0, 800.0], [0.0, 0.0, 0.0], [300.0, 300.0, -300.0]],
                          dtype=dtype, requires_grad=True)
    targets = torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.25, 0.75], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5]], dtype=dtype)
    loss = A.soft_target_cross_entropy(logits, targets)
    (grad,) = torch.autograd.grad(loss, logits)
    ref_logits = logits.detach().clone().requires_grad_(True)
    expected = F.cross_entropy(ref_logits, targets)  # torch's own, with probability targets
    expected.backward()
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, ref_logits.grad)
    # by hand: row 0 costs 0.4 * 2000 nats, row 1 0.25 * 750, row 2 log 3, row 3 0.5 * 600 + log 2
    by_hand = (0.4 * 2000 + 0.25 * 750 + math.log(3) + 0.5 * 600 + math.log(2)) / 4
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert loss.dtype == dtype and loss.ndim == 0


def test_soft_target_cross_entropy_gradient_matches_torch():
    logits = torch.randn(6, 5, generator=gen(0), dtype=torch.float64, requires_grad=True)
    images = indexed_images(6, 1, 8, 8)
    _, soft = A.cutmix(images, torch.arange(6) % 5, 5, generator=gen(1))
    A.soft_target_cross_entropy(logits, soft.double()).backward()
    ours = logits.grad.clone()
    logits.grad = None
    F.cross_entropy(logits, soft.double()).backward()  # torch's own soft-target cross-entropy
    torch.testing.assert_close(ours, logits.grad)


# --------------------------------------------------------------------------------------------------- bad input
IMG = torch.zeros(4, 3, 8, 8)
U8 = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
LAB = torch.arange(4)

BAD_CALLS = {
    "cutout size 0": (lambda g: A.cutout(IMG, 0, generator=g), ValueError, r"size must be a positive integer, got 0"),
    "cutout size negative": (lambda g: A.cutout(IMG, -3, generator=g), ValueError, r"size .*positive.*-3"),
    "cutout size float": (lambda g: A.cutout(IMG, 2.5, generator=g), ValueError, r"size .*positive integer.*2\.5"),
    "cutout size too big": (lambda g: A.cutout(IMG[..., :5], 6, generator=g), ValueError, r"size .*at most.*5.*got 6"),
    "cutout n_holes 0": (lambda g: A.cutout(IMG, 2, n_holes=0, generator=g), ValueError, r"n_holes .*positive.*0"),
    "cutout p > 1": (lambda g: A.cutout(IMG, 2, p=1.5, generator=g), ValueError,
                     r"p must be a probability in \[0, 1\], got 1\.5"),
    "cutout p < 0": (lambda g: A.cutout(IMG, 2, p=-0.1, generator=g), ValueError, r"p must be .*\[0, 1\].*-0\.1"),
    "cutout p nan": (lambda g: A.cutout(IMG, 2, p=float("nan"), generator=g), ValueError, r"p must be .*nan"),
    "cutout int32 images": (lambda g: A.cutout(IMG.int(), 2, generator=g), TypeError,
                            r"images must be uint8 or floating point, got dtype torch\.int32"),
    "cutout bool images": (lambda g: A.cutout(IMG.bool(), 2, generator=g), TypeError, r"images .*dtype torch\.bool"),
    "cutout 2-D images": (lambda g: A.cutout(IMG[0, 0], 2, generator=g), ValueError,
                          r"images must have shape \(B, C, H, W\) or \(C, H, W\), got shape \(8, 8\)"),
    "cutout 5-D images": (lambda g: A.cutout(IMG[None], 2, generator=g), ValueError,
                          r"images must have shape .*\(1, 4, 3, 8, 8\)"),
    "cutout empty batch": (lambda g: A.cutout(IMG[:0], 2, generator=g), ValueError,
                           r"images must hold at least one image"),
    "cutout list images": (lambda g: A.cutout([[0.0]], 2, generator=g), TypeError,
                           r"images must be a torch\.Tensor.*got list"),
    "cutout uint8 fill 300": (lambda g: A.cutout(U8, 2, fill=300, generator=g), ValueError,
                              r"fill for uint8 images must be an integer in \[0, 255\], got 300"),
    "cutout uint8 fill -1": (lambda g: A.cutout(U8, 2, fill=-1, generator=g), ValueError, r"fill .*\[0, 255\].*-1"),
    "cutout uint8 fill 0.5": (lambda g: A.cutout(U8, 2, fill=0.5, generator=g), ValueError, r"fill .*integer.*0\.5"),
    "cutout uint8 channel fill": (lambda g: A.cutout(U8, 2, fill=(0, 256, 0), generator=g), ValueError,
                                  r"fill .*\[0, 255\].*256"),
    "cutout uint8 fill 256": (lambda g: A.cutout(U8, 2, fill=256, generator=g), ValueError,
                              r"fill for uint8 images must be an integer in \[0, 255\], got 256"),
    "cutout uint8 channel fill 1.5": (lambda g: A.cutout(U8, 2, fill=(0, 1.5, 0), generator=g), ValueError,
                                      r"fill for uint8 images must be integers in \[0, 255\], "
                                      r"got \[0\.0, 1\.5, 0\.0\]"),
    "cutout fill wrong length": (lambda g: A.cutout(IMG, 2, fill=(0.0, 1.0), generator=g), ValueError,
                                 r"fill must be a number or a sequence of 3 numbers"),
    "cutout fill string": (lambda g: A.cutout(IMG, 2, fill="red", generator=g), ValueError, r"fill must be .*'red'"),
    "cutout bad generator": (lambda g: A.cutout(IMG, 2, generator=42), TypeError,
                             r"generator must be a torch\.Generator or None, got int"),
    "cutmix alpha 0": (lambda g: A.cutmix(IMG, LAB, 4, alpha=0.0, generator=g), ValueError,
                       r"alpha must be a number > 0, got 0\.0"),
    "cutmix alpha negative": (lambda g: A.cutmix(IMG, LAB, 4, alpha=-1, generator=g), ValueError, r"alpha .*> 0.*-1"),
    "cutmix p > 1": (lambda g: A.cutmix(IMG, LAB, 4, p=2, generator=g), ValueError,
                     r"p must be a probability in \[0, 1\], got 2"),
    "cutmix labels too high": (lambda g: A.cutmix(IMG, torch.tensor([0, 1, 2, 4]), 4, generator=g), ValueError,
                               r"labels must lie in \[0, 3\] \(num_classes=4\), got values from 0 to 4"),
    "cutmix labels negative": (lambda g: A.cutmix(IMG, torch.tensor([0, -1, 2, 3]), 4, generator=g), ValueError,
                               r"labels must lie in \[0, 3\].*-1"),
    "cutmix labels wrong length": (lambda g: A.cutmix(IMG, LAB[:3], 4, generator=g), ValueError,
                                   r"labels must have one entry per image \(4\), got 3"),
    "cutmix labels float": (lambda g: A.cutmix(IMG, LAB.float(), 4, generator=g), TypeError,
                            r"labels .*integer class indices, got dtype torch\.float32"),
    "cutmix labels list": (lambda g: A.cutmix(IMG, [0, 1, 2, 3], 4, generator=g), TypeError,
                           r"labels must be a torch\.Tensor, got list"),
    "cutmix labels 3-D": (lambda g: A.cutmix(IMG, torch.zeros(4, 4, 1), 4, generator=g), ValueError,
                          r"labels must have shape \(B,\) or \(B, num_classes\), got shape \(4, 4, 1\)"),
    "cutmix soft labels shape": (lambda g: A.cutmix(IMG, torch.zeros(4, 5), 4, generator=g), ValueError,
                                 r"soft labels must have shape \(B, num_classes\) = \(4, 4\), got \(4, 5\)"),
    "cutmix soft labels int": (lambda g: A.cutmix(IMG, torch.zeros(4, 4, dtype=torch.long), 4, generator=g), TypeError,
                               r"soft labels .*floating point, got dtype torch\.int64"),
    "cutmix num_classes 0": (lambda g: A.cutmix(IMG, LAB, 0, generator=g), ValueError,
                             r"num_classes must be a positive integer, got 0"),
    "cutmix single image": (lambda g: A.cutmix(IMG[0], LAB[:1], 4, generator=g), ValueError,
                            r"images must have shape \(B, C, H, W\), got shape \(3, 8, 8\)"),
    "cutmix int32 images": (lambda g: A.cutmix(IMG.int(), LAB, 4, generator=g), TypeError,
                            r"images must be uint8 or floating point, got dtype torch\.int32"),
    "cutmix per_sample str": (lambda g: A.cutmix(IMG, LAB, 4, per_sample="yes", generator=g), TypeError,
                              r"per_sample must be True or False, got 'yes'"),
    "cutmix bad generator": (lambda g: A.cutmix(IMG, LAB, 4, generator="seed"), TypeError,
                             r"generator must be a torch\.Generator or None, got str"),
    "rand_bbox lam > 1": (lambda g: A.rand_bbox(8, 8, 1.5, generator=g), ValueError,
                          r"lam must be .*\[0, 1\], got 1\.5"),
    "rand_bbox lam 2-D": (lambda g: A.rand_bbox(8, 8, torch.zeros(2, 2), generator=g), ValueError,
                          r"lam must be a number or 1-D tensor"),
    "rand_bbox height 0": (lambda g: A.rand_bbox(0, 8, 0.5, generator=g), ValueError,
                           r"height must be a positive integer, got 0"),
    "rand_bbox width 0": (lambda g: A.rand_bbox(8, 0, 0.5, generator=g), ValueError,
                          r"width must be a positive integer, got 0"),
    "rand_bbox bad generator": (lambda g: A.rand_bbox(8, 8, 0.5, generator=7), TypeError,
                                r"generator must be a torch\.Generator or None, got int"),
    "sample_lambda bad generator": (lambda g: A.sample_lambda(1.0, 3, generator="x"), TypeError,
                                    r"generator must be a torch\.Generator or None, got str"),
    "paste_boxes num_classes 0": (lambda g: A.paste_boxes(IMG, LAB, 0, torch.zeros(4), torch.arange(4)), ValueError,
                                  r"num_classes must be a positive integer, got 0"),
    "paste_boxes single image": (lambda g: A.paste_boxes(IMG[0], LAB[:1], 4, torch.zeros(4), torch.arange(1)),
                                 ValueError, r"images must have shape \(B, C, H, W\), got shape \(3, 8, 8\)"),
    "paste_boxes partner shape": (lambda g: A.paste_boxes(IMG, LAB, 4, torch.zeros(4), torch.tensor([0, 1, 2])),
                                  ValueError, r"partner must be a \(B,\) = \(4,\) index tensor"),
    "Cutout n_holes 0": (lambda g: A.Cutout(size=4, n_holes=0), ValueError,
                         r"n_holes must be a positive integer, got 0"),
    "CutMix generator": (lambda g: A.CutMix(num_classes=4, generator=3.5), TypeError,
                         r"generator must be a torch\.Generator or None, got float"),
    "sample_lambda alpha 0": (lambda g: A.sample_lambda(0, 3, generator=g), ValueError,
                              r"alpha must be a number > 0, got 0"),
    "paste_boxes box shape": (lambda g: A.paste_boxes(IMG, LAB, 4, torch.zeros(2, 4), torch.arange(4)), ValueError,
                              r"boxes must have shape \(4,\) or \(B, 4\) = \(4, 4\), got \(2, 4\)"),
    "paste_boxes partner range": (lambda g: A.paste_boxes(IMG, LAB, 4, torch.zeros(4), torch.tensor([0, 1, 2, 4])),
                                  ValueError,
                                  r"partner must be a \(B,\) = \(4,\) index tensor with values in \[0, 3\]"),
    "paste_boxes box sticks out": (lambda g: A.paste_boxes(IMG, LAB, 4, torch.tensor([0, 0, 12, 5]), torch.arange(4)),
                                   ValueError, r"boxes must lie inside the image, 0 <= x1 <= x2 <= W = 8 "
                                               r".*got \[\[0, 0, 12, 5\]\]"),
    "paste_boxes negative box": (lambda g: A.paste_boxes(IMG, LAB, 4,
                                                         torch.tensor([[0, 0, 2, 2]] * 3 + [[-2, 0, 5, 5]]),
                                                         torch.arange(4)),
                                 ValueError, r"boxes must lie inside the image.*got \[\[-2, 0, 5, 5\]\]"),
    "paste_boxes inverted box": (lambda g: A.paste_boxes(IMG, LAB, 4, torch.tensor([5, 0, 2, 5]), torch.arange(4)),
                                 ValueError, r"boxes must lie inside the image"),
    "loss logits 1-D": (lambda g: A.soft_target_cross_entropy(torch.zeros(4), torch.zeros(4)), ValueError,
                        r"logits must be a \(B, num_classes\) tensor, got torch\.Size\(\[4\]\)"),
    "loss logits list": (lambda g: A.soft_target_cross_entropy([[0.0]], torch.zeros(1, 1)), ValueError,
                         r"logits must be a \(B, num_classes\) tensor, got <class 'list'>"),
    "loss targets list": (lambda g: A.soft_target_cross_entropy(torch.zeros(1, 1), [[1.0]]), ValueError,
                          r"targets must have the same shape as logits \(1, 1\), got None"),
    "loss targets shape": (lambda g: A.soft_target_cross_entropy(torch.zeros(4, 3), torch.zeros(4)), ValueError,
                           r"targets must have the same shape as logits \(4, 3\), got torch\.Size\(\[4\]\)"),
    "Cutout size 0": (lambda g: A.Cutout(size=0), ValueError, r"size must be a positive integer, got 0"),
    "Cutout p": (lambda g: A.Cutout(size=4, p=3), ValueError, r"p must be a probability"),
    "Cutout generator": (lambda g: A.Cutout(size=4, generator=1), TypeError, r"generator must be a torch\.Generator"),
    "Cutout too big at call": (lambda g: A.Cutout(size=9, generator=g)(IMG), ValueError,
                               r"size must be at most .*8, got 9"),
    "CutMix alpha 0": (lambda g: A.CutMix(num_classes=4, alpha=0), ValueError, r"alpha must be a number > 0, got 0"),
    "CutMix num_classes": (lambda g: A.CutMix(num_classes=-2), ValueError,
                           r"num_classes must be a positive integer, got -2"),
    "CutMix labels at call": (lambda g: A.CutMix(num_classes=3, generator=g)(IMG, LAB), ValueError,
                              r"labels must lie in \[0, 2\]"),
}


@pytest.mark.parametrize("call, error, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_is_rejected_with_a_clear_message_before_any_draw(call, error, message):
    g = gen(0)
    state = g.get_state()
    with pytest.raises(error, match=message):
        call(g)
    assert torch.equal(g.get_state(), state), "arguments are checked before any random number is drawn"


def test_every_bad_input_message_names_its_argument():
    """The message starts with the argument's name (the match patterns above check the rest)."""
    names = ("size", "n_holes", "p", "images", "fill", "generator", "alpha", "labels", "soft labels", "num_classes",
             "per_sample", "lam", "height", "width", "boxes", "partner", "logits", "targets")  # fmt: skip
    for call, error, _ in BAD_CALLS.values():
        with pytest.raises(error) as info:
            call(gen(0))
        assert str(info.value).startswith(names), str(info.value)


# --------------------------------------------------------------------------------------------------- classes
def test_cutout_transform_in_a_torchvision_pipeline():
    pil_like = torch.randint(0, 256, (3, 32, 32), generator=gen(0), dtype=torch.uint8)
    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]

    def pipeline(*cutout):
        return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std), *cutout])

    image = v2.ToPILImage()(pil_like)
    # fill 0 = the data set mean after normalisation
    out = pipeline(A.Cutout(size=8, generator=gen(1)))(image)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    reference = pipeline()(image)
    hidden = (out != reference).any(dim=0)
    rect = bounding_rect(hidden)
    assert rect is not None and int(hidden.sum()) == rect_area(rect) and rect_area(rect) <= 64
    assert torch.all(out[:, hidden] == 0)
    again = pipeline(A.Cutout(size=8, generator=gen(1)))(image)
    assert torch.equal(out, again), "a seeded Cutout is reproducible in a pipeline"
    assert "size=8" in repr(A.Cutout(size=8))


def test_cutmix_transform_in_a_dataloader_collate_fn():
    n, k = 40, 5
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=gen(0), dtype=torch.uint8)
    labels = torch.arange(n) % k
    mix = A.CutMix(num_classes=k, generator=gen(2))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels),
        batch_size=8,
        collate_fn=lambda samples: mix(*torch.utils.data.default_collate(samples)),
    )
    reference = gen(2)
    batches = list(loader)
    assert len(batches) == 5
    for start, (x, y) in zip(range(0, n, 8), batches):
        assert x.shape == (8, 3, 8, 8) and x.dtype == torch.uint8 and y.shape == (8, k)
        torch.testing.assert_close(y.sum(dim=1), torch.ones(8), rtol=0, atol=1e-6)
        expected = A.cutmix(images[start : start + 8], labels[start : start + 8], k, generator=reference)
        assert torch.equal(x, expected[0]) and torch.equal(y, expected[1])
    assert re.search(r"num_classes=5, alpha=1\.0, p=1\.0, per_sample=False", repr(mix))


# --------------------------------------------------------------------------------------------------- odds and ends
def test_replayed_cutout_leaves_the_generator_where_the_replay_does():
    """With p = 1 no coin is tossed: the generator moves by the centre draws alone, so what a training loop draws
    next from it does not depend on a coin nobody needed."""
    for p, coins in ((1.0, False), (0.5, True)):
        g = gen(3)
        A.cutout(torch.zeros(6, 1, 8, 8), 3, p=p, generator=g)
        replay = gen(3)
        replay_cutout_centres(replay, 6, 1, 8, 8)
        if coins:
            torch.rand(6, generator=replay)
        assert torch.equal(g.get_state(), replay.get_state()), p


def test_replayed_cutmix_leaves_the_generator_where_the_replay_does():
    for p, per_sample in ((1.0, False), (1.0, True), (0.5, False)):
        g = gen(4)
        A.cutmix(indexed_images(5, 1, 8, 8), torch.arange(5), 5, p=p, per_sample=per_sample, generator=g)
        replay = gen(4)
        n = 5 if per_sample else 1
        torch._standard_gamma(torch.full((2, n), 1.0, dtype=torch.float64), generator=replay)
        torch.randint(8, (n,), generator=replay), torch.randint(8, (n,), generator=replay)
        torch.randperm(5, generator=replay)
        if p < 1:
            torch.rand(n, generator=replay)
        assert torch.equal(g.get_state(), replay.get_state()), (p, per_sample)


def test_rand_bbox_follows_the_reference_formula_for_a_python_float_lambda():
    """lam given as a plain float is used in double precision, as the reference does in Python: a float32 lam
    would round sqrt(1 - lam) * W / 2 below a whole number for some lam (0.36 on a side of 10 gives 3, not 4)."""
    for width in (10, 32, 50):
        for k in range(0, 100):
            lam = k / 100
            x1, y1, x2, y2 = A.rand_bbox(width, width, lam, generator=gen(k)).tolist()
            half = int(0.5 * math.sqrt(1 - lam) * width)
            if 0 < x1 and x2 < width:
                assert x2 - x1 == 2 * half, (width, lam)
            if 0 < y1 and y2 < width:
                assert y2 - y1 == 2 * half, (width, lam)


def test_sample_lambda_is_float64_one_draw_by_default_and_follows_its_generator():
    one = A.sample_lambda(1.0, generator=gen(0))
    assert one.shape == (1,) and one.dtype == torch.float64
    assert torch.equal(A.sample_lambda(0.7, 5, generator=gen(9)), A.sample_lambda(0.7, 5, generator=gen(9)))
    assert not torch.equal(A.sample_lambda(0.7, 5, generator=gen(9)), A.sample_lambda(0.7, 5, generator=gen(10)))


def test_paste_boxes_accepts_an_empty_box_and_keeps_the_image():
    images = indexed_images(3, 1, 6, 6)
    for box in ([2, 1, 2, 5], [1, 3, 4, 3]):  # no width, no height
        out, soft, lam = A.paste_boxes(images, torch.arange(3), 3, box, [1, 2, 0])
        assert torch.equal(out, images) and torch.all(lam == 1.0) and torch.equal(soft, torch.eye(3))


def test_the_loss_reduces_over_the_class_axis_without_warnings():
    logits = torch.randn(4, 6, generator=gen(2))
    targets = torch.softmax(torch.randn(4, 6, generator=gen(3)), dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an implicit softmax dimension warns
        loss = A.soft_target_cross_entropy(logits, targets)
    by_hand = -sum(float(targets[i, k]) * (float(logits[i, k]) - math.log(sum(math.exp(float(v)) for v in logits[i])))
                   for i in range(4) for k in range(6)) / 4
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_the_transforms_defaults_are_the_pages():
    assert A.Cutout().size == 8 and A.Cutout().n_holes == 1 and A.Cutout().p == 1.0
    assert A.CutMix(10).alpha == 1.0 and A.CutMix(10).per_sample is False


def test_per_channel_fills_are_exact_and_the_whole_uint8_range_is_allowed():
    floats = torch.ones(3, 3, 6, 6, dtype=torch.float64)
    out, mask = A.cutout(floats, 3, fill=(0.1, 0.2, 0.3), generator=gen(0), return_mask=True)
    for ch, value in enumerate((0.1, 0.2, 0.3)):
        assert torch.all(out[:, ch][mask] == value), "0.1 stays the double 0.1, not a float32 rounding of it"
    u8 = torch.full((3, 3, 6, 6), 7, dtype=torch.uint8)
    out, mask = A.cutout(u8, 3, fill=(0, 10, 255), generator=gen(0), return_mask=True)
    assert out[:, 0][mask].eq(0).all() and out[:, 2][mask].eq(255).all()
    assert A.cutout(u8, 3, fill=255, generator=gen(0)).max() == 255


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.9])
def test_rand_bbox_is_the_unclipped_box_around_its_centre_clipped(lam):
    """The pictures' `unclipped_box` and `clip_box` are the same steps `rand_bbox` takes: for the centre it draws
    (x then y from the same generator), clipping the unclipped box gives its box, and near a border they differ."""
    differed = False
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        cx, cy = int(torch.randint(32, (), generator=g)), int(torch.randint(24, (), generator=g))
        drawn = A.unclipped_box(24, 32, lam, cx, cy)
        expected = A.rand_bbox(24, 32, lam, torch.Generator().manual_seed(seed))
        assert torch.equal(A.clip_box(drawn, 24, 32), expected), (seed, drawn, expected)
        differed |= not torch.equal(drawn, expected)
    assert differed == (lam < 1), "some centres near a border must clip the box"
