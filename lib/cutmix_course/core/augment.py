"""Cutout and CutMix on batches of images: a functional core and thin transform classes.

All functions take batch-first tensors (B, C, H, W), uint8 or floating point, on any device, and draw their
randomness from an optional `torch.Generator` (on the CPU), so a seeded generator gives the same result every time.
Nothing loops over the images in Python: boxes are drawn for the whole batch at once and applied as a mask.

Boxes are int64 tensors (..., 4) holding (x1, y1, x2, y2), half-open: the box covers rows y1..y2-1 and
columns x1..x2-1, the convention of torchvision's `v2.CutMix`.

Speed. A batch of 128 CIFAR images is only 1.5 MB, so the cost of these functions is the number of tensor
operations (each costs a microsecond or two whatever its size) plus the passes over the full batch. The code
therefore keeps both small (`make bench` measures them against a plain `clone()` of the batch):
- the pixels are mixed with `torch.lerp` (one vectorised pass, exact at weights 0 and 1) rather than with
  `torch.where` or `masked_fill`, which on the CPU run a scalar loop several times slower than a copy, and
  CutMix writes into the batch of partners it gathered instead of allocating another one;
- the masks are built per row and per column ((B, H) and (B, W)) and combined once; Cutout looks its rows and
  columns up in a table, since a square's extent depends on its centre alone;
- the box arithmetic handles x1, y1, x2, y2 in one operation each, not one coordinate at a time;
- arguments are validated once, in the public function; the private helpers trust their inputs.
"""
from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from . import validate


