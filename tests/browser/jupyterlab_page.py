"""Drive JupyterLab 4 the way a student does: open a notebook, Run All Cells from the menu, move a slider,
press a button; read back what the page shows (images, error outputs, widget failures).

Only the DOM is used (no JupyterLab internals), so these helpers see what a person would see. Selectors are
for JupyterLab 4.6 and ipywidgets 8 (noUiSlider handles with role="slider", contenteditable readouts).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

KERNEL_STATUS = '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]'
WIDGET_FAILURE_TEXTS = ("Loading widget...", "Error displaying widget", "Error rendering widget")
# What JupyterLab shows in place of a widget when no widget manager renders it: the model's text/plain repr.
WIDGET_REPR = re.compile(
    r"^\s*(\w*Slider|[VH]Box|Box|Output|RadioButtons|Button|ToggleButtons|Dropdown|HTML|Label|interactive)\(",
)


# ---------------------------------------------------------------- notebook and kernel


def open_notebook(page: Page, lab, path: str, timeout_s: float = 90) -> Locator:
    """Open path (relative to the server root) alone in a fresh workspace; wait for its kernel to be idle."""
    page.goto(lab.url(f"lab/tree/{path}", reset=""))
    panel = page.locator(".jp-NotebookPanel").first
    panel.wait_for(timeout=timeout_s * 1000)
    # a dialog here (file load error, "Select Kernel" for a notebook without kernelspec) stops a student too
    page.wait_for_function(
        """sel => document.querySelector('.jp-Dialog') ||
            /\\| Idle$/.test((document.querySelector(sel)?.textContent || '').trim())""",
        arg=KERNEL_STATUS, timeout=timeout_s * 1000, polling=250,
    )
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        raise AssertionError(f"opening {path} shows a dialog: {dialog.first.inner_text()}")
    wait_kernel_idle(page, timeout_s)
    return panel


def wait_kernel_idle(page: Page, timeout_s: float = 90) -> None:
    """Wait until a kernel is connected and idle (the status bar says '<kernel> | Idle', no '[*]' prompt)."""
    page.wait_for_function(
        """sel => {
            const item = document.querySelector(sel);
            if (!item || !/\\| Idle$/.test(item.textContent.trim())
                || /^No Kernel/.test(item.textContent)) return false;
            return ![...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .some(p => p.textContent.includes('*'));
        }""",
        arg=KERNEL_STATUS,
        timeout=timeout_s * 1000,
        polling=250,
    )


def menu(page: Page, top: str, item: str | None = None) -> list[str]:
    """Open the top-level menu `top`; click `item` if given. Returns the labels the menu showed."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).first.click()
    opened = page.locator(".lm-Menu").last
    opened.wait_for()
    labels = [t.strip() for t in opened.locator(".lm-Menu-itemLabel").all_inner_texts() if t.strip()]
    if item is None:
        # pressed on the menu itself: a key sent to the page went elsewhere under load and the menu stayed open (CI),
        # and a menu still open when the next call clicks its title closes instead of opening
        opened.press("Escape")
        opened.wait_for(state="hidden")
    else:
        opened.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).first.click()
    return labels


ALL_NUMBERED = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
    .filter(c => (c.querySelector('.cm-content')?.textContent || '').trim())
    .every(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt')?.textContent || ''))"""


def run_all_cells(page: Page, timeout_s: float = 300) -> float:
    """Run > Run All Cells, then wait until the kernel is idle with nothing queued. Returns seconds taken."""
    start = time.monotonic()
    menu(page, "Run", "Run All Cells")
    # wait for the run to have started: a queued prompt, a busy kernel, or (fast) every non-empty cell numbered
    page.wait_for_function(
        f"""sel => {{
            const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
            const prompt = c => c.querySelector('.jp-InputPrompt')?.textContent || '';
            const status = document.querySelector(sel)?.textContent || '';
            return cells.some(c => prompt(c).includes('*')) || /Busy/.test(status) || ({ALL_NUMBERED})();
        }}""",
        arg=KERNEL_STATUS,
        timeout=30_000,
        polling=100,
    )
    deadline = start + timeout_s
    # idle twice, a second apart (a run of quick cells can show 'Idle' between two of them), and every non-empty cell
    # numbered: in CI a cell after an explorer was once neither numbered nor marked "[*]" while the status said Idle,
    # and the kernel was busy again after. At the deadline the caller's checks say which cells did not run.
    while True:
        wait_kernel_idle(page, max(1.0, deadline - time.monotonic()))
        page.wait_for_timeout(1000)
        try:
            wait_kernel_idle(page, 0.5)
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise
            continue
        if page.evaluate(ALL_NUMBERED) or time.monotonic() > deadline:
            return time.monotonic() - start


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True, repr=False)
class ErrorOutput:
    cell: int  # index of the cell in the notebook (0-based, as in the .ipynb)
    text: str
    tags: tuple[str, ...] = ()

    def __str__(self) -> str:
        tags = f" tags={list(self.tags)}" if self.tags else ""
        text = self.text if len(self.text) <= 700 else f"{self.text[:200]} [...] {self.text[-500:]}"
        return f"cell {self.cell}{tags}: {text}"

    __repr__ = __str__  # readable in pytest's assertion diffs


