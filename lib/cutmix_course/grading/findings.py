"""What the grading preprocessors notice about a notebook, carried in nbgrader's `resources` (no module globals).

`GradingState` is owned by whoever runs the conversion (`converters.CourseAutograde` puts the run's object into each
notebook's resources under RESOURCES_KEY); a preprocessor run on its own, on a hand-made notebook, gets a fresh one
in its resources, so it is unit-testable without a grading run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

RESOURCES_KEY = "cutmix_grading"


@dataclass
class GradingState:
    findings: list = field(default_factory=list)  # (kind, detail), in the order noticed
    reuse: dict = field(default_factory=dict)     # GuardedExecute's cache: content digest -> (outputs, findings, lang)
    reused: bool = False                          # the last notebook's outputs came from `reuse`
    timings: dict = field(default_factory=dict)   # where the time went: phase -> seconds (see `timed`)

    def note(self, kind: str, detail: str) -> None:
        self.findings.append((kind, detail))

    def timed(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def __deepcopy__(self, memo):
        # nbconvert deep-copies `resources` before the preprocessors run; the state is a handle owned by the caller,
        # so every copy of the resources must point at the same object
        return self


def state_of(resources) -> GradingState:
    """The grading state in `resources` (created there if absent)."""
    state = resources.get(RESOURCES_KEY)
    if state is None:
        state = resources[RESOURCES_KEY] = GradingState()
    return state


def cell_label(cell, index: int) -> str:
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" ({gid})" if gid else "")
