"""Eight real browser sessions attack at once on one server (sharing its cached model) and get
exactly the adversarial images that serial runs get — the PNGs they download are compared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, IDLE, app_server, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSIONS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    folder = tmp_path_factory.mktemp("server")
    with app_server(folder / "cache", folder / "server.log") as url:
        yield url


def _settle(page, timeout_ms: int = 300_000) -> None:
    page.wait_for_timeout(700)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def _serial_pngs(tmp_path) -> list[bytes]:
    """What one session at a time gets for gallery digits 0..7 (PGD, the page's defaults)."""
    os.environ["REGROUP_CACHE"] = str(tmp_path / "serial")  # the autouse fixture restores it
    from regroup_app.services import cache, gallery
    from regroup_app.services.attacking import attack_image
    from regroup_app.state import AttackChoice, ModelChoice
    from regroup_app.ui import widgets

    from regroup_core.sources.models import model_spec

    epsilon = model_spec("mnist-vgg").default_epsilon_255  # the page's default: the model's softmax budget
    out = []
    for idx in range(SESSIONS):
        item = gallery.gallery("Model's test set", "mnist-vgg")[idx]
        x = cache.model_bundle("mnist-vgg", None).preprocess(item.image).numpy()
        result = attack_image(ModelChoice(), x, item.label, AttackChoice("pgd", "transfer", epsilon, 40, None, 0))
        out.append(widgets.png_bytes(result.adversarial[0].numpy()))
    return out


def test_eight_browser_sessions_attacking_at_once_match_serial_runs(server, tmp_path):
    from playwright.sync_api import sync_playwright

    expected = _serial_pngs(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
