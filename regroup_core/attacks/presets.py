"""The paper's attack settings (Table 7) as named, frozen presets.

ε is given on the paper's 0–255 pixel scale (``epsilon_255``) and converted to the models'
[0, 1] input range as ``epsilon_255 / 255`` (:attr:`AttackPreset.epsilon`); both are recorded
in every result's settings. The same conversion is applied to L∞ and L2 budgets, as the
paper's foolbox-2 runs on 0–255 images did.

Minimisation attacks (DeepFool, C&W, EAD, Boundary, HopSkipJump) look for the *smallest*
adversarial perturbation. foolbox 2, which the paper used, returned that perturbation
unbounded (its #S for C&W is 10 000 / 10 000), so their presets default to ``epsilon_255=None``
(unbounded) and keep the ε printed in Table 7 as ``params["paper_epsilon_255"]``; pass
``epsilon_255=`` to :func:`~regroup_core.attacks.run_attack` to bound them.

Step counts of the paper (C&W/EAD 1000 iterations per binary step, Boundary 500) are recorded
in ``params["paper_steps"]``; ``params["steps"]`` is what a CPU can afford and is overridable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import DataError

__all__ = ["AttackFamily", "AttackPreset", "PRESETS", "get_preset", "preset_names", "HIGH_CONFIDENCE"]

HIGH_CONFIDENCE = 0.9
"""Adversarial-class probability a high-confidence example must reach (paper Table 4)."""


class AttackFamily(str, enum.Enum):
    """How an attack reads the model it attacks."""

    GRADIENT = "gradient"          # needs gradients of the attacked model
    DECISION = "decision"          # needs only the predicted label
    SCORE = "score"                # needs scores, no gradients (SPSA)


@dataclass(frozen=True)
class AttackPreset:
    """One attack with its settings.

    Attributes:
        name: the preset id (``pgd``, ``cw-targeted``, ...).
        family: what the attack needs from the model (gradients, scores or labels only).
        norm: ``linf``, ``l2``, ``l1+l2`` (EAD) or ``spatial`` (rotations/translations).
        epsilon_255: perturbation budget on the 0–255 scale; ``None`` = unbounded (minimisation
            attacks) or not applicable (spatial).
        params: the attack's own settings (steps, step sizes, binary search steps, ...).
        targeted: the attack aims for a random target class ≠ the true class.
        decision_based: only the predicted label of the attacked model is used.
        min_confidence: for high-confidence attacks, the adversarial-class probability to reach.
        description: one line for tables and the app.
    """

    name: str
    family: AttackFamily
    norm: str
    epsilon_255: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    targeted: bool = False
    decision_based: bool = False
    min_confidence: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def epsilon(self) -> float | None:
        """ε on the models' [0, 1] input scale: ``epsilon_255 / 255``."""
        return None if self.epsilon_255 is None else self.epsilon_255 / 255.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family.value, "norm": self.norm,
                "epsilon_255": self.epsilon_255, "epsilon": self.epsilon, "params": dict(self.params),
                "targeted": self.targeted, "decision_based": self.decision_based,
                "min_confidence": self.min_confidence, "description": self.description}


# ε ladder (0–255 scale) of the binary-search / high-confidence PGD variants: foolbox 2's
# ``binary_search=True`` grew ε from its start value until the attack succeeded; we try each
# rung on the images not yet successful and keep the first success (smallest ε), up to
# ε = 0.3 (76.5 / 255), Table 7's ``epsilon=0.3``.
EPSILON_LADDER_255 = (4.0, 8.0, 16.0, 32.0, 48.0, 64.0, 76.5)

_PGD = {"steps": 40, "abs_stepsize": 0.01, "random_start": True}
_CW = {"binary_search_steps": 5, "steps": 100, "paper_steps": 1000, "stepsize": 0.005, "confidence": 0.0,
       "initial_const": 0.01, "abort_early": True}

