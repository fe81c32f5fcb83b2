"""The browser for the tests in tests/web: Debian's chromium driven by playwright (never a
browser that playwright downloads). Where none is installed the browser tests skip and say
why, except in CI (CI=true), where a missing browser fails them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webtools import CHROMIUM, CHROMIUM_FLAGS, in_ci


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless chromium; a fresh temporary profile per launch."""
    if not CHROMIUM.exists():
        reason = f"no chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM=/path/to/chromium)"
        if in_ci():
            pytest.fail(f"CI needs a browser: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
