"""Training with Cutout / CutMix, evaluation, occlusion robustness, and a JSON-serialisable history.

The whole (small) training set lives in memory as one normalised float tensor; each step slices a batch, applies
the optional base augmentation (random flips and crops), then Cutout and/or CutMix from `augment`, and takes an
optimiser step (AdamW by default) on the soft-target cross-entropy. All randomness comes from one `torch.Generator`
seeded from `seed`, and the model's initial weights from `make_model(seed)`, so a run is reproducible on the same
machine.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import validate
from .augment import box_mask, cutmix, cutout, sample_lambda, soft_target_cross_entropy
from .data import DataSplit, is_photos
from .model import DEFAULT_WIDTHS, make_model

# augment -> the run's name: the page's pipeline is Cutout, then CutMix on the cut-out images
RUN_NAMES = {"none": "baseline", "cutout": "Cutout", "cutmix": "CutMix", "cutout+cutmix": "Cutout→CutMix"}
AUGMENTATIONS = tuple(RUN_NAMES)


def run_slug(augment: str) -> str:
    """The run's name in file names: history_<slug>.json, <slug>.pt."""
    return augment.replace("+", "_")
OPTIMIZERS = ("adamw", "sgd")


@dataclass
class TrainConfig:
    augment: str = "none"
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum; wants a larger lr, e.g. 0.05, and weight_decay 5e-4)
    lr: float = 0.005
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.5  # decoupled (AdamW): each step shrinks the weights by lr * weight_decay
    label_smoothing: float = 0.1
    cutout_size: int = 8
    cutmix_alpha: float = 1.0
    cutmix_p: float = 1.0
    per_sample: bool = False
    flip: bool = False
    crop_padding: int = 0
    widths: tuple = DEFAULT_WIDTHS
    whiten: bool = True  # the model's fixed patch-whitening first layer, fitted to the training images
    tta_flip: bool = False  # evaluate on each image and its mirror image and average the logits
    seed: int = 0
    eval_train_size: int = 1000  # clean training images scored each epoch, for the train/test gap

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        validate.positive_int(self.epochs, "epochs")
        validate.positive_int(self.batch_size, "batch_size")
        validate.positive_float(self.lr, "lr")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) or not \
                0 <= self.weight_decay < float("inf"):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        validate.positive_int(self.cutout_size, "cutout_size")
        validate.positive_float(self.cutmix_alpha, "cutmix_alpha")
        validate.probability(self.cutmix_p, "cutmix_p")
        validate.probability(self.label_smoothing, "label_smoothing")
        for name in ("flip", "per_sample", "whiten", "tta_flip"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if isinstance(self.crop_padding, bool) or not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            raise ValueError(f"crop_padding must be an integer >= 0, got {self.crop_padding!r}")
        self.widths = tuple(self.widths)


@dataclass
class History:
    """Per-epoch record of a run; `epochs` is a list of dicts with the keys of `EPOCH_KEYS`."""

    config: dict
    dataset: str
    classes: list
    device: str
    epochs: list = field(default_factory=list)

    EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "clean_train_acc", "test_loss", "test_acc", "seconds")

    def column(self, key: str) -> list:
        return [e[key] for e in self.epochs]

    @property
    def final(self) -> dict:
        return self.epochs[-1]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "History":
        data = json.loads(text)
        missing = {"config", "dataset", "classes", "device", "epochs"} - set(data)
        if missing:
            raise ValueError(f"not a training history: missing keys {sorted(missing)}")
        return cls(**data)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path) -> "History":
        return cls.from_json(Path(path).read_text())


PHOTO_RECIPE = {"flip": True, "crop_padding": 2, "tta_flip": True}  # what photographs add to the course's recipe


