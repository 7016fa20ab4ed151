"""Real-browser test: start the app exactly as the README says, drive Debian's Chromium with
Playwright through every page: walk the Tour, upload images and run an attack, open the view's
shared link in a second browser context and find the same result, draw a digit with mouse events
on the canvas and attack it, click a t-SNE point; check that charts render and no exception
element appears. Screenshots go to test-artifacts/ (and, with REGROUP_DOCS_SCREENSHOTS=1, small
copies of the main pages to docs/screenshots/)."""

from __future__ import annotations

import io

import pytest

from browser_helpers import ARTIFACTS, CHROMIUM, IDLE, ROOT, app_server, draw_seven, full_page_shot, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ["Tour", "Model", "Attack lab", "Draw a digit", "Layer ranks", "Ablations", "t-SNE", "Voting classroom",
         "Benchmark"]
DOC_PAGES = {"Tour": "tour", "Tour (transfer attack)": "tour-transfer", "Model": "model", "Attack lab": "attack-lab",
             "Draw a digit": "draw", "Layer ranks": "layer-ranks", "t-SNE": "tsne",
             "Voting classroom": "voting-classroom",
             "Ablations": "ablations", "Benchmark": "benchmark"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    # a fresh result cache, so the Ablations/Benchmark pages offer their Run buttons every time
    with app_server(tmp_path_factory.mktemp("regroup-cache"), ARTIFACTS / "server.log") as url:
        yield url


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
    full_page_shot(page, DOC_PAGES[name], docs=True)


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


def _verdict(page) -> str:
    """The Attack lab's result lines (attack, softmax, REGroup)."""
    return page.locator("[data-testid=stMarkdownContainer]", has_text="aimed at").first.inner_text()




def _click_first_point(page) -> None:
    """Click the first clean point of the first t-SNE chart, at its pixel position (Plotly's axes)."""
    x, y = page.evaluate("""() => {
        const gd = document.querySelectorAll('.js-plotly-plot')[0];
        const t = gd._fullData.find(d => d.legendgroup === 'clean');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[0]), r.top + ya._offset + ya.l2p(t.y[0])];
    }""")
    page.mouse.click(x, y)


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
            # the favicon is drawn locally (an emoji as inline SVG): nothing fetched from a font host
            assert page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href").startswith("data:")

            # -- the Tour, step by step ------------------------------------------------------------
            assert page.get_by_role("heading", name="A tour of REGroup").count() > 0
            _check(page, "Tour", charts=False)
            for step in range(2, 8):
                page.get_by_role("button", name="Next →").first.click()
                _settle(page)
                assert page.locator("[data-testid=stException]").count() == 0, f"exception on tour step {step}"
                assert f"step={step}" in page.url
                if step == 5:
                    assert page.get_by_text("The softmax was fooled, REGroup held").count() > 0
                    _check(page, "Tour (transfer attack)", charts=False)
                if step == 6:
                    assert page.get_by_text("The adaptive attack found").count() > 0
            assert page.get_by_text("How this digit was chosen").count() > 0

            _goto(page, "Model")
            _check(page, "Model")

            # -- Attack lab: uploads, an attack, and its shareable link ----------------------------
            _goto(page, "Attack lab")
            page.screenshot(path=str(ARTIFACTS / "attack-lab-gallery.png"))  # the default: gallery
            page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
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
            assert "REGroup:" in _verdict(page)

            page.get_by_test_id("stRadio").get_by_text("Test set", exact=True).click()
            _settle(page)
            index = page.get_by_label("Index in", exact=False).first
            index.fill("201")
            index.press("Enter")
            _settle(page)
            page.get_by_role("button", name="Run attack").click()
            _settle(page)
            verdict = _verdict(page)
            assert "image=mnist%3Atest%3A201" in page.url and "run=1" in page.url
            page.get_by_role("button", name="Copy link to this view").click()
            link = page.locator("[data-testid=stPopoverBody] code").first.inner_text().strip()
            assert "/attack_lab?" in link and "image=mnist:test:201" in link, link
            page.keyboard.press("Escape")
            _check(page, "Attack lab")
            other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # a colleague
            other.goto(link.replace("http://localhost:8501", server))
            _settle(other)
            assert other.locator("[data-testid=stException]").count() == 0
            assert _verdict(other) == verdict  # the same result, from the link alone
            other.close()

            # -- Draw a digit with the mouse -------------------------------------------------------
            _goto(page, "Draw a digit")
            draw_seven(page)
            _settle(page)
            assert page.get_by_text("what the network sees").count() > 0
            assert page.locator("[data-testid=stMarkdownContainer]", has_text="REGroup (k =").count() > 0
            assert "image=drawing" in page.url
            page.get_by_label("Which digit did you draw?", exact=False).first.click()
            page.get_by_role("option", name="7", exact=True).click()
            _settle(page)
            page.get_by_role("button", name="Attack", exact=True).click()  # attack the drawing
            _settle(page)
            assert page.get_by_text("attacked drawing").count() > 0
            assert page.locator("[data-testid=stMarkdownContainer]", has_text="aimed at").count() > 0
            _check(page, "Draw a digit")

            for title in PAGES[4:]:
                _goto(page, title)
                if title == "Benchmark":  # shipped results on the first visit; then run a small new one
                    assert page.get_by_text("Shipped result").count() > 0
                    field = page.get_by_label("Test images", exact=False).first
                    field.fill("4")
                    field.press("Enter")
                    _settle(page)
                    page.get_by_role("button", name="Run", exact=False).first.click()
                    _settle(page)
                if title == "Ablations":
                    assert page.get_by_text("Shipped result").count() > 0
                if title == "t-SNE":
                    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
                    page.wait_for_timeout(1500)
                    _click_first_point(page)
                    _settle(page)
                    assert page.get_by_text("Selected: 1 image").count() > 0  # a single click shows its image
                _check(page, title)
        finally:
            browser.close()
