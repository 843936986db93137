"""Every property a public check tests has a wrong implementation that fails exactly that property.

A check earns its place by failing the implementations that are wrong in the way it names, and only those: for each
property printed by a check, a wrong implementation below breaks that property alone (some are plausible student
bugs, some are made to break one property and nothing else) and the check must report that property, and no other,
as failed. A completeness test makes sure no property of the checks is left without one.
"""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from test_checks import (
    CLASSES,
    CORRECT,
    channel_mean_std,
    cutmix_batch,
    cutmix_per_sample,
    cutout_batch,
    cutout_one,
    normalize,
    sample_box,
    softmax,
    top_k,
)

import plain
from cutmix_course.notebook import checks


def _stats(images):
    x = images.double() / 255
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def _in_place(fn, *, index=0):
    """fn, but it also writes into its argument number `index` after computing the result."""
    def wrong(*args, **kwargs):
        out = fn(*args, **kwargs)
        args[index].view(-1)[0] += 1
        return out
    return wrong


def _cutout_one_with(y1_of, x1_of, fill=0):
    """A cutout_one whose square starts at y1_of(cy, size, h) / x1_of(cx, size, w), clipped at both ends."""
    def wrong(image, size, cy, cx):
        h, w = image.shape[-2:]
        y1, x1 = y1_of(cy, size, h), x1_of(cx, size, w)
        out = image.clone()
        out[:, max(y1, 0):min(y1 + size, h), max(x1, 0):min(x1 + size, w)] = fill
        return out
    return wrong


def _start(c, size, n):
    return c - size // 2


def _cutout_batch_mask(images, size, generator, centre_rows=None, side=None):
    b, _, h, w = images.shape
    side = side or size
    cy = torch.randint(h, (b,), generator=generator) if centre_rows is None else centre_rows(b, h, generator)
    cx = torch.randint(w, (b,), generator=generator) if centre_rows is None else centre_rows(b, w, generator)
    rows, cols = torch.arange(h), torch.arange(w)
    top, left = cy - side // 2, cx - side // 2
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)
    return in_rows[:, :, None] & in_cols[:, None, :], cy, cx


def cutout_batch_with_a_hole(images, size, generator=None):
    mask, cy, cx = _cutout_batch_mask(images, size, generator)
    mask[torch.arange(len(mask)), cy, cx] = False  # the centre pixel stays: not a filled rectangle
    return images.masked_fill(mask[:, None], 0)


def cutout_batch_first_channel_only(images, size, generator=None):
    mask, _, _ = _cutout_batch_mask(images, size, generator)
    out = images.clone()
    out[:, 0][mask] = 0  # `all` channels turned into the first one
    return out


def cutout_batch_one_pixel_too_wide(images, size, generator=None):
    mask, _, _ = _cutout_batch_mask(images, size, generator, side=size + 1)
    return images.masked_fill(mask[:, None], 0)


