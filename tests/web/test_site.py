"""The built website in a real browser, served on 127.0.0.1 with no internet.

Every page: loads with no console error, no failed request and no request to another
host; its math is typeset by the site's own MathJax; a screenshot of it is kept in
build/screenshots/site/. Every notebook page also: shows each figure the notebook stored,
renders each saved widget, and hides each solution behind a toggle that opens and closes.
"""

from __future__ import annotations

import nbformat
import pytest
from webtools import BUILD, SCREENSHOTS, Watch, book_documents, needs_build, serve

pytestmark = pytest.mark.web

HTML = BUILD / "book" / "_build" / "html"
STAGED = BUILD / "book-src"  # the notebooks as the site shows them (book/build.py)
PAGES = ["index", *book_documents(), "genindex", "search"]
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def site():
    needs_build(HTML / "index.html", "book")
    with serve(HTML) as url:
        yield url


def test_the_site_has_exactly_the_expected_pages():
    built = {str(p.relative_to(HTML).with_suffix("")) for p in needs_build(HTML, "book").rglob("*.html")}
    built = {page for page in built if not page.startswith(("_static/", "vendor/"))}
    assert built == set(PAGES), f"unexpected {sorted(built - set(PAGES))}, missing {sorted(set(PAGES) - built)}"


def open_page(browser, site: str, page_name: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context)
    page = context.new_page()
    page.goto(f"{site}{page_name}.html", wait_until="networkidle")
    # MathJax 3 typesets after loading; its startup promise settles when it is done
    page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
    return context, page, watch


def notebook_expectations(page_name: str) -> dict:
    """What the notebook behind a page holds: figures, widget views with saved state, solutions."""
    nb = nbformat.read(STAGED / f"{page_name}.ipynb", as_version=4)
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    views = [out["data"][WIDGET_VIEW]["model_id"] for out in outputs if WIDGET_VIEW in out.get("data", {})]
    missing = [model for model in views if model not in saved]
    assert not missing, f"{page_name}.ipynb shows widgets without saved state ({len(missing)}): re-execute it"
    return {
        "figures": sum(any(t in out.get("data", {}) for t in IMAGE_TYPES) for out in outputs),
        "widgets": len(views),
        "solutions": sum("solution" in cell.metadata.get("tags", []) for cell in nb.cells),
    }


def check_math(page, page_name: str) -> None:
    n_math = page.locator(".math").count()
    rendered = page.locator(".math mjx-container").count()
    assert rendered == n_math, f"{page_name}: {rendered} of {n_math} formulas typeset"
    assert page.locator("mjx-merror").count() == 0, f"{page_name}: MathJax reports a TeX error"


def check_figures(page, page_name: str, expected: int) -> None:
    figures = page.locator(".cell_output img:not(.widget-subarea img)")  # a widget's image is checked below
    assert figures.count() == expected, f"{page_name}: {figures.count()} figures shown, the notebook has {expected}"
    for i in range(expected):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        loaded = figure.evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, f"{page_name}: figure {i + 1} did not load ({figure.get_attribute('src')})"


def check_widgets(page, page_name: str, expected: int) -> None:
    if expected == 0:
        return
    views = page.locator(".cell_output .widget-subarea")
    views.nth(expected - 1).wait_for(state="attached", timeout=30_000)
    assert views.count() == expected, f"{page_name}: {views.count()} widgets rendered, the notebook has {expected}"
    for i in range(expected):
        view = views.nth(i)
        box = view.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 20, f"{page_name}: widget {i + 1} is empty ({box})"
        assert "Error displaying widget" not in view.inner_text()
        for image in view.locator("img").all():  # e.g. the figure of an explorer, saved with the notebook
            assert image.evaluate("img => img.complete && img.naturalWidth > 0"), f"{page_name}: widget image missing"


def check_solutions(page, page_name: str, expected: int) -> None:
    toggles = page.locator("details.hide", has=page.locator("summary", has_text="Show solution"))
    assert toggles.count() == expected, f"{page_name}: {toggles.count()} solution toggles, {expected} solutions"
    for i in range(expected):
        toggle = toggles.nth(i)
        code = toggle.locator(".cell_input")
        assert not toggle.evaluate("d => d.open") and not code.is_visible(), f"{page_name}: solution {i + 1} shown"
        toggle.locator("summary").click()
        assert code.is_visible(), f"{page_name}: solution {i + 1} did not open"
        assert "Hide solution" in toggle.locator("summary").inner_text()
        toggle.locator("summary").click()
        assert not code.is_visible(), f"{page_name}: solution {i + 1} did not close"


@pytest.mark.parametrize("page_name", PAGES)
def test_page(browser, site, page_name):
    context, page, watch = open_page(browser, site, page_name)
    try:
        SCREENSHOTS.joinpath("site").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "site" / f"{page_name.replace('/', '_')}.png", full_page=True)
        check_math(page, page_name)
        if page_name == "intro":
            assert page.locator("mjx-container").count() > 0, "the intro's formulas are not typeset"
        if page_name.startswith("notebooks/"):
            expected = notebook_expectations(page_name)
            check_figures(page, page_name, expected["figures"])
            check_widgets(page, page_name, expected["widgets"])
            check_solutions(page, page_name, expected["solutions"])
        watch.check()
    finally:
        context.close()
