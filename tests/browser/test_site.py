"""`make site`: the executed student notebooks as static HTML, opened in Chromium from the disk (no server, no
kernel, no network): every explorer's opening figure, the attached figures and the quiz's questions show, and no
solution or hidden test is in any page."""
import html
import re
from pathlib import Path

import nbformat
import pytest

from cutmix_course.notebook.regions import outside_regions
from cutmix_course.tools import site

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions" / "cutout_cutmix"
# The pages built, and per page how many explorer cells must show a picture: two of the six, each kind of static
# copy once (explorers' opening figures, an attached figure, the quiz's questions). The same code writes every page;
# building all six took 113 s alone but 1112 s beside the rest of `make test` in CI. Every explorer is made by
# widgets.explorer, whose static copy tests/notebook/test_widgets.py tests; tests/tools/test_figures.py tests the
# attachments of both notebooks that carry one.
EXPLORERS = {"03_cutmix": 2, "06_quiz": 0}
ATTACHED = {"03_cutmix": "A 32 × 32 image with the box"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = site.build(REPO / "notebooks" / "cutout_cutmix", out, quick=True, only=list(EXPLORERS))
    return out, pages


def secret_lines(name: str) -> list[str]:
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    public = {line.strip() for c in nb.cells for line in outside_regions(c.source)}
    secret, inside = [], False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if re.search(r"### BEGIN (SOLUTION|HIDDEN TESTS)", line):
                inside = True
            elif re.search(r"### END (SOLUTION|HIDDEN TESTS)", line):
                inside = False
            elif inside and len(line.strip()) >= 20 and line.strip() not in public:
                secret.append(line.strip())
    return secret


def test_the_site_shows_every_figure_without_a_kernel(built, browser_context, output_dir):
    out, pages = built
    assert [p.name for p in pages] == [f"{n}.html" for n in EXPLORERS] + ["index.html"]
    tab = browser_context.new_page()
    try:
        tab.goto((out / "index.html").as_uri())
        assert tab.locator("ol li a").count() == len(EXPLORERS)
        for name, explorers in EXPLORERS.items():
            tab.goto((out / f"{name}.html").as_uri())
            tab.wait_for_load_state("load")
            shown = tab.evaluate("""() => [...document.querySelectorAll('img')]
                .filter(i => i.complete && i.naturalWidth > 0).map(i => ({alt: i.alt || ''}))""")
            # each explorer cell's own output shows a loaded picture (not only some other figure of the page)
            pictured = tab.evaluate(r"""() => [...document.querySelectorAll('.jp-CodeCell')]
                .filter(c => /_explorer\(/.test(c.querySelector('.jp-InputArea')?.textContent || ''))
                .map(c => [...c.querySelectorAll('.jp-OutputArea-output img')]
                          .some(i => i.complete && i.naturalWidth > 0))""")
            assert len(pictured) == explorers and all(pictured), f"{name}: explorer cells with a picture: {pictured}"
            if name in ATTACHED:
                assert any(i["alt"].startswith(ATTACHED[name]) for i in shown), f"{name}: attached figure missing"
            if name == "06_quiz":
                quiz = tab.locator(".quiz-static")
                assert quiz.count() == 1 and quiz.is_visible() and "Question 1." in quiz.inner_text()
            tab.screenshot(path=str(output_dir / f"site-{name}.png"), full_page=False)
    finally:
        tab.close()


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_no_page_holds_a_solution_or_a_hidden_test_or_loads_a_widget(built, name):
    out, _ = built
    text = (out / f"{name}.html").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    leaked = [line for line in secret_lines(name) if html.escape(line) in text or line in text]
    assert not leaked, f"{name}: solution or hidden-test lines in the page: {leaked[:5]}"
    assert "application/vnd.jupyter.widget-view+json" not in text, "a widget view: nothing would show offline"


def test_a_page_not_in_the_release_is_refused_with_the_names_there_are(tmp_path):
    with pytest.raises(ValueError, match="no notebook named 03_cutmx .* expected some of 01_dataset, 02_cutout"):
        site.build(REPO / "notebooks" / "cutout_cutmix", tmp_path, quick=True, only=["03_cutmx"])
    assert not list(tmp_path.iterdir()), "nothing is written for a refused name"
