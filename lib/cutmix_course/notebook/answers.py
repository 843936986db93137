"""The student's own code, for the notebooks that build on earlier ones.

- `load(notebook, *names)`: the functions a student wrote in an earlier notebook, read from its saved file (the
  answer cell of each `grade_id`) and run in a fresh namespace holding torch, F, math and numpy. An answer must be
  self-contained in its cell (helpers inside the cell): that is what the exercises ask.
- `augmentations()`: the student's Cutout and CutMix for notebook 4's training (the reference, saying why, while
  theirs is unfinished, broken or slow, and while a grader runs the notebook).
- `training_loss()`: the student's soft-target loss of notebook 4 for the same training, on the same terms.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from . import environment
from .regions import without_solution_markers


class NotAnswered(Exception):
    """The answer cell still holds the stub, or the function is not in its cell."""


def answer_source(path, grade_id: str) -> str:
    """The source of the answer cell `grade_id` of the notebook at `path` (nbgrader's region markers removed)."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return without_solution_markers(cell.source)
    raise NotAnswered(f"{Path(path).name} has no cell with grade_id {grade_id!r}")


def notebook_path(notebook, folder=None) -> Path:
    """`notebook` in `folder`; default $CUTMIX_SUBMITTED while the course's grader runs, else the working folder."""
    return Path(folder or environment.get(environment.SUBMITTED) or ".") / notebook


def load(notebook, *names: str, folder=None) -> dict:
    """{name: function} for each `name`, taken from the answer cell of the same grade_id in `notebook` (a path,
    or a file name in `folder`; default: $CUTMIX_SUBMITTED while the course's grader runs, else the working folder,
    where the notebooks are). The cells run in order in one namespace (so
    `cutmix_batch` finds the `sample_box` loaded with it) holding torch, F, math and numpy. Raises NotAnswered for
    a stub or a missing function, and whatever a cell raises when it runs."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    path = notebook_path(notebook, folder)
    namespace = {"torch": torch, "F": F, "math": math, "np": np, "__name__": f"student_{path.stem}"}
    out = {}
    for name in names:
        source = answer_source(path, name)
        if re.search(r"^\s*raise NotImplementedError", source, re.M):
            raise NotAnswered(f"{name} in {path.name} is not answered yet")
        exec(compile(source, f"<{path.name}: {name}>", "exec"), namespace)  # noqa: S102 - the student's own code
        if not callable(namespace.get(name)):
            raise NotAnswered(f"the answer cell of {name} in {path.name} does not define {name}()")
        out[name] = namespace[name]
    return out


@dataclass
class Augmentations:
    """What trains the model in notebook 4: the student's Cutout and CutMix, or the reference, and why."""
    cutout: object
    cutmix: object
    notes: list
    sources: tuple = ("reference", "reference")  # the code of each: the student's answer cells, or "reference"

    def __str__(self) -> str:
        return "\n".join(self.notes)


def reference_cutmix(images, labels, num_classes, lam, generator=None):
    """The course's CutMix with a given λ, in the exercise's signature (one box and one partner per batch)."""
    import torch

    from ..core.augment import paste_boxes, rand_bbox

    box = rand_bbox(images.shape[-2], images.shape[-1], lam, generator)
    partner = torch.randperm(images.shape[0], generator=generator).to(images.device)
    return paste_boxes(images, labels, num_classes, box, partner)[:2]


def augmentations(folder=None, slow_factor: float = 50.0) -> Augmentations:
    """The student's `cutout_batch` (notebook 2) and `cutmix_batch` (notebook 3) from their saved notebooks, each
    tried once on a real-sized batch; the course's reference instead, with a one-line note, while the student's is
    unfinished, raises, returns the wrong shape or dtype, or is more than `slow_factor` times slower than the
    reference (and over 50 ms). While a grader runs the notebook the reference is used: notebooks 2 and 3 are graded
    on their own, and their code must not carry loops or tampering into this notebook's grade."""
    import time

    import torch

    from ..core.augment import cutout as ref_cutout

    def ref_cut(images, size, generator=None):
        return ref_cutout(images, size, generator=generator)

    if environment.grading():
        return Augmentations(ref_cut, reference_cutmix, ["graded run: the course's reference Cutout and CutMix "
                                                          "(notebooks 2 and 3 are graded on their own)"])
    images = torch.randn(128, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(128) % 10

    def timed(fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        return out, time.perf_counter() - start

    chosen, notes, sources = {}, [], []
    trials = {
        "cutout": ("02_cutout.ipynb", ("cutout_batch",), ref_cut, lambda f: f(images.clone(), 8,
                                                                              generator=torch.Generator().manual_seed(0))),
        "cutmix": ("03_cutmix.ipynb", ("sample_box", "cutmix_batch"), reference_cutmix,
                   lambda f: f(images.clone(), labels, 10, 0.6, generator=torch.Generator().manual_seed(0))),
    }
    for kind, (notebook, names, reference, probe) in trials.items():
        name = names[-1]
        try:
            mine = load(notebook, *names, folder=folder)[name]
            out, seconds = timed(probe, mine)
            _, ref_seconds = timed(probe, reference)
            got = out[0] if isinstance(out, tuple) else out
            if not isinstance(got, torch.Tensor) or got.shape != images.shape or got.dtype != images.dtype:
                raise ValueError("it returned the wrong shape or dtype")
            if seconds > 0.05 and seconds > slow_factor * max(ref_seconds, 1e-4):
                raise ValueError(f"it took {seconds * 1000:.0f} ms for a batch of 128 "
                                 f"({seconds / max(ref_seconds, 1e-4):.0f}x the reference): too slow to train with")
            chosen[kind] = mine
            notes.append(f"training with your {name} from {notebook}")
            sources.append("\n".join(answer_source(notebook_path(notebook, folder), n) for n in names))
        except Exception as exc:  # noqa: BLE001 - anything wrong with it: the reference, and the reason
            chosen[kind] = reference
            sources.append("reference")
            notes.append(f"training with the course's reference {kind} instead of your {name} ({notebook}: "
                         f"{type(exc).__name__}: {exc})")
    return Augmentations(chosen["cutout"], chosen["cutmix"], notes, tuple(sources))


@dataclass
class TrainingLoss:
    """What the training minimises: the student's `soft_target_loss`, or the reference, and why."""
    fn: object
    note: str
    digest: str  # what the saved models' hash covers: "reference", or the student's loss on the probe batch

    def __str__(self) -> str:
        return self.note


def training_loss(fn=None, folder=None, tolerance: float = 1e-4) -> TrainingLoss:
    """The student's `soft_target_loss` for the training: `fn` (notebook 4 passes the one its kernel holds) or, without
    it, the answer cell of their saved 04_training.ipynb (notebook 5). It is tried once on a probe batch of mixed,
    smoothed targets with large logits; the course's loss is used instead, with a one-line note, while the student's
    is unfinished, raises, returns no scalar tensor, or differs from the course's in value or gradient by more than
    `tolerance`. While a grader runs the notebook, the course's loss (the exercise is graded on its own)."""
    import torch

    from ..core.augment import soft_target_cross_entropy as reference

    if environment.grading():
        return TrainingLoss(reference, "graded run: the course's reference loss (soft_target_loss is graded on its "
                                       "own)", "reference")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(128, 10, generator=g) * 40  # large: a loss without the log-sum-exp shift overflows
    a, b = torch.randint(10, (128,), generator=g), torch.randint(10, (128,), generator=g)
    lam = torch.rand(128, 1, generator=g)
    eye = torch.eye(10)
    targets = (lam * eye[a] + (1 - lam) * eye[b]) * 0.9 + 0.01  # with label smoothing 0.1, as in training

    def probe(loss_fn):
        leaf = logits.clone().requires_grad_(True)
        value = loss_fn(leaf, targets.clone())
        if not isinstance(value, torch.Tensor) or value.ndim != 0:
            raise ValueError(f"it returned {type(value).__name__} {getattr(value, 'shape', '')}, not a scalar tensor")
        value.backward()
        if leaf.grad is None:
            raise ValueError("no gradient reaches the logits")
        return value.detach(), leaf.grad

    try:
        if fn is None:
            fn = load("04_training.ipynb", "soft_target_loss", folder=folder)["soft_target_loss"]
        (mine, mine_grad), (ref, ref_grad) = probe(fn), probe(reference)
        if not torch.isfinite(mine) or abs(float(mine - ref)) > tolerance:
            raise ValueError(f"on a probe batch it gives {float(mine):.6g}, the course's loss {float(ref):.6g}")
        if not torch.allclose(mine_grad, ref_grad, atol=tolerance):
            raise ValueError("its gradient differs from the course's loss's on a probe batch")
    except Exception as exc:  # noqa: BLE001 - anything wrong with it: the reference, and the reason
        why = "it is not implemented yet" if isinstance(exc, NotImplementedError) else \
            f"{type(exc).__name__}: {exc}"
        return TrainingLoss(reference, f"training with the course's reference loss instead of your soft_target_loss "
                                       f"({why})", "reference")
    return TrainingLoss(fn, "training with your soft_target_loss", f"soft_target_loss, {float(mine):.6f}")
