"""The static figures: stored in the markdown cells that show them, carried into the release, and (where no
network is involved) equal to a fresh drawing by plots.py."""
import base64

import nbformat
import pytest

from cutmix_course.tools import figures

ROOT = figures.ROOT
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_each_figure_is_stored_where_it_is_shown_in_both_the_source_and_the_release(name):
    notebook, _ = figures.FIGURES[name]
    png = figures.stored(ROOT, name)
    assert png.startswith(PNG) and len(png) > 5000, f"{notebook}: attachment {name} is missing or not a PNG"
    student = nbformat.read(ROOT / "notebooks" / "cutout_cutmix" / f"{notebook}.ipynb", as_version=4)
    released = figures.cell_naming(student, name).attachments[name]["image/png"]
    assert base64.b64decode(released) == png, "the release carries another picture: run `make release`"


def test_the_clipped_box_figure_is_what_plots_draws_today():
    """Drawn from numbers alone, so a change of the box code or of the figure must be followed by
    `python -m cutmix_course figures clipped_box.png`."""
    assert figures.clipped_box() == figures.stored(ROOT, "clipped_box.png")


def test_a_figure_needs_exactly_one_cell_that_shows_it():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("![a](attachment:x.png)"),
                                         nbformat.v4.new_markdown_cell("![b](attachment:x.png)")])
    with pytest.raises(ValueError, match="expected one markdown cell showing attachment:x.png, found 2"):
        figures.cell_naming(nb, "x.png")
    with pytest.raises(ValueError, match="found 0"):
        figures.cell_naming(nb, "y.png")
