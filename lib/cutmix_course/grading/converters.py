"""nbgrader's converters with the grading run's state in each notebook's resources, and the course's pipeline."""
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Instance

from .findings import RESOURCES_KEY, GradingState
from .preprocessors import (
    CourseCells,
    GuardedExecute,
    HideHiddenTests,
    ModelAnswers,
    RestoringOverwriteCells,
    TestCellPolicy,
)

SANITIZE = [ClearOutput, DeduplicateIds, CourseCells, OverwriteKernelspec, RestoringOverwriteCells, CheckCellMetadata]
AUTOGRADE = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, TestCellPolicy, SaveAutoGrades,
             AssignLatePenalties, CheckCellMetadata]
FEEDBACK = [GetGrades, HideHiddenTests, ModelAnswers, CSSHTMLHeaderPreprocessor]


class CourseAutograde(Autograde):
    """nbgrader's Autograde; each notebook's resources carry `state` (the caller's object, not a config value:
    traitlets would deep-copy that) under RESOURCES_KEY, so the preprocessors' findings reach the caller."""

    state = Instance(GradingState, allow_none=False)

    def init_single_notebook_resources(self, notebook_filename):
        resources = super().init_single_notebook_resources(notebook_filename)
        resources[RESOURCES_KEY] = self.state
        return resources


def configure(c, options) -> None:
    """Put the course's preprocessors and the `options` (a GradingOptions) into the nbgrader Config `c`."""
    c.Autograde.sanitize_preprocessors = SANITIZE
    c.Autograde.autograde_preprocessors = AUTOGRADE
    c.GenerateFeedback.preprocessors = FEEDBACK
    c.TestCellPolicy.stderr_as_output = options.stderr == "output"
    c.Execute.timeout = options.timeout
    # every output is collected when the last cell ends: stop the kernel at once instead of nbclient's graceful
    # shutdown, which cost 1.5 s per notebook here (9 s of a 45 s student, measured with bench-grade)
    c.Execute.shutdown_kernel = "immediate"
    c.GuardedExecute.notebook_timeout = options.notebook_timeout
    c.GuardedExecute.max_output_bytes = options.max_output_kb * 1024
    c.GuardedExecute.reuse = options.reuse
    c.LateSubmissionPlugin.penalty_method = options.late_policy
    c.SandboxedKernelManager.sandbox = options.sandbox
    c.SandboxedKernelManager.memory_mb = options.memory_mb
