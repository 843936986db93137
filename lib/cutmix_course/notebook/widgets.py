"""The notebooks' interactive explorers: each one a pure update function plus a thin ipywidgets shell.

An update function (`*_view`) takes plain values (the slider positions and the data) and returns a matplotlib
`Figure`; it draws its randomness from a generator seeded by its arguments, so the same slider values always give
the same picture. The shell (`*_explorer`) only builds sliders and redraws the figure into an `Output` widget when a
value changes. The update functions are what tests/notebook/test_widgets.py checks headless; the shells are thin
enough to need no logic of their own.
"""
from __future__ import annotations

import base64
import functools
import io

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core.augment import cutout, paste_boxes, rand_bbox, sample_lambda
from ..core.train import occlude, predict_logits
from . import plots

DPI = 80


# ------------------------------------------------------------------------------------------------- display
def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure rendered as PNG bytes (deterministic for the same figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def show(fig: Figure, dpi: int = DPI) -> None:
    """Display a figure as a PNG image in the notebook (works without pyplot and with any matplotlib backend)."""
    _display_png(figure_png(fig, dpi))


def _display_png(png: bytes) -> None:
    from IPython.display import Image, display

    display(Image(data=png, format="png"))


@functools.cache
def static_copy_box():
    """The VBox class of the explorers and the quiz: its display carries a static copy (a PNG, or HTML) beside the
    live widget.

    JupyterLab with a kernel shows the widget (its renderer ranks first); where no kernel runs (`make site`,
    GitHub, an export that prefers pictures) the static copy is what shows. Built on first use: ipywidgets is only
    imported where a widget is made.
    """
    import ipywidgets as W

    class StaticCopyBox(W.VBox):
        static: dict = {}

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            return {**bundle, **self.static} if bundle else bundle

    return StaticCopyBox


def explorer(update, controls: dict, title: str | None = None, **fixed):
    """A VBox of `controls` (name -> widget) above an Output that shows `update(**fixed, **values)`.

    Redraws whenever a control's value changes; this is the whole widget shell of every explorer. The figure it
    opens with (the controls' defaults) is also its static copy.
    """
    import ipywidgets as W

    first = []

    def draw(**values):
        png = figure_png(update(**fixed, **values))
        first.append(png)
        _display_png(png)

    out = W.interactive_output(draw, controls)
    head = [W.HTML(f"<b>{title}</b>")] if title else []
    box = static_copy_box()([*head, W.HBox(list(controls.values())), out])
    box.static = {"image/png": base64.b64encode(first[0]).decode("ascii")}
    return box


def _int_slider(description, value, lo, hi, step=1):
    import ipywidgets as W

    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
                       style={"description_width": "initial"})


def _float_slider(description, value, lo, hi, step):
    import ipywidgets as W

    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
                         readout_format=".2f", style={"description_width": "initial"})


