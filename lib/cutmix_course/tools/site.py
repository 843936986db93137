"""`python -m cutmix_course site`: a static HTML copy of the executed student notebooks, for reading without a kernel.

Each notebook of the release (`notebooks/cutout_cutmix/`, what students get: stubs, no solution, no hidden test)
runs on a copy with nbclient, the unanswered exercises raising where they are tagged to, and is exported by
nbconvert's HTML exporter with pictures preferred over widgets: an explorer shows the figure it opens with and the
quiz its questions (see `widgets.static_copy_box`), and the markdown cells their attached figures. No widget state
is kept, so the pages load nothing from the internet. `site/index.html` links the six pages.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import shutil
import tempfile
import time
from pathlib import Path

from ..notebook import environment
from ..notebook.paths import ASSIGNMENT

ROOT = Path(__file__).resolve().parents[3]
# nbconvert's HTML order with the widget view last: where no kernel runs, the static copy is what can show
PRIORITY = ["image/png", "image/svg+xml", "image/jpeg", "text/html", "text/markdown", "text/latex",
            "text/plain", "application/vnd.jupyter.widget-view+json"]


def execute(path: Path, timeout: int) -> "nbformat.NotebookNode":  # noqa: F821 - imported inside
    """The notebook at `path`, run on a copy of its folder (so nothing it writes lands in the course)."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="cutmix-site-") as tmp:
        work = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        nb = nbformat.read(work / path.name, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(work)}}).execute()
    nb.metadata.pop("widgets", None)  # nbclient keeps the widgets' state (its Output widgets need it); the pages do not
    return nb


def to_html(nb) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.display_data_priority = PRIORITY
    body, _ = exporter.from_notebook_node(nb)
    return body


def index_html(pages: list[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for href, title in pages)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Cutout and CutMix</title></head><body>"
            "<h1>Cutout and CutMix: the course notebooks</h1>"
            "<p>The student notebooks as released, run once with their exercises unanswered (the course's reference "
            "code fills in where an explorer needs it). Open them in JupyterLab to work on them.</p>"
            f"<ol>{items}</ol></body></html>")


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return fallback


def build(source: Path, out: Path, quick: bool, timeout: int = 900, only: list[str] | None = None) -> list[Path]:
    """Run and export the notebooks in `source` (all, or those named in `only`) into `out`; return the pages written
    (index last)."""
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {source}: expected the release (make release writes it)")
    if only is not None:
        unknown = sorted(set(only) - {p.stem for p in notebooks})
        if unknown:
            raise ValueError(f"no notebook named {', '.join(unknown)} in {source}: "
                             f"expected some of {', '.join(p.stem for p in notebooks)}")
        notebooks = [p for p in notebooks if p.stem in only]
    out.mkdir(parents=True, exist_ok=True)
    pages, written = [], []
    with environment.overridden(environment.QUICK, "1") if quick else contextlib.nullcontext():
        for path in notebooks:
            start = time.monotonic()
            nb = execute(path, timeout)
            page = out / f"{path.stem}.html"
            page.write_text(to_html(nb), encoding="utf-8")
            pages.append((page.name, title_of(nb, path.stem)))
            written.append(page)
            print(f"{page}: {time.monotonic() - start:.0f} s", flush=True)
    index = out / "index.html"
    index.write_text(index_html(pages), encoding="utf-8")
    return [*written, index]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutmix_course site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "notebooks" / ASSIGNMENT,
                        help="folder of student notebooks (default: the release)")
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="where the pages go (default: site/)")
    parser.add_argument("--quick", action="store_true", help="quick mode: fewer epochs and images (as the tests run)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these notebooks, e.g. 03_cutmix (the index "
                        "then links these only)")
    args = parser.parse_args(argv)
    try:
        pages = build(args.source, args.out, args.quick, only=args.only)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print(f"open {pages[-1]}")
    return 0
