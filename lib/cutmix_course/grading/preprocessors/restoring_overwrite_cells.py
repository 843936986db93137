"""nbgrader's OverwriteCells, restoring what a student deleted or broke, and saying so."""
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import OverwriteCells
from traitlets import Bool, Unicode

from ...notebook.regions import without_region
from ..findings import state_of
from ..problems import Problem


class RestoringOverwriteCells(OverwriteCells):
    """OverwriteCells with add_missing_cells on, a re-insertion that finds its place robustly (upstream raises
    KeyError when a locked markdown cell precedes the test), unknown grade_ids neutralised instead of failing the
    notebook, and each restoration recorded."""

    add_missing_cells = Bool(True).tag(config=True)
    hidden_begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    hidden_end = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            return cell, resources
        state = state_of(resources)
        try:
            source_cell = self.gradebook.find_source_cell(gid, self.notebook_id, self.assignment_id)
        except MissingEntry:
            state.note(Problem.RESTORED, f"cell {index} has an unknown grade_id {gid!r}: treated as an ordinary cell")
            del cell.metadata["nbgrader"]
            return cell, resources
        if source_cell.locked and cell.source not in (source_cell.source, without_region(
                source_cell.source, self.hidden_begin, self.hidden_end)):
            state.note(Problem.RESTORED, f"locked cell {gid!r} was edited: restored from the gradebook")
        return super().preprocess_cell(cell, resources, index)

    def add_missing_grade_cells(self, nb, resources):
        state = state_of(resources)
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [c.name for c in source_nb.source_cells]
        solution_ids = {c.name for c in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
            if grade_cell.name in present:
                continue
            state.note(Problem.RESTORED, f"test cell {grade_cell.name!r} was missing: added back from the gradebook")
            position = order.index(grade_cell.name)
            before = [present[n] for n in order[:position] if n in present]
            new_cell = self.missing_cell_transform(source_nb.source_cells[position], grade_cell.max_score,
                                                   is_solution=grade_cell.name in solution_ids)
            nb.cells.insert(before[-1] + 1 if before else 0, new_cell)
        return nb, resources
