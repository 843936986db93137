"""Instant feedback for the exercises, in the spirit of otter-grader's `grader.check("q1")`.

Each `check_*` function calls the student's function on small seeded inputs, tests the properties that matter
(not one frozen output) and prints one line per property, ✓ or ✗ with a hint, on **stdout** (nbgrader scores any
stderr in a test cell as a failure, so warnings raised by the student's code are reported on stdout too). If a
property fails it raises `CheckFailed`; if the stub is still unimplemented it raises `NotImplementedError`, so an
autograded cell holding the check scores 0 either way. The grade itself comes from the notebooks' hidden tests.

`with_fallback` lets the cells after an exercise keep working while the exercise is unfinished: it runs the
student's function and falls back to the course's reference implementation, saying so.
"""
from __future__ import annotations

import contextlib
import math
import traceback
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .exercises import FORBIDDEN
from .tripwire import ReferenceUsedError, forbid_reference

PASS, FAIL = "✓", "✗"


class CheckFailed(AssertionError):
    """A public check found a property the student's function does not have."""


@dataclass
class Report:
    """The results of one check: (passed, property, hint) per line, printed together."""

    name: str
    lines: list = field(default_factory=list)

    def expect(self, ok, what: str, hint: str = "") -> bool:
        ok = bool(ok)
        self.lines.append((ok, what, hint))
        return ok

    @property
    def failed(self) -> list:
        return [what for ok, what, _ in self.lines if not ok]

    def text(self) -> str:
        passed = sum(ok for ok, _, _ in self.lines)
        out = [f"{self.name}: {passed} of {len(self.lines)} checks passed"]
        for ok, what, hint in self.lines:
            out.append(f"  {PASS if ok else FAIL} {what}")
            if not ok and hint:
                out.append(f"      hint: {hint}")
        if not self.failed:
            out.append("  All public checks passed. (Hidden tests decide the grade.)")
        return "\n".join(out)

    def finish(self) -> None:
        __tracebackhide__ = True  # IPython: show the message, not this frame
        print(self.text(), flush=True)
        if self.failed:
            raise CheckFailed(f"{self.name}: {len(self.failed)} check(s) failed: " + "; ".join(self.failed))


def call(report: Report, fn, *args, **kwargs):
    """Run the student's function; stub -> NotImplementedError, a crash -> CheckFailed, both explained on stdout.

    It runs under the same tripwire as the hidden tests (`exercises.FORBIDDEN` of the exercise): a call of a listed
    function fails the check at once, with the message the grade would carry.
    """
    __tracebackhide__ = True
    forbidden = FORBIDDEN.get(report.name)
    guard = forbid_reference(*forbidden, what=report.name) if forbidden else contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with guard:
                result = fn(*args, **kwargs)
        except ReferenceUsedError as exc:  # re-raised as it is: the grader reports it as an integrity problem
            print(f"{report.name}: {FAIL} {exc}", flush=True)
            raise ReferenceUsedError(str(exc)) from None
        except NotImplementedError as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1].name
            where = report.name if where in ("<module>", report.name) else f"{where} (called by {report.name})"
            print(f"{report.name}: {FAIL} not implemented yet: {where} still raises NotImplementedError. Replace "
                  "`raise NotImplementedError()` with your code, run that cell, then run this check again.", flush=True)
            raise NotImplementedError(f"{report.name} is not implemented yet") from None
        except Exception as exc:
            print(f"{report.name}: {FAIL} calling it raised {type(exc).__name__}: {exc}", flush=True)
            raise CheckFailed(f"{report.name} raised {type(exc).__name__}: {exc}") from exc
    for w in caught:
        print(f"{report.name}: note: your code raised a warning: {w.category.__name__}: {w.message}", flush=True)
    return result


def with_fallback(student_fn, reference_fn, name: str):
    """A function that calls `student_fn` and, while it is unimplemented or broken, `reference_fn` instead.

    The first fallback prints one line on stdout saying which result the student is looking at.
    """
    said = []

    def run(*args, **kwargs):
        try:
            return student_fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a student is never stuck behind a crash
            if not said:
                why = "is not implemented yet" if isinstance(exc, NotImplementedError) else \
                    f"raised {type(exc).__name__}: {exc}"
                ref = f"{getattr(reference_fn, '__module__', '')}.{getattr(reference_fn, '__name__', 'reference')}"
                print(f"(your {name} {why}; showing the course's reference {ref} instead)", flush=True)
                said.append(True)
            return reference_fn(*args, **kwargs)

    run.__name__ = f"{name}_or_reference"
    return run


