"""Data: the embedded synthetic data set, CIFAR-10 through torchvision, an .npz loader, and summaries.

Every loader returns a `DataSplit`: uint8 images (N, 3, 32, 32), int64 labels, the class names, and the per-channel
mean/std of the training images, so everything downstream is data-set agnostic. `DataSplit.normalize` turns uint8
images into float32 with zero mean per channel, which makes Cutout's fill value 0 the data set mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import validate

SYNTHETIC_CLASSES = ("disc", "ring", "square", "frame", "triangle", "plus", "star", "crescent", "heart", "pair")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATASETS = ("synthetic", "cifar10", "npz:PATH")
COURSE_TRAIN, COURSE_TEST = 5000, 1000  # the course's sizes: the page's 5000 training images, 1000 to test


@dataclass
class DataSplit:
    """A train/test pair of uint8 image tensors (N, 3, H, W) with int64 labels and class names."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    mean: torch.Tensor = field(init=False)  # per channel, in [0, 1] units, of the training images
    std: torch.Tensor = field(init=False)

    def __post_init__(self):
        for part in ("train", "test"):
            images, labels = getattr(self, f"{part}_images"), getattr(self, f"{part}_labels")
            if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
                raise ValueError(f"{part}_images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{part}_labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.mean, self.std = channel_stats(self.train_images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, H, W) -> float32 standardised with the training mean/std (so 0 is the mean colour)."""
        if images.dtype != torch.uint8:
            raise TypeError(f"normalize expects uint8 images, got {images.dtype}")
        mean, std = self.mean.float().view(3, 1, 1), self.std.float().view(3, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize`, to float in [0, 1] for display."""
        mean, std = self.mean.float().view(3, 1, 1), self.std.float().view(3, 1, 1)
        return (images.float() * std + mean).clamp(0, 1)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), in [0, 1] units (float64)."""
    x = images.double() / 255.0
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def summary(images: torch.Tensor, labels: torch.Tensor, classes) -> dict:
    """Stage 1 of the data-flow table: count, shape, dtype, images per class, per-channel mean/std in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    counts = torch.bincount(labels.long(), minlength=len(classes))
    mean, std = channel_stats(images) if images.dtype == torch.uint8 else (
        images.double().mean(dim=(0, 2, 3)), images.double().std(dim=(0, 2, 3)))
    return {
        "count": int(images.shape[0]),
        "shape": tuple(images.shape[1:]),
        "dtype": str(images.dtype).replace("torch.", ""),
        "per_class": {name: int(c) for name, c in zip(classes, counts)},
        "mean": [round(float(m), 4) for m in mean],
        "std": [round(float(s), 4) for s in std],
    }


# ---------------------------------------------------------------------------------------------- synthetic data
# pragma: no mutate start
# (make mutate) The drawing of the synthetic images below is artwork: its constants (sizes, colours,
# noise) are choices no test could pin down without copying them; what the course relies on (balance, shape,
# determinism, non-trivial images) is tested through make_synthetic, which is mutated.
def _shape_field(k: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed field of class k in the object's own unit coordinates: negative inside, roughly a distance outside."""
    r = torch.sqrt(x * x + y * y)
    ax, ay = x.abs(), y.abs()
    name = SYNTHETIC_CLASSES[k]
    if name == "disc":
        return r - 0.95
    if name == "ring":
        return (r - 0.75).abs() - 0.22
    if name == "square":
        return torch.maximum(ax, ay) - 0.78
    if name == "frame":
        return (torch.maximum(ax, ay) - 0.72).abs() - 0.17
    if name == "triangle":  # equilateral, circumradius 1, inradius 0.5
        edges = [x * math.cos(t) + y * math.sin(t) for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        return torch.stack(edges).amax(0) - 0.5
    if name == "plus":
        return torch.minimum(torch.maximum(ax - 0.28, ay - 0.95), torch.maximum(ay - 0.28, ax - 0.95))
    if name == "star":  # five points
        return r - (0.58 + 0.4 * torch.cos(5 * torch.atan2(y, x)))
    if name == "crescent":
        return torch.maximum(r - 0.95, 0.8 - torch.sqrt((x - 0.45) ** 2 + y * y))
    if name == "heart":  # implicit heart curve (x²+y²-1)³ - x²y³, y pointing up, scaled to the unit box
        hx, hy = 1.25 * x, -1.25 * y + 0.15
        return ((hx * hx + hy * hy - 1) ** 3 - hx * hx * hy ** 3).clamp(-1, 1) * 0.5
    if name == "pair":  # two separate dots: one alone looks like a small disc
        return torch.minimum(torch.sqrt((x - 0.55) ** 2 + y * y), torch.sqrt((x + 0.55) ** 2 + y * y)) - 0.42
    raise AssertionError(name)


R_MIN, R_MAX, JITTER = 0.28, 0.42, 1.0


def _render(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Draw one object per label on a cluttered, textured, noisy background; float (N, 3, size, size) in [0, 1]."""
    n = labels.shape[0]
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    py, px = coords.view(1, size, 1), coords.view(1, 1, size)

    # Background: a smooth colour field, plus stripes of random frequency and orientation.
    img = F.interpolate(0.15 + 0.7 * u(n, 3, 4, 4), size=(size, size), mode="bicubic", align_corners=False)
    theta = u(n, 1, 1) * math.pi
    freq, phase, amp = 0.3 + 0.9 * u(n, 1, 1), u(n, 1, 1) * 2 * math.pi, 0.15 * u(n, 1, 1)
    stripes = torch.sin(freq * (px * torch.cos(theta) + py * torch.sin(theta)) + phase)
    img = img + (amp * stripes).unsqueeze(1) * (u(n, 3, 1, 1) * 2 - 1)

    # Clutter: three small blobs of random colour (smaller than any object).
    for _ in range(3):
        cx, cy, rad = u(n, 1, 1) * size, u(n, 1, 1) * size, 1.0 + 2.0 * u(n, 1, 1)
        blob = torch.sigmoid(2.0 * (rad - torch.sqrt((px - cx) ** 2 + (py - cy) ** 2))).unsqueeze(1)
        img = img * (1 - blob) + u(n, 3, 1, 1) * blob

    # The object: random size, rotation, position; soft edge about one pixel wide; shaded colour.
    radius = size * (R_MIN + (R_MAX - R_MIN) * u(n, 1, 1))
    cx = size / 2 + (u(n, 1, 1) * 2 - 1) * (size / 2 - radius).clamp(min=0) * JITTER
    cy = size / 2 + (u(n, 1, 1) * 2 - 1) * (size / 2 - radius).clamp(min=0) * JITTER
    rot = u(n, 1, 1) * 2 * math.pi
    dx, dy = (px - cx) / radius, (py - cy) / radius
    ox = dx * torch.cos(rot) + dy * torch.sin(rot)
    oy = -dx * torch.sin(rot) + dy * torch.cos(rot)
    field_ = torch.empty(n, size, size)
    for k in range(len(SYNTHETIC_CLASSES)):
        idx = (labels == k).nonzero().squeeze(1)
        field_[idx] = _shape_field(k, ox[idx], oy[idx])
    alpha = torch.sigmoid(-2.0 * radius * field_).unsqueeze(1)
    colour = u(n, 3, 1, 1)
    shade = 1.0 + 0.25 * (ox * torch.cos(rot * 3) + oy * torch.sin(rot * 3)).clamp(-1, 1).unsqueeze(1)
    img = img * (1 - alpha) + (colour * shade) * alpha

    img = img + 0.06 * torch.randn(n, 3, size, size, generator=g)
    return img.clamp(0, 1)
# pragma: no mutate end


def make_synthetic(n_train: int = COURSE_TRAIN, n_test: int = COURSE_TEST, seed: int = 0, size: int = 32) -> DataSplit:
    """The course's embedded data set: ten shape classes drawn procedurally, deterministic for a seed.

    Each image holds one object (disc, ring, square, frame, triangle, plus, star, crescent, heart or pair of dots) of
    random colour, size (radius 6-12 px), rotation and position, on a smooth coloured background with stripes, three
    small clutter blobs and pixel noise. Classes are balanced (exactly n/10 per class when n is a multiple of 10).
    No download: generated in about a second.
    """
    n_train = validate.positive_int(n_train, "n_train")
    n_test = validate.positive_int(n_test, "n_test")
    size = validate.positive_int(size, "size")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    g = torch.Generator().manual_seed(int(seed))
    parts = []
    for n in (n_train, n_test):
        labels = torch.arange(n) % len(SYNTHETIC_CLASSES)
        labels = labels[torch.randperm(n, generator=g)]
        images = (_render(labels, size, g) * 255).round().to(torch.uint8)
        parts += [images, labels]
    return DataSplit("synthetic", *parts, classes=SYNTHETIC_CLASSES)


# ---------------------------------------------------------------------------------------------- real data
def stratified_subset(labels: torch.Tensor, n: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Indices of a class-balanced random subset of size n (n // num_classes per class, the rest spread)."""
    n = validate.positive_int(n, "n")
    if n > labels.shape[0]:
        raise ValueError(f"n must be at most the number of images ({labels.shape[0]}), got {n}")
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(labels.shape[0], generator=g)
    shuffled = labels[order]
    # rank of each image within its class, in shuffled order; take the images of lowest rank first
    rank = torch.empty_like(shuffled)
    for k in range(num_classes):
        where = (shuffled == k).nonzero().squeeze(1)
        rank[where] = torch.arange(where.numel())
    chosen = order[torch.argsort(rank * labels.shape[0] + torch.arange(labels.shape[0]), stable=True)[:n]]
    return chosen.sort().values


def _from_hwc(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def cifar10_present(root) -> bool:
    """True when `root` holds CIFAR-10 in torchvision's layout (the folder cifar-10-batches-py)."""
    return (Path(root).expanduser() / "cifar-10-batches-py").is_dir()


def load_cifar10(root, download: bool = False, n_train: int | None = COURSE_TRAIN, n_test: int | None = COURSE_TEST,
                 seed: int = 0) -> DataSplit:
    """CIFAR-10 through `torchvision.datasets.CIFAR10`, with class-balanced random subsets (None = all)."""
    from torchvision.datasets import CIFAR10

    root = Path(root).expanduser()
    if not download and not cifar10_present(root):
        raise FileNotFoundError(
            f"CIFAR-10 not found: expected the folder {root / 'cifar-10-batches-py'} (torchvision's layout); "
            "pass download=True (needs internet) or point root at a folder that holds it")
    parts = []
    for train, n in ((True, n_train), (False, n_test)):
        ds = CIFAR10(str(root), train=train, download=download)
        images, labels = _from_hwc(ds.data), torch.as_tensor(ds.targets, dtype=torch.int64)
        if n is not None:
            idx = stratified_subset(labels, n, len(ds.classes), seed)
            images, labels = images[idx], labels[idx]
        parts += [images, labels]
    return DataSplit("cifar10", *parts, classes=tuple(ds.classes))


def load_npz(path, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> DataSplit:
    """An .npz of uint8 `images` (N, 32, 32, 3) and `labels` (N,), optional `classes`, split even/odd.

    Rows with an even index train, rows with an odd index evaluate (the fixed split of the shared CIFAR-10 copy);
    `n_train` / `n_test` take class-balanced subsets of either part.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz data set not found: {path} (expected a file with arrays 'images' and 'labels')")
    with np.load(path, allow_pickle=False) as d:
        missing = {"images", "labels"} - set(d.files)
        if missing:
            raise ValueError(f"{path} must hold arrays 'images' and 'labels', missing {sorted(missing)}; has {d.files}")
        images, labels = d["images"], d["labels"]
        classes = tuple(str(c) for c in d["classes"]) if "classes" in d.files else None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{path}: 'images' must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' must be integers of shape ({images.shape[0]},), "
                         f"got {labels.dtype} {labels.shape}")
    num_classes = int(labels.max()) + 1
    classes = classes or tuple(f"class {k}" for k in range(num_classes))
    if labels.min() < 0 or num_classes > len(classes):
        raise ValueError(f"{path}: labels must lie in [0, {len(classes) - 1}], got {labels.min()}..{labels.max()}")
    images_t, labels_t = _from_hwc(images), torch.from_numpy(labels.astype(np.int64))
    parts = []
    for start, n in ((0, n_train), (1, n_test)):
        imgs, labs = images_t[start::2], labels_t[start::2]
        if n is not None:
            idx = stratified_subset(labs, n, len(classes), seed)
            imgs, labs = imgs[idx], labs[idx]
        parts += [imgs.contiguous(), labs]
    return DataSplit(f"npz:{path.name}", *parts, classes=classes)


def is_photos(data: DataSplit) -> bool:
    """True for photographs (anything but the embedded shapes): the course then trains with flips and crops."""
    return data.name != "synthetic"


def load_dataset(name: str = "synthetic", *, root=None, download: bool = False, n_train: int | None = None,
                 n_test: int | None = None, seed: int = 0) -> DataSplit:
    """Load a data set by name: 'synthetic' (embedded), 'cifar10' (torchvision, in `root`) or 'npz:PATH'.

    Sizes left at None take each data set's course default: synthetic 5000 train / 1000 test, cifar10 a balanced
    5000 train / the full 10000 test, npz all even rows / all odd rows.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {DATASETS}, got {type(name).__name__}")
    if name == "synthetic":
        return make_synthetic(n_train or COURSE_TRAIN, n_test or COURSE_TEST, seed)
    if name == "cifar10":
        if root is None:
            raise ValueError("load_dataset('cifar10') needs root: the folder holding cifar-10-batches-py")
        return load_cifar10(root, download, n_train or COURSE_TRAIN, n_test, seed)
    if name.startswith("npz:") and len(name) > 4:
        return load_npz(name[4:], n_train, n_test, seed)
    raise ValueError(f"unknown data set {name!r}: expected one of {DATASETS}")
