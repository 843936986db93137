"""Argument validation shared by the pipeline stages.

Every public function checks its arguments *before* doing any work and raises a ValueError/TypeError that names
the argument, what was expected and what came. Keeping the checks here means each message is written once.
"""
from __future__ import annotations

import math
import numbers

import torch

IMAGE_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)


def images_4d(images, name: str = "images", allow_single: bool = True) -> tuple[torch.Tensor, bool]:
    """Return (batch, was_single): a (B,C,H,W) view of `images`, accepting one (C,H,W) image if allowed."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}")
    if images.dtype not in IMAGE_DTYPES:
        raise TypeError(f"{name} must be uint8 or floating point, got dtype {images.dtype}")
    if images.ndim == 3 and allow_single:
        return images.unsqueeze(0), True
    if images.ndim != 4:
        shapes = "(B, C, H, W) or (C, H, W)" if allow_single else "(B, C, H, W)"
        raise ValueError(f"{name} must have shape {shapes}, got shape {tuple(images.shape)} ({images.ndim} dims)")
    if images.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image, got an empty batch of shape {tuple(images.shape)}")
    return images, False


def probability(p, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0.0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if not math.isfinite(value):  # inf passes "> 0" but is no usable alpha, learning rate, ...
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def generator(gen, name: str = "generator") -> None:
    if gen is not None and not isinstance(gen, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(gen).__name__}")


def class_labels(labels, batch_size: int, num_classes: int, name: str = "labels") -> torch.Tensor:
    """Accept (B,) integer class indices in [0, num_classes) or (B, num_classes) probabilities; return (B, K) float."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim == 1:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise TypeError(f"{name} of shape (B,) must hold integer class indices, got dtype {labels.dtype}")
        if labels.shape[0] != batch_size:
            raise ValueError(f"{name} must have one entry per image ({batch_size}), got {labels.shape[0]}")
        lowest, highest = (int(v) for v in torch.aminmax(labels)) if labels.numel() else (0, 0)  # one pass
        if lowest < 0 or highest >= num_classes:
            raise ValueError(
                f"{name} must lie in [0, {num_classes - 1}] (num_classes={num_classes}), "
                f"got values from {lowest} to {highest}"
            )
        # one-hot rows; F.one_hot would check the range a second time
        return torch.zeros(batch_size, num_classes, device=labels.device).scatter_(1, labels.long()[:, None], 1.0)
    if labels.ndim == 2:
        if tuple(labels.shape) != (batch_size, num_classes):
            raise ValueError(
                f"soft {name} must have shape (B, num_classes) = ({batch_size}, {num_classes}), "
                f"got {tuple(labels.shape)}"
            )
        if not labels.dtype.is_floating_point:
            raise TypeError(f"soft {name} of shape (B, num_classes) must be floating point, got dtype {labels.dtype}")
        return labels
    raise ValueError(f"{name} must have shape (B,) or (B, num_classes), got shape {tuple(labels.shape)}")
