"""The course's nbgrader preprocessors, one per module as in nbgrader's own `preprocessors/`; each keeps what it
notices in the `GradingState` of its `resources` (see ..findings)."""
from .course_cells import CourseCells
from .guarded_execute import GuardedExecute
from .hide_hidden_tests import HideHiddenTests
from .model_answers import ModelAnswers
from .restoring_overwrite_cells import RestoringOverwriteCells
from .testcell_policy import TestCellPolicy

__all__ = ["CourseCells", "GuardedExecute", "HideHiddenTests", "ModelAnswers", "RestoringOverwriteCells",
           "TestCellPolicy"]
