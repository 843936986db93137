"""The student's own code and identity, for the notebooks that build on earlier ones.

- `load(notebook, *names)`: the functions a student wrote in an earlier notebook, read from its saved file (the
  answer cell of each `grade_id`) and run in a fresh namespace holding torch, F, math and numpy. An answer must be
  self-contained in its cell (helpers inside the cell): that is what the exercises ask.
- `student_id()` and `course_seed(id)`: a per-student seed, so numbers computed from it differ between classmates.
  While the course's grader runs, the id comes from the grader (`CUTMIX_STUDENT`, set in the grading kernel), not
  from what the notebook says.
- `quiz_numbers(cutout_batch, sample_box, seed)`: the quiz's numeric questions, computed from the student's functions.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path

GRADER_ENV = "CUTMIX_STUDENT"   # set by the grader in the grading kernel: the id being graded
HUB_ENV = "JUPYTERHUB_USER"     # set by JupyterHub in the student's own session
_REGION = re.compile(r"[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?")


class NotAnswered(Exception):
    """The answer cell still holds the stub, or the function is not in its cell."""


def answer_source(path, grade_id: str) -> str:
    """The source of the answer cell `grade_id` of the notebook at `path` (nbgrader's region markers removed)."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return _REGION.sub("", cell.source)
    raise NotAnswered(f"{Path(path).name} has no cell with grade_id {grade_id!r}")


def load(notebook, *names: str, folder=None) -> dict:
    """{name: function} for each `name`, taken from the answer cell of the same grade_id in `notebook` (a path,
    or a file name in `folder`, default the working folder). Raises NotAnswered for a stub or a missing function,
    and whatever the cell raises when it runs."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    path = Path(folder or ".") / notebook
    out = {}
    for name in names:
        source = answer_source(path, name)
        if re.search(r"^\s*raise NotImplementedError", source, re.M):
            raise NotAnswered(f"{name} in {path.name} is not answered yet")
        namespace = {"torch": torch, "F": F, "math": math, "np": np, "__name__": f"student_{name}"}
        exec(compile(source, f"<{path.name}: {name}>", "exec"), namespace)  # noqa: S102 - the student's own code
        if not callable(namespace.get(name)):
            raise NotAnswered(f"the answer cell of {name} in {path.name} does not define {name}()")
        out[name] = namespace[name]
    return out


def student_id(declared: str | None = None) -> str | None:
    """The id numbers are seeded with: the grader's (while grading), else JupyterHub's user, else `declared`."""
    for env in (GRADER_ENV, HUB_ENV):
        if os.environ.get(env):
            return os.environ[env]
    return declared.strip() if isinstance(declared, str) and declared.strip() else None


def course_seed(sid: str) -> int:
    """A seed from a student id: stable across machines and sessions, different for different ids."""
    if not isinstance(sid, str) or not sid.strip():
        raise ValueError(f"a student id is a non-empty string, got {sid!r}")
    return int(hashlib.sha256(f"cutout_cutmix:{sid.strip()}".encode()).hexdigest()[:8], 16)


def quiz_numbers(cutout_batch, sample_box, seed: int) -> dict:
    """The quiz's numeric answers for `seed`, computed with the student's functions (unchanged by quick mode):

    - hidden_share: the share of pixels `cutout_batch` hides (size 8) in a batch of 64 random 3×32×32 images
      drawn from the seed (no pixel is 0 before, so every changed pixel is a hidden one);
    - clipped_lambda: 1 − (box area) / (32·32) for the box `sample_box(0.5, 32, 32)` draws from the seed.
    """
    import torch

    images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) + 0.5
    out = cutout_batch(images.clone(), 8, generator=torch.Generator().manual_seed(seed))
    hidden_share = float((out != images).any(1).float().mean())
    x1, y1, x2, y2 = (int(v) for v in sample_box(0.5, 32, 32, generator=torch.Generator().manual_seed(seed)))
    clipped_lambda = 1 - max(x2 - x1, 0) * max(y2 - y1, 0) / (32 * 32)
    return {"hidden_share": round(hidden_share, 4), "clipped_lambda": round(clipped_lambda, 4)}
