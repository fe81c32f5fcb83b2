"""The reveal.js slide decks in a real browser, served on 127.0.0.1 with no internet.

The index links one deck per notebook. Each deck opens on its title slide with reveal.js
ready, advances with the keyboard (right arrow: next slide; space: next in order), has its
math typeset, shows its saved widgets, and loads nothing from another host and logs no
error. Screenshots of the first two slides are kept in build/screenshots/slides/.
"""

from __future__ import annotations

import pytest
from webtools import BUILD, ROOT, SCREENSHOTS, Watch, needs_build, serve

pytestmark = pytest.mark.web

SLIDES = BUILD / "slides"
DECKS = [f"{p.stem}.slides.html" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]


@pytest.fixture(scope="module")
def slides():
    needs_build(SLIDES / "index.html", "slides")
    with serve(SLIDES) as url:
        yield url


def test_the_index_links_every_deck(browser, slides):
    context = browser.new_context()
    watch = Watch(context)
    page = context.new_page()
    page.goto(slides, wait_until="networkidle")
    links = [a.get_attribute("href") for a in page.locator("a").all()]
    assert links == DECKS
    page.locator("a").first.click()
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    watch.check()
    context.close()


@pytest.mark.parametrize("deck", DECKS)
def test_deck_opens_and_advances(browser, slides, deck):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watch = Watch(context)
    page = context.new_page()
    try:
        page.goto(slides + deck, wait_until="networkidle")
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
        name = deck.removesuffix(".slides.html")
        shots = SCREENSHOTS / "slides"
        shots.mkdir(parents=True, exist_ok=True)

        assert page.evaluate("Reveal.getIndices()")["h"] == 0
        assert page.evaluate("Reveal.getTotalSlides()") > 5, "hardly any slides: is the slide layout applied?"
        assert page.locator("section.present h1").count() == 1, "the first slide is not the title"
        page.screenshot(path=shots / f"{name}_1.png")

        page.evaluate("Reveal.configure({ transition: 'none' })")  # screenshots without the animation
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 1")
        page.keyboard.press("Space")  # next in order: down into a sub-slide, or on to the next slide
        page.wait_for_function("() => Reveal.getIndices().v === 1 || Reveal.getIndices().h === 2")
        page.screenshot(path=shots / f"{name}_2.png")

        formulas = page.locator("mjx-container").count()
        assert formulas > 0 and page.locator("mjx-merror").count() == 0, f"{deck}: math not typeset ({formulas})"
        views = page.locator("script[type='application/vnd.jupyter.widget-view+json']").count()
        if views:  # the embed manager puts a rendered widget before each saved view
            page.locator(".widget-subarea").nth(views - 1).wait_for(state="attached", timeout=30_000)
            assert page.locator(".widget-subarea .jupyter-widgets").count() > 0
        watch.check()
    finally:
        context.close()