def _tensor(x) -> bool:
    return isinstance(x, torch.Tensor)


def _same_tensor(a, b) -> bool:
    return _tensor(a) and a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))


# ------------------------------------------------------------------------------------------------- helpers
def changed_mask(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """(B, H, W) True where any channel of `after` differs from `before` (images (B, C, H, W))."""
    return (before != after).any(dim=1)


def mask_box(mask: torch.Tensor):
    """Bounding box (x1, y1, x2, y2), half-open, of a (H, W) mask, and whether the mask fills it exactly.

    An empty mask gives (0, 0, 0, 0) and True."""
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if rows.numel() == 0:
        return (0, 0, 0, 0), True
    y1, y2, x1, x2 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return (x1, y1, x2, y2), bool(mask[y1:y2, x1:x2].all()) and int(mask.sum()) == (y2 - y1) * (x2 - x1)


def expected_square(size: int, cy: int, cx: int, height: int, width: int):
    """The clipped square of the course's Cutout: rows/cols [c - size//2, c - size//2 + size) inside the image."""
    lo = size // 2
    return max(cx - lo, 0), max(cy - lo, 0), min(cx - lo + size, width), min(cy - lo + size, height)


def _images(n, c, h, w, seed, dtype=torch.float32):
    """Seeded test images with no pixel equal to 0, so every filled pixel shows up as a change."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(1, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return (1.0 + torch.rand(n, c, h, w, generator=g)).to(dtype)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------------- 01 data set
def check_channel_mean_std(fn) -> None:
    """channel_mean_std(images uint8 (N, C, H, W)) -> (mean, std), each (C,), in [0, 1] units."""
    from ..core.data import channel_stats

    __tracebackhide__ = True
    r = Report("channel_mean_std")
    images = torch.randint(0, 256, (40, 3, 8, 8), generator=_gen(1), dtype=torch.uint8)
    images[:, 2] //= 4  # a darker third channel, so mixing up channels shows
    original = images.clone()
    result = call(r, fn, images)
    ok = r.expect(isinstance(result, tuple) and len(result) == 2 and all(_tensor(t) for t in result),
                  "returns a pair (mean, std) of tensors",
                  "what does your function return, and is it a tuple of two tensors?")
    if ok:
        mean, std = (t.double().flatten() if t.numel() == 3 else t.double() for t in result)
        ok = r.expect(mean.shape == (3,) and std.shape == (3,), "mean and std hold one value per channel: shape (3,)",
                      "which axes of (N, C, H, W) does one channel's statistic run over, and which one must survive?")
    if ok:
        ref_mean, ref_std = channel_stats(images)
        if mean.max() > 1.5:
            ok = r.expect(False, "values are in [0, 1] units",
                          "the pixels are uint8 in 0..255: what units does the contract ask for?")
        else:
            r.expect(torch.allclose(mean, ref_mean, atol=1e-4), "mean per channel is right",
                     "is every pixel of the channel, in every image, counted once, in [0, 1] units?")
            ok = r.expect(torch.allclose(std, ref_std, atol=1e-3), "std per channel is right",
                     "over the same pixels as the mean; which standard deviation does the contract name "
                     "(divide by n or n - 1)?")
    # 8 pixels per channel: dividing by n instead of n - 1 makes the std 6.5% smaller, far beyond the tolerance
    tiny = torch.tensor([0, 255, 64, 128, 30, 200, 90, 10], dtype=torch.uint8).view(2, 1, 2, 2).repeat(1, 3, 1, 1)
    x = tiny[:, 0].double().flatten() / 255
    sample_std = float(((x - x.mean()) ** 2).sum() / (x.numel() - 1)) ** 0.5  # before the call: it may write into tiny
    got = call(r, fn, tiny) if ok else None  # only once the std is right on the large probe
    if isinstance(got, tuple) and len(got) == 2 and _tensor(got[1]) and got[1].numel() == 3:
        r.expect(torch.allclose(got[1].double().flatten(), torch.full((3,), sample_std, dtype=torch.float64),
                                atol=1e-4),
                 "std is the sample standard deviation (divides by n - 1, torch's default)",
                 "on 8 pixels per channel the two standard deviations differ: which one does the contract name?")
    r.expect(_same_tensor(images, original), "the images passed in are left unchanged",
             "does any step of yours write into the tensor you were given?")
    r.finish()


def check_normalize(fn) -> None:
    """normalize(images uint8 (N, C, H, W), mean (C,), std (C,)) -> float32 (x / 255 - mean) / std per channel."""
    __tracebackhide__ = True
    r = Report("normalize")
    images = torch.randint(0, 256, (6, 3, 5, 7), generator=_gen(2), dtype=torch.uint8)
    mean = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)  # float64, like DataSplit.mean
    std = torch.tensor([0.1, 0.25, 0.4], dtype=torch.float64)
    original = images.clone()
    out = call(r, fn, images, mean, std)
    if not r.expect(_tensor(out) and out.shape == images.shape, "returns a tensor of the same shape as the images",
                    "mean and std have shape (C,): how do they line up with (N, C, H, W) when you broadcast?"):
        return r.finish()
    r.expect(out.dtype == torch.float32, "the result is float32",
             f"got {out.dtype}: which of your inputs decides the dtype of the result when torch mixes dtypes?")
    expected = ((original.double() / 255 - mean.view(3, 1, 1)) / std.view(3, 1, 1)).float()  # as passed in
    good = torch.allclose(out.float(), expected, atol=1e-5)
    hint = "is each pixel shifted and scaled by its own channel's mean and std?"
    if not good and torch.allclose(out.float(), ((images.double() - mean.view(3, 1, 1)) / std.view(3, 1, 1)).float()):
        hint = "mean and std are in [0, 1] units; are your pixels in the same units when you subtract?"
    r.expect(good, "each channel is (x / 255 - mean) / std", hint)
    r.expect(_same_tensor(images, original), "the images passed in are left unchanged",
             "do not modify `images` in place")
    r.finish()


# ------------------------------------------------------------------------------------------------- 02 Cutout
def check_cutout_one(fn) -> None:
    """cutout_one(image (C, H, W), size, cy, cx) -> copy with the clipped square around (cy, cx) set to 0."""
    __tracebackhide__ = True
    r = Report("cutout_one")
    image = _images(1, 3, 10, 12, seed=3)[0]
    original = image.clone()
    out = call(r, fn, image, 4, 5, 6)
    if not r.expect(_tensor(out) and out.shape == image.shape and out.dtype == image.dtype,
                    "returns a tensor of the same shape and dtype as the image",
                    "what does your function return, in which dtype?"):
        return r.finish()
    r.expect(_same_tensor(image, original), "the image passed in is left unchanged",
             "the contract says a copy: does your function write into the tensor it was given?")
    cases = {"a square in the middle has side `size` around (cy, cx)": (4, 5, 6),
             "a square at the top-left corner is clipped": (4, 0, 1),
             "a square at the bottom-right corner is clipped": (5, 9, 11)}
    for what, (size, cy, cx) in cases.items():
        out = call(r, fn, original.clone(), size, cy, cx)  # a fresh copy: each case on its own
        mask = changed_mask(original[None], out[None])[0]
        (x1, y1, x2, y2), filled = mask_box(mask)
        want = expected_square(size, cy, cx, 10, 12)
        hint = (f"size={size}, cy={cy}, cx={cx} on a 10x12 image should hide rows {want[1]}..{want[3] - 1} and columns "
                f"{want[0]}..{want[2] - 1}; you hid rows {y1}..{y2 - 1}, columns {x1}..{x2 - 1}"
                if mask.any() else f"nothing was hidden for size={size}, cy={cy}, cx={cx}")
        if "clipped" in what and not mask.any():
            hint += " (what does Python slicing do with a negative start index?)"
        r.expect(filled and (x1, y1, x2, y2) == want, what, hint)
    r.expect(bool((out[:, mask] == 0).all()) if mask.any() else False, "hidden pixels are set to 0",
             "are the hidden pixels 0 in every channel, not just the first?")
    r.finish()


def check_cutout_batch(fn) -> None:
    """cutout_batch(images (B, C, H, W), size, generator=None) -> images with one clipped square per image."""
    __tracebackhide__ = True
    r = Report("cutout_batch")
    b, h, w, size = 256, 16, 16, 6
    images = _images(b, 3, h, w, seed=4)
    original = images.clone()
    out = call(r, fn, images, size, generator=_gen(0))
    if not r.expect(_tensor(out) and out.shape == images.shape and out.dtype == images.dtype,
                    "returns a batch of the same shape and dtype",
                    "what does your function return: the images, or something else?"):
        return r.finish()
    r.expect(_same_tensor(images, original), "the batch passed in is left unchanged",
             "does any step of yours write into the batch you were given?")
    masks = changed_mask(original, out)  # against the batch as it was passed in
    boxes = [mask_box(m) for m in masks]
    r.expect(all(filled for _, filled in boxes) and all(m.any() for m in masks),
             "every image has exactly one hidden square (a filled rectangle)",
             "which pixels of image i are inside its square? picture a (B, H, W) answer to that question")
    r.expect(bool((out.permute(1, 0, 2, 3)[:, masks] == 0).all()), "hidden pixels are 0 in every channel",
             "does your fill reach every channel of a hidden pixel?")
    sides = [(x2 - x1, y2 - y1, x1 == 0 or x2 == w, y1 == 0 or y2 == h) for (x1, y1, x2, y2), _ in boxes]
    r.expect(all((sw == size or at_x) and (sh == size or at_y) and sw <= size and sh <= size
                 for sw, sh, at_x, at_y in sides),
             f"squares have side {size}, smaller only where the border cuts them",
             "where does a square start and end relative to its centre, and what happens at the border?")
    clipped = sum(sw < size or sh < size for sw, sh, _, _ in sides)
    r.expect(clipped > b // 10, "squares near the border are clipped (centres are drawn over the whole image)",
             f"only {clipped} of {b} squares were clipped: where may a centre fall, and what happens to a square "
             "whose centre is near the border?")
    distinct = len({box for box, _ in boxes})
    r.expect(distinct > b // 8, "each image gets its own random square",
             f"only {distinct} different squares in {b} images: how many centres do you draw per batch?")
    again = call(r, fn, original.clone(), size, generator=_gen(0))
    r.expect(_same_tensor(out, again), "the same generator seed gives the same result",
             "is every random number you draw taken from `generator`?")
    as_uint8 = call(r, fn, _images(8, 3, h, w, seed=5, dtype=torch.uint8), size, generator=_gen(1))
    r.expect(_tensor(as_uint8) and as_uint8.dtype == torch.uint8, "uint8 images stay uint8",
             "does any step of yours change the dtype of the images?")
    r.finish()


# ------------------------------------------------------------------------------------------------- 03 CutMix
def box_tuple(box) -> tuple:
    """A box returned as a tuple, list or tensor of four numbers -> (x1, y1, x2, y2) ints."""
    values = box.tolist() if _tensor(box) else list(box)
    if len(values) != 4:
        raise ValueError(f"a box must have four numbers (x1, y1, x2, y2), got {values!r}")
    return tuple(int(v) for v in values)


def check_sample_box(fn) -> None:
    """sample_box(lam, height, width, generator=None) -> (x1, y1, x2, y2), the clipped CutMix box."""
    __tracebackhide__ = True
    r = Report("sample_box")
    h, w = 24, 32  # not square, so swapped axes show
    draws = {}
    for lam in (0.3, 0.6, 0.85):
        g = _gen(7)
        got = []
        for _ in range(150):
            box = call(r, fn, lam, h, w, generator=g)
            try:
                got.append(box_tuple(box))
            except (TypeError, ValueError) as exc:
                r.expect(False, "returns four numbers (x1, y1, x2, y2)", str(exc))
                return r.finish()
        draws[lam] = got
    every = [b for got in draws.values() for b in got]
    r.expect(all(0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h for x1, y1, x2, y2 in every),
             "boxes lie inside the image: 0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H",
             "are x1 and x2 within 0..W and y1 and y2 within 0..H? does x go with the width?")
    size_ok, clipped = True, 0
    for lam, got in draws.items():
        cut_w, cut_h = math.sqrt(1 - lam) * w, math.sqrt(1 - lam) * h
        for x1, y1, x2, y2 in got:
            inner_x, inner_y = x1 > 0 and x2 < w, y1 > 0 and y2 < h
            size_ok &= (not inner_x or abs((x2 - x1) - cut_w) <= 2) and (not inner_y or abs((y2 - y1) - cut_h) <= 2)
            # clipped: smaller than the box asked for (touching the border is not enough)
            clipped += (x2 - x1) < 2 * int(cut_w / 2) or (y2 - y1) < 2 * int(cut_h / 2)
    r.expect(size_ok, "an unclipped box is sqrt(1 - λ)·W wide and sqrt(1 - λ)·H high",
             "which share of the area should the box cover, so how long is each side? does x go with the width?")
    r.expect(clipped > len(every) // 10, "boxes near the border are clipped (centres anywhere in the image)",
             "where may the centre fall, and what happens to a box whose centre is near the border?")
    empty = box_tuple(call(r, fn, 1.0, h, w, generator=_gen(0)))
    r.expect((empty[2] - empty[0]) * (empty[3] - empty[1]) == 0, "λ = 1 gives an empty box (nothing is pasted)",
             "what share of the image does λ = 1 leave to the partner?")
    again = box_tuple(call(r, fn, 0.6, h, w, generator=_gen(7)))
    r.expect(again == draws[0.6][0], "the same generator seed gives the same box",
             "is every random number you draw taken from `generator`?")
    r.finish()


def _cutmix_probe(c=3, h=12, w=16, b=10, dtype=torch.float32):
    """Images whose pixels say which image they came from (image i is filled with i + 1), labels = arange(b)."""
    images = (torch.arange(b, dtype=torch.float32) + 1).view(b, 1, 1, 1).expand(b, c, h, w).to(dtype).contiguous()
    return images, torch.arange(b)


def analyse_cutmix(images, labels, mixed, soft, num_classes):
    """For a probe batch from `_cutmix_probe`: per image, the partner seen in the pasted pixels, the kept share of
    pixels, and whether the label weights equal the pixel shares. Returns a list of dicts."""
    b, _, h, w = images.shape
    rows = []
    for i in range(b):
        values = mixed[i, 0].round().long() - 1  # which image each pixel came from
        others = values[values != i].unique().tolist()
        kept = float((values == i).sum()) / (h * w)
        partner = others[0] if len(others) == 1 else (i if not others else None)
        weights_ok = False
        if partner is not None:
            want = torch.zeros(num_classes, dtype=torch.float64)
            want[labels[i]] += kept
            want[labels[partner]] += 1 - kept
            weights_ok = bool(torch.allclose(soft[i].double(), want, atol=1e-5))
        rows.append({"partner": partner, "kept": kept, "box": mask_box(values != i)[0] if others else None,
                     "weights_ok": weights_ok, "lam_weight": float(soft[i, labels[i]])})
    return rows


def check_cutmix_batch(fn) -> None:
    """cutmix_batch(images, labels, num_classes, lam, generator=None) -> (mixed images, soft labels)."""
    __tracebackhide__ = True
    r = Report("cutmix_batch")
    b, k = 10, 10
    images, labels = _cutmix_probe(b=b)
    original = images.clone()
    results = []
    for seed in range(8):
        lam = 0.2 + 0.1 * seed
        batch = images if seed == 0 else original.clone()  # the first call shows whether the input is modified
        results.append((lam, call(r, fn, batch, labels, k, lam, generator=_gen(seed))))
    if not r.expect(all(isinstance(out, tuple) and len(out) == 2 and all(_tensor(t) for t in out)
                        for _, out in results),
                    "returns a pair (mixed images, soft labels)", "what does your function return, and is it a pair?"):
        return r.finish()
    results = [(lam, *out) for lam, out in results]
    mixed, soft = results[0][1], results[0][2]
    if not r.expect(mixed.shape == images.shape and mixed.dtype == images.dtype and soft.shape == (b, k),
                    "shapes: images (B, C, H, W) with their dtype, labels (B, num_classes)",
                    "one row of num_classes weights per image: what shape is that?"):
        return r.finish()
    r.expect(_same_tensor(images, original), "the batch passed in is left unchanged",
             "does any step of yours write into the batch you were given?")
    sums_ok = all(torch.allclose(s.double().sum(1), torch.ones(b, dtype=torch.float64), atol=1e-5)
                  and bool((s >= -1e-6).all()) for _, _, s in results)
    r.expect(sums_ok, "every soft label sums to 1 and has no negative weight",
             "which two labels share the weight, and how much does each get?")
    analyses = [analyse_cutmix(original, labels, m, s, k) for _, m, s in results]
    r.expect(all(row["partner"] is not None for a in analyses for row in a),
             "each image receives its patch from one partner image",
             "how is each image's partner chosen, and is it one image?")
    # a correct box is never empty and never larger than asked: sides at most sqrt(1 - λ)·H by sqrt(1 - λ)·W
    pasted = all(any(row["kept"] < 1 for row in a) and all(row["kept"] >= lam - 1e-9 for row in a)
                 for (lam, _, _), a in zip(results, analyses))
    r.expect(pasted, "a patch of at most (1 - λ)·H·W pixels is pasted into the images",
             "where do the partner's pixels go, and how large may that region be?")
    boxes_same = all(len({row["box"] for row in a if row["box"] is not None}) <= 1 for a in analyses)
    r.expect(boxes_same, "one box for the whole batch (as in the paper and torchvision)",
             "how many boxes does the contract ask for per batch?")
    weights = all(row["weights_ok"] for a in analyses for row in a)
    uncorrected = any(abs(row["lam_weight"] - lam) < 1e-5 and abs(row["kept"] - lam) > 1e-3
                      for (lam, _, _), a in zip(results, analyses) for row in a if row["kept"] < 1)
    hint = "the weight of image i's own label must be the share of its pixels that were kept"
    if uncorrected:
        hint = ("your weights match the λ you were given, not the pixels: what happens to the box's area when "
                "it is clipped at the border?")
    r.expect(weights, "label weights equal the pixel shares (λ recomputed from the clipped box)", hint)
    as_uint8 = call(r, fn, original.to(torch.uint8), labels, k, 0.5, generator=_gen(0))
    r.expect(isinstance(as_uint8, tuple) and _tensor(as_uint8[0]) and as_uint8[0].dtype == torch.uint8,
             "uint8 images stay uint8", "does any step of yours change the dtype of the images?")
    r.finish()


def check_cutmix_per_sample(fn) -> None:
    """cutmix_per_sample(images, labels, num_classes, lam (B,), generator=None) -> (mixed, soft): a box per image."""
    __tracebackhide__ = True
    r = Report("cutmix_per_sample")
    b, k, h, w = 24, 24, 12, 16
    images, labels = _cutmix_probe(b=b, h=h, w=w)
    original = images.clone()
    lam = torch.linspace(0.05, 0.95, b, dtype=torch.float64)[torch.randperm(b, generator=_gen(21))]
    out = call(r, fn, images, labels, k, lam.clone(), generator=_gen(3))
    if not r.expect(isinstance(out, tuple) and len(out) == 2 and all(_tensor(t) for t in out),
                    "returns a pair (mixed images, soft labels)", "what does your function return, and is it a pair?"):
        return r.finish()
    mixed, soft = out
    if not r.expect(mixed.shape == images.shape and mixed.dtype == images.dtype and soft.shape == (b, k),
                    "shapes: images (B, C, H, W) with their dtype, labels (B, num_classes)",
                    "one row of num_classes weights per image: what shape is that?"):
        return r.finish()
    r.expect(_same_tensor(images, original), "the batch passed in is left unchanged",
             "does any step of yours write into the batch you were given?")
    rows = analyse_cutmix(original, labels, mixed, soft, k)
    r.expect(all(row["partner"] is not None for row in rows), "each image receives its patch from one partner image",
             "how is each image's partner chosen, and is it one image?")
    sides_ok = True
    for row, lam_i in zip(rows, lam.tolist()):
        if row["box"] is not None:
            x1, y1, x2, y2 = row["box"]
            inner_x, inner_y = x1 > 0 and x2 < w, y1 > 0 and y2 < h
            sides_ok &= (not inner_x or abs((x2 - x1) - math.sqrt(1 - lam_i) * w) <= 2) and \
                (not inner_y or abs((y2 - y1) - math.sqrt(1 - lam_i) * h) <= 2)
    r.expect(sides_ok, "each image's box has the sides its own λ asks for",
             "which λ belongs to image i, and how long are the sides of its box?")
    boxes = {row["box"] for row in rows if row["box"] is not None}
    r.expect(len(boxes) > b // 2, "each image gets its own box (not one box for the batch)",
             f"only {len(boxes)} different boxes in {b} images: how many centres do you draw?")
    r.expect(all(row["weights_ok"] for row in rows), "label weights equal each image's own pixel shares",
             "after clipping, what share of image i did its own box leave, and where do you know that number?")
    again = call(r, fn, original.clone(), labels, k, lam.clone(), generator=_gen(3))
    r.expect(isinstance(again, tuple) and _same_tensor(again[0], mixed),
             "the same generator seed gives the same result",
             "is every random number you draw taken from `generator`?")
    as_uint8 = call(r, fn, original.to(torch.uint8), labels, k, lam.clone(), generator=_gen(0))
    r.expect(isinstance(as_uint8, tuple) and _tensor(as_uint8[0]) and as_uint8[0].dtype == torch.uint8,
             "uint8 images stay uint8", "does any step of yours change the dtype of the images?")
    r.finish()


# ------------------------------------------------------------------------------------------------- 04 training
def check_soft_target_loss(fn) -> None:
    """soft_target_loss(logits (B, K), targets (B, K)) -> scalar mean of -sum_k t_k log softmax(logits)_k."""
    __tracebackhide__ = True
    r = Report("soft_target_loss")
    g = _gen(11)
    logits = torch.randn(6, 5, generator=g)
    y_a, y_b = torch.randint(5, (6,), generator=g), torch.randint(5, (6,), generator=g)
    onehot = F.one_hot(y_a, 5).float()
    loss = call(r, fn, logits, onehot)
    if not r.expect(_tensor(loss) and loss.ndim == 0, "returns a scalar tensor (one number for the batch)",
                    "one number for the batch: which axes do you reduce, and how?"):
        return r.finish()
    r.expect(torch.allclose(loss, F.cross_entropy(logits, y_a), atol=1e-5),
             "with one-hot targets it equals the ordinary cross-entropy",
             "what does cross-entropy compute for one image with a one-hot target, and how are images combined?")
    lam = 0.7
    mixed = lam * onehot + (1 - lam) * F.one_hot(y_b, 5).float()
    want = lam * F.cross_entropy(logits, y_a) + (1 - lam) * F.cross_entropy(logits, y_b)
    r.expect(torch.allclose(call(r, fn, logits, mixed), want, atol=1e-5),
             "with CutMix targets it equals λ·CE(a) + (1 - λ)·CE(b)",
             "does every class's log-probability count with its target weight?")
    big = call(r, fn, logits * 1000, onehot)
    r.expect(_tensor(big) and bool(torch.isfinite(big)), "stays finite for large logits (numerically stable)",
             "what is exp(1000) in float32, and log of a probability that rounded to 0? "
             "which shift leaves softmax unchanged?")
    leaf = logits.clone().requires_grad_(True)
    try:
        call(r, fn, leaf, mixed).backward()
        grad_ok = leaf.grad is not None and torch.allclose(leaf.grad, (leaf.softmax(1) - mixed).detach() / 6, atol=1e-5)
    except Exception:  # noqa: BLE001 - CheckFailed, or backward() on a result that has no gradient (detached, .item(), ...)
        grad_ok = False
    r.expect(grad_ok, "its gradient is (softmax - targets) / B, so training can use it",
             "does every step keep the result connected to the logits for autograd?")
    r.finish()


# ------------------------------------------------------------------------------------------------- 05 prediction
def check_softmax(fn) -> None:
    """softmax(logits (B, K)) -> probabilities (B, K), each row summing to 1."""
    __tracebackhide__ = True
    r = Report("softmax")
    logits = torch.randn(4, 7, generator=_gen(12)) * 3
    p = call(r, fn, logits)
    if not r.expect(_tensor(p) and p.shape == logits.shape, "returns a tensor of the same shape as the logits",
                    "which axis holds the classes, and does your result keep the logits' shape?"):
        return r.finish()
    r.expect(torch.allclose(p.sum(-1), torch.ones(4), atol=1e-5) and bool((p >= 0).all()),
             "every row is a probability distribution (>= 0, sums to 1)",
             "what must each row sum to, and over which axis do you normalise?")
    r.expect(torch.allclose(p, logits.softmax(-1), atol=1e-5), "values equal exp(x_k) / sum_j exp(x_j)",
             "is each image normalised on its own?")
    big = call(r, fn, logits * 1000)
    r.expect(_tensor(big) and bool(torch.isfinite(big).all()), "stays finite for large logits",
             "what is exp(1000) in float32? which shift of a row leaves its softmax unchanged?")
    r.finish()


def check_top_k(fn, classes) -> None:
    """top_k(logits (K,), classes, k=3) -> [(class name, probability), ...] best first."""
    __tracebackhide__ = True
    r = Report("top_k")
    logits = torch.randn(len(classes), generator=_gen(13)) * 2
    got = call(r, fn, logits, classes, 3)
    ok = r.expect(isinstance(got, (list, tuple)) and len(got) == 3 and
                  all(isinstance(t, (list, tuple)) and len(t) == 2 for t in got),
                  "returns k pairs (class name, probability)", "what does one element of the result look like?")
    if ok:
        probs = logits.softmax(0)
        order = probs.argsort(descending=True)[:3].tolist()
        r.expect([name for name, _ in got] == [classes[i] for i in order], "the k most probable classes, best first",
                 "are the classes ordered by probability, highest first?")
        named = [classes.index(name) if name in classes else None for name, _ in got]  # each by its own class
        r.expect(all(i is not None and abs(float(p) - float(probs[i])) < 1e-5 for (_, p), i in zip(got, named)),
                 "probabilities are the softmax of the logits", "are these probabilities, or still logits?")
        r.expect(all(isinstance(p, float) for _, p in got), "probabilities are plain Python floats",
                 "is each probability a Python float or still a tensor?")
    r.finish()


# ------------------------------------------------------------------------------------------------- 06 quiz
def check_answer(name: str, answer, choices=("A", "B", "C", "D")) -> None:
    """Check the *form* of a quiz answer (one letter); whether it is right is for the quiz widget and the grader."""
    __tracebackhide__ = True
    if answer is None:
        print(f"{name}: {FAIL} not answered yet: set {name} to one of {', '.join(repr(c) for c in choices)}",
              flush=True)
        raise NotImplementedError(f"{name} is not answered yet")
    r = Report(name)
    r.expect(isinstance(answer, str) and answer.strip().upper() in choices,
             f"the answer is one of {', '.join(choices)}",
             f"write the letter as a string, e.g. {name} = 'A'; got {answer!r}")
    r.finish()


def check_prediction(name: str, value, declared_id) -> None:
    """Check the *form* of a prediction (a number in [0, 1], 4 decimals) and of the student id it is for; whether it
    is the right average for your case is decided when the notebook is graded."""
    __tracebackhide__ = True
    from . import quiz

    if value is None:
        print(f"{name}: {FAIL} not answered yet: set {name} to your prediction (4 decimals)", flush=True)
        raise NotImplementedError(f"{name} is not answered yet")
    r = Report(name)
    problem = quiz.id_problem(declared_id) if quiz.student_id(declared_id) is None else None
    r.expect(problem is None, "STUDENT_ID is a student id (your case depends on it)", problem or "")
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    r.expect(number and 0 <= value <= 1, "the prediction is a number between 0 and 1",
             f"type your prediction as a number, e.g. {name} = 0.1234; got {value!r}")
    r.expect(number and abs(value * 1e4 - round(value * 1e4)) < 1e-6, "it has at most 4 decimals",
             "round your prediction to 4 decimals")
    r.finish()