def cutout_batch_never_clipping(images, size, generator=None):
    b, _, h, w = images.shape
    top = torch.randint(h - size + 1, (b,), generator=generator)  # the square always fits
    left = torch.randint(w - size + 1, (b,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    return images.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0)


def cutout_batch_on_a_coarse_grid(images, size, generator=None):
    """Centres on a 4 x 4 grid including the borders: still clipped often, but at most 16 different squares."""
    grid = lambda b, n, g: torch.randint(4, (b,), generator=g) * (n - 1) // 3  # noqa: E731
    mask, _, _ = _cutout_batch_mask(images, size, generator, centre_rows=grid)
    return images.masked_fill(mask[:, None], 0)


def sample_box_unclipped(lam, height, width, generator=None):
    x1, y1, x2, y2 = (int(v) for v in plain.rand_bbox(height, width, lam, generator))
    cut_w, cut_h = int(0.5 * (1 - lam) ** 0.5 * width), int(0.5 * (1 - lam) ** 0.5 * height)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    if 0 < x1 and x2 < width and 0 < y1 and y2 < height:
        return x1, y1, x2, y2
    return cx - cut_w, cy - cut_h, cx + cut_w, cy + cut_h  # a box at the border sticks out


def sample_box_half_size(lam, height, width, generator=None):
    return plain.rand_bbox(height, width, 1 - (1 - lam) / 4, generator)  # sides halved


def sample_box_centres_inside(lam, height, width, generator=None):
    cut_w, cut_h = int(0.5 * (1 - lam) ** 0.5 * width), int(0.5 * (1 - lam) ** 0.5 * height)
    cx = int(torch.randint(cut_w, width - cut_w + 1, (1,), generator=generator))
    cy = int(torch.randint(cut_h, height - cut_h + 1, (1,), generator=generator))
    return cx - cut_w, cy - cut_h, cx + cut_w, cy + cut_h  # the box always fits: never clipped


def sample_box_never_empty(lam, height, width, generator=None):
    x1, y1, x2, y2 = (int(v) for v in plain.rand_bbox(height, width, lam, generator))
    return x1, y1, max(x2, min(x1 + 1, width)), max(y2, min(y1 + 1, height))  # at least one pixel


def sample_box_ignoring_the_seed(lam, height, width, generator=None):
    return plain.rand_bbox(height, width, lam, sample_box_ignoring_the_seed.g)


sample_box_ignoring_the_seed.g = torch.Generator().manual_seed(123)


def cutmix_with(partner_of=None, soft_of=None, paste=None):
    def wrong(images, labels, num_classes, lam, generator=None):
        b, _, h, w = images.shape
        x1, y1, x2, y2 = (int(v) for v in plain.rand_bbox(h, w, lam, generator))
        partner = torch.randperm(b, generator=generator) if partner_of is None else partner_of(b, generator)
        mixed = images.clone()
        if paste is None:
            mixed[:, :, y1:y2, x1:x2] = images[partner, :, y1:y2, x1:x2]
        else:
            paste(mixed, images, partner, (x1, y1, x2, y2))
        kept = 1 - (x2 - x1) * (y2 - y1) / (h * w)
        onehot = F.one_hot(labels, num_classes).float()
        soft = kept * onehot + (1 - kept) * onehot[partner]
        return mixed, soft if soft_of is None else soft_of(soft)
    return wrong


def paste_from_two_partners(mixed, images, partner, box):
    x1, y1, x2, y2 = box
    b, mid = len(images), (y1 + y2) // 2
    first, second = (torch.arange(b) + 1) % b, (torch.arange(b) + 2) % b  # never the image itself
    mixed[:, :, y1:mid, x1:x2] = images[first, :, y1:mid, x1:x2]
    mixed[:, :, mid:y2, x1:x2] = images[second, :, mid:y2, x1:x2]


def paste_a_box_per_image(mixed, images, partner, box):
    x1, y1, x2, y2 = box
    for i in range(len(images)):  # the same size, shifted by one row for every other image
        dy = i % 2 if y2 < images.shape[-2] else -(i % 2)
        mixed[i, :, y1 + dy:y2 + dy, x1:x2] = images[partner[i], :, y1 + dy:y2 + dy, x1:x2]


def cutmix_pasting_nothing(images, labels, num_classes, lam, generator=None):
    return images.clone(), F.one_hot(labels, num_classes).float()


def cutmix_as_float(images, labels, num_classes, lam, generator=None):
    mixed, soft = cutmix_batch(images, labels, num_classes, lam, generator)
    return (mixed.float() if images.dtype == torch.uint8 else mixed), soft


def _binary(targets):
    return bool(((targets == 0) | (targets == 1)).all())


def loss_summed_for_one_hot_targets(logits, targets):
    total = -(targets * F.log_softmax(logits, 1)).sum()
    return total if _binary(targets) else total / len(logits)


def loss_off_for_mixed_targets(logits, targets):
    loss = plain.soft_target_cross_entropy(logits, targets)
    return loss if _binary(targets) else loss + 0.1  # off by a constant: its gradient stays right


def loss_without_gradient(logits, targets):
    return plain.soft_target_cross_entropy(logits.detach(), targets)


def softmax_scaled(logits):
    """exp(x) normalised, but of 1.1 x: still a distribution, not the right one."""
    return softmax(logits * 1.1)


# property -> (check, wrong implementation, extra arguments)
WRONG = {
    # 01 data set
    "returns a pair (mean, std) of tensors": (checks.check_channel_mean_std, lambda im: list(_stats(im)), ()),
    "mean and std hold one value per channel: shape (3,)":
        (checks.check_channel_mean_std, lambda im: (im.double().mean((0, 2)) / 255, im.double().std((0, 2)) / 255), ()),
    "mean per channel is right": (checks.check_channel_mean_std, lambda im: (_stats(im)[0].roll(1), _stats(im)[1]), ()),
    "std per channel is right": (checks.check_channel_mean_std, lambda im: (_stats(im)[0], _stats(im)[1] * 1.1), ()),
    "std is the sample standard deviation (divides by n - 1, torch's default)":
        (checks.check_channel_mean_std,
         lambda im: (_stats(im)[0], (im.double() / 255).std((0, 2, 3), correction=0)), ()),
    "the images passed in are left unchanged#mean_std":
        (checks.check_channel_mean_std, _in_place(channel_mean_std), ()),
    "values are in [0, 1] units":
        (checks.check_channel_mean_std, lambda im: (im.double().mean((0, 2, 3)), im.double().std((0, 2, 3)) / 255), ()),
    "returns a tensor of the same shape as the images": (checks.check_normalize, lambda *a: normalize(*a)[0], ()),
    "the result is float32": (checks.check_normalize, lambda *a: normalize(*a).double(), ()),
    "each channel is (x / 255 - mean) / std":
        (checks.check_normalize, lambda im, m, s: normalize(im, m.flip(0), s), ()),
    "the images passed in are left unchanged#normalize": (checks.check_normalize, _in_place(normalize), ()),
    # 02 Cutout
    "returns a tensor of the same shape and dtype as the image":
        (checks.check_cutout_one, lambda *a: cutout_one(*a).double(), ()),
    "the image passed in is left unchanged": (checks.check_cutout_one, _in_place(cutout_one), ()),
    "a square in the middle has side `size` around (cy, cx)":
        (checks.check_cutout_one, _cutout_one_with(lambda c, s, n: c - s // 2 + (c - s // 2 > 0 and c + s < n),
                                                   _start), ()),
    "a square at the top-left corner is clipped":
        (checks.check_cutout_one, _cutout_one_with(lambda c, s, n: max(c - s // 2, 0), _start), ()),
    "a square at the bottom-right corner is clipped":
        (checks.check_cutout_one, _cutout_one_with(lambda c, s, n: min(c - s // 2, n - s), _start), ()),
    "hidden pixels are set to 0": (checks.check_cutout_one, _cutout_one_with(_start, _start, fill=-1.0), ()),
    "returns a batch of the same shape and dtype":
        (checks.check_cutout_batch, lambda im, s, generator=None: cutout_batch(im, s, generator)[:, 0], ()),
    "the batch passed in is left unchanged": (checks.check_cutout_batch, _in_place(cutout_batch), ()),
    "every image has exactly one hidden square (a filled rectangle)": (checks.check_cutout_batch,
                                                                       cutout_batch_with_a_hole, ()),
    "hidden pixels are 0 in every channel": (checks.check_cutout_batch, cutout_batch_first_channel_only, ()),
    "squares have side 6, smaller only where the border cuts them":
        (checks.check_cutout_batch, cutout_batch_one_pixel_too_wide, ()),
    "squares near the border are clipped (centres are drawn over the whole image)":
        (checks.check_cutout_batch, cutout_batch_never_clipping, ()),
    "each image gets its own random square": (checks.check_cutout_batch, cutout_batch_on_a_coarse_grid, ()),
    "the same generator seed gives the same result":
        (checks.check_cutout_batch, lambda im, s, generator=None: cutout_batch(im, s, None), ()),
    "uint8 images stay uint8":
        (checks.check_cutout_batch, lambda im, s, generator=None: cutout_batch(im.float(), s, generator), ()),
    # 03 CutMix
    "boxes lie inside the image: 0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H":
        (checks.check_sample_box, sample_box_unclipped, ()),
    "an unclipped box is sqrt(1 - λ)·W wide and sqrt(1 - λ)·H high":
        (checks.check_sample_box, sample_box_half_size, ()),
    "boxes near the border are clipped (centres anywhere in the image)":
        (checks.check_sample_box, sample_box_centres_inside, ()),
    "λ = 1 gives an empty box (nothing is pasted)": (checks.check_sample_box, sample_box_never_empty, ()),
    "the same generator seed gives the same box": (checks.check_sample_box, sample_box_ignoring_the_seed, ()),
    "returns four numbers (x1, y1, x2, y2)":
        (checks.check_sample_box, lambda *a, **k: tuple(sample_box(*a, **k))[:3], ()),
    "returns a pair (mixed images, soft labels)": (checks.check_cutmix_batch, lambda *a, **k: [*cutmix_batch(*a, **k)],
                                                   ()),
    "shapes: images (B, C, H, W) with their dtype, labels (B, num_classes)":
        (checks.check_cutmix_batch, cutmix_with(soft_of=lambda s: s[:, :-1]), ()),
    "the batch passed in is left unchanged#cutmix": (checks.check_cutmix_batch, _in_place(cutmix_batch), ()),
    "every soft label sums to 1 and has no negative weight":
        (checks.check_cutmix_batch, cutmix_with(soft_of=lambda s: s * 0.99), ()),
    "each image receives its patch from one partner image":
        (checks.check_cutmix_batch, cutmix_with(paste=paste_from_two_partners), ()),
    "a patch of at most (1 - λ)·H·W pixels is pasted into the images": (checks.check_cutmix_batch,
                                                                        cutmix_pasting_nothing, ()),
    "one box for the whole batch (as in the paper and torchvision)":
        (checks.check_cutmix_batch, cutmix_with(paste=paste_a_box_per_image), ()),
    "label weights equal the pixel shares (λ recomputed from the clipped box)":
        (checks.check_cutmix_batch, cutmix_with(soft_of=lambda s: s.roll(1, dims=1)), ()),
    "uint8 images stay uint8#cutmix": (checks.check_cutmix_batch, cutmix_as_float, ()),
    # 03 cutmix, per sample (the harder exercise)
    "each image's box has the sides its own λ asks for":
        (checks.check_cutmix_per_sample, functools.partial(cutmix_per_sample, lam_of=lambda lam: lam.flip(0)), ()),
    "each image gets its own box (not one box for the batch)":
        (checks.check_cutmix_per_sample, functools.partial(cutmix_per_sample, one_box=True), ()),
    "label weights equal each image's own pixel shares":
        (checks.check_cutmix_per_sample, functools.partial(cutmix_per_sample, weights=lambda lam: lam), ()),
    # 04 training
    "returns a scalar tensor (one number for the batch)":
        (checks.check_soft_target_loss, lambda lo, t: -(t * F.log_softmax(lo, 1)).sum(1), ()),
    "with one-hot targets it equals the ordinary cross-entropy": (checks.check_soft_target_loss,
                                                                   loss_summed_for_one_hot_targets, ()),
    "with CutMix targets it equals λ·CE(a) + (1 - λ)·CE(b)":
        (checks.check_soft_target_loss, loss_off_for_mixed_targets, ()),
    "stays finite for large logits (numerically stable)":
        (checks.check_soft_target_loss, lambda lo, t: -(t * torch.log(torch.softmax(lo, 1))).sum(1).mean(), ()),
    "its gradient is (softmax - targets) / B, so training can use it":
        (checks.check_soft_target_loss, loss_without_gradient, ()),
    # 05 prediction trace
    "returns a tensor of the same shape as the logits": (checks.check_softmax, lambda lo: softmax(lo)[:, :-1], ()),
    "every row is a probability distribution (>= 0, sums to 1)":
        (checks.check_softmax, lambda lo: torch.exp(lo - lo.max()) / torch.exp(lo - lo.max()).sum(), ()),
    "values equal exp(x_k) / sum_j exp(x_j)": (checks.check_softmax, softmax_scaled, ()),
    "stays finite for large logits": (checks.check_softmax, lambda lo: torch.exp(lo) / torch.exp(lo).sum(-1, True), ()),
    "returns k pairs (class name, probability)": (checks.check_top_k, lambda *a: top_k(*a)[:2], (CLASSES,)),
    "the k most probable classes, best first": (checks.check_top_k, lambda *a: top_k(*a)[::-1], (CLASSES,)),
    "probabilities are the softmax of the logits":
        (checks.check_top_k, lambda *a: [(c, p / 2) for c, p in top_k(*a)], (CLASSES,)),
    "probabilities are plain Python floats":
        (checks.check_top_k, lambda *a: [(c, torch.tensor(p)) for c, p in top_k(*a)], (CLASSES,)),
}
# A property that cannot fail alone, and what its failure implies (for the same reason, not a second bug):
IMPLIED = {
    # soft labels that do not sum to 1 cannot equal λ·y_i + (1 - λ)·y_partner either
    "every soft label sums to 1 and has no negative weight":
        {"label weights equal the pixel shares (λ recomputed from the clipped box)"},
    # pixels from two images leave no single partner whose label could be mixed in
    "each image receives its patch from one partner image":
        {"label weights equal the pixel shares (λ recomputed from the clipped box)"},
    # boxes sticking out of the image are boxes that were not clipped
    "boxes lie inside the image: 0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H":
        {"boxes near the border are clipped (centres anywhere in the image)"},
    # rows that are not distributions are not the softmax either
    "every row is a probability distribution (>= 0, sums to 1)": {"values equal exp(x_k) / sum_j exp(x_j)"},
}
FAIL_AT_ONCE = {"returns four numbers (x1, y1, x2, y2)"}  # a shape error stops the check on its first call


@pytest.mark.parametrize("prop", list(WRONG))
def test_a_wrong_implementation_fails_exactly_its_property(prop, capsys):
    check, wrong, extra = WRONG[prop]
    with pytest.raises(checks.CheckFailed):
        check(wrong, *extra)
    out, err = capsys.readouterr()
    failed = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("✗")]
    name = prop.split("#")[0]
    assert failed[0] == name and set(failed[1:]) == IMPLIED.get(name, set()), out
    assert err == ""


def test_every_property_of_every_check_has_its_wrong_implementation(capsys):
    printed = set()
    for check, fn in [*CORRECT.items(), (checks.check_top_k, top_k)]:
        check(fn, CLASSES) if check is checks.check_top_k else check(fn)
        printed |= {line.strip()[2:] for line in capsys.readouterr().out.splitlines() if line.strip().startswith("✓")}
    covered = {prop.split("#")[0] for prop in WRONG}
    assert printed - covered == set(), "properties without a wrong implementation that fails exactly them"
    assert covered - printed <= {"values are in [0, 1] units"} | FAIL_AT_ONCE, "stale entries in WRONG"