PRESETS: Mapping[str, AttackPreset] = MappingProxyType({p.name: p for p in (
    AttackPreset("pgd", AttackFamily.GRADIENT, "linf", 4.0, _PGD,
                 description="PGD L∞ ε=4/255, 40 steps of 0.01, random start (Table 2)"),
    AttackPreset("pgd-l2", AttackFamily.GRADIENT, "l2", 127.5,
                 {"steps": 40, "rel_stepsize": 2.5 / 40, "random_start": True},
                 description="PGD L2 ε=127.5/255 (0.5), 40 steps (not in the paper)"),
    AttackPreset("deepfool", AttackFamily.GRADIENT, "l2", None,
                 {"steps": 100, "candidates": 10, "overshoot": 0.02, "paper_epsilon_255": 2.0},
                 description="DeepFool L2, 100 steps, 10 candidate classes (Table 2)"),
    AttackPreset("cw", AttackFamily.GRADIENT, "l2", None, {**_CW, "paper_epsilon_255": 4.0},
                 description="Carlini–Wagner L2, 5 binary steps, lr 0.005, c0 0.01 (Table 2)"),
    AttackPreset("ead", AttackFamily.GRADIENT, "l1+l2", None,
                 {"binary_search_steps": 5, "steps": 100, "paper_steps": 1000, "initial_stepsize": 0.01,
                  "confidence": 0.0, "initial_const": 0.01, "regularization": 0.01, "abort_early": True},
                 description="EAD (elastic net), 5 binary steps, β 0.01 (Table 7)"),
    AttackPreset("pgd-targeted", AttackFamily.GRADIENT, "linf", 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, targeted=True,
                 description="targeted PGD L∞, ε grown 4→76.5/255 until success (Table 3)"),
    AttackPreset("cw-targeted", AttackFamily.GRADIENT, "l2", None, _CW, targeted=True,
                 description="targeted Carlini–Wagner L2 (Table 3)"),
    AttackPreset("pgd-hc", AttackFamily.GRADIENT, "linf", 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, min_confidence=HIGH_CONFIDENCE,
                 description="PGD L∞, adversarial-class prob ≥ 0.9, ε grown 4→76.5/255 (Table 4)"),
    AttackPreset("pgd-hc-targeted", AttackFamily.GRADIENT, "linf", 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, targeted=True,
                 min_confidence=HIGH_CONFIDENCE,
                 description="targeted PGD L∞, target prob ≥ 0.9, ε grown 4→76.5/255 (Table 4)"),
    AttackPreset("boundary", AttackFamily.DECISION, "l2", None,
                 {"steps": 500, "paper_steps": 500, "spherical_step": 0.01, "source_step": 0.01,
                  "step_adaptation": 1.5, "paper_epsilon_255": 2.0}, decision_based=True,
                 description="Boundary attack L2, 500 steps (Table 2)"),
    AttackPreset("hopskipjump", AttackFamily.DECISION, "l2", None,
                 {"steps": 10, "initial_gradient_eval_steps": 50, "max_gradient_eval_steps": 200,
                  "gamma": 1.0}, decision_based=True,
                 description="HopSkipJump L2, 10 steps of ≤200 queries (not in the paper)"),
    AttackPreset("spatial", AttackFamily.DECISION, "spatial", None,
                 {"max_translation": 5.0, "max_rotation": 5.0, "num_translations": 11, "num_rotations": 11,
                  "grid_search": True}, decision_based=True,
                 description="rotations ±5°, shifts ±5 px, 11×11×11 grid (Table 2)"),
    AttackPreset("spsa", AttackFamily.SCORE, "linf", 4.0,
                 {"steps": 100, "paper_steps": 300, "samples": 64, "delta": 0.01, "lr": 0.01,
                  "early_stop_loss": 0.0}, description="SPSA L∞ ε=4/255, early stop (Table 5)"),
)})


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def get_preset(name: str | AttackPreset) -> AttackPreset:
    """The preset called ``name`` (an :class:`AttackPreset` is returned as is)."""
    if isinstance(name, AttackPreset):
        return name
    try:
        return PRESETS[str(name)]
    except KeyError:
        raise DataError(f"expected an attack among {list(PRESETS)}, got '{name}'") from None
