"""The session's last attack as link settings, and back: a shared link of a page that shows an
adversarial image (Layer ranks, Voting classroom) carries the attack's settings, and opening it
reruns the attack through the shared adversarial cache (instant when anyone ran it before)."""

from __future__ import annotations

from typing import Any

import numpy as np

from regroup_core import ModelBundle
from regroup_core.attacks.cost import LINK_CAP, over_link_cap

from ..services import attacking
from ..services.cache import predict_ranks
from ..state import AttackChoice, CurrentImage, LastAttack, image_tensor, state
from . import links
from .text import md
from .widgets import ensure_image, step_progress

__all__ = ["attack_from_link", "attack_params", "image_and_attack", "link_may_run", "remember_attack"]


def link_may_run(request: AttackChoice) -> bool:
    """Whether a link's ``run=1`` may start ``request`` on open (:data:`regroup_core.attacks.cost.LINK_CAP`);
    when not, one line says why and that the visitor's click starts it."""
    reason = over_link_cap([(request.attack, request.threat, request.steps)], 1)
    if reason is None:
        return True
    state().note(f"The link asks to run {md(reason)} on open; {md(LINK_CAP.describe())}: press Run attack "
                 "(Attack lab) to start it.")
    return False


def remember_attack(image: CurrentImage, x: np.ndarray, label: int, request: AttackChoice) -> None:
    """Attack the session's image ``x`` (through the shared cache) and make the result the session's
    last attack, with the page's settings for links."""
    app = state()
    result = attacking.attack_image(app.model_choice, x, label, request)
    app.last_attack = LastAttack(choice=app.model_choice, image_digest=image.digest,
                                 adversarial=result.adversarial[0].numpy(), success=bool(result.success[0]),
                                 settings={**result.settings, "page": request.link()})


def attack_params() -> dict[str, Any]:
    """The link settings of the session's last attack on the current image (empty when none)."""
    run = state().last_attack
    if run is None or "page" not in run.settings:
        return {}
    return {**run.settings["page"], "run": 1}


def _link_request(bundle: ModelBundle) -> AttackChoice | None:
    """The attack the link names, checked (None when it names none that fits)."""
    names = attacking.attack_names()
    checks = {"attack": links.one_of(names), "threat": links.one_of(attacking.THREATS),
              "epsilon": links.number(0.5, 128.0), "steps": links.number(1, 2000, integer=True),
              "target": links.number(0, bundle.num_classes - 1, integer=True),
              "seed": links.number(0, 2**31 - 1, integer=True)}
    values = {name: links.take_parsed(name, parse) for name, parse in checks.items()}
    attack, threat = values["attack"], values["threat"] or "transfer"
    if attack is None or not attacking.applicable(attack, threat):
        return None
    epsilon = values["epsilon"]
    if epsilon is None and attacking.takes_linf_epsilon(attack):  # as the pages: the model's budget, not 4/255
        epsilon = bundle.spec.default_epsilon_255
    return AttackChoice(
        attack, threat, epsilon=epsilon if attacking.default_epsilon_255(attack) is not None else None,
        steps=values["steps"] if attacking.default_steps(attack) is not None else None,
        target=values["target"] if attacking.is_targeted(attack) else None, seed=int(values["seed"] or 0))


def attack_from_link(bundle: ModelBundle, image: CurrentImage | None) -> None:
    """When the link names an attack (``attack=…&run=1``), run it on the current image and make it
    the session's last attack; bad values are reported by :mod:`regroup_app.ui.links`, never raised."""
    if image is None or links.pending("attack") is None:
        return
    if links.take("run") != "1":
        for name in ("attack", "threat", "epsilon", "steps", "target", "seed"):
            links.take(name)
        return
    request = _link_request(bundle)
    if request is None or not link_may_run(request):
        return
    x = image_tensor(bundle, image)
    label = image.label
    if label is None:
        label = int(predict_ranks(state().model_choice, x[None]).softmax_labels[0])
    with step_progress(f"Reproducing the link's {request.attack} ({request.threat}) attack…"):
        remember_attack(image, x, int(label), request)


def image_and_attack(bundle: ModelBundle) -> tuple[CurrentImage, np.ndarray, LastAttack | None]:
    """What the pages that show an image's ballots start from: the session's image (a first sample
    when none), its (C, H, W) tensor and its last attack (rerun first when the link names one)."""
    image = ensure_image(bundle)
    attack_from_link(bundle, image)
    return image, image_tensor(bundle, image), state().last_attack
