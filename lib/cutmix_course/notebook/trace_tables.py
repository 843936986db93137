"""The three tables of the course page's "Model Pipeline Trace", computed from real tensors and real runs.

- data flow: what each stage does to the shapes (data set -> Cutout -> CutMix -> training batch -> model);
- training trace: per epoch loss, accuracies, the train/test gap, and an observation derived from those numbers;
- prediction trace: the six layers of the CNN for one image, with shapes and the top-3 softmax probabilities.

Each function returns a list of row dicts; `markdown_table` renders rows for the terminal, the report or a notebook.
"""
from __future__ import annotations

import torch

from ..core.augment import cutmix, cutout
from ..core.data import DataSplit, summary
from ..core.train import History


def _shape(t) -> str:
    return str(tuple(int(s) for s in t))


def data_flow(data: DataSplit, model=None, batch_size: int = 128, cutout_size: int = 8, alpha: float = 1.0,
              seed: int = 0, cutout_fn=None, cutmix_fn=None) -> list[dict]:
    """Push one real batch through the pipeline and record each stage's input shape, operation and output shape.

    `cutout_fn` / `cutmix_fn` (the exercises' signatures) replace the course's Cutout and CutMix, as in `train`: the
    hidden share and λ are then measured from what they return (changed pixels), so a wrong Cutout shows here."""
    g = torch.Generator().manual_seed(seed)
    s = summary(data.train_images, data.train_labels, data.classes)
    n, (c, h, w) = s["count"], s["shape"]
    x = data.normalize(data.train_images[:batch_size])
    y = data.train_labels[:batch_size]
    if cutout_fn is None:
        x_cut, mask = cutout(x, cutout_size, generator=g, return_mask=True)
    else:
        x_cut = cutout_fn(x, cutout_size, generator=g)
        mask = (x_cut != x).any(1)
    if cutmix_fn is None:
        x_mix, soft, params = cutmix(x_cut, y, data.num_classes, alpha, generator=g, return_params=True)
        lam = float(params["lam"][0])
    else:
        from ..core.augment import sample_lambda

        x_mix, soft = cutmix_fn(x_cut, y, data.num_classes, float(sample_lambda(alpha, 1, g)[0]), generator=g)
        lam = 1.0 - float((x_mix != x_cut).any(1).flatten(1).float().mean(1).max())  # the pasted share of one image
    rows = [
        {"stage": "Original data set", "input shape": f"{n} images × {h}×{w}×{c} ({s['dtype']})",
         "operation": f"to tensor (N, C, H, W), normalise per channel (mean {_fmt3(s['mean'])}, std {_fmt3(s['std'])})",
         "output shape": _shape((n, c, h, w)) + " float32"},
        {"stage": "Cutout", "input shape": _shape(x.shape),
         "operation": f"hide one {cutout_size}×{cutout_size} square per image (fill 0 = mean colour); "
                      f"{mask.float().mean().item():.1%} of pixels hidden in this batch",
         "output shape": _shape(x_cut.shape)},
        {"stage": "CutMix", "input shape": f"{_shape(x_cut.shape)} + labels {_shape(y.shape)}",
         "operation": f"λ ~ Beta({alpha:g}, {alpha:g}); paste a box from a shuffled partner; λ from the clipped box = "
                      f"{lam:.3f}; labels λ·y_a + (1-λ)·y_b",
         "output shape": f"{_shape(x_mix.shape)} + soft labels {_shape(soft.shape)}"},
    ]
    if model is not None:
        device = next(model.parameters()).device
        with torch.no_grad():
            logits = model.eval()(x_mix.to(device))
        rows.append({"stage": "Training batch", "input shape": _shape(x_mix.shape),
                     "operation": "forward through the CNN; soft-target cross-entropy against the mixed labels",
                     "output shape": f"logits {_shape(logits.shape)}"})
    return rows


def target_entropy(soft: torch.Tensor, label_smoothing: float = 0.0) -> float:
    """Mean entropy (nats) of soft targets after label smoothing: the lowest cross-entropy any prediction can reach."""
    k = soft.shape[-1]
    t = soft.double() * (1 - label_smoothing) + label_smoothing / k
    return float(-(t * t.clamp_min(1e-300).log()).sum(-1).mean()) + 0.0  # + 0.0: no -0.0 for one-hot targets


