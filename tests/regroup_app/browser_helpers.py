"""Shared by the real-browser tests: start ``python -m app`` as the README says, wait for it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_browser() -> None:
    """Skip (with the reason) where Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(cache_dir: Path, log_path: Path) -> Iterator[str]:
    """The README's ``python -m app`` (apart from the port) on a fresh ``REGROUP_CACHE``; its URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "app", "--server.port", str(port), "--server.headless", "true"]
    env = {**os.environ, "REGROUP_CACHE": str(cache_dir)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
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
                    pytest.fail(f"the app did not start (exit {proc.poll()}); see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def full_page_shot(page, slug: str, *, max_height: int = 5000, docs: bool = False) -> Path:  # noqa: ANN001
    """Screenshot the whole page into test-artifacts/<slug>.png. Streamlit scrolls inside its main
    container, so the viewport grows to the content first and is put back after. With ``docs`` and
    ``REGROUP_DOCS_SCREENSHOTS=1`` a small copy also goes to docs/screenshots/ for the README."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), max_height))})
    page.wait_for_timeout(800)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{slug}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})
    if docs and os.environ.get("REGROUP_DOCS_SCREENSHOTS") == "1":
        from PIL import Image

        DOCS.mkdir(parents=True, exist_ok=True)
        img = Image.open(path).convert("RGB")
        img.thumbnail((1200, 2400))
        img.quantize(colors=128).save(DOCS / f"{slug}.png", optimize=True)
    return path


def draw_seven(page) -> None:  # noqa: ANN001
    """Draw a 7 with real mouse events on the drawing canvas (its upper, interactive layer)."""
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 70, y0 + 60)
    page.mouse.down()
    for t in range(1, 21):
        page.mouse.move(x0 + 70 + 7 * t, y0 + 60)
    for t in range(1, 31):
        page.mouse.move(x0 + 210 - 3 * t, y0 + 60 + 6.5 * t)
    page.mouse.up()
