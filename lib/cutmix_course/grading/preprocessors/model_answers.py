"""The feedback shows the model answer and the rubric of each answer graded by hand, from the course's source."""
import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict


def written_answers(course_cells) -> dict:
    """grade_id -> source of each markdown answer graded by hand in the course's source (its model answer and
    rubric). Code answers are left out: their solutions stay with the instructor."""
    found = {}
    for cell in course_cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade") and meta.get("grade_id"):
            found[meta["grade_id"]] = cell.source
    return found


class ModelAnswers(NbGraderPreprocessor):  # nbgrader's base: enabled by default, as in a converter's list
    """After each written answer of the student, a markdown cell with the course's model answer and rubric, so a
    student reads them with the grade and the grader's comment, never before submitting."""

    course = Dict(help="notebook name -> the course's source notebook (nbformat JSON text)").tag(config=True)

    def preprocess(self, nb, resources):
        name = (resources.get("nbgrader") or {}).get("notebook") or resources.get("unique_key")
        if name not in self.course:
            return nb, resources
        model = written_answers(nbformat.reads(self.course[name], as_version=4).cells)
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "markdown" and gid in model:
                cells.append(nbformat.v4.new_markdown_cell(
                    f"#### The course's model answer and rubric for `{gid}`\n\n{model[gid]}"))
        nb.cells = cells
        return nb, resources
