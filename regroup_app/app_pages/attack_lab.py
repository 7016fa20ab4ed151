"""Attack lab: pick an image, attack it, compare softmax and REGroup on both versions."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from regroup_app.services import attacking
from regroup_app.services.cache import predict_ranks
from regroup_app.state import AttackChoice, CurrentImage, image_tensor, state
from regroup_app.ui import glossary, links, verdicts, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.text import md
from regroup_app.ui.reproduce import link_may_run, remember_attack
from regroup_app.ui.synced import synced
from regroup_core import ModelBundle
from regroup_core.sources.budgets import budget_note


LAYER_RANKS = "app_pages/layer_ranks.py"


def _budget(bundle: ModelBundle, attack: str, column: DeltaGenerator) -> tuple[float | None, int | None]:
    """The ε and steps widgets of ``attack`` (None where the preset has no such knob)."""
    eps_default = attacking.default_epsilon_255(attack)
    if attacking.takes_linf_epsilon(attack):  # the model's own softmax budget, not ImageNet's 4/255
        eps_default = bundle.spec.default_epsilon_255
    eps = None
    if eps_default is not None:
        eps = synced("epsilon", f"eps-{attack}-{bundle.name}", links.number(0.5, 128.0, step=0.5),
                     lambda key: column.slider(
                         "ε (on the 0–255 scale)", 0.5, 128.0, float(eps_default), 0.5, key=key,
                         help="Perturbation budget: ε/255 on images in [0, 1]. The default is this model's "
                              "softmax budget: the ε at which PGD fools ≥ 90 % of its undefended softmax."))
        if attacking.takes_linf_epsilon(attack):
            column.caption(budget_note(bundle.spec, float(eps)))
    steps_default = attacking.default_steps(attack)
    steps = None
    if steps_default is not None:
        steps = int(synced("steps", f"steps-{attack}", links.number(1, 2000, integer=True),
                           lambda key: column.number_input("Steps", 1, 2000, int(steps_default), key=key)))
    return eps, steps


def _attack_form(bundle: ModelBundle, image: CurrentImage) -> AttackChoice:
    names = attacking.attack_names()
    c1, c2, c3 = st.columns(3)
    attack = synced("attack", "attack-name", links.one_of(names),
                    lambda key: c1.selectbox("Attack", names, index=names.index("pgd") if "pgd" in names else 0,
                                             key=key, help="Presets of the paper's Table 7."))
    knobs = [name for name, default in (("ε", attacking.default_epsilon_255(attack)),
                                        ("steps", attacking.default_steps(attack))) if default is not None]
    c1.caption(f"Preset: {attacking.describe(attack)}." + (f" The {' and '.join(knobs)} set here override it."
                                                            if knobs else ""))
    threats = [t for t in attacking.THREATS if attacking.applicable(attack, t)]
    threat = synced("threat", f"threat-{attack}", links.one_of(threats),
                    lambda key: c2.selectbox("Threat model", threats, key=key, help="\n".join(
                        f"- **{t}**: {h}" for t, h in attacking.THREAT_HELP.items())))
    c2.caption(attacking.THREAT_HELP[threat])
    eps, steps = _budget(bundle, attack, c3)
    target = None
    if attacking.is_targeted(attack):
        choices = [c for c in range(bundle.num_classes) if c != image.label]
        target = synced("target", f"target-{attack}", links.one_of(choices),
                        lambda key: c1.selectbox("Target class", choices, key=key,
                                                 format_func=lambda c: verdicts.label_text(bundle, c)))
    seed = int(synced("seed", "attack-seed", links.number(0, 2**31 - 1, integer=True),
                      lambda key: c2.number_input("Seed", 0, 2**31 - 1, 0, key=key)))
    return AttackChoice(attack, threat, epsilon=eps, steps=steps, target=target, seed=seed)


def _result(bundle: ModelBundle, image: CurrentImage, x: np.ndarray, request: AttackChoice) -> None:
    """The last attack's images, verdicts and predictions (or a hint to run one)."""
    choice = state().model_choice
    pred = predict_ranks(choice, x[None])
    run = state().last_attack
    shown = run is not None and run.settings.get("page") == request.link()
    links.publish(run=1 if shown else None)
    c1, c2, c3 = st.columns(3)
    c1.image(widgets.to_pil(x, size=224), caption=f"original — {md(image.name, 60)}", width=224)
    if run is None:
        c2.info("Run an attack to see the adversarial image and its perturbation.")
        widgets.prediction_bars(bundle, pred, 0, label=image.label, title="Original")
        return
    if not shown:
        st.caption("The result below is from your last run, with other settings: press **Run attack** to update it.")
    delta = run.adversarial - x
    c2.image(widgets.to_pil(run.adversarial, size=224), caption="adversarial", width=224)
    c3.image(widgets.to_pil(widgets.amplified(delta), size=224),
             caption=f"perturbation, amplified (max |δ| = {255 * float(np.abs(delta).max()):.1f}/255)",
             width=224)
    adv_pred = predict_ranks(choice, run.adversarial[None])
    outcome = verdicts.outcome_of(bundle, pred, adv_pred, image.label, x, run.adversarial, run.settings)
    st.markdown("  \n".join(verdicts.attack_lines(bundle, outcome, attack=run.settings.get("attack", request.attack),
                                                  threat=run.settings.get("threat", request.threat),
                                                  settings=run.settings)))
    widgets.prediction_bars(bundle, pred, 0, label=image.label, title="Original")
    widgets.prediction_bars(bundle, adv_pred, 0, label=image.label, title="Adversarial")
    st.download_button("Download the adversarial image (PNG)", widgets.png_bytes(run.adversarial),
                       file_name=f"adversarial-{run.settings.get('attack', request.attack)}.png", mime="image/png",
                       key="download-adv")
    with st.expander("Attack settings"):
        st.json({k: v for k, v in run.settings.items() if k != "page"})
    st.page_link(LAYER_RANKS, label="See what each layer voted → Layer ranks", icon=":material/grid_on:")


def body() -> None:
    st.title("Attack lab")
    glossary.intro("attack_lab")
    bundle, _ = require_defended()
    with st.container(border=True):
        image = widgets.image_picker(bundle)
    if image is None:
        st.info("Upload an image or pick one from the gallery.")
        links.publish()
        return
    x = image_tensor(bundle, image)
    label = image.label
    st.subheader("Attack")
    request = _attack_form(bundle, image)
    if label is None:
        label = int(predict_ranks(state().model_choice, x[None]).softmax_labels[0])
        st.caption(f"True class unknown: the attack uses the softmax prediction "
                   f"({verdicts.label_text(bundle, label)}) as the label to move away from.")
    linked = links.take("run") == "1" and link_may_run(request)  # a shared link shows its result again
    if st.button("Run attack", type="primary", key="attack-run") or linked:
        with widgets.step_progress(attacking.running_text(request)):  # names the adaptive plan's run too
            remember_attack(image, x, int(label), request)
    _result(bundle, image, x, request)


run_page(body)
