"""The course CNN, organised in the stages of the prediction trace:

    input -> convolution -> pooling -> fully connected -> softmax -> prediction

`CourseCNN.forward` returns logits (what training needs); `CourseCNN.trace` returns every stage's activation and
shape for one batch, which the prediction-trace table, figure and notebook show.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import _checks

STAGES = ("input", "convolution", "pooling", "fully connected", "softmax", "prediction")


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CourseCNN(nn.Module):
    """A small VGG-style CNN for 32x32 RGB images.

    convolution: four conv-BN-ReLU blocks of widths[0], widths[1], widths[2], widths[2] channels with 2x2
                 max-pooling after the first two (32x32 -> 16x16 -> 8x8), ending in feature maps (widths[-1], 8, 8);
    pooling:     global max-pooling to (widths[-1], 1, 1): "is this feature anywhere in the image?", which suits
                 objects that may sit anywhere (on the synthetic shapes it beat 2x2 pooling to a 4x4 grid
                 by about 20 points of test accuracy);
    fully connected: flatten and one linear layer to `num_classes` logits.
    Softmax and the prediction (argmax) are not part of `forward`; `trace` shows them.
    """

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 64, 128), in_channels: int = 3,
                 image_size: int = 32):
        super().__init__()
        _checks.positive_int(num_classes, "num_classes")
        if len(widths) != 3 or any(isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in widths):
            raise ValueError(f"widths must be three positive integers, got {widths!r}")
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        w1, w2, w3 = widths
        self.num_classes, self.widths, self.image_size = num_classes, tuple(widths), image_size
        self.convolution = nn.Sequential(
            _conv_block(in_channels, w1), nn.MaxPool2d(2),
            _conv_block(w1, w2), nn.MaxPool2d(2),
            _conv_block(w2, w3), _conv_block(w3, w3),
        )
        self.pooling = nn.AdaptiveMaxPool2d(1)
        self.fully_connected = nn.Sequential(nn.Flatten(), nn.Linear(w3, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fully_connected(self.pooling(self.convolution(x)))

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> list["Stage"]:
        """Run `x` (B, 3, H, W) through the network in eval mode and return the six stages in order."""
        batch, _ = _checks.images_4d(x, "x")
        if not batch.dtype.is_floating_point:
            raise TypeError(f"x must be normalised floating-point images, got {batch.dtype}")
        was_training = self.training
        self.eval()
        try:
            conv = self.convolution(batch)
            pooled = self.pooling(conv)
            logits = self.fully_connected(pooled)
            probs = logits.softmax(dim=1)
            pred = probs.argmax(dim=1)
        finally:
            self.train(was_training)
        return [Stage(name, t) for name, t in zip(STAGES, (batch, conv, pooled, logits, probs, pred))]


@dataclass
class Stage:
    name: str
    activation: torch.Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.activation.shape)


def make_model(num_classes: int = 10, seed: int = 0, widths=(32, 64, 128), device=None) -> CourseCNN:
    """A freshly initialised CourseCNN whose weights depend only on `seed` (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CourseCNN(num_classes, tuple(widths))
    return model.to(device) if device is not None else model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
