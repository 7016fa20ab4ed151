"""Eight real browser sessions attack at once on one server (sharing its cached model) and get
exactly the adversarial images that serial runs get — the PNGs they download are compared."""

from __future__ import annotations

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
CHROMIUM = "/usr/bin/chromium"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
SESSIONS = 8


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
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "REGROUP_CACHE": str(tmp_path_factory.mktemp("server-cache"))}
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", "--server.port", str(port), "--server.headless", "true"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
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
                    pytest.fail(f"the app did not start; see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _settle(page, timeout_ms: int = 300_000) -> None:
    page.wait_for_timeout(700)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def _serial_pngs(tmp_path) -> list[bytes]:
    """What one session at a time gets for gallery digits 0..7 (PGD, the page's defaults)."""
    os.environ["REGROUP_CACHE"] = str(tmp_path / "serial")  # the autouse fixture restores it
    from app import cache, gallery, session, widgets

    out = []
    for idx in range(SESSIONS):
        item = gallery.gallery("Model's test set", "mnist-vgg")[idx]
        x = cache.model_bundle("mnist-vgg", None).preprocess(item.image).numpy()
        result = cache.attack_image(session.ModelChoice().key, x, item.label, "pgd", "transfer", 32.0, 40, None, 0)
        out.append(widgets.png_bytes(result.adversarial[0].numpy()))
    return out


def test_eight_browser_sessions_attacking_at_once_match_serial_runs(server, tmp_path):
    from playwright.sync_api import sync_playwright

    expected = _serial_pngs(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            pages = [browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True).new_page()
                     for _ in range(SESSIONS)]
            for idx, page in enumerate(pages):  # each session picks its own gallery digit
                page.goto(server)
                _settle(page)
                page.locator("[data-testid=stSidebarNav] a", has_text="Attack lab").first.click()
                _settle(page)
                thumb = page.locator("[data-testid=stSlider] input[type=range]").first  # the gallery slider
                for _ in range(idx):
                    thumb.focus()
                    page.keyboard.press("ArrowRight")
                    _settle(page)
            for page in pages:  # then all attack at once
                page.get_by_role("button", name="Run attack").click()
            downloads = []
            for page in pages:
                _settle(page)
                assert page.locator("[data-testid=stException]").count() == 0
                with page.expect_download() as info:
                    page.get_by_role("button", name="Download the adversarial image (PNG)").click()
                downloads.append(Path(info.value.path()).read_bytes())
        finally:
            browser.close()
    assert [d == e for d, e in zip(downloads, expected)] == [True] * SESSIONS
