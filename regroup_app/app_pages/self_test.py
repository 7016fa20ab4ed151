"""Self-test: is an attack strong enough to trust? The binarization test of every chosen attack at every
chosen budget on a few test images (``python -m regroup_core selftest``), with the step under way named
and each verdict shown as it comes in. A link may start it only within the link cap."""

from __future__ import annotations

from typing import Any

import streamlit as st

from regroup_app.services import attack_checks, attacking, suites
from regroup_app.services.attack_checks import SelfTestRequest
from regroup_app.services.threads import all_cores
from regroup_app.state import shipped_classifier, state
from regroup_app.ui import glossary, links, selftest_view, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_core import ModelBundle, REGroup
from regroup_core.attacks.cost import LINK_CAP


def _form(bundle: ModelBundle) -> SelfTestRequest:
    """Attacks, budgets, images and steps, each synced with the link."""
    names = attack_checks.checkable_attacks(attacking.attack_names())
    budgets = [f"{e:g}" for e in sorted({*bundle.spec.epsilon_grid_255, bundle.spec.default_epsilon_255})]
    c1, c2, c3 = st.columns(3)
    attacks = synced("attacks", "selftest-attacks", links.names(names),
                     lambda key: c1.multiselect("Attacks", names, default=["pgd"] if "pgd" in names else [], key=key,
                                                help="Attacks that can aim at REGroup within a pixel budget"),
                     link=lambda v: v or None)
    eps = synced("epsilons", "selftest-eps", links.names(budgets),
                 lambda key: c2.multiselect("Budgets ε (0–255)", budgets, key=key,
                                            default=[f"{bundle.spec.default_epsilon_255:g}"]),
                 link=lambda v: v or None)
    n = int(synced("n", "selftest-n", links.number(1, 100, integer=True),
                   lambda key: c3.number_input("Test images", 1, 100, 5, key=key)))
    steps = int(synced("steps", "selftest-steps", links.number(0, 2000, integer=True),
                       lambda key: c3.number_input("Steps (0: each preset's own; 1: a deliberately weakened attack)",
                                                   0, 2000, 0, key=key)))
    return SelfTestRequest(tuple(attacks), tuple(float(e) for e in eps), n, steps or None)


def _run(bundle: ModelBundle, defended: REGroup, request: SelfTestRequest, params: dict[str, Any]) -> list[dict]:
    """Run the test with a progress bar naming the step and a table that fills as verdicts come in."""
    bar, callback = widgets.progress_callback("Self-test")
    live, done = st.empty(), []

    def arrived(row: Any) -> None:
        done.append(row.as_dict())
        live.dataframe(selftest_view.results_table(done), hide_index=True, width="stretch")

    with all_cores():
        rows = attack_checks.run_selftest_streamed(bundle, defended, request, callback, arrived)
    bar.empty()
    live.empty()
    return suites.stored_result("selftest", params, lambda: [r.as_dict() for r in rows])


def _wait_or_run(request: SelfTestRequest) -> bool:
    """Whether to run now: on the click, or when the link says ``run=1`` and the request is within the cap."""
    linked = links.take("run") == "1"
    reason = attack_checks.over_cap(request)
    if linked and reason is not None:
        state().note(f"The link asks to run {md(reason)} on open; {md(LINK_CAP.describe())}: press Run the "
                     "self-test to start it.")
    jobs = len(request.attacks) * len(request.epsilons_255)
    clicked = st.button(f"Run the self-test ({jobs} attack × budget run(s) on {request.n} image(s))", type="primary",
                        key="selftest-run")
    return clicked or (linked and reason is None)


def body() -> None:
    st.title("Self-test")
    glossary.intro("self_test")
    st.markdown(selftest_view.EXPLAIN)
    bundle, defended = require_defended()
    request = _form(bundle)
    if not request.attacks or not request.epsilons_255:
        links.publish(with_image=False)
        st.warning("Choose at least one attack and one budget.")
        return
    params = {"model": state().model_choice.parts, "fingerprint": bundle.fingerprint,
              "attacks": list(request.attacks), "epsilons": list(request.epsilons_255), "n": request.n,
              "steps": request.steps, "seed": request.seed}
    rows = suites.stored_result("selftest", params, None)
    if rows is None and _wait_or_run(request):
        rows = _run(bundle, defended, request, params)
    links.publish(with_image=False, run=1 if rows is not None else None)
    choice = state().model_choice
    own = choice.classifier == shipped_classifier(choice.name) and not choice.weights
    command = attack_checks.selftest_command(choice.name, f"regroup_core/assets/classifiers/{choice.name}.safetensors"
                                             if own else "YOUR_CLASSIFIER.safetensors", request)
    if rows is None:
        st.info("Press the button to run the test; results are stored and shown again next time. On the command "
                "line:", icon=":material/info:")
        st.code(command, language="bash", wrap_lines=True)
        return
    selftest_view.verdict_lines(rows)
    st.dataframe(selftest_view.results_table(rows), hide_index=True, width="stretch")
    st.markdown(selftest_view.MEANING)
    st.caption("The same test on the command line (the same images and tasks where the model's test data ships "
               "with it, as for the embedded models):")
    st.code(command, language="bash", wrap_lines=True)


run_page(body)
