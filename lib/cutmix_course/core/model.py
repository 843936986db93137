"""The course CNN, organised in the stages of the prediction trace:

    input -> convolution -> pooling -> fully connected -> softmax -> prediction

`CourseCNN.forward` returns logits (what training needs); `CourseCNN.trace` returns every stage's activation and
shape for one batch, which the prediction-trace table, figure and notebook show.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import validate

STAGES = ("input", "convolution", "pooling", "fully connected", "softmax", "prediction")
DEFAULT_WIDTHS = (32, 64, 128, 256)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class PatchWhitening(nn.Module):
    """A frozen 2x2 convolution that whitens image patches, fitted to the training images (`fit`).

    Its filters are the eigenvectors of the covariance of all 2x2 patches, scaled by 1/sqrt(eigenvalue), and their
    negatives: the next layer then sees decorrelated, unit-variance patch components of both signs from the first
    step on, which is what makes the network learn fast in a 20-epoch budget (the trick of Keller Jordan's
    airbench, after Coates & Ng 2011). Only the bias learns. Before `fit` the filters are a seeded random init.
    The input is padded by one pixel on the right and bottom, so the output keeps the image size.
    """

    def __init__(self, in_channels: int = 3, patch: int = 2, eps: float = 5e-4):
        super().__init__()
        self.patch, self.eps = patch, eps
        self.conv = nn.Conv2d(in_channels, 2 * in_channels * patch * patch, patch)
        self.conv.weight.requires_grad_(False)
        self.out_channels = self.conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, self.patch - 1, 0, self.patch - 1)))

    @torch.no_grad()
    def fit(self, images: torch.Tensor, chunk: int = 1000) -> "PatchWhitening":
        """Set the filters from normalised float images (N, C, H, W); returns self."""
        batch, _ = validate.images_4d(images, "images", allow_single=False)
        if not batch.dtype.is_floating_point:
            raise TypeError(f"images must be normalised floating-point images, got {batch.dtype}")
        c, p = batch.shape[1], self.patch
        if c != self.conv.in_channels:
            raise ValueError(f"images must have {self.conv.in_channels} channels, got {c}")
        dim = c * p * p
        cov, count = torch.zeros(dim, dim, dtype=torch.float64), 0
        for i in range(0, batch.shape[0], chunk):  # chunked: the patches of 50000 images would need gigabytes
            patches = batch[i:i + chunk].double().unfold(2, p, 1).unfold(3, p, 1)  # (n, C, H', W', p, p)
            flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, dim)
            cov += flat.T @ flat
            count += flat.shape[0]
        eigenvalues, eigenvectors = torch.linalg.eigh(cov / count)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp(min=0) + self.eps)[:, None]).reshape(dim, c, p, p)
        filters = filters.flip(0)  # strongest component first
        self.conv.weight.copy_(torch.cat((filters, -filters)).to(self.conv.weight))
        return self


class CourseCNN(nn.Module):
    """A small VGG-style CNN for RGB images, fast enough to train in minutes on a laptop CPU.

    convolution: an optional fixed patch-whitening layer (see `PatchWhitening`), then one conv-BN-ReLU block per
                 entry of `widths`, with 2x2 max-pooling between blocks: with the default four widths
                 32x32 -> 16x16 -> 8x8 -> 4x4, ending in feature maps (widths[-1], 4, 4);
    pooling:     global max-pooling to (widths[-1], 1, 1): "is this feature anywhere in the image?", which makes
                 the prediction independent of where the object sits;
    fully connected: flatten and one linear layer to `num_classes` logits.
    Softmax and the prediction (argmax) are not part of `forward`; `trace` shows them.
    """

    def __init__(self, num_classes: int = 10, widths=DEFAULT_WIDTHS, in_channels: int = 3, image_size: int = 32,
                 whiten: bool = True):
        super().__init__()
        validate.positive_int(num_classes, "num_classes")
        validate.positive_int(in_channels, "in_channels")
        if (not isinstance(widths, (tuple, list)) or not widths
                or any(isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in widths)):
            raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}")
        shrink = 2 ** (len(widths) - 1)
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0 or image_size % shrink:
            raise ValueError(f"image_size must be a positive multiple of {shrink} (one 2x2 pooling between each of the "
                             f"{len(widths)} blocks), got {image_size!r}")
        if not isinstance(whiten, bool):
            raise TypeError(f"whiten must be True or False, got {whiten!r}")
        self.num_classes, self.widths, self.image_size = num_classes, tuple(widths), image_size
        layers: list[nn.Module] = []
        c_in = in_channels
        if whiten:
            layers.append(PatchWhitening(in_channels))
            c_in = layers[0].out_channels
        for i, width in enumerate(self.widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers.append(_conv_block(c_in, width))
            c_in = width
        self.convolution = nn.Sequential(*layers)
        self.pooling = nn.AdaptiveMaxPool2d(1)
        self.fully_connected = nn.Sequential(nn.Flatten(), nn.Linear(c_in, num_classes))

    @property
    def whitening(self) -> PatchWhitening | None:
        first = self.convolution[0]
        return first if isinstance(first, PatchWhitening) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fully_connected(self.pooling(self.convolution(x)))

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> list["Stage"]:
        """Run `x` (B, 3, H, W) through the network in eval mode and return the six stages in order."""
        batch, _ = validate.images_4d(x, "x")
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


def make_model(num_classes: int = 10, seed: int = 0, widths=DEFAULT_WIDTHS, device=None, whiten: bool = True,
               fit_images: torch.Tensor | None = None) -> CourseCNN:
    """A freshly initialised CourseCNN whose weights depend only on `seed` (the global RNG is left untouched).

    `fit_images` (normalised training images) fits the whitening layer; `train.train` passes its training set.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CourseCNN(num_classes, widths, whiten=whiten)  # CourseCNN checks widths and makes it a tuple
    if fit_images is not None and model.whitening is not None:
        model.whitening.fit(fit_images)
    return model.to(device) if device is not None else model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
