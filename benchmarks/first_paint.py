"""``first_paint_s`` of ``python -m benchmarks.bench_app``: how soon a launched app shows something, in a real browser.

One run: Chromium (Debian's, driven by Playwright) is started first with an empty tab, as a user's browser
already runs (its cache is fresh in every run: the app's scripts are downloaded each time); then
the clock starts with the app's process (``python -m app --server.port P`` on a fresh ``REGROUP_CACHE``), the
browser opens the address as soon as the health endpoint answers, and

  * ``first_paint_s``  process start → the title "REGroup Explorer" is visible (the loading message is shown
                       with it, before torch and the models are imported)                       goal ≤ 3 s
  * ``usable_s``       process start → the Tour has finished running (nothing left to load)

The machine's load average is recorded with every run: the figures move with other users' work.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TITLE = "h1:has-text('REGroup Explorer')"
LOADING = "Loading the model…"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
GOAL_S = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the app did not answer its health check (exit code {proc.poll()})")


def one_run(browser, command: list[str]) -> dict:
    """Start the app (``command`` + ``--server.port P``), time the title and the finished Tour, stop it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="regroup-paint-") as cache:
        env = {**os.environ, "REGROUP_CACHE": cache}
        page = browser.new_page()  # a new context: an empty cache
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen([*command, "--server.port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_healthy(url, proc)
            healthy = time.perf_counter() - t0
            page.goto(url)
            page.wait_for_selector(TITLE, state="visible", timeout=120_000)
            paint = time.perf_counter() - t0
            loading_shown = page.get_by_text(LOADING).count() > 0  # painted with the title (imports still running)
            page.wait_for_selector(IDLE, timeout=300_000)
            usable = time.perf_counter() - t0
            errors = page.locator("[data-testid=stException]").count()
        finally:
            page.close()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"first_paint_s": round(paint, 2), "health_s": round(healthy, 2), "usable_s": round(usable, 2),
            "loading_message_with_title": loading_shown,
            "exceptions_shown": errors, "load_avg_1min": round(load, 2)}


def first_paint(runs: int = 3, command: list[str] | None = None) -> dict:
    """``runs`` cold launches of the app in Chromium (each its own process and empty cache)."""
    from playwright.sync_api import sync_playwright

    command = command or [sys.executable, "-m", "app"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            rows = [one_run(browser, command) for _ in range(runs)]
        finally:
            browser.close()
    paints = sorted(r["first_paint_s"] for r in rows)
    return {"first_paint_s": {"median": paints[len(paints) // 2], "max": paints[-1], "runs": rows,
                              "command": " ".join(Path(c).name if c == sys.executable else c for c in command)}}
