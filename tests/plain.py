"""Plain re-implementations of the course's augmentations for the tests of the public checks.

The checks run the student's function under the exercise's tripwire (exercises.FORBIDDEN), which forbids the course's
own augment functions; the tests' correct and deliberately wrong implementations are built from these instead.
"""
import math

import torch


def rand_bbox(height, width, lam, generator=None) -> torch.Tensor:
    """One CutMix box (x1, y1, x2, y2) for ratio lam, centre uniform, clipped: a (4,) tensor."""
    cut_w, cut_h = int(width * math.sqrt(1 - lam)), int(height * math.sqrt(1 - lam))
    cx, cy = int(torch.randint(width, (1,), generator=generator)), int(torch.randint(height, (1,), generator=generator))
    return torch.tensor([max(cx - cut_w // 2, 0), max(cy - cut_h // 2, 0), min(cx + cut_w // 2, width),
                         min(cy + cut_h // 2, height)])


def cutout(images, size, generator=None):
    """One clipped square of side `size` per image, filled with 0."""
    b, _, h, w = images.shape
    cy, cx = torch.randint(h, (b,), generator=generator), torch.randint(w, (b,), generator=generator)
    rows = (torch.arange(h) >= (cy - size // 2)[:, None]) & (torch.arange(h) < (cy - size // 2 + size)[:, None])
    cols = (torch.arange(w) >= (cx - size // 2)[:, None]) & (torch.arange(w) < (cx - size // 2 + size)[:, None])
    return images.masked_fill((rows[:, :, None] & cols[:, None, :])[:, None], 0)


def paste_boxes(images, labels, num_classes, box, partner):
    """Paste box (x1, y1, x2, y2) of images[partner] into every image; (mixed, soft labels, kept share)."""
    h, w = images.shape[-2:]
    x1, y1, x2, y2 = (int(v) for v in box)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[partner, :, y1:y2, x1:x2]
    kept = 1 - (x2 - x1) * (y2 - y1) / (h * w)
    onehot = torch.eye(num_classes)[labels]
    return mixed, kept * onehot + (1 - kept) * onehot[partner], kept


def cutmix(images, labels, num_classes, per_sample=True, generator=None):
    """CutMix with one box, λ ~ U(0, 1) and partner per image (the per-sample variant)."""
    b, _, h, w = images.shape
    partner = torch.randperm(b, generator=generator)
    mixed, soft = images.clone(), torch.zeros(b, num_classes)
    onehot = torch.eye(num_classes)[labels]
    for i in range(b):
        x1, y1, x2, y2 = (int(v) for v in rand_bbox(h, w, float(torch.rand(1, generator=generator)), generator))
        mixed[i, :, y1:y2, x1:x2] = images[partner[i], :, y1:y2, x1:x2]
        kept = 1 - (x2 - x1) * (y2 - y1) / (h * w)
        soft[i] = kept * onehot[i] + (1 - kept) * onehot[partner[i]]
    return mixed, soft


def soft_target_cross_entropy(logits, targets):
    return -(targets * (logits - torch.logsumexp(logits, 1, keepdim=True))).sum(1).mean()
