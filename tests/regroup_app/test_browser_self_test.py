"""In Chromium: the Self-test page runs the weakened attack on a click, names the step while it runs and
shows WEAK; the Benchmark page's ladder section shows the shipped ladder or, where none ships yet, the
command that makes it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, IDLE, ROOT, app_server, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts"


def _settle(page, timeout_ms: int = 240_000) -> None:
    page.wait_for_timeout(800)  # let the rerun start (the state is notRunning before it does)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


# Record every "..., image i of n: ..." text the page writes, however briefly it stays.
_RECORD_STEPS = """
window.__regroupSteps = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const nodes = m.type === "characterData" ? [m.target] : Array.from(m.addedNodes);
    for (const n of nodes) {
      for (const hit of (n.textContent || "").matchAll(/[^\\n]*image \\d+ of \\d+[^\\n]*/g)) {
        window.__regroupSteps.push(hit[0].trim());
      }
    }
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def test_self_test_and_ladder_in_chromium(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    with app_server(tmp_path / "cache", ARTIFACTS / "server-self-test.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(f"{url}/self_test?model=mnist-vgg&attacks=pgd&epsilons=32,44&n=5&steps=1")
        _settle(page)
        page.evaluate(_RECORD_STEPS)
        page.get_by_role("button", name="Run the self-test").click()
        # the run has begun once it wrote its first step (an idle page right after the click may be the old one)
        page.wait_for_function("window.__regroupSteps.length > 0", timeout=120_000)
        _settle(page)
        # The bar names attack, budget and image while it runs. Each step can be on screen for less time than a
        # locator's polling takes to see it (the CI run that waited for it missed it), so every text the page
        # ever showed is recorded as it is written and checked afterwards.
        steps = page.evaluate("window.__regroupSteps")
        named = [s for s in steps if re.search(r"pgd \(steps=1\) at ε (32|44)/255, image [1-5] of 5", s)]
        assert named, steps[:20]
        assert page.locator("[data-testid=stException]").count() == 0
        text = page.locator("[data-testid=stMain]").inner_text()
        assert "WEAK" in text and "pgd (steps=1) at ε = 44/255: found" in text, text[-2000:]
        page.screenshot(path=str(ARTIFACTS / "self-test.png"))
        page.goto(f"{url}/benchmark")
        _settle(page)
        main = page.locator("[data-testid=stMain]")
        main.get_by_text("What the attacker knows: the ladder").wait_for()
        chart = page.locator(".js-plotly-plot", has_text="as the attacker learns more")
        chart.first.wait_for(timeout=60_000)  # mnist-vgg's ladder ships: its chart, drawn by Plotly after the text
        text = main.inner_text()
        assert chart.count() == 1 and "from an empty adversarial cache" in text, text[-2000:]
        assert "python -m regroup_core ladder --model" not in text  # the command is only for models without one
        assert page.locator("[data-testid=stException]").count() == 0
        page.screenshot(path=str(ARTIFACTS / "benchmark-ladder.png"))
        browser.close()
