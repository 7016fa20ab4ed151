"""Attack lab: pick an image, attack it, compare softmax and REGroup on both versions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import attacking, cache, glossary, session, verdicts, views, widgets
from app.ui import run_page
from regroup_core.analysis.outcome import attack_outcome


def _attack_form(bundle, defended, image: session.CurrentImage):
    names = attacking.attack_names()
    c1, c2, c3 = st.columns(3)
    views.restore("attack", "attack-name", views.one_of(names))
    attack = c1.selectbox("Attack", names, index=names.index("pgd") if "pgd" in names else 0, key="attack-name",
                          format_func=lambda n: n, help="Presets of the paper's Table 7.")
    knobs = [name for name, default in (("ε", attacking.default_epsilon_255(attack)),
                                        ("steps", attacking.default_steps(attack))) if default is not None]
    c1.caption(f"Preset: {attacking.describe(attack)}." + (f" The {' and '.join(knobs)} set here override it."
                                                            if knobs else ""))
    threats = [t for t in attacking.THREATS if attacking.applicable(attack, t)]
    views.restore("threat", f"threat-{attack}", views.one_of(threats))
    threat = c2.selectbox("Threat model", threats, key=f"threat-{attack}",
                          format_func=lambda t: t, help="\n".join(f"- **{t}**: {h}" for t, h in attacking.THREAT_HELP.items()))
    c2.caption(attacking.THREAT_HELP[threat])
    eps_default = attacking.default_epsilon_255(attack)
    if attacking.takes_linf_epsilon(attack):  # the paper's 4/255 is for ImageNet photos
        eps_default = max(eps_default, bundle.spec.demo_epsilon_255)
    eps = None
    if eps_default is not None:
        key = f"eps-{attack}-{bundle.name}"
        views.restore("epsilon", key, views.number(0.5, 128.0, step=0.5))
        eps = c3.slider("ε (on the 0–255 scale)", 0.5, 128.0, float(eps_default), 0.5, key=key,
                        help="Perturbation budget: ε/255 on images in [0, 1]. MNIST digits need a larger ε "
                             "than ImageNet photos (the paper's 4/255) before softmax falls.")
    steps_default = attacking.default_steps(attack)
    steps = None
    if steps_default is not None:
        views.restore("steps", f"steps-{attack}", views.number(1, 2000, integer=True))
        steps = int(c3.number_input("Steps", 1, 2000, int(steps_default), key=f"steps-{attack}"))
    target = None
    if attacking.is_targeted(attack):
        choices = [c for c in range(bundle.num_classes) if c != image.label]
        views.restore("target", f"target-{attack}", views.one_of(choices))
        target = c1.selectbox("Target class", choices, key=f"target-{attack}",
                              format_func=lambda c: session.label_text(bundle, c))
    views.restore("seed", "attack-seed", views.number(0, 2**31 - 1, integer=True))
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="attack-seed"))
    return attack, threat, eps, steps, target, seed


def body() -> None:
    st.title("Attack lab")
    glossary.intro("attack_lab")
    bundle, defended = session.require_defended()
    with st.container(border=True):
        image = widgets.image_picker(bundle)
    if image is None:
        st.info("Upload an image or pick one from the gallery.")
        views.publish()
        return
    key = session.model_choice().key
    x = session.image_tensor(bundle, image)
    pred = cache.predict_ranks(key, x[None])
    label = image.label
    st.subheader("Attack")
    attack, threat, eps, steps, target, seed = _attack_form(bundle, defended, image)
    if label is None:
        label = int(pred.softmax_labels[0])
        st.caption(f"True class unknown: the attack uses the softmax prediction "
                   f"({session.label_text(bundle, label)}) as the label to move away from.")
    settings = {"attack": attack, "threat": threat, "epsilon": eps, "steps": steps, "target": target, "seed": seed}
    linked = views.take("run") == "1"  # a shared link that showed a result shows it again
    if st.button("Run attack", type="primary", key="attack-run") or linked:
        with st.spinner(f"Running {attack} ({threat})…"):
            result = cache.attack_image(key, x, int(label), attack, threat, eps, steps, target, seed)
        session.set_last_attack(session.LastAttack(
            model_key=key, image_digest=image.digest, adversarial=result.adversarial[0].numpy(),
            success=bool(result.success[0]), settings={**result.settings, "page": settings}))
    run = session.last_attack()
    shown = run is not None and run.settings.get("page") == settings
    views.publish(**settings, run=1 if shown else None)
    c1, c2, c3 = st.columns(3)
    c1.image(widgets.to_pil(x, size=224), caption=f"original — {image.name}", width=224)
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
    adv_pred = cache.predict_ranks(key, run.adversarial[None])
    outcome = attack_outcome(pred, adv_pred, image.label, linf=float(np.abs(delta).max()))
    st.markdown("  \n".join(verdicts.attack_lines(bundle, outcome, attack=run.settings.get("attack", attack),
                                                  threat=run.settings.get("threat", threat))))
    widgets.prediction_bars(bundle, pred, 0, label=image.label, title="Original")
    widgets.prediction_bars(bundle, adv_pred, 0, label=image.label, title="Adversarial")
    st.download_button("Download the adversarial image (PNG)", widgets.png_bytes(run.adversarial),
                       file_name=f"adversarial-{run.settings.get('attack', attack)}.png", mime="image/png",
                       key="download-adv")
    with st.expander("Attack settings"):
        st.json({k: v for k, v in run.settings.items() if k != "page"})
    st.page_link("app_pages/layer_ranks.py", label="See what each layer voted → Layer ranks", icon=":material/grid_on:")


run_page(body)
