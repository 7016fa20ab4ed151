"""Real browser (Chromium) off the Tour's path (issue #18), kept small for CI: hostile links on several
pages with every non-localhost request routed to a failure (none may be attempted), no exception
element, and screenshots of the states the issue named — Draw (a 7 attacked with DeepFool), Attack lab
(C&W beyond every budget), Benchmark (a weak ε, said next to the numbers), Voting classroom (the
adversarial image) and t-SNE (all three maps side by side) — in test-artifacts/edges-*.png."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from browser_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    ROOT,
    app_server,
    draw_seven,
    full_page_shot,
    require_browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = "`![t](http://198.51.100.7/m.png)`"
HOSTILE = [
    f"/attack_lab?{quote(PAYLOAD)}=1&epsilon={quote(PAYLOAD)}",
    "/layer_ranks?image=mnist:test:3&attack=pgd&threat=adaptive&steps=2000&run=1"
    f"&x={quote('[l](http://198.51.100.7)')}",
    f"/benchmark?attacks={quote(','.join(['pgd'] * 300))}&n=1&n=5",
    "/draw?image=drawing:" + "A" * 9000,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    with app_server(tmp_path_factory.mktemp("regroup-cache"), ARTIFACTS / "server-edges.log") as url:
        yield url


def _settle(page, timeout_ms: int = 240_000) -> None:
    page.wait_for_timeout(800)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_timeout(500)


def _shot(page, name: str) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, f"exception element on {name}"
    full_page_shot(page, f"edges-{name}", max_height=4000)




def test_hostile_links_contact_no_other_host_and_the_edge_states_render(server):
    from playwright.sync_api import sync_playwright

    here = urlsplit(server).netloc
    attempted: list[str] = []

    def guard(route):
        if urlsplit(route.request.url).netloc != here:
            attempted.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", guard)
        page = context.new_page()
        for link in HOSTILE:
            page.goto(server + link)
            _settle(page)
            assert page.locator("[data-testid=stException]").count() == 0, link
            warnings = page.locator("[data-testid=stAlertContentWarning]").all_inner_texts()
            assert len(warnings) <= 1 and all(len(w) <= 1200 for w in warnings), (link, warnings)
        assert page.locator("img[src*='198.51.100.7'], a[href*='198.51.100.7']").count() == 0

        page.goto(server + "/draw")
        _settle(page)
        page.wait_for_selector("canvas.upper-canvas", timeout=60_000)
        draw_seven(page)
        _settle(page)
        page.wait_for_selector("text=Attack your drawing", timeout=60_000)
        _settle(page)
        for _ in range(3):  # the dropdown may open during a rerun and close again: retry
            page.get_by_label("Attack", exact=True).first.click()
            try:
                page.get_by_role("option", name="deepfool").click(timeout=10_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError
                page.keyboard.press("Escape")
                _settle(page)
        _settle(page)
        page.get_by_role("button", name="Attack", exact=True).click()
        _settle(page)
        assert page.locator("text=attacked drawing").count() >= 1
        _shot(page, "draw")

        page.goto(server + "/attack_lab?image=mnist:test:3&attack=cw&threat=transfer&run=1")
        _settle(page)
        assert page.locator("text=beyond any budget").count() >= 1
        _shot(page, "attack-lab")

        page.goto(server + "/benchmark?attacks=pgd&threats=transfer&n=4&epsilon=16")
        _settle(page)
        page.get_by_role("button", name="Run 1 attack(s) on 4 images").click()
        _settle(page)
        assert page.locator("text=below this model's softmax budget").count() >= 1
        _shot(page, "benchmark")

        page.goto(server + "/classroom?image=mnist:test:3&attack=pgd&threat=transfer&run=1&show=adversarial")
        _settle(page)
        _shot(page, "classroom")

        page.goto(server + "/tsne?view=all")
        _settle(page)
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        _shot(page, "tsne")
        browser.close()
    assert not attempted, attempted
