"""Feedback without hidden tests (nbgrader renders them in the feedback: upstream issue #917)."""
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool

from ...notebook.regions import without_region


class HideHiddenTests(ClearHiddenTests):
    """Each hidden-test region becomes a one-line note, and an error in such a cell is shown as its last line only
    (a traceback quotes the lines around the failing one)."""

    enforce_metadata = Bool(False).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if self.begin_test_delimeter not in cell.source:
            return cell, resources
        cell.source = without_region(cell.source, self.begin_test_delimeter, self.end_test_delimeter,
                                   note="# [hidden tests: not shown]")
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                out.traceback = [f"{out.ename}: {out.evalue}".rstrip(": ")]
        return cell, resources