def error_outputs(page: Page, notebook_file: Path | None = None) -> list[ErrorOutput]:
    """Every stderr stream and every error (traceback) the notebook shows, including inside widget Output
    areas, with the cell's tags read from notebook_file (for 'raises-exception' cells)."""
    found = page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].flatMap((cell, i) =>
            [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
                .map(o => [i, o.textContent]))"""  # textContent: innerText is '' in cells off screen
    )
    tags: dict[int, tuple[str, ...]] = {}
    if notebook_file is not None:
        cells = json.loads(Path(notebook_file).read_text())["cells"]
        tags = {i: tuple(c.get("metadata", {}).get("tags", [])) for i, c in enumerate(cells)}
    return [ErrorOutput(i, text, tags.get(i, ())) for i, text in found]


def unexpected_errors(errors: list[ErrorOutput], allowed_in_stub: str = "NotImplementedError") -> list[ErrorOutput]:
    """Errors a student should not see: all of them, except the unimplemented exercise stubs (cells tagged
    'raises-exception' whose error is `allowed_in_stub`)."""
    return [e for e in errors if not ("raises-exception" in e.tags and allowed_in_stub in e.text)]


def widget_failures(page: Page) -> list[str]:
    """Texts showing that a widget did not render: the manager's failure messages, or a bare repr."""
    return page.evaluate(
        """([texts, repr]) => {
            const re = new RegExp(repr);
            const out = [];
            for (const o of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
                const t = o.textContent || '';  // innerText is '' in cells off screen (content-visibility)
                if (texts.some(x => t.includes(x))) out.push(t.slice(0, 300));
                else if (o.getAttribute('data-mime-type') === 'text/plain' && re.test(t)) out.push(t.slice(0, 300));
            }
            return out;
        }""",
        [list(WIDGET_FAILURE_TEXTS), WIDGET_REPR.pattern],
    )


def wait_widgets_rendered(page: Page, timeout_s: float = 30) -> int:
    """Wait until widgets are on the page and none is still loading; returns how many widget views show."""
    page.wait_for_function(
        """texts => document.querySelector('.jp-Notebook .jupyter-widgets') &&
            ![...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
                .some(o => (o.textContent || '').includes(texts[0]))""",
        arg=list(WIDGET_FAILURE_TEXTS),
        timeout=timeout_s * 1000,
        polling=250,
    )
    return page.locator(".jp-Notebook .jupyter-widgets").count()


def cell_index(locator: Locator) -> int:
    """Index (as in the .ipynb) of the notebook cell that contains locator."""
    return locator.evaluate(
        "e => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].indexOf(e.closest('.jp-Cell'))"
    )


def output_images(page: Page) -> dict[int, list[str]]:
    """SHA-1 of every rendered image output (PNG/JPEG data or SVG markup), per cell index."""
    found = page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell =>
            [...cell.querySelectorAll('.jp-OutputArea-output img, .jp-RenderedSVG svg')]
                .map(e => e.tagName === 'IMG' ? e.getAttribute('src') : e.outerHTML))"""
    )
    return {i: [hashlib.sha1(s.encode()).hexdigest() for s in srcs] for i, srcs in enumerate(found) if srcs}


def output_image(cell: Locator) -> Locator:
    """The last image output shown in cell (the figure an interactive widget redraws)."""
    return cell.locator(".jp-OutputArea-output img, .jp-RenderedSVG svg").last


def wait_images_changed(page: Page, before: dict[int, list[str]], cells: list[int] | None = None,
                        timeout_s: float = 60) -> dict[int, list[str]]:
    """Wait until the images of `cells` (all cells if None) differ from `before` and the kernel is idle.
    Returns the new images. Raises AssertionError at once if the watched cells show an error output (the
    redraw failed), TimeoutError (with the last state) if nothing changed."""
    deadline = time.monotonic() + timeout_s
    errors_before = set(error_outputs(page))
    while True:
        wait_kernel_idle(page, max(1.0, deadline - time.monotonic()))
        now = output_images(page)
        keys = cells if cells is not None else sorted(set(before) | set(now))
        if any(now.get(k) and now.get(k) != before.get(k) for k in keys):
            return now
        # an error in a watched cell (or, watching all, a new one anywhere) means the redraw failed: say so now
        new_errors = [e for e in error_outputs(page)
                      if (e.cell in cells if cells is not None else e not in errors_before)]
        if new_errors:
            raise AssertionError("the redraw wrote errors instead of a new image:\n" + "\n".join(map(str, new_errors)))
        if time.monotonic() > deadline:
            raise TimeoutError(f"no image changed in cells {keys} within {timeout_s}s: before={before} now={now}")
        page.wait_for_timeout(300)


def settle(page: Page, quiet_ms: int = 1000, timeout_s: float = 60) -> None:
    """Wait for the kernel to be idle and the output images to stop changing for quiet_ms."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        wait_kernel_idle(page, max(1.0, deadline - time.monotonic()))
        now = output_images(page)
        if now == last:
            return
        last = now
        page.wait_for_timeout(quiet_ms)
    raise TimeoutError(f"outputs still changing after {timeout_s}s")


