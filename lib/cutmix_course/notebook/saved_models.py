"""Trained models that notebook 4 saves and notebook 5 reuses, each with what it was trained on and by which code.

A saved run (`<folder>/<name>.pt`; folder: $CUTMIX_TRAINED, default `trained/` beside the notebooks) holds the
weights, the training configuration, the history, the data set it saw (name, sizes and a digest of its images) and a
hash of the code that trained it: the course's modules (model, train, augment, data) and the source of the Cutout
and CutMix that augmented the batches (the student's own, or "reference"). `load` returns the model only when the
data set and the code hash match; otherwise it says why, and `load_or_train` trains afresh. Files are read with
`torch.load(weights_only=True)`: a saved run holds tensors and strings only, never code.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.data import DataSplit
from . import environment


def code_hash(*sources: str) -> str:
    """SHA-256 (first 16 hex digits) of the course's training code and of `sources` (the augmentations' source)."""
    h = hashlib.sha256()
    from ..core import augment, data, model, train

    for module in (model, train, augment, data):
        h.update(Path(module.__file__).read_bytes())
    for text in sources:
        h.update(b"\0" + text.encode())
    return h.hexdigest()[:16]


def data_identity(data: DataSplit) -> dict:
    """What a model was trained and tested on: the data set's name, its sizes and a digest of all its images."""
    h = hashlib.sha256()
    for t in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        h.update(t.contiguous().numpy().tobytes())
    return {"name": data.name, "n_train": int(data.train_images.shape[0]), "n_test": int(data.test_images.shape[0]),
            "digest": h.hexdigest()[:16]}


def _path(folder, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return Path(folder if folder is not None else environment.get(environment.TRAINED) or "trained") / f"{safe}.pt"


def save(model, history, data: DataSplit, code: str, name: str, folder=None) -> Path:
    """Save a trained model with its history, data identity and code hash; returns the file (None while a grader runs
    the notebook: graded copies must not fill the grader's disk with models)."""
    if environment.grading():
        return None
    path = _path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "data": data_identity(data), "code": code, "history": history.to_json()}
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "meta": json.dumps(meta)}, tmp)
    tmp.replace(path)  # a reader never sees half a file
    return path


def load(data: DataSplit, code: str, name: str, folder=None):
    """(model, history, None) for the saved run `name` when it matches `data` and `code`; else (None, None, why)."""
    from ..core.model import make_model
    from ..core.train import History, TrainConfig

    path = _path(folder, name)
    if not path.is_file():
        return None, None, f"no saved {name} model in {path.parent}/ (run notebook 4 first to reuse its models)"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(saved["meta"])
        history = History.from_json(meta["history"])
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: train afresh, say why
        return None, None, f"{path} could not be read ({type(exc).__name__}: {exc})"
    if meta.get("data") != data_identity(data):
        return None, None, (f"the saved {name} model was trained on other data ({meta.get('data')}; now "
                            f"{data_identity(data)})")
    if meta.get("code") != code:
        return None, None, (f"the saved {name} model was trained by other code (hash {meta.get('code')}, now {code}): "
                            "your Cutout or CutMix, or the course's code, changed since notebook 4 ran")
    cfg = TrainConfig(**{k: v for k, v in history.config.items() if k in asdict(TrainConfig())})
    model = make_model(data.num_classes, cfg.seed, cfg.widths, whiten=cfg.whiten)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), history, None


def load_or_train(data: DataSplit, code: str, name: str, folder=None, **train_kwargs):
    """The saved run `name` when it is current, else a fresh `train(data, **train_kwargs)` (saved in its place).

    Returns (model, history, note): the note says which, and why a saved model could not be used. While a grader
    runs the notebook it always trains (a submitted file is never loaded).
    """
    from ..core.train import train

    if environment.grading():  # files that came with a submission are never loaded while it is graded
        model, history, why = None, None, "a grader is running this notebook: saved models are not used"
    else:
        model, history, why = load(data, code, name, folder)
    if model is not None:
        return model, history, (f"reusing notebook 4's {name} model ({history.final['epoch']} epochs, test accuracy "
                                 f"{history.final['test_acc']:.1%}) from {_path(folder, name)}")
    model, history = train(data, **train_kwargs)
    save(model, history, data, code, name, folder)
    return model, history, f"trained a new {name} model: {why}"