def _panel(ax, image, title, data=None):
    ax.imshow(plots.to_display(image, data)[0].numpy(), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _message_panel(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, transform=ax.transAxes)
    ax.axis("off")


# ------------------------------------------------------------------------------------------------- 01 data set
def class_view(data, class_index: int, n: int = 12) -> Figure:
    """The first `n` training images of one class, with its name and count in the title."""
    k = int(class_index)
    idx = (data.train_labels == k).nonzero().flatten()
    return plots.image_grid(data.train_images[idx[:n]], ncols=min(n, 12), scale=1.0,
                            suptitle=f"class {k}: {data.classes[k]} ({idx.numel()} training images)")


def class_explorer(data, n: int = 12):
    return explorer(class_view, {"class_index": _int_slider("class", 0, 0, data.num_classes - 1)}, data=data, n=n)


# ------------------------------------------------------------------------------------------------- 02 Cutout
def cutout_view(images, index: int, size: int, n_holes: int = 1, seed: int = 0, student_fn=None, data=None) -> Figure:
    """Original, the reference Cutout, the student's Cutout (if given) and the mask, for image `index`.

    images: normalised floats (N, 3, H, W) with `data` to display them, or uint8. The reference is
    `augment.cutout` with a generator seeded by `seed`; `student_fn(batch, size, generator=...)` gets a generator
    with the same seed, applied `n_holes` times.
    """
    x = images[int(index):int(index) + 1]
    h, w = x.shape[-2:]
    ref, mask = cutout(x, int(size), int(n_holes), generator=torch.Generator().manual_seed(seed), return_mask=True)
    panels = 4 if student_fn is not None else 3
    fig = Figure(figsize=(2.3 * panels, 2.6))
    axes = fig.subplots(1, panels)
    _panel(axes[0], x, f"image {int(index)}", data)
    _panel(axes[1], ref, f"reference: {int(n_holes)} hole(s) of {int(size)}×{int(size)}", data)
    if student_fn is not None:
        try:
            g = torch.Generator().manual_seed(seed)
            mine = x
            for _ in range(int(n_holes)):
                mine = student_fn(mine, int(size), generator=g)
            _panel(axes[2], mine, "your cutout_batch", data)
        except NotImplementedError:
            _message_panel(axes[2], "your cutout_batch:\nnot implemented yet")
        except Exception as exc:  # noqa: BLE001 - show the problem, keep the explorer alive
            _message_panel(axes[2], f"your cutout_batch raised\n{type(exc).__name__}:\n{str(exc)[:80]}")
    hidden = int(mask.sum())
    axes[-1].imshow(mask[0].numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    axes[-1].set_title(f"mask: {hidden} px hidden ({hidden / (h * w):.0%})", fontsize=9)
    axes[-1].set_xticks([])
    axes[-1].set_yticks([])
    fig.tight_layout()
    return fig


def cutout_explorer(images, data=None, student_fn=None, size: int = 8):
    controls = {
        "size": _int_slider("patch size", size, 1, images.shape[-1]),
        "n_holes": _int_slider("holes", 1, 1, 4),
        "index": _int_slider("image", 0, 0, images.shape[0] - 1),
        "seed": _int_slider("seed", 0, 0, 20),
    }
    return explorer(cutout_view, controls, images=images, data=data, student_fn=student_fn)


# ------------------------------------------------------------------------------------------------- 03 CutMix
def beta_view(alpha: float, n: int = 20000, seed: int = 0) -> Figure:
    """Histogram of n draws of λ ~ Beta(α, α): where CutMix's mixing ratios come from."""
    lam = sample_lambda(float(alpha), n, torch.Generator().manual_seed(seed))
    fig = Figure(figsize=(5, 2.6))
    ax = fig.subplots()
    ax.hist(lam.numpy(), bins=40, range=(0, 1), density=True, color="tab:blue", alpha=0.8)
    ax.set(xlabel="λ (share of image A kept)", ylabel="density", xlim=(0, 1),
           title=f"λ ~ Beta({float(alpha):.2f}, {float(alpha):.2f}): mean {lam.mean():.2f}, std {lam.std():.2f}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def beta_explorer():
    return explorer(beta_view, {"alpha": _float_slider("α", 1.0, 0.1, 4.0, 0.1)})


def cutmix_pair(images, labels, num_classes: int, lam: float, index_a: int, index_b: int, seed: int = 0):
    """The CutMix of image A with a patch of image B for a given λ: (mixed (1, C, H, W), soft (K,), box, λ corrected).

    The box centre comes from a generator seeded by `seed`, so moving λ only changes the box size.
    """
    a, b = int(index_a), int(index_b)
    pair = images[[a, b]]
    h, w = pair.shape[-2:]
    box = rand_bbox(h, w, float(lam), torch.Generator().manual_seed(seed))
    mixed, soft, lam_c = paste_boxes(pair, labels[[a, b]], num_classes, box, torch.tensor([1, 0]))
    return mixed[:1], soft[0], box, float(lam_c[0])


def cutmix_view(images, labels, classes, lam: float, index_a: int = 0, index_b: int = 1, seed: int = 0,
                data=None) -> Figure:
    """Image A, image B, the mixed image with its box, and the mixed label as a bar chart ("0.6 cat + 0.4 dog")."""
    mixed, soft, box, lam_c = cutmix_pair(images, labels, len(classes), lam, index_a, index_b, seed)
    x1, y1, x2, y2 = (int(v) for v in box)
    fig = Figure(figsize=(11, 2.8))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 2.2])
    for j, (img, title) in enumerate(((images[int(index_a)], f"A: {classes[int(labels[int(index_a)])]}"),
                                      (images[int(index_b)], f"B: {classes[int(labels[int(index_b)])]}"),
                                      (mixed, f"mixed, box {x2 - x1}×{y2 - y1}"))):
        _panel(fig.add_subplot(grid[0, j]), img, title, data)
    fig.axes[2].add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, color="yellow", lw=1.5))
    ax = fig.add_subplot(grid[0, 3])
    plots.label_bars(soft, classes, ax=ax, title=f"λ asked {float(lam):.2f} → λ from the clipped box {lam_c:.2f}\n"
                                                 f"label: {plots.soft_label_text(soft, classes)}")
    fig.tight_layout()
    return fig


def cutmix_explorer(images, labels, classes, data=None, lam: float = 0.6):
    n = images.shape[0] - 1
    controls = {
        "lam": _float_slider("λ", lam, 0.0, 1.0, 0.01),
        "index_a": _int_slider("image A", 0, 0, n),
        "index_b": _int_slider("image B", 1, 0, n),
        "seed": _int_slider("box seed", 0, 0, 20),
    }
    return explorer(cutmix_view, controls, images=images, labels=labels, classes=classes, data=data)


