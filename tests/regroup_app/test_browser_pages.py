"""Real browser (Chromium), every page (issue #18): no 4xx/5xx response and no console error when a page's
own URL is opened (Streamlit's frontend used to probe ``<page>/_stcore/health`` first: fixed by
:mod:`regroup_app.backend_base`); generated links (hypothesis: markup, huge numbers, unicode, repeated
names, ``run=1`` with costly settings) on every page with every non-localhost request routed to a
failure; the Ablations ε sweep drawing its first point while the sweep still runs."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, IDLE, ROOT, app_server, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ("", "model", "attack_lab", "draw", "layer_ranks", "ablations", "tsne", "classroom", "benchmark", "self_test")
KNOWN = ("model", "weights", "image", "attack", "threat", "epsilon", "steps", "seed", "target", "k", "classes", "n",
         "run", "label", "show", "voter", "promote", "attacks", "threats", "layer", "view", "adversarial", "step",
         "epsilons")
EXTERNAL = "198.51.100.7"  # TEST-NET-2: nothing answers there, and no request may even be attempted
MARKUP = (f"`![t](http://{EXTERNAL}/m.png)`", f"[x](http://{EXTERNAL})", f"<img src=http://{EXTERNAL}/i.png>",
          f"http://{EXTERNAL}/x.png", ":red[x] $x^2$ **b**", "‮gnp.exe", "\x00\x1b[31m", "pgd," * 300)
MESSAGE_LIMIT = 1200  # characters of the one warning line (as test_link_fuzz.py)
RUN_LIMIT_S = 120  # a capped link's work (one preset attack on one image) on a loaded 2-core machine

huge = st.integers(min_value=10**6, max_value=10**400).map(str)
values = st.one_of(st.sampled_from(MARKUP), huge, st.text(max_size=60), st.sampled_from(("1", "pgd", "adaptive")))
names = st.one_of(st.sampled_from(KNOWN), st.sampled_from(MARKUP), st.text(min_size=1, max_size=40))
pairs = st.lists(st.tuples(names, values), min_size=1, max_size=4)  # a list: names may repeat
repeated = st.tuples(st.sampled_from(KNOWN), values, values).map(lambda t: [(t[0], t[1]), (t[0], t[2])])
costly = st.fixed_dictionaries({
    "image": st.just("mnist:test:3"), "run": st.just("1"),
    "attack": st.sampled_from(("pgd", "cw", "spsa", "deepfool", "square", "boundary")),
    "threat": st.sampled_from(("adaptive", "blackbox", "transfer")),
    "steps": st.sampled_from(("2000", "100000", "9" * 30)), "n": st.sampled_from(("500", "20")),
    "attacks": st.sampled_from(("pgd,cw,deepfool,spsa,square", "pgd"))}).map(lambda d: list(d.items()))
links = st.one_of(pairs, repeated, costly)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    with app_server(tmp_path_factory.mktemp("regroup-cache"), ROOT / "test-artifacts" / "server-pages.log") as url:
        yield url


class Watch:
    """A Chromium page that records error responses, console errors and every non-localhost request
    (each routed to a failure)."""

    def __init__(self, browser, server: str) -> None:
        self.here = urlsplit(server).netloc
        self.bad: list[str] = []
        self.console: list[str] = []
        self.external: list[str] = []
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", self._guard)
        self.page = context.new_page()
        self.page.on("response", lambda r: r.status >= 400 and self.bad.append(f"{r.status} {r.url}"))
        self.page.on("console", lambda m: m.type == "error" and self.console.append(m.text[:300]))
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"[:300]))

    def _guard(self, route) -> None:
        if urlsplit(route.request.url).netloc != self.here:
            self.external.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def open(self, url: str) -> float:
        """Open ``url``, wait until the script is idle; the seconds it took."""
        start = time.perf_counter()
        self.page.goto(url)
        self.page.wait_for_timeout(800)
        self.page.wait_for_selector(IDLE, timeout=RUN_LIMIT_S * 1000 * 2)
        self.page.wait_for_timeout(500)
        return time.perf_counter() - start


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_every_page_opens_without_an_error_response_or_a_console_error(server, browser):
    watch = Watch(browser, server)
    for name in PAGES + ("draw", ""):  # and a page switch back and forth
        watch.open(f"{server}/{name}")
        assert watch.page.locator("[data-testid=stException]").count() == 0, name
    assert not watch.bad, watch.bad
    assert not watch.console, watch.console
    assert not watch.external, watch.external


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(page=st.sampled_from(PAGES), params=links)
def test_generated_links_are_data_in_the_browser(server, browser, page, params):
    watch = Watch(browser, server)
    seconds = watch.open(f"{server}/{page}?{urlencode(params)}")
    shown = watch.page
    assert shown.locator("[data-testid=stException]").count() == 0, params
    warnings = shown.locator("[data-testid=stAlertContentWarning] [data-testid=stMarkdownContainer]").all_inner_texts()
    assert len(warnings) <= 1, warnings
    assert all(len(w) <= MESSAGE_LIMIT and "\n" not in w.strip() for w in warnings), warnings
    assert shown.locator(f"img[src*='{EXTERNAL}'], a[href*='{EXTERNAL}']").count() == 0, params
    assert not watch.external, watch.external
    assert seconds < RUN_LIMIT_S, (seconds, params)
    watch.page.context.close()


def test_eps_sweep_draws_its_first_point_while_the_sweep_still_runs(server, browser):
    watch = Watch(browser, server)
    watch.open(f"{server}/ablations?n=3&epsilon=40")
    watch.page.get_by_role("tab", name="PGD ε sweep").click()
    watch.page.get_by_role("button", name="Run the ε sweep").click()
    # a chart inside the sweep's status box while the script still runs: a point drawn before the sweep ended
    watch.page.wait_for_function("""() => document.querySelector('[data-testid=stApp]')
        .getAttribute('data-test-script-state') === 'running'
        && [...document.querySelectorAll('[data-testid=stExpander]')]
           .some(e => e.innerText.includes('ε sweep:') && e.querySelector('.js-plotly-plot'))""",
                                 timeout=RUN_LIMIT_S * 1000, polling=200)
    watch.page.wait_for_selector(IDLE, timeout=RUN_LIMIT_S * 1000 * 4)
    assert watch.page.locator("[data-testid=stExpander]", has_text="ε sweep: done").count() == 1
    assert not watch.console and not watch.external and not watch.bad
