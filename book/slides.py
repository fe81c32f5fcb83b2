"""Build reveal.js slide decks from the notebooks, for presenting from a browser with no internet.

    python book/slides.py       (what `make slides` runs, after `npm ci` into build/npm)

Writes build/slides/NN_name.slides.html for every notebook in notebooks/ (stored outputs,
nothing re-executed), an index.html that links them, and next to them reveal.js, MathJax,
require.js and the widget embed manager copied from build/npm/node_modules.

A notebook whose cells carry slide metadata (JupyterLab: property inspector, "Slide Type")
is shown as its author laid it out. Otherwise the deck gets a default layout: markdown
cells are first cut at their headings; then a `#` or `##` heading starts a new slide, any
other markdown starts a sub-slide (below it: the down arrow or space), a code cell whose
output is a figure or a widget starts a sub-slide of its own, any other code cell
continues the slide before it, and a solution sits on a sub-slide after its exercise.
A slide taller than the screen scrolls.
"""

from __future__ import annotations

import html
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
NODE_MODULES = ROOT / "build" / "npm" / "node_modules"
OUT = ROOT / "build" / "slides"

# destination under build/slides <- source under node_modules
ASSETS = {
    "reveal.js/dist": "reveal.js/dist",
    "reveal.js/plugin": "reveal.js/plugin",
    "vendor/mathjax": "mathjax/es5",
    "vendor/requirejs/require.js": "requirejs/require.js",
    "vendor/@jupyter-widgets/html-manager/dist": "@jupyter-widgets/html-manager/dist",
}


VISUAL = ("image/png", "image/jpeg", "image/svg+xml", "application/vnd.jupyter.widget-view+json")


def split_at_headings(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """A markdown cell cut before each heading line (outside code fences), so that each heading can open a slide."""
    parts, current, fenced = [], [], False
    for line in cell.source.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("#") and not fenced and any(s.strip() for s in current):
            parts.append(current)
            current = []
        current.append(line)
    parts.append(current)
    return [nbformat.v4.new_markdown_cell("\n".join(lines).strip("\n")) for lines in parts if "".join(lines).strip()]


def default_slide_type(cell: nbformat.NotebookNode) -> str:
    """The slide type of a cell in a notebook without slide metadata."""
    if cell.cell_type == "markdown":
        return "slide" if cell.source.startswith(("# ", "## ")) else "subslide"
    if "solution" in cell.metadata.get("tags", []):
        return "subslide"
    if any(mime in output.get("data", {}) for output in cell.get("outputs", []) for mime in VISUAL):
        return "subslide"
    return "-"


def add_default_slides(nb: nbformat.NotebookNode) -> bool:
    """Lay the deck out by default unless the author set any slide type; True if defaults were added."""
    if any("slideshow" in cell.metadata for cell in nb.cells):
        return False
    nb.cells = [
        part for cell in nb.cells for part in (split_at_headings(cell) if cell.cell_type == "markdown" else [cell])
    ]
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": default_slide_type(cell)}
    return True


def exporter() -> SlidesExporter:
    c = Config()
    c.SlidesExporter.extra_template_basedirs = [str(BOOK)]
    c.SlidesExporter.template_name = "slides-template"  # book/slides-template, built on nbconvert's reveal
    c.SlidesExporter.reveal_url_prefix = "reveal.js"
    c.SlidesExporter.reveal_theme = "white"
    c.SlidesExporter.reveal_transition = "slide"
    c.SlidesExporter.require_js_url = "vendor/requirejs/require.js"
    c.SlidesExporter.mathjax_url = "vendor/mathjax/tex-chtml.js"
    c.SlidesExporter.widget_renderer_url = "vendor/@jupyter-widgets/html-manager/dist/embed-amd.js"
    c.SlidesExporter.exclude_input_prompt = True
    c.SlidesExporter.exclude_output_prompt = True
    return SlidesExporter(config=c)


def copy_assets() -> None:
    if not NODE_MODULES.is_dir():
        sys.exit(f"{NODE_MODULES} is missing: run `make slides` (it installs book/package.json with npm ci first)")
    for dest, src in ASSETS.items():
        source, target = NODE_MODULES / src, OUT / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.map", "embed.js*", "*.esm.js"))
        else:
            shutil.copy2(source, target)
    shutil.copy2(BOOK / "_static" / "mathjax-widgets.js", OUT / "vendor" / "mathjax-widgets.js")


def write_index(decks: list[tuple[str, str]]) -> None:
    items = "\n".join(f'  <li><a href="{name}">{html.escape(title)}</a></li>' for name, title in decks)
    (OUT / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Slides</title>'
        '<link rel="icon" href="data:,"></head>\n<body>\n<h1>Neural energy-based models, hands-on: slides</h1>\n'
        "<p>Open a deck; arrows or space move on, <kbd>S</kbd> opens the speaker view, <kbd>F</kbd> full screen, "
        "<kbd>Esc</kbd> the overview.</p>\n<ul>\n" + items + "\n</ul>\n</body>\n</html>\n"
    )


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            return cell.source.lstrip()[2:].split("\n", 1)[0].strip()
    return fallback


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    copy_assets()
    slides = exporter()
    decks = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        defaults = add_default_slides(nb)
        body, _ = slides.from_notebook_node(nb, resources={"metadata": {"name": title_of(nb, path.stem)}})
        name = f"{path.stem}.slides.html"
        (OUT / name).write_text(body)
        decks.append((name, title_of(nb, path.stem)))
        count = body.count("<section")
        layout = "default layout" if defaults else "the notebook's own layout"
        print(f"{name}: {count} sections ({layout})")
    write_index(decks)
    print(f"slides: {len(decks)} decks in {OUT.relative_to(ROOT)}; open {OUT.relative_to(ROOT)}/index.html")


if __name__ == "__main__":
    main()
