"""Build the course website: stage the book, the notebooks and the offline JavaScript, then run Jupyter Book 1.

    python book/build.py        (what `make book` runs, after `npm ci` into build/npm)

1. Stage build/book-src: the files of book/, every notebook named in book/_toc.yml (from
   notebooks/, with its stored outputs; nothing is re-executed), and under _offline/vendor
   the JavaScript the pages load (MathJax, require.js, the widget embed manager), copied
   from build/npm/node_modules, so the site works with no internet (_config.yml points
   Sphinx and myst-nb at these copies; the site serves them as vendor/).
2. Hide the solutions: a cell tagged `solution` gets myst-nb's `hide-cell` tag and a
   "Show solution" toggle.
3. Build with warnings as errors into build/book/_build/html, then check that no page
   loads a script or a style sheet from another host.

A notebook in notebooks/ that _toc.yml does not list is an error: publishing a notebook
is the one line `- file: notebooks/NN_name` in book/_toc.yml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
NODE_MODULES = ROOT / "build" / "npm" / "node_modules"
STAGE = ROOT / "build" / "book-src"
OUT = ROOT / "build" / "book"
HTML = OUT / "_build" / "html"

BOOK_FILES = ["_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib", "favicon.svg"]
# destination under _offline/vendor <- source under node_modules (the widget embed manager
# finds its fonts by its npm path, so that one keeps it)
VENDOR = {
    "mathjax": "mathjax/es5",
    "requirejs/require.js": "requirejs/require.js",
    "@jupyter-widgets/html-manager/dist": "@jupyter-widgets/html-manager/dist",
}
# a <script src=...> or <link href=...> that leaves the site
REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"((?:https?:)?//[^\"]+)\"", re.IGNORECASE)


def toc_files(toc: dict) -> list[str]:
    """Every `file:` entry of a Jupyter Book table of contents, in order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def listed_notebooks() -> list[str]:
    """Stems of the notebooks that _toc.yml lists; fails when a notebook in notebooks/ is missing there."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    listed = [Path(f).name for f in toc_files(toc) if f.startswith("notebooks/")]
    present = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    unlisted = [stem for stem in present if stem not in listed]
    absent = [stem for stem in listed if stem not in present]
    if unlisted or absent:
        sys.exit(
            f"book/_toc.yml is out of step with notebooks/: not listed {unlisted}, listed but missing {absent}. "
            "Add (or remove) one line `- file: notebooks/NN_name` per notebook in book/_toc.yml."
        )
    return listed


def hide_solutions(nb: nbformat.NotebookNode) -> int:
    """Put every `solution` cell behind a "Show solution" toggle; returns how many."""
    count = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
            cell.metadata["mystnb"] = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
            count += 1
    return count


def stage() -> None:
    if not NODE_MODULES.is_dir():
        sys.exit(f"{NODE_MODULES} is missing: run `make book` (it installs book/package.json with npm ci first)")
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "notebooks").mkdir(parents=True)
    for name in BOOK_FILES:
        shutil.copy2(BOOK / name, STAGE / name)
    if (BOOK / "_static").is_dir():
        shutil.copytree(BOOK / "_static", STAGE / "_static", dirs_exist_ok=True)
    for stem in listed_notebooks():
        nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
        hidden = hide_solutions(nb)
        nbformat.write(nb, STAGE / "notebooks" / f"{stem}.ipynb")
        print(f"staged notebooks/{stem}.ipynb ({hidden} solutions hidden)")
    vendor = STAGE / "_offline" / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    for dest, src in VENDOR.items():
        source = NODE_MODULES / src
        if source.is_dir():
            shutil.copytree(source, vendor / dest, ignore=shutil.ignore_patterns("*.map", "embed.js*"))
        else:
            (vendor / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, vendor / dest)
    shutil.copy2(BOOK / "widgets-config.js", vendor / "widgets-config.js")


def build() -> None:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    shutil.rmtree(OUT, ignore_errors=True)
    cmd = [str(jupyter_book), "build", str(STAGE), "--path-output", str(OUT), "--warningiserror", "--keep-going", "-q"]
    subprocess.run(cmd, check=True)


def check_offline() -> int:
    """Fail if a page loads a script or style sheet from another host; returns the page count."""
    pages = sorted(HTML.rglob("*.html"))
    pages = [p for p in pages if "_static" not in p.parts]
    remote = [(p.relative_to(HTML), url) for p in pages for url in REMOTE_ASSET.findall(p.read_text())]
    if remote:
        sys.exit("pages load assets from other hosts:\n" + "\n".join(f"  {page}: {url}" for page, url in remote))
    return len(pages)


def main() -> None:
    start = time.perf_counter()
    stage()
    build()
    pages = check_offline()
    print(f"website: {pages} pages in {HTML.relative_to(ROOT)} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