# ---------------------------------------------------------------- widgets


def _label_pattern(descriptions: tuple[str, ...] | str) -> re.Pattern:
    if isinstance(descriptions, str):
        descriptions = (descriptions,)
    alternatives = "|".join(re.escape(d) for d in descriptions)
    return re.compile(rf"^\s*(?:{alternatives})\s*:?\s*$", re.IGNORECASE)


def find_slider(page: Page, descriptions: tuple[str, ...] | str) -> Locator:
    """The (first) ipywidgets slider whose description label is one of descriptions (case-insensitive,
    an optional trailing colon allowed). Fails with the descriptions that do exist if none matches."""
    pattern = _label_pattern(descriptions)
    sliders = page.locator(".jp-Notebook .widget-slider").filter(
        has=page.locator("label.widget-label", has_text=pattern)
    )
    if sliders.count() == 0:
        present = page.locator(".jp-Notebook .widget-slider label.widget-label").all_inner_texts()
        raise AssertionError(f"no slider described {pattern.pattern!r}; sliders on the page: {present}")
    return sliders.first


def slider_value(slider: Locator) -> float:
    return float(slider.locator('[role="slider"]').first.get_attribute("aria-valuenow"))


def slider_range(slider: Locator) -> tuple[float, float]:
    handle = slider.locator('[role="slider"]').first
    return float(handle.get_attribute("aria-valuemin")), float(handle.get_attribute("aria-valuemax"))


def press_slider(slider: Locator, key: str = "ArrowRight", times: int = 1) -> float:
    """Focus the slider handle and press `key` (ArrowLeft/Right, PageUp/Down, Home, End) like a keyboard
    user. Returns the value the handle shows afterwards."""
    handle = slider.locator('[role="slider"]').first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        handle.press(key)
    return slider_value(slider)


def set_slider(slider: Locator, value: float) -> float:
    """Type value into the slider's editable readout and press Enter (how ipywidgets 8 accepts exact values)."""
    readout = slider.locator(".widget-readout").first
    readout.scroll_into_view_if_needed()
    readout.click()
    readout.press("Control+A")
    readout.press_sequentially(f"{value}")
    readout.press("Enter")
    return slider_value(slider)


def find_button(scope: Locator, description: str) -> Locator:
    buttons = scope.locator("button.widget-button, .widget-button button, button.jupyter-button").filter(
        has_text=_label_pattern(description)
    )
    if buttons.count() == 0:
        present = scope.locator("button").all_inner_texts()
        raise AssertionError(f"no button {description!r}; buttons here: {present}")
    return buttons.first


