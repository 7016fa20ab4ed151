"""Real-browser test: start the app exactly as the README says, drive Debian's Chromium with
Playwright through every page, upload an image, run an attack, and check that charts render and
no exception element appears. Screenshots go to test-artifacts/ (and, with
REGROUP_DOCS_SCREENSHOTS=1, small copies of the main pages to docs/screenshots/)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
PAGES = ["Model", "Attack lab", "Layer ranks", "Ablations", "t-SNE", "Voting classroom", "Benchmark"]
DOC_PAGES = {"Model": "model", "Attack lab": "attack-lab", "Layer ranks": "layer-ranks", "t-SNE": "tsne",
             "Voting classroom": "voting-classroom", "Ablations": "ablations", "Benchmark": "benchmark"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    port = _free_port()
    # the README command, verbatim apart from the port
    cmd = [sys.executable, "-m", "app", "--server.port", str(port), "--server.headless", "true"]
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "server.log").open("w")
    # a fresh result cache, so the Ablations/Benchmark pages offer their Run buttons every time
    env = {**os.environ, "REGROUP_CACHE": str(tmp_path_factory.mktemp("regroup-cache"))}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the app did not start (exit {proc.poll()}); see {ARTIFACTS / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _settle(page, timeout_ms: int = 240_000) -> None:
    """Wait until the script run triggered by the last action has finished."""
    page.wait_for_timeout(800)  # let the rerun start (the state is notRunning before it does)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_timeout(400)


def _check(page, name: str, charts: bool = True) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, f"exception element on {name}"
    if charts:
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert page.locator(".js-plotly-plot").count() > 0, f"no Plotly chart rendered on {name}"
    page.wait_for_timeout(600)  # Plotly draws after the element appears
    slug = DOC_PAGES[name]
    path = ARTIFACTS / f"{slug}.png"
    # Streamlit scrolls inside its main container, so grow the viewport to the content instead
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 5000))})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})
    if os.environ.get("REGROUP_DOCS_SCREENSHOTS") == "1":
        from PIL import Image

        DOCS.mkdir(parents=True, exist_ok=True)
        img = Image.open(path).convert("RGB")
        img.thumbnail((1200, 2400))
        img.quantize(colors=128).save(DOCS / f"{slug}.png", optimize=True)


def _goto(page, title: str) -> None:
    page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
    _settle(page)


def _digit_png() -> bytes:
    from PIL import Image

    from regroup_core.sources.mnist import mnist_split

    x, _ = mnist_split("test").tensors
    buf = io.BytesIO()
    Image.fromarray((x[250, 0].numpy() * 255).astype("uint8"), mode="L").resize((112, 112)).save(buf, "PNG")
    return buf.getvalue()


def test_every_page_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    digit = tmp_path / "digit.png"
    digit.write_bytes(_digit_png())
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server)
            _settle(page)
            _check(page, "Model")

            _goto(page, "Attack lab")
            page.screenshot(path=str(ARTIFACTS / "attack-lab-gallery.png"))  # the default: gallery
            page.get_by_text("Upload", exact=True).click()
            _settle(page)
            page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(not_image))
            _settle(page)
            assert page.get_by_text("That file cannot be used").count() > 0  # friendly, no traceback
            assert page.locator("[data-testid=stException]").count() == 0
            page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(digit))
            _settle(page)
            page.get_by_label("True class (if you know it)", exact=False).first.click()  # tell the app it is a 2
            page.get_by_role("option", name="2", exact=True).click()
            _settle(page)
            page.get_by_role("button", name="Run attack").click()
            _settle(page)
            page.get_by_text("perturbation, amplified").first.wait_for(timeout=120_000)
            assert page.get_by_text("After the attack softmax is").count() > 0
            _check(page, "Attack lab")

            for title in PAGES[2:]:
                _goto(page, title)
                if title in ("Ablations", "Benchmark"):  # computed on demand: run a small one
                    field = page.get_by_label("Test images", exact=False).first
                    field.fill("4")
                    field.press("Enter")
                    _settle(page)
                    page.get_by_role("button", name="Run", exact=False).first.click()
                    _settle(page)
                _check(page, title)
        finally:
            browser.close()