def loss_floors(num_classes: int, cutmix_fn=None, alpha: float = 1.0, label_smoothing: float = 0.1,
                batches: int = 50, batch_size: int = 128, seed: int = 0) -> dict:
    """The training loss's floor per kind of target: one-hot labels (baseline, Cutout) and CutMix's soft labels as
    `cutmix_fn` (the exercise's signature; default the course's) makes them, λ ~ Beta(α, α) as in training, with
    label smoothing. A training loss cannot fall below its floor, however well the network fits."""
    from ..core.augment import sample_lambda

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(batch_size) % num_classes
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()
    floors = {"one-hot labels": target_entropy(onehot, label_smoothing)}
    if cutmix_fn is None:
        def cutmix_fn(images, labels, k, lam, generator=None):
            from .answers import reference_cutmix

            return reference_cutmix(images, labels, k, lam, generator=generator)
    values = []
    for _ in range(batches):
        images = torch.rand(batch_size, 3, 32, 32, generator=g)
        lam = float(sample_lambda(alpha, 1, g)[0])
        _, soft = cutmix_fn(images, labels[torch.randperm(batch_size, generator=g)], num_classes, lam, generator=g)
        values.append(target_entropy(soft, label_smoothing))
    floors["CutMix labels"] = sum(values) / len(values)
    return floors


def floor_table(num_classes: int, cutmix_fn=None, label_smoothing: float = 0.1) -> list[dict]:
    """The floors of `loss_floors` as rows, without and with label smoothing (the same λ draws in both columns)."""
    without = loss_floors(num_classes, cutmix_fn, label_smoothing=0.0)
    smoothed = loss_floors(num_classes, cutmix_fn, label_smoothing=label_smoothing)
    runs = {"one-hot labels": "baseline, Cutout", "CutMix labels": "CutMix, Cutout→CutMix"}
    return [{"targets": kind, "runs": runs[kind], "floor without label smoothing": f"{without[kind]:.3f}",
             f"floor with label smoothing {label_smoothing:g}": f"{smoothed[kind]:.3f}"} for kind in runs]


def _fmt3(values) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


DROP = 0.03        # a fall in test accuracy of 3 points or more from the epoch before is reported
LOSS_RISE = 0.05   # a test loss 5% above the epoch before is reported
UNDERFIT = 0.70    # from epoch 3 on: clean training accuracy below this, and not clearly above test, is underfitting


def observe(epochs: list[dict], i: int, num_classes: int) -> str:
    """A short observation about epoch i, derived only from the recorded numbers (at most three notes, the most
    important first): a fall in test accuracy, a rising test loss, overfitting, underfitting, progress."""
    e = epochs[i]
    gap = e["clean_train_acc"] - e["test_acc"]
    notes = []
    if i == 0:
        chance = 1.0 / num_classes
        notes.append(f"start: test accuracy {e['test_acc']:.1%} vs chance {chance:.0%}")
    else:
        p = epochs[i - 1]
        fell = p["test_acc"] - e["test_acc"]
        if fell >= DROP:
            notes.append(f"test accuracy fell {fell * 100:.1f} points")
        if e["test_loss"] > p["test_loss"] * (1 + LOSS_RISE):
            rising_twice = i >= 2 and p["test_loss"] > epochs[i - 2]["test_loss"] * (1 + LOSS_RISE)
            falling_train = e["train_loss"] < p["train_loss"]
            notes.append("test loss rising while training loss falls: overfitting" if rising_twice and falling_train
                         else "test loss rising")
        prev_gap = p["clean_train_acc"] - p["test_acc"]
        if gap > 0.15 and gap > prev_gap:
            notes.append(f"gap {gap:.0%} and growing: overfitting")
        elif gap > 0.15:
            notes.append(f"gap {gap:.0%}")
        if e["clean_train_acc"] >= 0.99:
            notes.append("training set memorised")
        if i >= 2 and e["clean_train_acc"] < UNDERFIT and gap < 0.05:
            notes.append(f"underfitting: training accuracy {e['clean_train_acc']:.0%}, no better than test")
        best_before = max(q["test_acc"] for q in epochs[:i])
        if e["test_acc"] > best_before:
            notes.append("best test accuracy so far")
        drop = (p["train_loss"] - e["train_loss"]) / max(p["train_loss"], 1e-12)
        if drop > 0.15:
            notes.append(f"loss falling fast (-{drop:.0%})")
        elif drop < -0.05:
            notes.append("training loss went up")
        if i >= 3 and abs(e["test_acc"] - epochs[i - 3]["test_acc"]) < 0.01 and fell < DROP:
            notes.append("test accuracy levelling off")
    return "; ".join(notes[:3]) or "steady"


