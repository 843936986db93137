"""Notebook set-up shared by every course notebook: the quick-mode switch, seeds, and quiet warnings.

Quick mode shrinks epochs and data so a notebook runs in seconds. It is on when the environment variable
`CUTMIX_QUICK` (set by CI and the tests) or `NBGRADER_EXECUTION` (set by nbgrader while it autogrades or
validates) is non-empty. `CUTMIX_QUICK=0` does not switch it off: any non-empty value means quick.
"""
from __future__ import annotations

import random
import warnings

from .environment import quick_mode


def quiet_warnings() -> None:
    """Silence the harmless warnings the course's libraries print on stderr in a notebook.

    nbgrader scores any stderr in a test cell as a failure, so the notebooks must not emit them: tqdm's
    "IProgress not found" hint, torch's TF32/NNPACK notices and matplotlib's font-cache messages.
    """
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|torchvision|matplotlib|tqdm)(\.|$)")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(torch|torchvision)(\.|$)")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(torch|torchvision|ipywidgets|traitlets)")
    try:
        from tqdm import TqdmExperimentalWarning

        warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        pass
    import logging

    logging.getLogger("matplotlib").setLevel(logging.ERROR)


def setup(seed: int = 0) -> bool:
    """The set-up cell of every notebook: seed Python and torch, quiet warnings; returns `quick_mode()`.

    Every random draw in the notebooks also takes an explicit `torch.Generator`; seeding the global generators
    here only makes stray uses (e.g. weight initialisation in a student's experiment) reproducible too.
    """
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    quiet_warnings()
    return quick_mode()
