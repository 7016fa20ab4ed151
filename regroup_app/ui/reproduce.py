"""The session's last attack as link settings, and back: a shared link of a page that shows an
adversarial image (Layer ranks, Voting classroom) carries the attack's settings, and opening it
reruns the attack through the shared adversarial cache (instant when anyone ran it before)."""

from __future__ import annotations

import streamlit as st

from app import attacking, cache, session, views
from regroup_core import ModelBundle

__all__ = ["attack_from_link", "attack_params"]


def attack_params() -> dict:
    """The link settings of the session's last attack on the current image (empty when none)."""
    run = session.last_attack()
    if run is None or "page" not in run.settings:
        return {}
    return {**run.settings["page"], "run": 1}


def attack_from_link(bundle: ModelBundle, image: session.CurrentImage | None) -> None:
    """When the link names an attack (``attack=…&run=1``), run it on the current image and make it
    the session's last attack; bad values are reported by :mod:`app.views`, never raised."""
    if image is None or views.pending("attack") is None:
        return
    if views.take("run") != "1":
        for name in ("attack", "threat", "epsilon", "steps", "target", "seed"):
            views.take(name)
        return
    values: dict = {}
    names = attacking.attack_names()
    checks = {"attack": views.one_of(names), "threat": views.one_of(attacking.THREATS),
              "epsilon": views.number(0.5, 128.0), "steps": views.number(1, 2000, integer=True),
              "target": views.number(0, bundle.num_classes - 1, integer=True),
              "seed": views.number(0, 2**31 - 1, integer=True)}
    for name, parse in checks.items():
        key = f"link-{name}"
        if views.restore(name, key, parse):
            values[name] = st.session_state.pop(key)
    attack = values.get("attack")
    threat = values.get("threat", "transfer")
    if attack is None or not attacking.applicable(attack, threat):
        return
    key = session.model_choice().key
    x = session.image_tensor(bundle, image)
    label = image.label
    if label is None:
        label = int(cache.predict_ranks(key, x[None]).softmax_labels[0])
    target = values.get("target") if attacking.is_targeted(attack) else None
    epsilon = values.get("epsilon") if attacking.default_epsilon_255(attack) is not None else None
    steps = values.get("steps") if attacking.default_steps(attack) is not None else None
    seed = int(values.get("seed", 0))
    with st.spinner(f"Reproducing the link's {attack} ({threat}) attack…"):
        result = cache.attack_image(key, x, int(label), attack, threat, epsilon, steps, target, seed)
    page = {"attack": attack, "threat": threat, "epsilon": epsilon, "steps": steps, "target": target, "seed": seed}
    session.set_last_attack(session.LastAttack(
        model_key=key, image_digest=image.digest, adversarial=result.adversarial[0].numpy(),
        success=bool(result.success[0]), settings={**result.settings, "page": page}))
