"""`python -m cutmix_course figures`: the course's static pictures, drawn by `notebook.plots` from real tensors and
stored as attachments of the solutions' markdown cells, so they show wherever the notebook is read: GitHub,
nbviewer, an HTML export, JupyterLab without a kernel. `make release` carries them into the student notebooks.

Each figure lives in the markdown cell that names it (`![...](attachment:NAME)`). The clipped box is drawn from
numbers alone, so a fresh render equals the stored one byte for byte (tests/tools/test_figures.py checks that);
the pipeline needs a trained network, whose logits differ a little between CPUs, so it is redrawn only here.
"""
from __future__ import annotations

import argparse
import base64
from pathlib import Path

import nbformat
import torch

from ..notebook import plots
from ..notebook.paths import ASSIGNMENT
from ..notebook.widgets import figure_png

ROOT = Path(__file__).resolve().parents[3]
PIPELINE_EPOCHS = 20  # the page's length, as make trace trains; the figure and its caption say how many


def clipped_box() -> bytes:
    return figure_png(plots.clipped_box_figure(32, 32, lam=0.5, cx=28, cy=6), dpi=90)


def pipeline(epochs: int = PIPELINE_EPOCHS) -> bytes:
    """Training image 0 of the embedded set through the reference Cutout and CutMix (image 1 pasted in), and the
    course CNN after `epochs` epochs of Cutout→CutMix training on the embedded set (seed 0)."""
    from ..core.data import make_synthetic
    from ..core.train import TrainConfig, train

    torch.manual_seed(0)
    data = make_synthetic()
    model, _ = train(data, TrainConfig(augment="cutout+cutmix", epochs=epochs, seed=0), progress=False)
    images = data.normalize(data.train_images[:2])
    trained = f"after {epochs} epochs"
    return figure_png(plots.pipeline_figure(images, data.train_labels[:2], data.classes, model, data=data,
                                            trained=trained), dpi=90)


# attachment name -> (the solutions notebook whose markdown cell names it, how it is drawn)
FIGURES = {
    "clipped_box.png": ("03_cutmix", clipped_box),
    "pipeline.png": ("04_training", pipeline),
}


def cell_naming(nb, name: str):
    """The markdown cell of `nb` that shows attachment `name` (exactly one must)."""
    cells = [c for c in nb.cells if c.cell_type == "markdown" and f"(attachment:{name})" in c.source]
    if len(cells) != 1:
        raise ValueError(f"expected one markdown cell showing attachment:{name}, found {len(cells)}")
    return cells[0]


def stored(root: Path, name: str) -> bytes:
    """The PNG stored for figure `name` in the solutions notebook."""
    notebook, _ = FIGURES[name]
    nb = nbformat.read(root / "solutions" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    return base64.b64decode(cell_naming(nb, name).get("attachments", {}).get(name, {}).get("image/png", ""))


def write(root: Path, names) -> list[str]:
    """Draw the figures `names` and store each in its solutions notebook. Returns what it wrote."""
    written = []
    for name in names:
        notebook, draw = FIGURES[name]
        path = root / "solutions" / ASSIGNMENT / f"{notebook}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = cell_naming(nb, name)
        cell.setdefault("attachments", {})[name] = {"image/png": base64.b64encode(draw()).decode("ascii")}
        nbformat.write(nb, path)
        written.append(f"{path.relative_to(root)}: {name}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutmix_course figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which figures, of {', '.join(FIGURES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}: expected one of {', '.join(FIGURES)}")
    for line in write(ROOT, args.names or list(FIGURES)):
        print(line)
    print("now run `make release` to carry them into the student notebooks")
    return 0
