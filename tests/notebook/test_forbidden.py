"""The tripwire's per-exercise lists (exercises.FORBIDDEN): every listed path, reached the way a student would reach
it, trips the wire; the reference solutions trip nothing; the public checks run the same wire; the prose lists it all.

A hidden test runs the student's function inside `forbid_reference(*FORBIDDEN[exercise])`, so a tripped wire is a
test that scores 0 (the nbgrader end-to-end example s14-delegation shows that on a real grading run).
"""
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.v2 as v2

from cutmix_course.core import augment, data, train
from cutmix_course.notebook import checks
from cutmix_course.notebook.exercises import FORBIDDEN
from cutmix_course.notebook.tripwire import ReferenceUsedError, forbid_reference

ROOT = Path(__file__).resolve().parents[2]
g = torch.Generator().manual_seed(0)
IMG = torch.randint(0, 256, (4, 3, 8, 8), generator=g, dtype=torch.uint8)
X = IMG.float() / 255
LABELS = torch.tensor([0, 1, 2, 1])
LOGITS = torch.randn(4, 5, generator=g)
TARGETS = F.one_hot(torch.tensor([0, 1, 2, 3]), 5).float()
BOXES = torch.tensor([[1, 1, 4, 5]])
DS = data.make_synthetic(n_train=20, n_test=10)
MEAN, STD = [0.5, 0.5, 0.5], [0.2, 0.2, 0.2]

# one call through each listed path, as a student's delegating answer would make it
DELEGATE = {
    "cutmix_course.core.data.channel_stats": lambda: data.channel_stats(IMG),
    "cutmix_course.core.data.summary": lambda: data.summary(IMG, LABELS, DS.classes),
    "cutmix_course.core.data.DataSplit.normalize": lambda: DS.normalize(IMG),
    "torchvision.transforms.v2.Normalize": lambda: v2.Normalize(MEAN, STD)(X),
    "torchvision.transforms.v2.functional.normalize": lambda: v2.functional.normalize(X, MEAN, STD),
    "torchvision.transforms.Normalize": lambda: T.Normalize(MEAN, STD)(X),
    "torchvision.transforms.functional.normalize": lambda: T.functional.normalize(X, MEAN, STD),
    "cutmix_course.core.augment.cutout": lambda: augment.cutout(X, 4, generator=torch.Generator()),
    "cutmix_course.core.augment.Cutout": lambda: augment.Cutout(4)(X),
    "cutmix_course.core.augment.box_mask": lambda: augment.box_mask(BOXES, 8, 8),
    "cutmix_course.core.augment._clip": lambda: augment._clip(BOXES.clone(), 8, 8),
    "cutmix_course.core.augment._box_spans": lambda: augment._box_spans(BOXES, 8, 8),
    "cutmix_course.core.augment._hole_spans": lambda: augment._hole_spans(8, 3, torch.float32, X.device),
    "cutmix_course.core.augment._fill": lambda: augment._fill(0, X),
    "cutmix_course.core.train.occlude": lambda: train.occlude(X, 4),
    "torchvision.transforms.v2.RandomErasing": lambda: v2.RandomErasing(p=1.0)(X),
    "torchvision.transforms.v2.functional.erase": lambda: v2.functional.erase(X, 1, 1, 3, 3, torch.tensor(0.0)),
    "torchvision.transforms.RandomErasing": lambda: T.RandomErasing(p=1.0)(X[0]),
    "torchvision.transforms.functional.erase": lambda: T.functional.erase(X[0], 1, 1, 3, 3, torch.tensor(0.0)),
    "cutmix_course.core.augment.rand_bbox": lambda: augment.rand_bbox(8, 8, 0.5, torch.Generator()),
    "cutmix_course.core.augment._rand_bbox": lambda: augment._rand_bbox(8, 8, torch.tensor([0.5]), torch.Generator()),
    "cutmix_course.core.augment._signed_half_sides": lambda: augment._signed_half_sides(8, 8, X.device),
    "cutmix_course.core.augment.cutmix": lambda: augment.cutmix(X, LABELS, 5, generator=torch.Generator()),
    "cutmix_course.core.augment.CutMix": lambda: augment.CutMix(5)(X, LABELS),
    "torchvision.transforms.v2.CutMix": lambda: v2.CutMix(num_classes=5)(X, LABELS),
    "cutmix_course.core.augment.paste_boxes":
        lambda: augment.paste_boxes(X, LABELS, 5, BOXES[0], torch.tensor([1, 0, 3, 2])),
    "cutmix_course.core.augment._paste_boxes":
        lambda: augment._paste_boxes(X.clone(), TARGETS[:4, :5].clone(), BOXES.expand(4, 4),
                                     torch.tensor([1, 0, 3, 2])),
    "cutmix_course.core.augment._blend": lambda: augment._blend(X, X.flip(0), torch.ones(1)),
    "cutmix_course.core.augment.lambda_from_boxes": lambda: augment.lambda_from_boxes(BOXES, 8, 8),
    "cutmix_course.core.augment.box_area": lambda: augment.box_area(BOXES),
    "cutmix_course.core.augment.soft_target_cross_entropy": lambda: augment.soft_target_cross_entropy(LOGITS, TARGETS),
    "torch.nn.functional.cross_entropy": lambda: F.cross_entropy(LOGITS, TARGETS),
    "torch.nn.CrossEntropyLoss": lambda: nn.CrossEntropyLoss()(LOGITS, TARGETS),
    "torch.nn.functional.nll_loss": lambda: F.nll_loss(LOGITS.log_softmax(1), LABELS),
    "torch.nn.NLLLoss": lambda: nn.NLLLoss()(LOGITS.log_softmax(1), LABELS),
    "torch._C._nn.cross_entropy_loss": lambda: torch._C._nn.cross_entropy_loss(LOGITS, TARGETS),
    "torch._C._nn.nll_loss": lambda: torch._C._nn.nll_loss(LOGITS, LABELS),
    "torch._C._nn.nll_loss_nd": lambda: torch._C._nn.nll_loss_nd(LOGITS, LABELS),
    "torch.softmax": lambda: torch.softmax(LOGITS, -1),
    "torch.Tensor.softmax": lambda: LOGITS.softmax(-1),
    "torch.nn.functional.softmax": lambda: F.softmax(LOGITS, -1),
    "torch.nn.Softmax": lambda: nn.Softmax(-1)(LOGITS),
    "torch.special.softmax": lambda: torch.special.softmax(LOGITS, -1),
    "torch._softmax": lambda: torch._softmax(LOGITS, -1, False),
    "torch.log_softmax": lambda: torch.log_softmax(LOGITS, -1).exp(),
    "torch.Tensor.log_softmax": lambda: LOGITS.log_softmax(-1).exp(),
    "torch.nn.functional.log_softmax": lambda: F.log_softmax(LOGITS, -1).exp(),
    "torch.nn.LogSoftmax": lambda: nn.LogSoftmax(-1)(LOGITS).exp(),
    "torch.special.log_softmax": lambda: torch.special.log_softmax(LOGITS, -1).exp(),
}
PAIRS = sorted({(ex, path) for ex, paths in FORBIDDEN.items() for path in paths})


