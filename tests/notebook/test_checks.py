"""The students' instant feedback: correct implementations pass every public check, plausible wrong ones fail the
property that is actually wrong (with its hint), an unfinished stub says so, and nothing goes to stderr."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import plain
from cutmix_course.notebook import checks


# ------------------------------------------------------------------------------------------------- implementations
def channel_mean_std(images):
    """Written with numpy, not with data.channel_stats: that one is the check's own oracle."""
    pixels = images.numpy().transpose(1, 0, 2, 3).reshape(images.shape[1], -1) / 255.0
    return torch.from_numpy(pixels.mean(axis=1)), torch.from_numpy(pixels.std(axis=1, ddof=1))


def normalize(images, mean, std):
    return ((images.float() / 255 - mean.float().view(-1, 1, 1)) / std.float().view(-1, 1, 1))


def cutout_one(image, size, cy, cx):  # written here: the checks forbid the course's own helpers
    x1, y1, x2, y2 = checks.expected_square(size, cy, cx, *image.shape[-2:])
    out = image.clone()
    out[:, y1:y2, x1:x2] = 0
    return out


cutout_batch = plain.cutout  # one square per image, written in tests/plain.py (the checks forbid the course's)


def sample_box(lam, height, width, generator=None):
    cut_w, cut_h = int(width * math.sqrt(1 - lam)), int(height * math.sqrt(1 - lam))
    cx, cy = int(torch.randint(width, (1,), generator=generator)), int(torch.randint(height, (1,), generator=generator))
    return (max(cx - cut_w // 2, 0), max(cy - cut_h // 2, 0), min(cx + cut_w // 2, width),
            min(cy + cut_h // 2, height))


def cutmix_batch(images, labels, num_classes, lam, generator=None):
    h, w = images.shape[-2:]
    x1, y1, x2, y2 = sample_box(lam, h, w, generator)
    partner = torch.randperm(images.shape[0], generator=generator)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[partner, :, y1:y2, x1:x2]
    kept = 1 - (x2 - x1) * (y2 - y1) / (h * w)
    onehot = torch.eye(num_classes)[labels]
    return mixed, kept * onehot + (1 - kept) * onehot[partner]


def cutmix_per_sample(images, labels, num_classes, lam, generator=None, *, lam_of=None, one_box=False, weights=None):
    """Per-sample CutMix written here; the keyword-only switches make the wrong variants of test_check_properties."""
    b, _, h, w = images.shape
    lam = torch.as_tensor(lam, dtype=torch.float64).reshape(b)
    lam_box = lam_of(lam) if lam_of else lam
    cut_w, cut_h = (w * torch.sqrt(1 - lam_box)).long(), (h * torch.sqrt(1 - lam_box)).long()
    cx, cy = torch.randint(w, (b,), generator=generator), torch.randint(h, (b,), generator=generator)
    if one_box:
        cx, cy, cut_w, cut_h = cx[:1].expand(b), cy[:1].expand(b), cut_w[:1].expand(b), cut_h[:1].expand(b)
    x1, x2 = (cx - cut_w // 2).clamp(0, w), (cx + cut_w // 2).clamp(0, w)
    y1, y2 = (cy - cut_h // 2).clamp(0, h), (cy + cut_h // 2).clamp(0, h)
    partner = torch.randperm(b, generator=generator)
    inside = ((torch.arange(h) >= y1[:, None]) & (torch.arange(h) < y2[:, None]))[:, :, None] & \
        ((torch.arange(w) >= x1[:, None]) & (torch.arange(w) < x2[:, None]))[:, None, :]
    mixed = torch.where(inside[:, None], images[partner], images)
    kept = 1 - ((x2 - x1) * (y2 - y1)).double() / (h * w) if weights is None else weights(lam)
    onehot = torch.eye(num_classes, dtype=torch.float64)[labels]
    return mixed, (kept[:, None] * onehot + (1 - kept[:, None]) * onehot[partner]).float()


def soft_target_loss(logits, targets):
    return -(targets * (logits - torch.logsumexp(logits, 1, keepdim=True))).sum(1).mean()


def softmax(logits):
    z = torch.exp(logits - logits.max(-1, keepdim=True).values)
    return z / z.sum(-1, keepdim=True)


def top_k(logits, classes, k=3):
    p, i = softmax(logits[None])[0].topk(k)
    return [(classes[int(j)], float(v)) for v, j in zip(p, i)]


CORRECT = {
    checks.check_channel_mean_std: channel_mean_std, checks.check_normalize: normalize,
    checks.check_cutout_one: cutout_one, checks.check_cutout_batch: cutout_batch,
    checks.check_sample_box: sample_box, checks.check_cutmix_batch: cutmix_batch,
    checks.check_cutmix_per_sample: cutmix_per_sample, checks.check_soft_target_loss: soft_target_loss,
    checks.check_softmax: softmax,
}
CLASSES = tuple("abcdefghij")


def run(check, fn, *args):
    check(fn, *args)


@pytest.mark.parametrize("check", list(CORRECT), ids=lambda c: c.__name__)
def test_a_correct_implementation_passes_and_prints_on_stdout_only(check, capsys):
    check(CORRECT[check])
    out, err = capsys.readouterr()
    assert "All public checks passed" in out and "✗" not in out
    assert err == ""


def test_top_k_and_answers_pass(capsys):
    checks.check_top_k(top_k, CLASSES)
    checks.check_answer("answer_q1", " c ")
    out, err = capsys.readouterr()
    assert out.count("All public checks passed") == 2 and err == ""


@pytest.mark.parametrize("check", [*CORRECT, checks.check_top_k], ids=lambda c: c.__name__)
def test_an_unfinished_stub_raises_not_implemented_and_says_so(check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check(stub, CLASSES) if check is checks.check_top_k else check(stub)
    out, err = capsys.readouterr()
    assert "not implemented yet" in out and err == ""


def test_a_stub_called_by_the_student_function_is_named(capsys):
    def sample_box_stub(lam, height, width, generator=None):
        raise NotImplementedError()

    def cutmix_using_stub(images, labels, num_classes, lam, generator=None):
        sample_box_stub(lam, *images.shape[-2:], generator=generator)

    with pytest.raises(NotImplementedError):
        checks.check_cutmix_batch(cutmix_using_stub)
    assert "sample_box_stub (called by cutmix_batch)" in capsys.readouterr().out


def failed(check, fn, capsys, *args):
    """Run a check expected to fail; return (the failed property lines, the whole output)."""
    with pytest.raises(checks.CheckFailed):
        check(fn, *args)
    out, err = capsys.readouterr()
    assert err == ""
    return [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("✗")], out


# ------------------------------------------------------------------------------------------------- wrong answers
def test_channel_stats_without_dividing_by_255(capsys):
    lines, out = failed(checks.check_channel_mean_std, lambda im: (im.double().mean((0, 2, 3)),
                                                                   im.double().std((0, 2, 3))), capsys)
    assert lines == ["values are in [0, 1] units"] and "0..255: what units" in out


def test_channel_stats_over_the_wrong_axes(capsys):
    lines, _ = failed(checks.check_channel_mean_std, lambda im: ((im.double() / 255).mean((0, 1, 2)),
                                                                 (im.double() / 255).std((0, 1, 2))), capsys)
    assert "mean and std hold one value per channel: shape (3,)" in lines


def test_normalize_left_in_float64(capsys):
    lines, out = failed(checks.check_normalize,
                        lambda im, m, s: (im.double() / 255 - m.view(-1, 1, 1)) / s.view(-1, 1, 1), capsys)
    assert lines == ["the result is float32"] and "which of your inputs decides the dtype" in out


def test_cutout_one_with_negative_slice_starts(capsys):
    def no_clip(image, size, cy, cx):
        out = image.clone()
        out[:, cy - size // 2:cy - size // 2 + size, cx - size // 2:cx - size // 2 + size] = 0
        return out

    lines, out = failed(checks.check_cutout_one, no_clip, capsys)
    assert "a square at the top-left corner is clipped" in lines
    assert "a square in the middle has side `size` around (cy, cx)" not in lines
    assert "negative start index" in out


def test_cutout_one_modifying_its_input(capsys):
    def in_place(image, size, cy, cx):
        image[:, max(cy - size // 2, 0):cy - size // 2 + size, max(cx - size // 2, 0):cx - size // 2 + size] = 0
        return image

    lines, _ = failed(checks.check_cutout_one, in_place, capsys)
    assert "the image passed in is left unchanged" in lines


def test_cutout_one_zeroing_the_first_channel_only(capsys):
    def first_channel(image, size, cy, cx):  # the plausible `out[0, rows, cols] = 0`
        out = image.clone()
        out[0, max(cy - size // 2, 0):cy - size // 2 + size, max(cx - size // 2, 0):cx - size // 2 + size] = 0
        return out

    lines, out = failed(checks.check_cutout_one, first_channel, capsys)
    assert lines == ["hidden pixels are set to 0"] and "in every channel, not just the first" in out


def test_cutout_batch_that_never_clips(capsys):
    def never_clips(images, size, generator=None):  # centres drawn so that the square always fits
        b, _, h, w = images.shape
        top = torch.randint(h - size + 1, (b,), generator=generator)
        left = torch.randint(w - size + 1, (b,), generator=generator)
        rows, cols = torch.arange(h), torch.arange(w)
        mask = (((rows >= top[:, None]) & (rows < top[:, None] + size))[:, :, None]
                & ((cols >= left[:, None]) & (cols < left[:, None] + size))[:, None, :])
        return images.masked_fill(mask[:, None], 0)

    lines, out = failed(checks.check_cutout_batch, never_clips, capsys)
    assert lines == ["squares near the border are clipped (centres are drawn over the whole image)"]
    assert "only 0 of 256 squares were clipped" in out


def test_cutout_batch_with_one_square_for_the_whole_batch(capsys):
    def same_square(images, size, generator=None):
        cy, cx = (int(v) for v in torch.randint(images.shape[-1], (2,), generator=generator))
        return torch.stack([cutout_one(im, size, cy, cx) for im in images])

    lines, _ = failed(checks.check_cutout_batch, same_square, capsys)
    assert "each image gets its own random square" in lines


def test_cutout_batch_ignoring_the_generator(capsys):
    lines, _ = failed(checks.check_cutout_batch, lambda images, size, generator=None: plain.cutout(images, size),
                      capsys)
    assert lines == ["the same generator seed gives the same result"]


def test_cutout_batch_converting_to_float(capsys):
    lines, _ = failed(checks.check_cutout_batch,
                      lambda im, size, generator=None: cutout_batch(im.float(), size, generator), capsys)
    assert "uint8 images stay uint8" in lines


def test_sample_box_with_swapped_axes(capsys):
    lines, _ = failed(checks.check_sample_box, lambda lam, h, w, generator=None: sample_box(lam, w, h, generator),
                      capsys)
    assert "boxes lie inside the image: 0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H" in lines


def test_sample_box_with_the_area_instead_of_the_side(capsys):
    def area_not_side(lam, height, width, generator=None):  # forgot the square root
        cut_w, cut_h = int(width * (1 - lam)), int(height * (1 - lam))
        cx, cy = (int(torch.randint(width, (1,), generator=generator)),
                  int(torch.randint(height, (1,), generator=generator)))
        return (max(cx - cut_w // 2, 0), max(cy - cut_h // 2, 0),
                min(cx + cut_w // 2, width), min(cy + cut_h // 2, height))

    lines, _ = failed(checks.check_sample_box, area_not_side, capsys)
    assert lines == ["an unclipped box is sqrt(1 - λ)·W wide and sqrt(1 - λ)·H high"]


def test_cutmix_keeping_the_uncorrected_lambda(capsys):
    def uncorrected(images, labels, num_classes, lam, generator=None):
        box = plain.rand_bbox(images.shape[-2], images.shape[-1], lam, generator)
        partner = torch.randperm(images.shape[0], generator=generator)
        mixed, _, _ = plain.paste_boxes(images, labels, num_classes, box, partner)
        onehot = F.one_hot(labels, num_classes).float()
        return mixed, lam * onehot + (1 - lam) * onehot[partner]

    lines, out = failed(checks.check_cutmix_batch, uncorrected, capsys)
    assert lines == ["label weights equal the pixel shares (λ recomputed from the clipped box)"]
    assert "match the λ you were given, not the pixels" in out


def test_cutmix_with_a_box_per_image(capsys):
    def per_sample(images, labels, num_classes, lam, generator=None):
        return plain.cutmix(images, labels, num_classes, per_sample=True, generator=generator)

    lines, _ = failed(checks.check_cutmix_batch, per_sample, capsys)
    assert "one box for the whole batch (as in the paper and torchvision)" in lines


def test_soft_target_loss_computed_as_log_of_softmax(capsys):
    lines, out = failed(checks.check_soft_target_loss,
                        lambda logits, t: -(t * torch.log(torch.softmax(logits, 1))).sum(1).mean(), capsys)
    assert lines == ["stays finite for large logits (numerically stable)"]


def test_soft_target_loss_summed_over_the_batch(capsys):
    lines, _ = failed(checks.check_soft_target_loss,
                      lambda logits, t: -(t * F.log_softmax(logits, 1)).sum(), capsys)
    assert "with one-hot targets it equals the ordinary cross-entropy" in lines


def test_softmax_over_the_batch_axis(capsys):
    lines, _ = failed(checks.check_softmax, lambda x: torch.exp(x) / torch.exp(x).sum(0, keepdim=True), capsys)
    assert "every row is a probability distribution (>= 0, sums to 1)" in lines


def test_softmax_without_subtracting_the_maximum(capsys):
    lines, _ = failed(checks.check_softmax, lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True), capsys)
    assert lines == ["stays finite for large logits"]


def test_top_k_unsorted_and_as_tensors(capsys):
    def unsorted(logits, classes, k=3):
        p = softmax(logits[None])[0]
        return [(classes[i], p[i]) for i in range(k)]

    lines, _ = failed(checks.check_top_k, unsorted, capsys, CLASSES)
    assert "the k most probable classes, best first" in lines
    assert "probabilities are plain Python floats" in lines


def test_answers_must_be_letters(capsys):
    with pytest.raises(NotImplementedError):
        checks.check_answer("answer_q1", None)
    for bad in ("E", 3, "C or D"):
        with pytest.raises(checks.CheckFailed):
            checks.check_answer("answer_q1", bad)
    out, err = capsys.readouterr()
    assert "not answered yet" in out and err == ""


# ------------------------------------------------------------------------------------------------- plumbing
def test_a_crash_is_reported_with_its_message(capsys):
    with pytest.raises(checks.CheckFailed, match="IndexError"):
        checks.check_softmax(lambda x: x[5, 5, 5])
    out, err = capsys.readouterr()
    assert "raised IndexError" in out and err == ""


def test_warnings_from_student_code_go_to_stdout(capsys):
    def noisy(x):
        warnings.warn("this is deprecated", DeprecationWarning, stacklevel=2)
        return softmax(x)

    checks.check_softmax(noisy)
    out, err = capsys.readouterr()
    assert "DeprecationWarning: this is deprecated" in out and err == ""


def test_with_fallback_uses_the_reference_until_the_student_function_works(capsys):
    calls = []

    def stub(x):
        calls.append("stub")
        raise NotImplementedError()

    fn = checks.with_fallback(stub, lambda x: x + 1, "plus_one")
    assert fn(1) == 2 and fn(2) == 3
    out = capsys.readouterr().out
    assert out.count("your plus_one is not implemented yet") == 1 and calls == ["stub", "stub"]
    assert checks.with_fallback(lambda x: x * 10, lambda x: x + 1, "times_ten")(2) == 20


def test_mask_box_and_expected_square():
    mask = torch.zeros(6, 7, dtype=torch.bool)
    mask[1:4, 2:6] = True
    assert checks.mask_box(mask) == ((2, 1, 6, 4), True)
    mask[5, 0] = True
    assert checks.mask_box(mask)[1] is False
    assert checks.mask_box(torch.zeros(3, 3, dtype=torch.bool)) == ((0, 0, 0, 0), True)
    assert checks.expected_square(4, 0, 1, 10, 12) == (0, 0, 3, 2)
    assert checks.expected_square(5, 9, 11, 10, 12) == (9, 7, 12, 10)
    assert math.isclose(sum(checks.expected_square(3, 5, 5, 10, 10)), 4 + 4 + 7 + 7)


def test_with_fallback_passes_keywords_and_names_a_crash_and_the_reference(capsys):
    def broken(x, *, scale=1):
        raise ValueError("boom")

    def reference(x, *, scale=1):
        return x * scale

    fn = checks.with_fallback(broken, reference, "scaled")
    assert fn(3, scale=5) == 15 and fn(2, scale=4) == 8
    out = capsys.readouterr().out
    assert out == (f"(your scaled raised ValueError: boom; showing the course's reference "
                   f"{__name__}.reference instead)\n"), "one line, once, naming the error and the reference"
    assert checks.with_fallback(lambda x, *, scale=1: x - scale, reference, "minus")(3, scale=2) == 1
    assert fn.__name__ == "scaled_or_reference"


WRONG_FOR_TRACEBACK = [
    (checks.check_channel_mean_std, lambda images: (images.float().mean((0, 2, 3)), images.float().std((0, 2, 3)))),
    (checks.check_normalize, lambda images, mean, std: images),
    (checks.check_cutout_one, lambda image, size, cy, cx: image.clone()),
    (checks.check_cutout_batch, lambda images, size, generator=None: images.clone()),
    (checks.check_sample_box, lambda lam, height, width, generator=None: (0, 0, width, height)),
    (checks.check_cutmix_batch, lambda images, labels, num_classes, lam, generator=None:
        (images.clone(), F.one_hot(labels, num_classes).float())),
    (checks.check_soft_target_loss, lambda logits, targets: logits.sum()),
    (checks.check_softmax, lambda logits: logits),
]


@pytest.mark.parametrize("check, wrong", WRONG_FOR_TRACEBACK, ids=lambda c: getattr(c, "__name__", ""))
def test_a_failed_check_shows_the_student_no_frame_of_the_checks_code(check, wrong, capsys):
    """In the notebook, IPython prints the traceback of a failed check: the check's own frames are hidden
    (__tracebackhide__), so the student reads the failed properties, not the checking code."""
    import sys

    from IPython.core.ultratb import AutoFormattedTB

    with pytest.raises(checks.CheckFailed) as info:
        check(wrong)
    capsys.readouterr()
    text = AutoFormattedTB(mode="Context", theme_name="nocolor").text(info.type, info.value, info.tb)
    assert f"in {check.__name__}" not in text and "skipping hidden" in text, text
    assert sys.exc_info() == (None, None, None)


def test_channel_stats_with_the_population_std(capsys):
    """The contract names the sample std (n - 1); on the check's 8-pixel probe the population std is 6.5% smaller."""
    lines, out = failed(checks.check_channel_mean_std, lambda im: ((im.double() / 255).mean((0, 2, 3)),
                                                                   (im.double() / 255).std((0, 2, 3), correction=0)),
                        capsys)
    assert lines == ["std is the sample standard deviation (divides by n - 1, torch's default)"]