def widget_group(page: Page, text: str, containing: str, mark: str) -> Locator:
    """The innermost rendered widget container (box, or else the cell output area) whose text includes
    `text` and that contains an element matching the CSS selector `containing`: e.g. one quiz question
    with its radio buttons. It is tagged data-test-group=mark so the returned locator stays stable."""
    found = page.evaluate(
        """([text, containing, mark]) => {
            const norm = s => (s || '').replace(/\\s+/g, ' ').trim().toLowerCase();
            const want = norm(text);
            const candidates = [...document.querySelectorAll(
                '.jp-Notebook .jupyter-widgets.widget-box, .jp-Notebook .jupyter-widgets.widget-container, '
                + '.jp-Notebook .jp-Cell-outputArea')]
                .filter(e => norm(e.textContent).includes(want) && e.querySelector(containing));
            if (!candidates.length) return false;
            // innermost: a candidate with no other candidate inside it
            const inner = candidates.filter(e => !candidates.some(o => o !== e && e.contains(o)));
            inner[0].setAttribute('data-test-group', mark);
            return true;
        }""",
        [text, containing, mark],
    )
    if not found:
        raise AssertionError(f"no widget group shows {text!r} together with {containing!r}")
    return page.locator(f'[data-test-group="{mark}"]')


def click_radio(group: Locator, choice_text: str) -> None:
    """Pick the radio button (ipywidgets RadioButtons) whose label contains choice_text."""
    labels = group.locator(".widget-radio-box label").filter(has_text=choice_text)
    if labels.count() == 0:
        present = group.locator(".widget-radio-box label").all_inner_texts()
        raise AssertionError(f"no choice containing {choice_text!r}; choices: {present}")
    labels.first.scroll_into_view_if_needed()
    try:  # Playwright clicks only what a person could click: visible, enabled, not covered
        labels.first.locator("input[type=radio]").check(timeout=10_000)
    except PlaywrightTimeoutError as exc:
        lines = str(exc).splitlines()
        why = next((ln.strip() for ln in reversed(lines) if "intercepts" in ln or "not visible" in ln), lines[0])
        hint = (" (long choices wrap over each other in the default RadioButtons width; "
                "give it layout=widgets.Layout(width='auto'))") if "intercepts" in why else ""
        raise AssertionError(f"a student cannot click the choice {choice_text!r}: {why}{hint}") from None


def text_lines(locator: Locator) -> list[str]:
    return [line.strip() for line in locator.inner_text().splitlines() if line.strip()]


def wait_new_text(page: Page, locator: Locator, before: list[str], timeout_s: float = 30) -> list[str]:
    """Wait until locator shows lines that were not in `before` (and the kernel is idle); return them."""
    deadline = time.monotonic() + timeout_s
    while True:
        wait_kernel_idle(page, max(1.0, deadline - time.monotonic()))
        new = [line for line in text_lines(locator) if line not in before]
        if new:
            page.wait_for_timeout(300)  # let a multi-line message finish rendering
            return [line for line in text_lines(locator) if line not in before]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new text within {timeout_s}s; still showing {text_lines(locator)}")
        page.wait_for_timeout(250)


# JupyterLab's markdown renderer puts an attached image in the page with its `attachment:name` address before its
# resolver swaps in the data, so Chromium tries that address once (jupyterlab/jupyterlite#792 saw the same); whether
# the picture then shows is checked by attached_images_shown, not by the console.
ATTACHMENT_LOAD = re.compile(r"^error: Failed to load resource: net::ERR_UNKNOWN_URL_SCHEME \(attachment:[^)]+\)$")


def browser_errors(page: Page) -> list[str]:
    """JavaScript errors the page logged (console errors, uncaught exceptions) since the tab opened."""
    return [m for m in getattr(page, "console_log", [])
            if m.startswith(("error:", "pageerror:")) and not ATTACHMENT_LOAD.match(m)]


def attached_images_shown(page: Page) -> dict[str, bool]:
    """Per image of the open notebook's markdown cells, by its alt text: whether it loaded (a broken one shows 0 px)."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.jp-MarkdownCell img')]
        .map(i => [i.alt || i.getAttribute('src'), i.complete && i.naturalWidth > 0]))""")


# ---------------------------------------------------------------- screenshots


def screenshot(target: Page | Locator, out_dir: Path, name: str) -> Path:
    """Save a PNG of the page or element under out_dir; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    if isinstance(target, Page):
        target.screenshot(path=str(path))
    else:
        target.scroll_into_view_if_needed()
        target.screenshot(path=str(path))
    return path


def cell_runs(page: Page) -> list[tuple[str, str, str]]:
    """Per cell of the open notebook, in order: (cell type, input prompt such as '[7]:', output text)."""
    return [tuple(x) for x in page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => [
            cell.classList.contains('jp-CodeCell') ? 'code' : 'markdown',
            (cell.querySelector('.jp-InputPrompt')?.textContent || '').trim(),
            [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent || '').join('\\n')])"""
    )]
