"""Matplotlib figures of the course: image grids, soft-label bars, curves, occlusion, the prediction trace.

Every function returns a `matplotlib.figure.Figure` and never calls `plt.show()`, so the same figure serves a
notebook, a widget and the report written by `python -m cutmix_course trace`.
"""
from __future__ import annotations

import torch
from matplotlib.figure import Figure


def to_display(images: torch.Tensor, data=None) -> torch.Tensor:
    """Images as float (N, H, W, 3) in [0, 1] for imshow: uint8 is scaled, normalised floats use `data.denormalize`."""
    x = images.detach().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif data is not None:
        x = data.denormalize(x)
    return x.clamp(0, 1).permute(0, 2, 3, 1)


def image_grid(images: torch.Tensor, titles=None, ncols: int = 8, data=None, scale: float = 1.3,
               suptitle: str | None = None) -> Figure:
    """A grid of images with optional titles (e.g. class names or soft labels)."""
    x = to_display(images, data)
    n = x.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(scale * ncols, scale * nrows + (0.4 if suptitle else 0) + (0.25 * nrows if titles else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i].numpy(), interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def soft_label_text(soft: torch.Tensor, classes, top: int = 2) -> str:
    """'0.62 disc + 0.38 star' for a soft label row."""
    p, i = soft.topk(top)
    parts = [f"{v:.2f} {classes[k]}" for v, k in zip(p.tolist(), i.tolist()) if v > 0.005]
    return " + ".join(parts)


def label_bars(soft: torch.Tensor, classes, ax=None, title: str | None = None) -> Figure:
    """Bar chart of one (soft) label over all classes: what CutMix asks the network to predict."""
    fig = None
    if ax is None:
        fig = Figure(figsize=(5, 2.6))
        ax = fig.subplots()
    values = soft.detach().cpu().float()
    colours = ["tab:orange" if v > 0 else "tab:gray" for v in values.tolist()]
    ax.bar(range(len(classes)), values.numpy(), color=colours)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("label weight")
    for k, v in enumerate(values.tolist()):
        if v > 0.005:
            ax.text(k, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    ax.set_title(title or soft_label_text(values, classes), fontsize=9)
    if fig is not None:
        fig.tight_layout()
    return fig or ax.figure


def training_curves(histories: dict) -> Figure:
    """Loss and accuracy per epoch for several runs: solid = test, dashed = training (clean images for accuracy)."""
    fig = Figure(figsize=(10, 3.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for (name, h), colour in zip(histories.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")):
        ep = h.column("epoch")
        ax_loss.plot(ep, h.column("train_loss"), "--", color=colour, label=f"{name} train")
        ax_loss.plot(ep, h.column("test_loss"), "-", color=colour, label=f"{name} test")
        ax_acc.plot(ep, h.column("clean_train_acc"), "--", color=colour, label=f"{name} train (clean)")
        ax_acc.plot(ep, h.column("test_acc"), "-", color=colour, label=f"{name} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy (gap = dashed - solid)", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def occlusion_curves(results: dict, title: str = "occlusion robustness") -> Figure:
    """Test accuracy against occluder size; `results` maps run name -> {size: accuracy} (or name -> {where: {...}})."""
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for i, (name, curve) in enumerate(results.items()):
        nested = curve and isinstance(next(iter(curve.values())), dict)
        for where, c in (curve.items() if nested else [("", curve)]):
            style = "-o" if where in ("", "center") else "--s"  # one colour per run, one line style per place
            ax.plot(list(c), list(c.values()), style, color=f"C{i}", label=f"{name} {where}".strip(), markersize=4)
    ax.set(xlabel="side of the grey square (pixels)", ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def prediction_trace_figure(stages, classes, data=None, n_channels: int = 4) -> Figure:
    """The six stages for the first image of a `model.trace` result: image, the `n_channels` most active feature
    maps before and after pooling, logits, softmax bars and the prediction."""
    image, conv, pooled, logits, probs, pred = (s.activation[0].detach().cpu() for s in stages)
    fig = Figure(figsize=(13, 3.4))
    grid = fig.add_gridspec(2, 3 + n_channels, width_ratios=[2] + [1] * n_channels + [2.4, 2.4])
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(to_display(image, data)[0].numpy(), interpolation="nearest")
    ax.set_title(f"input {tuple(image.shape)}", fontsize=8)
    ax.axis("off")
    strongest = conv.flatten(1).amax(1).argsort(descending=True)[:n_channels]  # the most active channels
    for j, ch in enumerate(strongest.tolist()):
        for row, (t, name) in enumerate(((conv, "conv"), (pooled, "pool"))):
            a = fig.add_subplot(grid[row, 1 + j])
            a.imshow(t[ch].numpy(), cmap="viridis", interpolation="nearest")
            a.set_title(f"{name} #{ch} {tuple(t.shape[-2:])}", fontsize=7)
            a.axis("off")
    ax_fc = fig.add_subplot(grid[:, -2])
    ax_fc.barh(range(len(classes)), logits.numpy(), color="tab:gray")
    ax_fc.set_yticks(range(len(classes)), classes, fontsize=7)
    ax_fc.invert_yaxis()
    ax_fc.set_title(f"fully connected: logits {tuple(logits.shape)}", fontsize=8)
    ax_sm = fig.add_subplot(grid[:, -1])
    colours = ["tab:orange" if k == int(pred) else "tab:blue" for k in range(len(classes))]
    ax_sm.barh(range(len(classes)), probs.numpy(), color=colours)
    ax_sm.set_yticks(range(len(classes)), classes, fontsize=7)
    ax_sm.invert_yaxis()
    ax_sm.set_xlim(0, 1)
    ax_sm.set_title(f"softmax -> prediction: {classes[int(pred)]} ({probs.max().item():.0%})", fontsize=8)
    fig.tight_layout()
    return fig


def pipeline_figure(images, labels, classes, model, data=None, size: int = 8, lam: float = 0.6, seed: int = 0,
                    trained: str = "") -> Figure:
    """Image 0 of `images` through the page's pipeline: the original, after Cutout (a `size` square), after CutMix
    with a patch of image 1 (λ asked `lam`, recomputed from the clipped box) and its mixed label, then the model's
    logits for that image and their softmax beside the mixed label it is trained towards.

    images: normalised floats (N >= 2, 3, H, W) with `data` to show them, or uint8 for display only; both
    augmentations are the course's reference (`cutmix_course.core.augment`) with a generator seeded by `seed`.
    `trained` says what the model is (e.g. "after 2 epochs"), for the logits' title.
    """
    from ..core import augment

    g = torch.Generator().manual_seed(seed)
    pair = images[:2]
    cut = augment.cutout(pair, int(size), generator=g)
    h, w = pair.shape[-2:]
    box = augment.rand_bbox(h, w, float(lam), g)
    mixed, soft, lam_c = augment.paste_boxes(cut, labels[:2], len(classes), box, torch.tensor([1, 0]))
    with torch.no_grad():
        logits = model.eval()(mixed[:1].float())[0]
    probs = logits.softmax(0)
    fig = Figure(figsize=(14, 3.0))
    grid = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1.6, 1.8])
    name_a, name_b = classes[int(labels[0])], classes[int(labels[1])]
    stages = ((pair[0], f"1. image: {name_a}"), (cut[0], f"2. Cutout: {size}×{size} hidden"),
              (mixed[0], f"3. CutMix: a patch of {name_b}\nλ = {float(lam_c[0]):.2f} (asked {float(lam):.2f})"))
    for j, (img, title) in enumerate(stages):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(to_display(img, data)[0].numpy(), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    x1, y1, x2, y2 = (int(v) for v in box)
    from matplotlib.patches import Rectangle

    fig.axes[2].add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, color="yellow", lw=1.5))
    pos = torch.arange(len(classes)).float()
    ax = fig.add_subplot(grid[0, 3])
    ax.barh(pos, logits.numpy(), color="tab:gray")
    ax.set_yticks(pos.tolist(), classes, fontsize=7)
    ax.invert_yaxis()
    ax.set_title(f"4. logits of the network{' ' + trained if trained else ''}", fontsize=8)
    ax = fig.add_subplot(grid[0, 4])
    ax.barh(pos - 0.2, probs.numpy(), height=0.4, color="tab:blue", label="softmax")
    ax.barh(pos + 0.2, soft[0].numpy(), height=0.4, color="tab:orange", label="mixed label")
    ax.set_yticks(pos.tolist(), classes, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"5. softmax vs the label {soft_label_text(soft[0], classes)}", fontsize=8)
    fig.tight_layout()
    return fig


def clipped_box_figure(height: int = 32, width: int = 32, lam: float = 0.5, cx: int = 28, cy: int = 6) -> Figure:
    """How λ is recomputed: the box CutMix draws for λ around the centre (cx, cy) (dashed, partly outside the
    image), the clipped box it pastes (filled), and the arithmetic from λ asked to λ from the clipped box."""
    from matplotlib.patches import Rectangle

    from ..core import augment

    drawn = augment.unclipped_box(height, width, lam, cx, cy)
    kept = augment.clip_box(drawn, height, width)
    lam_c = float(augment.lambda_from_boxes(kept, height, width))
    area_drawn, area_kept = int(augment.box_area(drawn)), int(augment.box_area(kept))
    fig = Figure(figsize=(8.5, 3.2))
    ax, text = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, color="black", lw=1.5))
    x1, y1, x2, y2 = drawn.tolist()
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ls="--", color="tab:red", lw=1.5))
    k1, k2, k3, k4 = kept.tolist()
    ax.add_patch(Rectangle((k1, k2), k3 - k1, k4 - k2, color="tab:orange", alpha=0.6))
    ax.plot([cx], [cy], "k+", markersize=10)
    pad = max(x2 - width, y2 - height, -x1, -y1, 0) + 2
    ax.set(xlim=(-pad, width + pad), ylim=(height + pad, -pad), aspect="equal",
           title=f"{height}×{width} image, centre ({cx}, {cy})")
    ax.title.set_fontsize(9)
    text.axis("off")
    lines = [f"λ asked = {lam:.2f}",
             f"side = √(1 − λ) × {width} → box {x2 - x1}×{y2 - y1} = {area_drawn} px (dashed)",
             f"clipped to the image: {k3 - k1}×{k4 - k2} = {area_kept} px (filled)",
             f"λ recomputed = 1 − {area_kept} / {height * width} = {lam_c:.3f}",
             f"the label: {lam_c:.2f} image A + {1 - lam_c:.2f} image B"]
    text.text(0, 0.5, "\n".join(lines), va="center", fontsize=9, family="monospace")
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
