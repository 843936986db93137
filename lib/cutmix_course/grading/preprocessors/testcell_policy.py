"""How a test cell's outputs count (nbgrader's determine_grade reads the *first* error or execute_result)."""
from nbgrader import utils as nbutils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from ..findings import cell_label, state_of
from ..problems import Problem


class TestCellPolicy(NbGraderPreprocessor):
    """- a test cell that raised fails, even if code run before it made a result appear ahead of the error (a
      pre_run_cell hook publishing an execute_result would otherwise earn the points: "partial credit");
    - stderr_as_output: stderr of a test cell that raised nothing is relabelled stdout (text kept, marked), so a
      harmless library warning does not zero a correct answer ("exceptions fail, warnings don't")."""

    __test__ = False  # not a pytest test class, whatever its name
    stderr_as_output = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if not (nbutils.is_grade(cell) and not nbutils.is_solution(cell) and cell.cell_type == "code"):
            return cell, resources
        state = state_of(resources)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        kinds = [o.output_type for o in cell.outputs]
        if errors and "execute_result" in kinds[: kinds.index("error")]:
            cell.outputs = errors + [o for o in cell.outputs if o.output_type != "error"]
            state.note(Problem.RESULT_BEFORE_ERROR,
                       f"{cell_label(cell, index)} showed a result ahead of its error: counted failed")
        if self.stderr_as_output and not errors:
            for out in cell.outputs:
                if out.output_type == "stream" and out.name == "stderr":
                    out.name = "stdout"
                    out.text = "[stderr] " + out.text
                    state.note(Problem.STDERR,
                               f"{cell_label(cell, index)} wrote to stderr (kept as output, not a failure)")
        return cell, resources