# ------------------------------------------------------------------------------------------------- 04 training
def occlusion_view(models: dict, images, labels, classes, size: int, n: int = 6, data=None) -> Figure:
    """A grey square of side `size` over the centre of the test images: n examples with each model's prediction
    (green right, red wrong) and every model's accuracy on all `images` at this size."""
    x = occlude(images, int(size), "center")
    preds = {name: predict_logits(m, x).argmax(1) for name, m in models.items()}
    acc = {name: (p == labels).float().mean().item() for name, p in preds.items()}
    fig = Figure(figsize=(1.6 * n + 3.2, 2.2 + 0.22 * len(models)))
    grid = fig.add_gridspec(1, n + 2)
    for i in range(n):
        ax = fig.add_subplot(grid[0, i])
        _panel(ax, x[i], classes[int(labels[i])], data)
        for j, (name, p) in enumerate(preds.items()):
            right = int(p[i]) == int(labels[i])
            ax.text(0.5, -0.08 - 0.16 * j, f"{name}: {classes[int(p[i])]}", transform=ax.transAxes, ha="center",
                    va="top", fontsize=7, color="tab:green" if right else "tab:red")
    ax = fig.add_subplot(grid[0, n:])
    ax.barh(list(acc), list(acc.values()), color="tab:blue")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    for j, v in enumerate(acc.values()):
        ax.text(min(v + 0.02, 0.8), j, f"{v:.0%}", va="center", fontsize=8)
    ax.set_title(f"test accuracy, {int(size)}×{int(size)} square over the centre", fontsize=9)
    fig.tight_layout()
    return fig


def occlusion_explorer(models: dict, images, labels, classes, data=None, n: int = 6):
    controls = {"size": _int_slider("occluder size", 8, 0, images.shape[-1], 2)}
    return explorer(occlusion_view, controls, models=models, images=images, labels=labels, classes=classes, n=n,
                    data=data)


# ------------------------------------------------------------------------------------------------- 05 prediction
def probe(model, image, x: int, y: int, size: int):
    """Softmax of `model` for one normalised image (3, H, W), before and after a mean-coloured square of side `size`
    with its top-left corner at (x, y) (clipped). Returns (occluded image, probabilities before, after)."""
    h, w = image.shape[-2:]
    x1, y1 = int(x), int(y)
    box = torch.tensor([x1, y1, min(x1 + int(size), w), min(y1 + int(size), h)])
    from ..core.augment import box_mask

    occluded = image.masked_fill(box_mask(box, h, w), 0.0)
    probs = predict_logits(model, torch.stack([image, occluded])).softmax(1)
    return occluded, probs[0], probs[1]


def probe_view(model, images, classes, index: int, x: int, y: int, size: int, data=None, labels=None) -> Figure:
    """One test image with an occluding square at (x, y), and the softmax before/after: where the evidence is."""
    image = images[int(index)]
    occluded, before, after = probe(model, image, x, y, size)
    k_before, k_after = int(before.argmax()), int(after.argmax())
    fig = Figure(figsize=(9.5, 2.8))
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 2.4])
    truth = f"true: {classes[int(labels[int(index)])]}\n" if labels is not None else ""
    _panel(fig.add_subplot(grid[0, 0]), image, f"{truth}predicted: {classes[k_before]} {before[k_before]:.0%}", data)
    _panel(fig.add_subplot(grid[0, 1]), occluded, f"with the square:\n{classes[k_after]} {after[k_after]:.0%}", data)
    ax = fig.add_subplot(grid[0, 2])
    pos = torch.arange(len(classes)).float()
    ax.barh(pos - 0.2, before.numpy(), height=0.4, color="tab:gray", label="before")
    ax.barh(pos + 0.2, after.numpy(), height=0.4, color="tab:orange", label="with the square")
    ax.set_yticks(pos.tolist(), classes, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    changed = "the prediction changed" if k_after != k_before else "same prediction"
    ax.set_title(f"softmax before / after: {changed}", fontsize=9)
    fig.tight_layout()
    return fig


def probe_explorer(model, images, classes, data=None, size: int = 10, labels=None):
    side = images.shape[-1]
    controls = {
        "x": _int_slider("patch x", side // 2 - size // 2, 0, side - 1),
        "y": _int_slider("patch y", side // 2 - size // 2, 0, side - 1),
        "size": _int_slider("patch size", size, 1, side),
        "index": _int_slider("image", 0, 0, images.shape[0] - 1),
    }
    return explorer(probe_view, controls, model=model, images=images, classes=classes, data=data, labels=labels)
