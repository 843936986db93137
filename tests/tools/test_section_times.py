"""The time table at the top of each notebook: counted from the notebook it sits in, and kept in step with it."""
import nbformat
import pytest

from cutmix_course.notebook.paths import ASSIGNMENT
from cutmix_course.tools import section_times as st

SOLUTIONS = sorted((st.ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))


def _toy():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\n" + "word " * 199),          # 200 words of introduction
        nbformat.v4.new_markdown_cell("## Cutout | masks\n\n" + "w " * 399),  # 2 + 399 words: 3 min
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("## Two\n\nshort"),
    ]
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "points": 2}
    nb.cells[3].metadata["nbgrader"] = {"grade": True, "points": 1.5}  # a graded written answer
    return nb


def test_sections_count_words_and_points_per_section():
    assert st.sections(_toy()) == [("Introduction", 200, 0.0), ("Cutout | masks", 401, 2.0), ("Two", 2, 1.5)]


def test_the_table_rounds_reading_up_and_prices_points():
    text = st.table(_toy())
    assert "| Introduction | 1 min |  |" in text
    assert "| Cutout / masks | 3 min | 20 min (2 points) |" in text
    assert "| Two | 1 min | 15 min (1.5 points) |" in text
    assert "about 5 min of reading and 35 min of exercises" in text


def test_the_table_replaces_itself_and_is_not_counted_in_its_own_section():
    nb = _toy()
    nb.cells[0].source = st.with_table(nb.cells[0].source, nb)
    assert st.sections(nb) == st.sections(_toy())
    assert st.with_table(nb.cells[0].source, nb) == nb.cells[0].source
    assert nb.cells[0].source.count(st.BEGIN) == 1


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_each_notebooks_table_matches_the_notebook(path):
    nb = nbformat.read(path, as_version=4)
    assert st.with_table(nb.cells[0].source, nb) == nb.cells[0].source, \
        f"{path.name}: its section table is out of date; run `make section-times` then `make release`"


def test_every_solutions_notebook_is_checked():
    assert len(SOLUTIONS) == 6
