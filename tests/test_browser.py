"""The lab in a real browser: JupyterLab on 127.0.0.1 with a token, a notebook with a
panel opened in headless chromium (Debian's binary driven by Playwright; no browser is
downloaded), a parameter put on the x axis with typed values, Run clicked: the chart
must come back with exactly those values (the change reached the data) and no error
may appear. A screenshot is kept in the test's output folder.

Skipped with the reason when chromium or Playwright is missing, except where CI asks
for the browser (KERNLAB_REQUIRE_BROWSER=1): there a missing browser is a failure.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:   # the test skips (or fails where CI requires the browser) in _browser_or_skip
    PlaywrightTimeout = TimeoutError

CHROMIUM = os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "panel", "metadata": {}, "outputs": [],
               "source": ['import kernlab\n',
                          'panel = kernlab.Panel("counter", variants=["padded"], threads=[1], duration=0.05, '
                          'repeats=1)\n', 'panel']}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _browser_or_skip():
    required = os.environ.get("KERNLAB_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install playwright; no browser download needed)")
    if not CHROMIUM:
        if required:
            pytest.fail("KERNLAB_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with a token, serving a folder with one notebook."""
    (tmp_path / "panel.ipynb").write_text(json.dumps(NOTEBOOK))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--allow-root"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_text = (tmp_path / "lab.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {log_text}") from None
                time.sleep(0.5)
        yield url, token, tmp_path
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _throughput_x(page) -> list:
    """The x values of the panel's throughput chart, as text (plotly keeps ``data`` on its div)."""
    return page.evaluate("() => { const d = document.querySelector('.js-plotly-plot').data;"
                         " return d && d.length ? d[0].x.map(String) : []; }")


@pytest.mark.timeout(300)
def test_a_panel_runs_in_a_real_browser(lab):
    sync_playwright = _browser_or_skip()
    url, token, folder = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{url}/lab/tree/panel.ipynb?token={token}")
            cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
            cell.wait_for(timeout=90_000)
            # The kernel must be up before the cell is run: a cell run while it starts is
            # skipped (seen on a fresh clone's first start).
            page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)
            run_button = page.locator("button.widget-button", has_text="Run").first
            for _ in range(3):
                cell.click()
                page.keyboard.press("Shift+Enter")
                try:
                    run_button.wait_for(timeout=60_000)
                    break
                except PlaywrightTimeout:
                    continue
            run_button.wait_for(timeout=1_000)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2",
                                   timeout=60_000)
            run_button.click()       # a first run: one thread count on the x axis
            page.wait_for_function("() => { const d = document.querySelector('.js-plotly-plot').data;"
                                   " return d && d.length > 0 && d[0].x.map(String).join() === '1'; }",
                                   timeout=180_000)
            page.locator(".widget-html", has_text="done in").first.wait_for(timeout=180_000)
            before = _throughput_x(page)
            # A parameter on the x axis, with typed values: the throughput chart must come
            # back with exactly those values on its axis, so the change reached the data.
            page.get_by_label("x axis").select_option("stride_bytes")
            values = page.get_by_label("values")
            values.fill("8, 256")
            values.press("Enter")
            run_button.click()
            page.wait_for_function("() => { const d = document.querySelector('.js-plotly-plot').data;"
                                   " return d && d.length > 0 && d[0].x.map(String).join() === '8,256'; }",
                                   timeout=180_000)
            done = page.locator(".widget-html", has_text="done in").first
            done.wait_for(timeout=180_000)
            status, after = done.inner_text(), _throughput_x(page)
            shapes = page.evaluate("() => (document.querySelector('.js-plotly-plot').layout.shapes || []).length")
            tracebacks = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count()
            page.screenshot(path=str(folder / "panel.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(folder / "failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"screenshot: {folder / 'panel.png'}")
    assert before == ["1"] and after == ["8", "256"], (before, after)
    assert shapes == 0, "the threads axis' cores line must not stay on a parameter's axis"
    assert "all checks passed" in status and tracebacks == 0
    assert not errors, errors
