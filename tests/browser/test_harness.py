"""The browser harness proves itself on notebooks it writes: widgets render in JupyterLab, a slider moved by
the keyboard redraws a matplotlib figure, an irrelevant redraw leaves the image byte-identical, and the
error/widget-failure detectors do see errors (so the course tests that rely on them can fail)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyterlab_page import (
    browser_errors,
    cell_index,
    click_radio,
    error_outputs,
    find_button,
    find_slider,
    menu,
    open_notebook,
    output_image,
    output_images,
    press_slider,
    run_all_cells,
    screenshot,
    set_slider,
    settle,
    text_lines,
    unexpected_errors,
    wait_images_changed,
    wait_new_text,
    wait_widgets_rendered,
    widget_failures,
    widget_group,
)

# one JupyterLab server per session: with xdist, `--dist loadgroup` keeps these on one worker
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

DEMO_CELLS = [
    """%matplotlib inline
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display""",
    """def draw(size, ignored):
    img = np.zeros((32, 32))
    img[:size, :size] = 1
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(img, vmin=0, vmax=1)
    ax.set_title(f"size {size}")
    plt.show()
    print(f"ignored={ignored}")

size = widgets.IntSlider(value=8, min=1, max=32, description="demo size")
ignored = widgets.IntSlider(value=0, min=0, max=10, description="unused")
display(widgets.VBox([size, ignored]), widgets.interactive_output(draw, {"size": size, "ignored": ignored}))""",
]

QUIZ_CELLS = [
    """import ipywidgets as widgets
from IPython.display import display

def question(text, choices, answer):
    radio = widgets.RadioButtons(options=choices, value=None)
    check = widgets.Button(description="Check")
    feedback = widgets.HTML()
    def on_check(_):
        feedback.value = "Correct." if radio.value == answer else "Not quite: look again."
    check.on_click(on_check)
    return widgets.VBox([widgets.HTML(f"<b>{text}</b>"), radio, check, feedback])

display(question("Demo question one?", ["apples", "pears"], "pears"),
        question("Demo question two?", ["apples", "pears"], "apples"))""",
]

FAULTY_CELLS = [
    ("import sys\nprint('written to stderr', file=sys.stderr)", []),
    ("raise NotImplementedError('exercise stub')", ["raises-exception"]),
    ("raise ValueError('a real bug in a tolerated cell')", ["raises-exception"]),
    ("print('still ran after the tolerated errors')", []),
    ("from IPython.display import display\n"
     "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'no-such-model', 'version_major': 2,"
     " 'version_minor': 0}, 'text/plain': 'IntSlider(value=0)'}, raw=True)", []),
]


def write_notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_slider_redraws_matplotlib_figure(page, lab, output_dir):
    nb_file = write_notebook(lab.root / "browser-demo" / "demo.ipynb", DEMO_CELLS)
    open_notebook(page, lab, "browser-demo/demo.ipynb")
    run_all_cells(page, timeout_s=120)
    assert wait_widgets_rendered(page) >= 2
    assert widget_failures(page) == []
    assert error_outputs(page, nb_file) == []

    slider = find_slider(page, "Demo Size")  # matching ignores case
    cell = page.locator(".jp-Notebook .jp-Cell").nth(cell_index(slider))
    settle(page)
    before = output_images(page)
    idx = cell_index(slider)
    assert idx in before, f"no image in the slider's cell {idx}: {before}"
    screenshot(cell, output_dir, "harness-1-cell-before")
    shot_before = screenshot(output_image(cell), output_dir, "harness-1-image-before").read_bytes()

    assert press_slider(slider, "ArrowRight", 8) == 16  # keyboard, as a user would
    after = wait_images_changed(page, before, cells=[idx])
    screenshot(cell, output_dir, "harness-2-cell-after")
    shot_after = screenshot(output_image(cell), output_dir, "harness-2-image-after").read_bytes()
    assert shot_after != shot_before

    assert set_slider(slider, 4) == 4  # typed into the readout
    wait_images_changed(page, after, cells=[idx])

    # control: a redraw that does not change the picture must leave it byte-identical
    settle(page)
    same = output_images(page)
    shot_same = screenshot(output_image(cell), output_dir, "harness-3-image-before-unused").read_bytes()
    assert press_slider(find_slider(page, "unused"), "ArrowRight", 3) == 3
    cell.locator(".jp-OutputArea-output").get_by_text("ignored=3").wait_for()
    settle(page)
    assert output_images(page)[idx] == same[idx]
    assert screenshot(output_image(cell), output_dir, "harness-4-image-after-unused").read_bytes() == shot_same
    assert error_outputs(page, nb_file) == []
    assert browser_errors(page) == []


def test_detectors_see_errors_and_broken_widgets(page, lab, output_dir):
    nb_file = write_notebook(lab.root / "browser-demo" / "faulty.ipynb", FAULTY_CELLS)
    open_notebook(page, lab, "browser-demo/faulty.ipynb")
    run_all_cells(page, timeout_s=120)
    # raises-exception does not stop Run All
    page.locator(".jp-OutputArea-output").get_by_text("still ran after the tolerated errors").wait_for()
    screenshot(page, output_dir, "harness-faulty")

    errors = error_outputs(page, nb_file)
    assert [e.cell for e in errors] == [0, 1, 2], errors
    assert "written to stderr" in errors[0].text
    assert "NotImplementedError" in errors[1].text and errors[1].tags == ("raises-exception",)
    assert [e.cell for e in unexpected_errors(errors)] == [0, 2]  # only the stub's NotImplementedError is excused

    page.locator(".jp-OutputArea-output").get_by_text("Error displaying widget").first.wait_for()
    assert any("Error displaying widget" in f for f in widget_failures(page))
    assert any("widget model not found" in e for e in browser_errors(page))


def test_extensions_are_active(page, lab, output_dir):
    """ipywidgets' and nbgrader's JupyterLab extensions are loaded (menus, toolbar, server)."""
    write_notebook(lab.root / "browser-demo" / "empty.ipynb", ["1 + 1"])
    open_notebook(page, lab, "browser-demo/empty.ipynb")
    labels = menu(page, "Nbgrader")
    assert {"Assignment List", "Course List", "Formgrader"} <= set(labels), labels
    assert page.locator(".jp-NotebookPanel-toolbar .validate-button").count() == 1  # nbgrader's Validate
    status = {e["name"]: (e["enabled"], e["status"]) for e in lab.api("GET", "lab/api/extensions")}
    for name in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
        assert status.get(name) == (True, "ok"), f"{name}: {status.get(name)} (all: {status})"
    screenshot(page, output_dir, "harness-nbgrader-menu")


def test_quiz_helpers_read_feedback(page, lab, output_dir):
    write_notebook(lab.root / "browser-demo" / "quiz.ipynb", QUIZ_CELLS)
    open_notebook(page, lab, "browser-demo/quiz.ipynb")
    run_all_cells(page, timeout_s=120)
    wait_widgets_rendered(page)
    group = widget_group(page, "demo question TWO?", ".widget-radio-box", "demo-q2")
    assert "Demo question one?" not in group.inner_text()  # the innermost box, not the whole quiz
    check = find_button(group, "Check")
    before = text_lines(group)
    click_radio(group, "apples")
    check.click()
    assert wait_new_text(page, group, before) == ["Correct."]
    before = text_lines(group)
    click_radio(group, "pears")
    check.click()
    assert wait_new_text(page, group, before) == ["Not quite: look again."]
    screenshot(group, output_dir, "harness-quiz")