def training_trace(history: History) -> list[dict]:
    """One row per epoch: loss, accuracies, gap and an observation computed from the numbers."""
    k = len(history.classes)
    return [{"epoch": e["epoch"], "train loss": f"{e['train_loss']:.3f}",
             "train acc (clean)": f"{e['clean_train_acc']:.1%}", "test loss": f"{e['test_loss']:.3f}",
             "test acc": f"{e['test_acc']:.1%}", "gap": f"{e['clean_train_acc'] - e['test_acc']:+.1%}",
             "observation": observe(history.epochs, i, k)}
            for i, e in enumerate(history.epochs)]


# The course page's training trace, its five rows with their observations word for word (../shared/course-page/).
# The page says neither its data set nor its network, nor whether its accuracy is measured on training or test images.
PAGE_TRACE = {
    1: {"loss": 1.2, "accuracy": 0.45, "observation": "Model starts learning, loss high, accuracy low"},
    5: {"loss": 0.8, "accuracy": 0.65, "observation": "Loss decreases, accuracy improves with augmentation"},
    10: {"loss": 0.5, "accuracy": 0.80, "observation": "Model learns robust features, accuracy rises"},
    15: {"loss": 0.35, "accuracy": 0.88, "observation": "Loss low, accuracy high, good generalization"},
    20: {"loss": 0.30, "accuracy": 0.90, "observation": "Training converged with strong performance"},
}
PAGE_EPOCHS = tuple(PAGE_TRACE)
# The page's plot of the same loss, as the page draws it: its last point sits at 0.2, where its table says 0.30.
PAGE_LOSS_PLOT = """\
Loss
1.2 |*
1.0 | *
0.8 |  *
0.6 |   *
0.4 |    *
0.2 |     *
0.0 +--------
     1 5 10 15 20 Epochs"""
KEY_INSIGHT = ("Cutout and CutMix help the model learn better by making training images more varied and challenging. "
               "This leads to lower loss and higher accuracy, showing the model generalizes well to new images.")


def page_comparison(history: History, epochs=PAGE_EPOCHS) -> list[dict]:
    """The page's epoch table beside a run's rows at the same epochs: one row per epoch of `epochs`.

    The page does not say whether its accuracy is measured on training or test images, so both of the run's are
    shown; the page's observation stands beside the one computed from the run's numbers. An epoch the run did not
    reach says so."""
    by_epoch = {e["epoch"]: i for i, e in enumerate(history.epochs)}
    k = len(history.classes)
    rows = []
    for n in epochs:
        page = PAGE_TRACE.get(n)
        row = {"epoch": n, "page: loss": f"{page['loss']:.2f}" if page else "-",
               "page: accuracy": f"{page['accuracy']:.0%}" if page else "-",
               "page: observation": page["observation"] if page else "-"}
        i = by_epoch.get(n)
        if i is None:
            row.update({"your train loss": "not run", "your train acc (clean)": "", "your test acc": "",
                        "your observation": ""})
        else:
            e = history.epochs[i]
            row.update({"your train loss": f"{e['train_loss']:.3f}",
                        "your train acc (clean)": f"{e['clean_train_acc']:.1%}",
                        "your test acc": f"{e['test_acc']:.1%}", "your observation": observe(history.epochs, i, k)})
        rows.append(row)
    return rows