# --------------------------------------------------------------------------------------------------- boxes
def box_mask(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boolean mask (..., H, W) that is True inside each box of `boxes` (..., 4) = (x1, y1, x2, y2)."""
    in_rows, in_cols = _box_spans(boxes, height, width)
    return in_rows[..., :, None] & in_cols[..., None, :]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Number of pixels inside each (already clipped) box."""
    start, end = boxes.unflatten(-1, (2, 2)).unbind(-2)  # (x1, y1) and (x2, y2)
    return (end - start).clamp(min=0).prod(dim=-1)


def _clip(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clip (x1, y1, x2, y2) boxes to the image in place: all four coordinates in one operation."""
    return boxes.clamp_(*_box_limits(height, width, boxes.device))


@functools.lru_cache(maxsize=16)
def _box_limits(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(0, 0, 0, 0) and (W, H, W, H): the clipping range of (x1, y1, x2, y2); cached, only ever read."""
    return torch.zeros(4, dtype=torch.long, device=device), torch.tensor([width, height] * 2, device=device)


def _box_spans(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which rows (..., H) and which columns (..., W) each box covers, as booleans.

    The full mask is their outer AND; keeping the two factors apart lets callers build it in whatever dtype they
    need with one multiplication.
    """
    pixel = _arange(max(height, width), boxes.device)
    reached = pixel >= boxes[..., None]  # (..., 4, max(H, W)): pixel at or past x1, y1, x2, y2
    inside = reached[..., :2, :] > reached[..., 2:, :]  # past the start (True) but not the end (False): x, y
    return inside[..., 1, :height], inside[..., 0, :width]


@functools.lru_cache(maxsize=16)
def _arange(n: int, device: torch.device) -> torch.Tensor:
    return torch.arange(n, device=device)  # cached: it is only ever read


def _blend(base: torch.Tensor, other: torch.Tensor, weight: torch.Tensor, out=None) -> torch.Tensor:
    """`base` where `weight` is 0 and `other` where it is 1 (weight broadcasts; 0/1 only), in one pass.

    This is `torch.where(weight == 1, other, base)`, but `torch.where` is a scalar loop on the CPU, about six
    times slower than copying the batch, while `lerp` is vectorised and exact at weights 0 and 1 for finite
    values (base + 0 * (other - base) and other - 0 * (other - base)). Integer images have no lerp; for them
    the bits are selected instead, also exact and vectorised. `out` may be `other` itself, which saves allocating
    (and first touching) a new batch.
    """
    if base.requires_grad:  # autograd cannot record an operation with out=
        out = None
    if base.dtype.is_floating_point:
        return torch.lerp(base, other, weight, out=out)
    # bit select: -weight has all bits set where weight is 1 and none where it is 0, so
    # base ^ ((base ^ other) & -weight) is other where weight is 1 and base elsewhere
    differ = other.bitwise_xor_(base) if out is other else torch.bitwise_xor(base, other, out=out)
    return differ.bitwise_and_(-weight).bitwise_xor_(base)


# --------------------------------------------------------------------------------------------------- Cutout
def cutout(images, size, n_holes: int = 1, fill=0, p: float = 1.0, generator=None, return_mask: bool = False):
    """Cutout (DeVries & Taylor, 2017): hide `n_holes` squares of side `size` in every image.

    Each square is centred on a pixel drawn uniformly over the whole image, independently for every image and hole,
    and clipped at the borders, so a square near an edge hides less than size*size pixels (as in the paper's
    reference code). The hidden pixels are set to `fill` (0 is the data set mean once images are normalised; for
    uint8 images an integer in [0, 255]; a sequence gives one value per channel). With probability 1 - `p` an
    image is left untouched. A single (C, H, W) image is accepted too. Floating-point images must be finite
    (pixels are mixed arithmetically, see `_blend`), as normalised images always are.

    Returns the new images (same dtype, device and shape as the input) and, if `return_mask`, the boolean
    mask (B, H, W) (or (H, W) for one image) of hidden pixels.
    """
    batch, single = validate.images_4d(images)
    b, c, h, w = batch.shape
    size = validate.positive_int(size, "size")
    if size > min(h, w):
        raise ValueError(f"size must be at most the image side min(H, W) = {min(h, w)}, got {size}")
    n_holes = validate.positive_int(n_holes, "n_holes")
    p = validate.probability(p)
    validate.generator(generator)
    fill_value = _fill(fill, batch)

    gen_device = generator.device if generator is not None else torch.device("cpu")
    cy = torch.randint(h, (b, n_holes), generator=generator, device=gen_device).to(batch.device)
    cx = torch.randint(w, (b, n_holes), generator=generator, device=gen_device).to(batch.device)
    # Every hole has the same side, so the rows a hole covers depend on its centre row alone: look them up.
    in_rows = _hole_spans(h, size, batch.dtype, batch.device).index_select(0, cy.view(-1)).view(b, n_holes, h)
    in_cols = _hole_spans(w, size, batch.dtype, batch.device).index_select(0, cx.view(-1)).view(b, n_holes, w)
    if p < 1.0:  # an image that loses the coin toss hides no row
        apply = torch.rand(b, generator=generator, device=gen_device) < p
        in_rows = in_rows * apply.to(batch.device, batch.dtype)[:, None, None]
    if n_holes == 1:
        hide = in_rows[:, 0, :, None] * in_cols[:, 0, None, :]  # (B, H, W), 1 = hidden pixel
    else:  # a pixel is hidden if any hole covers it
        hide = (in_rows[..., :, None] * in_cols[..., None, :]).amax(dim=1)

    out = _blend(batch, fill_value, hide[:, None])
    if not return_mask:
        return out[0] if single else out
    mask = hide.bool()
    return (out[0], mask[0]) if single else (out, mask)


@functools.lru_cache(maxsize=64)
def _hole_spans(n: int, size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n) table: row c is 1 on the pixels covered by a hole of side `size` centred on pixel c, else 0.

    The hole spans [c - size//2, c - size//2 + size) (the reference's square for even sizes, and still `size`
    wide for odd ones), clipped to the image simply because the table only has the image's n columns.
    """
    pixel = torch.arange(n, device=device)
    start = pixel[:, None] - size // 2
    return ((pixel >= start) & (pixel < start + size)).to(dtype)  # cached and only ever read


def _fill(fill, batch: torch.Tensor) -> torch.Tensor:
    """The fill value as a tensor of the images' dtype: 0-d for one value, (1, C, 1, 1) for one per channel."""
    c = batch.shape[1]
    integer = not batch.dtype.is_floating_point
    if isinstance(fill, torch.Tensor) and fill.ndim == 0:  # a scalar tensor is a number, not a per-channel sequence
        fill = fill.item()
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        if integer and (float(fill) != int(fill) or not 0 <= int(fill) <= 255):
            raise ValueError(f"fill for uint8 images must be an integer in [0, 255], got {fill!r}")
        return torch.tensor(int(fill) if integer else float(fill), dtype=batch.dtype, device=batch.device)
    if isinstance(fill, (Sequence, torch.Tensor)) and not isinstance(fill, str) and len(fill) == c:
        values = torch.as_tensor(fill, dtype=torch.float64)
        if integer and (torch.any(values != values.round()) or values.min() < 0 or values.max() > 255):
            raise ValueError(f"fill for uint8 images must be integers in [0, 255], got {list(values.tolist())}")
        return values.to(batch.dtype).to(batch.device).view(1, c, 1, 1)
    raise ValueError(f"fill must be a number or a sequence of {c} numbers (one per channel), got {fill!r}")


# --------------------------------------------------------------------------------------------------- CutMix
def sample_lambda(alpha: float, n: int = 1, generator=None) -> torch.Tensor:
    """n draws of lambda ~ Beta(alpha, alpha), float64, from `generator` (Beta as a ratio of two Gamma draws)."""
    alpha = validate.positive_float(alpha, "alpha")
    validate.generator(generator)
    return _sample_lambda(alpha, n, generator)


def _sample_lambda(alpha: float, n: int, generator) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    gammas = torch._standard_gamma(torch.full((2, n), alpha, dtype=torch.float64, device=device), generator=generator)
    return gammas[0] / gammas.sum(0)


def rand_bbox(height: int, width: int, lam, generator=None) -> torch.Tensor:
    """Boxes whose area is a fraction 1 - lam of the image, centred on uniformly drawn pixels and clipped.

    Follows the CutMix reference and torchvision's `v2.CutMix`: half-sides int(0.5 * sqrt(1 - lam) * W) and
    int(0.5 * sqrt(1 - lam) * H), centre x then y drawn uniformly, box clipped to the image. Clipping makes the box
    smaller than asked, which is why `cutmix` recomputes lambda from the box (see `lambda_from_boxes`).
    `lam` is a float (one box, shape (4,)) or a 1-D tensor (one box per entry, shape (n, 4)).
    """
    height = validate.positive_int(height, "height")
    width = validate.positive_int(width, "width")
    validate.generator(generator)
    lam_t = torch.as_tensor(lam, dtype=torch.float64)
    if lam_t.ndim > 1 or lam_t.numel() == 0 or not bool(((lam_t >= 0) & (lam_t <= 1)).all()):  # NaN fails too
        raise ValueError(f"lam must be a number or 1-D tensor of numbers in [0, 1], got {lam!r}")
    device = generator.device if generator is not None else torch.device("cpu")
    return _rand_bbox(height, width, lam_t.to(device), generator)


def _rand_bbox(height: int, width: int, lam: torch.Tensor, generator) -> torch.Tensor:
    cx = torch.randint(width, lam.shape, generator=generator, device=lam.device)
    cy = torch.randint(height, lam.shape, generator=generator, device=lam.device)
    return _clip(_box_around(cx, cy, lam, height, width), height, width)


def _box_around(cx: torch.Tensor, cy: torch.Tensor, lam: torch.Tensor, height: int, width: int) -> torch.Tensor:
    # (x1, y1, x2, y2) = (cx - hw, cy - hh, cx + hw, cy + hh), all four at once, with the reference's half-sides
    # hw = int(0.5 * sqrt(1 - lam) * W), hh = likewise with H: int() truncates towards 0, so -hw = int(-0.5 * ...)
    half = (torch.sqrt(1.0 - lam)[..., None] * _signed_half_sides(height, width, lam.device)).long()
    return torch.stack([cx, cy, cx, cy], dim=-1).add_(half)


def unclipped_box(height: int, width: int, lam: float, cx: int, cy: int) -> torch.Tensor:
    """The box `rand_bbox` draws around the centre (cx, cy) before clipping: (x1, y1, x2, y2), which may lie partly
    outside the image. For pictures of the clipping; `rand_bbox` is this box clipped to the image."""
    lam_t = torch.tensor(float(lam), dtype=torch.float64)
    return _box_around(torch.tensor(int(cx)), torch.tensor(int(cy)), lam_t, int(height), int(width))


def clip_box(box: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A copy of `box` (x1, y1, x2, y2) clipped to a height × width image, as `rand_bbox` clips its boxes."""
    return _clip(torch.as_tensor(box).long().clone(), int(height), int(width))


@functools.lru_cache(maxsize=16)
def _signed_half_sides(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(-W/2, -H/2, W/2, H/2) in float64. sqrt(1 - lam) * W/2 is exactly the reference's 0.5 * sqrt(1 - lam) * W:
    halving is exact in floating point."""
    return torch.tensor([-0.5 * width, -0.5 * height, 0.5 * width, 0.5 * height], dtype=torch.float64, device=device)


def lambda_from_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The lambda correction: the share of each image that is *kept*, 1 - (clipped box area) / (H * W)."""
    return 1.0 - box_area(boxes).double() / float(height * width)


def paste_boxes(images, labels, num_classes: int, boxes, partner):
    """Paste box `boxes` of image `partner[i]` into image i and mix the labels by area.

    The deterministic half of CutMix, for a given box (one (4,) box for the whole batch, or (B, 4) boxes) and
    partner index (B,). Returns (mixed images, soft labels (B, num_classes) float32, lambda (B,) float64), where
    lambda = 1 - box area / image area is the share of image i that is kept and the soft label is
    lambda * y_i + (1 - lambda) * y_partner[i]. Floating-point images must be finite (see `_blend`).
    """
    batch, _ = validate.images_4d(images, allow_single=False)
    b, _, h, w = batch.shape
    num_classes = validate.positive_int(num_classes, "num_classes")
    targets = validate.class_labels(labels, b, num_classes)
    boxes = torch.as_tensor(boxes, device=batch.device).long()
    partner = torch.as_tensor(partner, device=batch.device).long()
    if tuple(boxes.shape) not in ((4,), (b, 4)):
        raise ValueError(f"boxes must have shape (4,) or (B, 4) = ({b}, 4), got {tuple(boxes.shape)}")
    if tuple(partner.shape) != (b,) or int(partner.min()) < 0 or int(partner.max()) >= b:
        raise ValueError(f"partner must be a (B,) = ({b},) index tensor with values in [0, {b - 1}], got {partner!r}")
    x1, y1, x2, y2 = boxes.unbind(-1)
    outside = (x1 < 0) | (y1 < 0) | (x1 > x2) | (y1 > y2) | (x2 > w) | (y2 > h)
    if bool(outside.any()):  # a box sticking out would paste fewer pixels than its area says
        raise ValueError(
            f"boxes must lie inside the image, 0 <= x1 <= x2 <= W = {w} and 0 <= y1 <= y2 <= H = {h}, "
            f"got {boxes.view(-1, 4)[outside.view(-1)].tolist()}"
        )
    return _paste_boxes(batch, targets, boxes, partner)


def _paste_boxes(batch: torch.Tensor, targets: torch.Tensor, boxes: torch.Tensor, partner: torch.Tensor):
    """`paste_boxes` on checked arguments; `targets` are (B, K) probabilities (one-hot for hard labels)."""
    b, _, h, w = batch.shape
    # the weights: 1 on the pasted pixels, broadcast over the channels
    if boxes.ndim == 1:  # one box for the batch: an (H, W) weight, made by slicing
        x1, y1, x2, y2 = boxes.tolist()
        pasted = torch.zeros(h, w, dtype=batch.dtype, device=batch.device)
        pasted[y1:y2, x1:x2] = 1
    else:  # one box per image: (B, 1, H, W), the outer product of each box's rows and columns
        in_rows, in_cols = _box_spans(boxes, h, w)
        pasted = (in_rows.to(batch.dtype)[:, :, None] * in_cols.to(batch.dtype)[:, None, :])[:, None]
    partners = batch.index_select(0, partner)
    out = _blend(batch, partners, pasted, out=partners)  # put back each image's own pixels outside its box
    lam = lambda_from_boxes(boxes, h, w).expand(b)
    # lam * y_i + (1 - lam) * y_partner, as one lerp from the partner's label towards the image's own
    soft = torch.lerp(targets.index_select(0, partner), targets, lam.to(targets.dtype)[:, None])
    return out, soft, lam


def cutmix(
    images,
    labels,
    num_classes: int,
    alpha: float = 1.0,
    p: float = 1.0,
    per_sample: bool = False,
    generator=None,
    return_params: bool = False,
):
    """CutMix (Yun et al., 2019): paste a box of a partner image and mix the labels by the pasted area.

    lambda ~ Beta(alpha, alpha); the box has sides sqrt(1 - lambda) * H and sqrt(1 - lambda) * W around a uniform
    centre and is clipped at the borders; lambda is then **recomputed from the clipped box**, so the label weights
    equal the pixel shares exactly. Partners are a random permutation of the batch.

    per_sample=False (default): one lambda, one box and one permutation for the whole batch, as in the paper's code
        and torchvision's `v2.CutMix` (for the same box, lambda and partner the result is identical); with
        probability 1 - p the batch is returned unmixed.
    per_sample=True: every image draws its own lambda, box and coin (timm's "elem" mode).

    labels: (B,) class indices or (B, num_classes) probabilities. Returns (images, soft labels (B, num_classes)
    float32 rows summing to 1), plus a dict with lam (B,), boxes and partner if `return_params`.
    Floating-point images must be finite (see `_blend`).
    """
    batch, _ = validate.images_4d(images, allow_single=False)
    b, _, h, w = batch.shape
    num_classes = validate.positive_int(num_classes, "num_classes")
    targets = validate.class_labels(labels, b, num_classes)  # validate before drawing anything
    alpha = validate.positive_float(alpha, "alpha")
    p = validate.probability(p)
    validate.generator(generator)
    if not isinstance(per_sample, bool):
        raise TypeError(f"per_sample must be True or False, got {per_sample!r}")

    device = generator.device if generator is not None else torch.device("cpu")
    n = b if per_sample else 1
    lam = _sample_lambda(alpha, n, generator)
    boxes = _rand_bbox(h, w, lam, generator)
    partner = torch.randperm(b, generator=generator, device=device)
    if p < 1.0:
        skip = torch.rand(n, generator=generator, device=device) >= p
        boxes = boxes.masked_fill(skip[:, None], 0)  # an empty box pastes nothing and keeps lambda = 1
    boxes = boxes if per_sample else boxes[0]
    out, soft, lam = _paste_boxes(batch, targets, boxes.to(batch.device), partner.to(batch.device))
    if return_params:
        return out, soft, {"lam": lam, "boxes": boxes, "partner": partner}
    return out, soft


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k target_k * log softmax(logits)_k.

    For a CutMix target lambda * y_a + (1 - lambda) * y_b this equals lambda * CE(logits, a) + (1 - lambda) *
    CE(logits, b), the loss of the CutMix paper; for one-hot targets it is the ordinary cross-entropy.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"logits must be a (B, num_classes) tensor, got {getattr(logits, 'shape', type(logits))}")
    if not isinstance(targets, torch.Tensor) or targets.shape != logits.shape:
        raise ValueError(
            f"targets must have the same shape as logits {tuple(logits.shape)}, got {getattr(targets, 'shape', None)}"
        )
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


# --------------------------------------------------------------------------------------------------- classes
class Cutout(torch.nn.Module):
    """Transform wrapper around `cutout` for torchvision pipelines (one image) or batches."""

    def __init__(self, size: int = 8, n_holes: int = 1, fill=0, p: float = 1.0, generator=None):
        super().__init__()
        validate.positive_int(size, "size")
        validate.positive_int(n_holes, "n_holes")
        validate.probability(p)
        validate.generator(generator)
        self.size, self.n_holes, self.fill, self.p, self.generator = size, n_holes, fill, p, generator

    def forward(self, images):
        return cutout(images, self.size, self.n_holes, self.fill, self.p, self.generator)

    def extra_repr(self) -> str:
        return f"size={self.size}, n_holes={self.n_holes}, fill={self.fill}, p={self.p}"


class CutMix(torch.nn.Module):
    """Transform wrapper around `cutmix`: call it on (images, labels) of a batch, e.g. in a DataLoader collate_fn:

    >>> mix = CutMix(num_classes=10)
    >>> collate_fn = lambda samples: mix(*torch.utils.data.default_collate(samples))
    """

    def __init__(self, num_classes: int, alpha: float = 1.0, p: float = 1.0, per_sample: bool = False, generator=None):
        super().__init__()
        validate.positive_int(num_classes, "num_classes")
        validate.positive_float(alpha, "alpha")
        validate.probability(p)
        validate.generator(generator)
        self.num_classes, self.alpha, self.p, self.per_sample, self.generator = (
            num_classes, alpha, p, per_sample, generator)

    def forward(self, images, labels):
        return cutmix(images, labels, self.num_classes, self.alpha, self.p, self.per_sample, self.generator)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, alpha={self.alpha}, p={self.p}, per_sample={self.per_sample}"