def test_every_listed_path_has_a_delegating_call():
    assert {p for _, p in PAIRS} == set(DELEGATE)


@pytest.mark.parametrize("exercise,path", PAIRS, ids=[f"{e}:{p}" for e, p in PAIRS])
def test_delegating_through_a_listed_path_trips_the_wire(exercise, path):
    DELEGATE[path]()  # once outside: cached helpers (functools.lru_cache) now answer from their cache
    with pytest.raises(ReferenceUsedError, match=re.escape(path)):
        with forbid_reference(*FORBIDDEN[exercise], what=exercise):
            DELEGATE[path]()


def _solutions() -> dict:
    """Exercise name -> the reference solution's function, exec'd from the solution notebooks' solution cells."""
    import nbformat

    ns = {"torch": torch, "F": F, "math": __import__("math")}
    for path in sorted((ROOT / "solutions" / "cutout_cutmix").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id") in FORBIDDEN:
                exec(cell.source, ns)  # noqa: S102 (the instructor's own solutions)
    return ns


SOLVED = _solutions()
CALLS = {
    "channel_mean_std": lambda f: f(IMG),
    "normalize": lambda f: f(IMG, torch.tensor(MEAN), torch.tensor(STD)),
    "cutout_one": lambda f: f(X[0], 4, 0, 7),
    "cutout_batch": lambda f: f(X, 4, generator=torch.Generator()),
    "sample_box": lambda f: f(0.4, 8, 8, generator=torch.Generator()),
    "cutmix_batch": lambda f: f(X, LABELS, 5, 0.4, generator=torch.Generator()),
    "cutmix_per_sample": lambda f: f(X, LABELS, 5, torch.tensor([0.2, 0.4, 0.6, 0.8]), generator=torch.Generator()),
    "soft_target_loss": lambda f: f(LOGITS, TARGETS),
    "softmax": lambda f: f(LOGITS),
    "top_k": lambda f: f(LOGITS[0], tuple("abcde"), 3),
}


@pytest.mark.parametrize("exercise", sorted(FORBIDDEN))
def test_the_reference_solution_passes_its_own_list(exercise):
    assert set(CALLS) == set(FORBIDDEN)
    with forbid_reference(*FORBIDDEN[exercise], what=exercise):
        CALLS[exercise](SOLVED[exercise])


@pytest.mark.parametrize("exercise", ["channel_mean_std", "cutout_batch", "sample_box", "soft_target_loss", "softmax"])
def test_the_public_check_runs_the_same_wire(exercise, capsys):
    delegate = {"channel_mean_std": lambda im: data.channel_stats(im),
                "cutout_batch": lambda im, size, generator=None: augment.cutout(im, size, generator=generator),
                "sample_box":
                    lambda lam, h, w, generator=None: tuple(int(v) for v in augment.rand_bbox(h, w, lam, generator)),
                "soft_target_loss": lambda logits, t: F.cross_entropy(logits, t),
                "softmax": lambda logits: torch.softmax(logits, -1)}[exercise]
    with pytest.raises(ReferenceUsedError, match="integrity"):  # as the hidden test raises it: the grader flags it
        getattr(checks, f"check_{exercise}")(delegate)
    out, err = capsys.readouterr()
    assert "so this test scores 0" in out and err == ""


@pytest.mark.parametrize("exercise", sorted(FORBIDDEN))
def test_the_exercise_prose_lists_every_forbidden_path(exercise):
    """The exercise's markdown (in the release, what students read) names every path of its list."""
    text = ""
    for path in sorted((ROOT / "notebooks" / "cutout_cutmix").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and re.search(rf"Exercise[^\n]*`{exercise}`", src):
                text += src
    assert text, f"no exercise heading names `{exercise}`"
    missing = [p for p in FORBIDDEN[exercise] if f"`{p}`" not in text]
    assert not missing, f"the prose of {exercise} does not list {missing}"
