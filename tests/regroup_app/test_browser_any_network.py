"""Real-browser views of networks beyond MNIST (issue #16): the Model page of cifar10-resnet18 with its
real weights and fitted classifiers, and ResNet-50's 54 × 1 000 Layer ranks with random weights in
exploring mode, fitted offline on foolbox's ImageNet samples. Screenshots go to test-artifacts/ (and,
with REGROUP_DOCS_SCREENSHOTS=1, to docs/screenshots/)."""

from __future__ import annotations


import pytest

from browser_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, IDLE, ROOT, app_server, full_page_shot, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    with app_server(tmp_path_factory.mktemp("regroup-cache"), ARTIFACTS / "server-any-network.log") as url:
        yield url


@pytest.fixture()
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield page
        finally:
            browser.close()


def _settle(page, timeout_ms: int = 600_000) -> None:
    page.wait_for_timeout(800)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_timeout(400)


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0


def _shot(page, slug: str) -> None:
    page.wait_for_timeout(1000)  # Plotly draws after the element appears
    full_page_shot(page, slug, docs=True)


def _fit(page, *, exclude: bool) -> None:
    page.get_by_text("Fit now", exact=True).click()
    _settle(page)
    if exclude:
        page.get_by_text("Exclude classes without any correctly classified fitting sample").click()
        _settle(page)
    page.get_by_role("button", name="Fit the classifiers").click()
    _settle(page)
    _no_exception(page)
    assert page.locator("[data-testid=stAlertContentError]").count() == 0


def test_model_page_of_cifar10_resnet18(server, page):
    page.goto(f"{server}/model?model=cifar10-resnet18")
    _settle(page)
    _no_exception(page)
    main = page.locator("[data-testid=stMain]")
    assert "cifar10-resnet18" in main.inner_text() and "input (3, 32, 32)" in main.inner_text()
    _fit(page, exclude=True)  # foolbox's 20 CIFAR-10 photos hold 8 of the 10 classes
    assert "Fitting samples" in main.inner_text()
    assert "2 of 10 classes had no fitting image (bird, deer)" in main.inner_text()
    _shot(page, "model-cifar10-resnet18")


def test_resnet50_random_weights_exploring_layer_ranks(server, page):
    page.goto(f"{server}/model?model=torchvision:resnet50&weights=random")
    _settle(page)
    _no_exception(page)
    _fit(page, exclude=False)  # random weights: exploring is the rule offered first
    assert "not the paper's rule" in page.locator("[data-testid=stMain]").inner_text()
    page.locator("[data-testid=stSidebarNav] a", has_text="Layer ranks").first.click()
    _settle(page)
    page.get_by_text("Show all 1000 classes").click()
    _settle(page)
    _no_exception(page)
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    text = page.locator("[data-testid=stMain]").inner_text()
    assert "not the paper's rule" in text
    rows, columns = page.evaluate("""() => {
        const gd = document.querySelectorAll('.js-plotly-plot')[0];
        const t = gd._fullData.find(d => d.type === 'heatmap');
        const z = t._z || t.z;
        return [z.length, z[0].length];
    }""")
    assert (rows, columns) == (54, 1000)  # ResNet-50's 54 layers (the paper's count) × ImageNet's 1 000 classes
    assert "981 of 1000 classes had no fitting image" in text  # foolbox's 20 photos hold 19 classes
    _shot(page, "layer-ranks-resnet50-exploring")