def key_insight_clauses(histories: dict, occluded: dict, baseline: str = "baseline",
                        augmented: str = "Cutout→CutMix", occluder: int = 16) -> list[dict]:
    """The page's key insight, clause by clause, tested on the last epoch of two runs: `augmented` (default the
    page's pipeline) against `baseline`. `occluded`: run name -> {square side: test accuracy} (occlusion_robustness).

    One row per test: the clause, what measures it, both runs' numbers and whether this run supports the clause
    ("yes" when the augmented run moves the way the clause says, else "no"). Nothing here is fixed in advance."""
    base, aug = histories[baseline].final, histories[augmented].final

    def gap(e):
        return e["clean_train_acc"] - e["test_acc"]

    tests = [  # clause, measured by, baseline's number, augmented's number, formatted, does `augmented` bear it out
        ("more varied and challenging", "training loss on the training batches (higher: harder)",
         base["train_loss"], aug["train_loss"], "{:.3f}", aug["train_loss"] > base["train_loss"]),
        ("more varied and challenging", "accuracy on clean training images (lower: less memorised)",
         base["clean_train_acc"], aug["clean_train_acc"], "{:.1%}", aug["clean_train_acc"] < base["clean_train_acc"]),
        ("lower loss", "training loss on the training batches",
         base["train_loss"], aug["train_loss"], "{:.3f}", aug["train_loss"] < base["train_loss"]),
        ("lower loss", "loss on the test images",
         base["test_loss"], aug["test_loss"], "{:.3f}", aug["test_loss"] < base["test_loss"]),
        ("higher accuracy", "accuracy on clean test images",
         base["test_acc"], aug["test_acc"], "{:.1%}", aug["test_acc"] > base["test_acc"]),
        ("generalizes well to new images", "gap: clean training accuracy − test accuracy (smaller: better)",
         gap(base), gap(aug), "{:+.1%}", gap(aug) < gap(base)),
        ("generalizes well to new images", f"test accuracy with a {occluder}-px square over the centre",
         occluded[baseline][occluder], occluded[augmented][occluder], "{:.1%}",
         occluded[augmented][occluder] > occluded[baseline][occluder]),
    ]
    return [{"clause": clause, "measured by": what, baseline: fmt.format(b), augmented: fmt.format(a),
             "supported by this run": "yes" if holds else "no"}
            for clause, what, b, a, fmt, holds in tests]


def prediction_trace(model, image: torch.Tensor, classes, top: int = 3) -> list[dict]:
    """The six stages of the CNN for one normalised image (3, H, W): shape and a readable summary of each."""
    stages = model.trace(image.unsqueeze(0) if image.ndim == 3 else image[:1])
    probs = stages[4].activation[0]
    p_top, i_top = probs.topk(min(top, probs.numel()))
    top_txt = ", ".join(f"{classes[i]} {p:.1%}" for p, i in zip(p_top.tolist(), i_top.tolist()))
    conv, pooled, logits = (stages[j].activation[0] for j in (1, 2, 3))
    what = {
        "input": f"normalised RGB image, values {image.min().item():.2f}..{image.max().item():.2f}",
        "convolution": f"{conv.shape[0]} feature maps; "
                       f"{(conv > 0).float().mean().item():.0%} of activations > 0 after ReLU",
        "pooling": f"max-pooling: {conv.shape[-2]}×{conv.shape[-1]} maps -> {pooled.shape[-2]}×{pooled.shape[-1]}",
        "fully connected": f"{logits.numel()} logits, from {logits.min().item():.2f} to {logits.max().item():.2f}",
        "softmax": f"top-{len(p_top)}: {top_txt}",
        "prediction": f"{classes[int(stages[5].activation[0])]} ({p_top[0].item():.1%})",
    }
    return [{"layer": s.name, "shape": _shape(s.shape[1:]) if s.name != "prediction" else "()",
             "what happens": what[s.name]}
            for s in stages]


def markdown_table(rows: list[dict]) -> str:
    """Rows of dicts (same keys) as a GitHub-flavoured markdown table."""
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines)