def recipe(data: DataSplit) -> dict:
    """The extra training options for `data`: for photographs the CIFAR-10 preset of docs/results.md (flips, 2-px crops,
    flip test-time averaging); for the embedded shapes none (the course's default recipe)."""
    return dict(PHOTO_RECIPE) if is_photos(data) else {}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def flip_and_crop(x: torch.Tensor, flip: bool, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and random crops (zero padding = mean colour) for a whole batch, no Python loop."""
    b, _, h, w = x.shape
    if flip:
        flips = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dx = torch.randint(2 * padding + 1, (b,), generator=generator).to(x.device)
        dy = torch.randint(2 * padding + 1, (b,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B,1,1,W)
        batch_idx = torch.arange(b, device=x.device)[:, None, None, None]
        chan_idx = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch_idx, chan_idx, rows, cols]
    return x


def augment_batch(x, y, num_classes: int, cfg: TrainConfig, generator: torch.Generator, cutout_fn=None,
                  cutmix_fn=None):
    """Apply the configured augmentations to one normalised batch; return (images, soft targets).

    `cutout_fn(images, size, generator=)` and `cutmix_fn(images, labels, num_classes, lam, generator=)` replace the
    course's Cutout and CutMix (notebook 4 trains with the student's own, the exercises' signatures); CutMix's λ is
    then drawn here from Beta(α, α), one per batch, and applied to every batch (cutmix_p and per_sample do not apply).
    """
    x = flip_and_crop(x, cfg.flip, cfg.crop_padding, generator)
    if "cutout" in cfg.augment:
        x = cutout(x, cfg.cutout_size, generator=generator) if cutout_fn is None else \
            cutout_fn(x, cfg.cutout_size, generator=generator)
    if "cutmix" in cfg.augment:
        if cutmix_fn is None:
            return cutmix(x, y, num_classes, cfg.cutmix_alpha, cfg.cutmix_p, cfg.per_sample, generator)
        lam = float(sample_lambda(cfg.cutmix_alpha, 1, generator)[0])
        mixed, soft = cutmix_fn(x, y, num_classes, lam, generator=generator)
        return mixed, soft.float()
    return x, F.one_hot(y, num_classes).float()


def make_optimizer(model, cfg: TrainConfig, steps_per_epoch: int):
    """The optimiser and its per-step schedule: linear warm-up over the first 10% of steps, then linear decay to 0.

    AdamW (lr 0.005, weight decay 0.5) is the default: in the 20-epoch recipe search on the CIFAR-10 split it beat
    SGD with Nesterov momentum by 4.5 points, and weight decay 0.5 beat 0.05 by 1.6 points (docs/results.md, "Why this
    recipe"). Frozen parameters (the whitening filters) are left out.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                                    weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch
    warmup = max(1, total // 10)
    decay = max(total - warmup, 1)  # a run of one step has no decay steps: no 0/0
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / decay))
    return optimizer, schedule


@torch.no_grad()
def predict_logits(model, images: torch.Tensor, batch_size: int = 500, flip: bool = False) -> torch.Tensor:
    """Logits for normalised images, in eval mode, batch by batch.

    flip=True is test-time augmentation: the mean of the logits of each image and of its mirror image (twice the
    work; it pays on photographs, where a mirrored scene is as likely as the original).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for i in range(0, images.shape[0], batch_size):
            batch = images[i:i + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            logits = model(batch).float()
            if flip:
                logits = (logits + model(batch.flip(3)).float()) / 2
            out.append(logits.cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500,
             flip: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on normalised images (flip: see `predict_logits`)."""
    logits = predict_logits(model, images, batch_size, flip)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def train_epoch(model, optimizer, schedule, x, y, num_classes: int, cfg: TrainConfig, generator: torch.Generator,
                device, cutout_fn=None, cutmix_fn=None, loss_fn=None) -> tuple[float, float]:
    """One pass over (x, y) in shuffled, augmented batches; returns (mean loss, accuracy) on those batches (accuracy
    against the dominant label of a mixed image). `loss_fn(logits, soft targets)` replaces the course's
    soft-target cross-entropy."""
    loss_fn = loss_fn or soft_target_cross_entropy
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    loss_sum, correct = 0.0, 0
    for i in range(0, order.numel(), cfg.batch_size):
        idx = order[i:i + cfg.batch_size]
        xb, targets = augment_batch(x[idx], y[idx], num_classes, cfg, generator, cutout_fn, cutmix_fn)
        xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        targets = targets.to(device)
        if cfg.label_smoothing:
            targets = targets * (1 - cfg.label_smoothing) + cfg.label_smoothing / num_classes
        logits = model(xb)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        loss_sum += loss.item() * idx.numel()
        correct += (logits.argmax(1) == targets.argmax(1)).sum().item()
    return loss_sum / order.numel(), correct / order.numel()


def clean_training_subset(x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The `eval_train_size` clean training images scored each epoch (their own seed: the batches' draws stay put)."""
    n_clean = min(cfg.eval_train_size, x.shape[0])
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(cfg.seed + 1))[:n_clean]
    return x[idx], y[idx]


def train(data: DataSplit, config: TrainConfig | None = None, device=None, progress: bool = True,
          on_epoch=None, cutout_fn=None, cutmix_fn=None, loss_fn=None, **overrides):
    """Train a fresh CourseCNN on `data`; return (model, History).

    Keyword overrides set TrainConfig fields, e.g. `train(data, augment="cutmix", epochs=5)`. Each epoch records
    the mean loss and accuracy on the augmented training batches, the accuracy on `eval_train_size` clean training
    images (the fair side of the train/test gap), the test loss and accuracy, and the seconds it took.
    `on_epoch(record)` is called after each epoch.

    The defaults are the course's recipe, chosen on both the synthetic shapes and CIFAR-10 (docs/results.md): the
    CNN of `model.make_model` with its whitening layer fitted to these training images, AdamW (lr 0.005, weight decay
    0.5) with 10% linear warm-up and linear decay to zero, label smoothing 0.1, batch 128, 20 epochs. For
    photographs add flip=True, crop_padding=2 and tta_flip=True (`recipe`). `cutout_fn` and `cutmix_fn` replace the
    course's augmentations (see `augment_batch`), `loss_fn(logits, targets)` its soft-target cross-entropy (the
    targets after label smoothing).
    """
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a DataSplit (see cutmix_course.core.data.load_dataset), "
                        f"got {type(data).__name__}")
    from tqdm.auto import tqdm

    cfg = TrainConfig(**{**asdict(config or TrainConfig()), **overrides})
    device = torch.device(device) if device is not None else default_device()
    g = torch.Generator().manual_seed(cfg.seed)
    x_train, y_train = data.normalize(data.train_images), data.train_labels
    x_test, y_test = data.normalize(data.test_images), data.test_labels
    x_clean, y_clean = clean_training_subset(x_train, y_train, cfg)
    model = make_model(data.num_classes, cfg.seed, cfg.widths, device, whiten=cfg.whiten, fit_images=x_train)
    model = model.to(memory_format=torch.channels_last)
    optimizer, schedule = make_optimizer(model, cfg, steps_per_epoch=-(-x_train.shape[0] // cfg.batch_size))
    history = History(asdict(cfg), data.name, list(data.classes), str(device))
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"train {cfg.augment}", unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(model, optimizer, schedule, x_train, y_train, data.num_classes, cfg, g,
                                            device, cutout_fn, cutmix_fn, loss_fn)
        test_loss, test_acc = evaluate(model, x_test, y_test, flip=cfg.tta_flip)
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                  "clean_train_acc": evaluate(model, x_clean, y_clean, flip=cfg.tta_flip)[1],
                  "test_loss": test_loss, "test_acc": test_acc, "seconds": time.perf_counter() - start}
        history.epochs.append(record)
        bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{test_acc:.3f}")
        if on_epoch is not None:
            on_epoch(record)
    return model.eval(), history


# ---------------------------------------------------------------------------------------------- occlusion
def occlude(images: torch.Tensor, size: int, where: str = "center", fill=0.0, generator=None) -> torch.Tensor:
    """Cover each image with a square of side `size` filled with `fill` (0 = mean colour when normalised).

    where='center' puts the square in the middle of every image; where='random' centres it on a uniformly drawn
    pixel per image (this is exactly Cutout, applied at test time). size=0 returns the images unchanged.
    """
    if where not in ("center", "random"):
        raise ValueError(f"where must be 'center' or 'random', got {where!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an integer >= 0, got {size!r}")
    if size == 0:
        return images
    if where == "random":
        return cutout(images, size, fill=fill, generator=generator)
    batch, _ = validate.images_4d(images, allow_single=False)
    h, w = batch.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"size must be at most min(H, W) = {min(h, w)}, got {size}")
    y1, x1 = (h - size) // 2, (w - size) // 2
    mask = box_mask(torch.tensor([x1, y1, x1 + size, y1 + size]), h, w)
    return batch.masked_fill(mask.to(batch.device), fill)


def occlusion_robustness(model, data: DataSplit, sizes=(0, 4, 8, 12, 16, 20), where: str = "center",
                         seed: int = 0, flip: bool = False) -> dict[int, float]:
    """Test accuracy when a mean-coloured square of each size covers the centre or a random place of every image.

    Pass flip=True for a model trained with `tta_flip`, so that size 0 equals its recorded test accuracy.
    """
    x, y = data.normalize(data.test_images), data.test_labels
    out = {}
    for size in sizes:
        g = torch.Generator().manual_seed(seed)
        out[int(size)] = evaluate(model, occlude(x, int(size), where, generator=g), y, flip=flip)[1]
    return out
