"""The graded notebook is the course's own, with the student's answers in it."""
import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict

from ...notebook.regions import without_region
from ...notebook.self_check import graded_cells
from ..findings import state_of
from ..problems import Problem


class CourseCells(NbGraderPreprocessor):
    """Rebuild the submitted notebook from the course's copy (see notebook.self_check.graded_cells): the course's
    cells with its metadata, the student's answer cells matched by grade_id, a course cell the student edited as
    released; the cells the student added (and their edited copies of course cells) run where they were, with no
    nbgrader role. Nothing of the course's solution runs as the student's. Of the course's own code cells only those
    tagged graded-run (the set-up cell) run: the data, figures, training and explorers decide no point (`make check`
    warns of an answer that reads a name only they define)."""

    course = Dict(help="notebook name -> the course's source notebook (nbformat JSON text); a notebook the course "
                       "does not have is not graded").tag(config=True)

    def preprocess(self, nb, resources):
        name = (resources.get("nbgrader") or {}).get("notebook")
        if name not in self.course:
            raise ValueError(f"the course has no notebook {name!r} to grade this submission against")
        # of the course's code only what a verdict needs runs: the set-up cell(s), the answers and the tests (the
        # student's added cells run too, where they were)
        course = nbformat.reads(self.course[name], as_version=4).cells
        self._note_restored(course, nb.cells, state_of(resources))
        nb.cells = graded_cells(course, nb.cells, only_needed=True)
        return nb, resources

    @staticmethod
    def _note_restored(course, submitted, state) -> None:
        """Record each locked or test cell of the course that the submission lacks or changed: put back."""
        by_id, known = {}, {c.metadata.get("nbgrader", {}).get("grade_id") for c in course}
        for cell in submitted:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid is not None and gid not in known:
                state.note(Problem.RESTORED, f"a cell has an unknown grade_id {gid!r}: run as the student's own cell")
            by_id.setdefault(gid, cell)
        for cell in course:
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id")
            if gid is None or meta.get("solution") or not (meta.get("locked") or meta.get("grade")):
                continue
            mine = by_id.get(gid)
            if mine is None:
                state.note(Problem.RESTORED, f"cell {gid!r} was missing: added back from the course")
            elif mine.source not in (cell.source,
                                     without_region(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
                state.note(Problem.RESTORED, f"locked cell {gid!r} was edited: restored from the course")
