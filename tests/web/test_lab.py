"""JupyterLab in a real browser: the Langevin notebook runs top to bottom and its explorer answers a slider.

JupyterLab is started on 127.0.0.1 with a token, on a copy of the notebook in a temporary
folder (nothing in notebooks/ is touched), with its own settings (no news, no autosave).
The test clears the outputs, runs all cells from the Run menu, checks that every cell ran
and none raised, then drags the explorer's step-size slider and checks that the figure
and the printed metrics change. A screenshot is kept in build/screenshots/lab/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from webtools import ROOT, SCREENSHOTS, Watch

pytestmark = pytest.mark.web

NOTEBOOK = ROOT / "notebooks" / "02_langevin_2d.ipynb"
RUN_ALL_TIMEOUT_MS = 300_000
SETTINGS = {  # JupyterLab user settings for the test's own settings folder
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 over a copy of the notebook; yields (base URL, token)."""
    if not NOTEBOOK.exists():
        pytest.skip(f"{NOTEBOOK.relative_to(ROOT)} does not exist yet")
    (tmp_path / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)
    for name, values in SETTINGS.items():
        path = tmp_path / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp_path / 'notebooks'}",
        "--LabApp.extension_manager=readonly",  # no look-ups on PyPI
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


PROMPTS = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.textContent.trim())"


def click_menu(page, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def test_run_all_and_move_a_slider(browser, lab):
    base, token = lab
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    watch = Watch(context)
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
        page.get_by_text("| Idle").wait_for(timeout=60_000)  # the kernel is up

        click_menu(page, "Edit", "Clear Outputs of All Cells")
        page.wait_for_function(f"() => ({PROMPTS})().every(p => !/[0-9*]/.test(p))", timeout=10_000)
        click_menu(page, "Run", "Run All Cells")
        page.wait_for_function(
            f"() => ({PROMPTS})().every(p => /\\[[0-9]+\\]/.test(p))", timeout=RUN_ALL_TIMEOUT_MS, polling=1000
        )
        n_code = len(page.evaluate(PROMPTS))
        errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]')
        assert errors.count() == 0, f"a cell raised: {errors.first.inner_text()[:1000]}"

        explorer = page.locator(".jp-OutputArea-output", has=page.locator(".widget-image")).first
        explorer.scroll_into_view_if_needed()
        figure = explorer.locator(".widget-image").first
        metrics = explorer.locator(".widget-html")  # the printed metrics, among other text
        readout = explorer.locator(".widget-readout").first
        before = figure.get_attribute("src"), metrics.all_inner_texts(), readout.inner_text()

        handle = explorer.locator(".widget-slider .noUi-handle").first  # the step size
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 25, y, steps=5)
        page.mouse.up()
        changed = "([img, src]) => img.getAttribute('src') !== src"
        page.wait_for_function(changed, arg=[figure.element_handle(), before[0]])
        after = figure.get_attribute("src"), metrics.all_inner_texts(), readout.inner_text()

        SCREENSHOTS.joinpath("lab").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "lab" / f"{NOTEBOOK.stem}.png")
        assert after[2] != before[2], f"the slider did not move (readout {before[2]})"
        assert after[0] != before[0], "the figure did not change"
        assert after[1] != before[1], "the printed metrics did not change:\n" + "\n".join(after[1])
        assert n_code > 0
        watch.check()
    finally:
        context.close()
