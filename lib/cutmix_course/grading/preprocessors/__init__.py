"""The course's nbgrader preprocessors, one per module as in nbgrader's own `preprocessors/`; each keeps what it
notices in the `GradingState` of its `resources` (see ..findings)."""
from .course_cells import CourseCells
from .guarded_execute import GuardedExecute
from .hide_hidden_tests import HideHiddenTests
from .restoring_overwrite_cells import RestoringOverwriteCells
from .testcell_policy import TestCellPolicy

__all__ = ["CourseCells", "GuardedExecute", "HideHiddenTests", "RestoringOverwriteCells", "TestCellPolicy"]
