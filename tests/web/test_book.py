"""The built website (`make book`): every notebook published, solutions hidden, nothing fetched from elsewhere.

These read the HTML that Jupyter Book wrote; tests/web/test_site.py looks at it in a browser.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from webtools import BUILD, ROOT, book_documents, needs_build

pytestmark = pytest.mark.web

HTML = BUILD / "book" / "_build" / "html"
VENDOR = ["vendor/mathjax/tex-chtml.js", "vendor/requirejs/require.js"]
VENDOR += ["vendor/@jupyter-widgets/html-manager/dist/embed-amd.js", "vendor/widgets-config.js"]
REMOTE_ASSET = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.IGNORECASE)


def test_every_notebook_is_a_page():
    notebooks = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb"))
    published = sorted(d for d in book_documents() if d.startswith("notebooks/"))
    assert published == notebooks, "book/_toc.yml must list every notebook (one line each)"
    for document in book_documents():
        needs_build(HTML / f"{document}.html", "book")


def test_the_javascript_is_served_by_the_site():
    for path in VENDOR:
        assert (needs_build(HTML, "book") / path).is_file(), f"{path} is not in the built site"


def test_no_page_loads_anything_from_another_host():
    pages = [p for p in needs_build(HTML, "book").rglob("*.html") if p.relative_to(HTML).parts[0] != "vendor"]
    remote = [p.relative_to(HTML) for p in pages if REMOTE_ASSET.search(p.read_text())]
    assert not remote, f"pages that load from another host: {remote}"


def test_each_solution_is_behind_a_toggle():
    for document in book_documents():
        if document.startswith("notebooks/"):
            nb = nbformat.read(ROOT / f"{document}.ipynb", as_version=4)
            solutions = sum("solution" in cell.metadata.get("tags", []) for cell in nb.cells)
            page = (HTML / f"{document}.html").read_text()
            assert page.count("Show solution") == solutions, f"{document}: {solutions} solutions, toggles differ"
