"""Helpers of the website, slides, student-version and browser tests in tests/web (`make web`).

Pages are served on 127.0.0.1, and `Watch` blocks and reports a request to any other
host: the site and the slides must work with no internet. The browser itself is the
`browser` fixture of conftest.py.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags chromium phones home, and those connections fail.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def needs_build(path: Path, target: str) -> Path:
    """The path, or a failure that says which make target builds it."""
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make {target}` first (`make web` builds and tests all)")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a folder on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


class Watch:
    """Everything that went wrong in a browser context: console errors, uncaught exceptions,
    failed requests, HTTP errors, and requests to any host but 127.0.0.1 (blocked)."""

    def __init__(self, context, ignore_console: tuple[str, ...] = ()) -> None:
        self.problems: list[str] = []
        self.ignore_console = ignore_console
        context.route("**/*", self._only_local)
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _only_local(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort("blockedbyclient")

    def _watch_page(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error" and not any(text in message.text for text in self.ignore_console):
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1":  # other hosts are reported by _only_local
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def check(self) -> None:
        assert not self.problems, "the browser saw problems:\n  " + "\n  ".join(self.problems)


def book_build_module():
    """book/build.py, imported (the website's build script: its table-of-contents helpers)."""
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def book_documents() -> list[str]:
    """The website's documents in the order of book/_toc.yml, root first ("intro", "notebooks/01_...", ...)."""
    import yaml

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    return [toc["root"], *book_build_module().toc_files(toc)]
