"""Property test: any link (generated parameter names and values, hostile ones included) opened on
any page gives at most one warning line of bounded length with nothing Markdown could render, no
exception, and no attack above the link's cost cap (:data:`regroup_core.attacks.cost.LINK_CAP`)."""

from __future__ import annotations

import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apptest_helpers import ENTRY

PAGES = ("tour", "model", "attack_lab", "draw", "layer_ranks", "ablations", "tsne", "classroom", "benchmark",
         "self_test")
KNOWN = ("model", "weights", "image", "attack", "threat", "epsilon", "steps", "seed", "target", "k", "classes", "n",
         "run", "label", "show", "voter", "promote", "attacks", "threats", "layer", "view", "adversarial", "step",
         "epsilons")
HOSTILE = ("`![t](http://198.51.100.7/m.png)`", "[x](http://198.51.100.7)", "http://198.51.100.7/x.png",
           "<img src=http://198.51.100.7/i.png>", ":red[x] $x^2$ **b**", "9" * 5000, "1e309", "-0", "nan",
           "0,0,0,1", "pgd," * 400, "drawing:" + "A" * 7000, "mnist:test:" + "9" * 600, "../../etc/passwd",
           "\x00\x1b[31m", "‮gnp.exe", "1", "pgd", "adaptive", "2000")
MESSAGE_LIMIT = 1200  # characters of the one warning line (4 notes of ≤ ~250 characters, joined)
RUN_LIMIT_S = 120     # a capped link's work (one preset attack on one image) on a loaded 2-core CI machine

names = st.one_of(st.sampled_from(KNOWN), st.sampled_from(HOSTILE), st.text(min_size=1, max_size=60))
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=80))
links = st.dictionaries(names, values, min_size=1, max_size=4)


def _unescaped_markup(text: str) -> bool:
    return bool(re.search(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\((?<!\\)|(?<!\\)`|(?<![\\/])https?:(?!\\)//|<img", text))


def _steps_within_cap(at) -> bool:
    from regroup_core.attacks import get_preset

    run = at.session_state["last_attack"] if "last_attack" in at.session_state else None
    if run is None:
        return True
    own = get_preset(run.settings["attack"]).params.get("steps")
    steps = run.settings["params"].get("steps")
    return own is None or steps is None or steps <= own


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(page=st.sampled_from(PAGES), params=links)
def test_any_link_is_one_bounded_line_and_never_work_above_the_cap(page, params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(ENTRY, default_timeout=RUN_LIMIT_S)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(f"app_pages/{page}.py")
    start = time.perf_counter()
    at.run()
    assert time.perf_counter() - start < RUN_LIMIT_S
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.warning) <= 1, [w.value for w in at.warning]
    for message in [w.value for w in at.warning] + [e.value for e in at.error]:
        assert len(message) <= MESSAGE_LIMIT and "\n" not in message, message[:300]
        assert not _unescaped_markup(message), message[:300]
    assert _steps_within_cap(at)
