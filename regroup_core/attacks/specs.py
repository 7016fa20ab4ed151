"""The paper's attack settings (Table 7) as typed, named, frozen specs.

Every decision about an attack (which implementation runs it, whether ε applies, whether it
takes targets or a starting point) is read from its :class:`AttackSpec` fields, never from
its name.

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

__all__ = ["AttackFamily", "AttackSpec", "Budget", "HIGH_CONFIDENCE", "Method", "Norm", "PRESETS",
           "get_preset", "preset_names"]

HIGH_CONFIDENCE = 0.9
"""Adversarial-class probability a high-confidence example must reach (paper Table 4)."""


class AttackFamily(str, enum.Enum):
    """How an attack reads the model it attacks."""

    GRADIENT = "gradient"          # needs gradients of the attacked model
    DECISION = "decision"          # needs only the predicted label
    SCORE = "score"                # needs scores, no gradients (SPSA)


class Norm(str, enum.Enum):
    """The distance an attack's budget is measured in."""

    LINF = "linf"
    L2 = "l2"
    L1_L2 = "l1+l2"      # EAD's elastic net
    SPATIAL = "spatial"  # rotations and translations: no pixel budget


class Budget(str, enum.Enum):
    """How an attack treats its perturbation budget."""

    FIXED = "fixed"      # searches inside a given ε ball (PGD, SPSA)
    MINIMAL = "minimal"  # looks for the smallest adversarial perturbation (DeepFool, C&W, Boundary...)
    NONE = "none"        # not a norm-bounded attack (spatial)


class Method(str, enum.Enum):
    """The implementation that runs an attack."""

    PGD_LINF = "pgd-linf"
    PGD_L2 = "pgd-l2"
    DEEPFOOL = "deepfool"
    CARLINI_WAGNER = "cw"
    EAD = "ead"
    BOUNDARY = "boundary"
    HOPSKIPJUMP = "hopskipjump"
    SPATIAL = "spatial"
    SPSA = "spsa"
    APGD_CE = "apgd-ce"            # torchattacks.APGD, cross-entropy loss
    APGD_T = "apgd-t"              # torchattacks.APGDT, targeted DLR loss over the runner-up classes
    SQUARE = "square"              # torchattacks.Square, score-based (margin loss)
    TRUST_REGION = "trust-region"  # adv_lib.attacks.tr (Yao et al. 2019, the paper's)
    FMN = "fmn"                    # adv_lib.attacks.fmn (fast minimum-norm)
    PMF_MATCH = "pmf-match"        # ours: feature-space attack on REGroup's voters (attacks/pmf_match.py)
    AUTOATTACK = "autoattack"      # pyautoattack (Croce & Hein's own AutoAttack), standard version

    @property
    def needs_voters(self) -> bool:
        """Attacks that read REGroup's voters directly: only the adaptive threat model gives them."""
        return self is Method.PMF_MATCH

    @property
    def supports_targets(self) -> bool:
        """foolbox's DeepFool and SpatialAttack silently ignore a targeted criterion; APGD-T picks
        its own targets; Square, Trust Region and FMN run untargeted here."""
        return self in (Method.PGD_LINF, Method.PGD_L2, Method.CARLINI_WAGNER, Method.EAD, Method.BOUNDARY,
                        Method.HOPSKIPJUMP, Method.SPSA, Method.PMF_MATCH)

    @property
    def needs_starting_point(self) -> bool:
        """Decision-based walks that start from an adversarial image (given by the runner)."""
        return self in (Method.BOUNDARY, Method.HOPSKIPJUMP)

    @property
    def may_return_blank(self) -> bool:
        """foolbox's C&W and EAD return an all-black image when they find nothing."""
        return self in (Method.CARLINI_WAGNER, Method.EAD)


@dataclass(frozen=True)
class AttackSpec:
    """One attack with its settings.

    Attributes:
        name: the preset id (``pgd``, ``cw-targeted``, ...).
        method: the implementation that runs it.
        family: what the attack needs from the model (gradients, scores or labels only).
        norm: the distance its budget is measured in.
        budget: fixed ε ball, minimal perturbation, or no pixel budget.
        epsilon_255: perturbation budget on the 0–255 scale; ``None`` = unbounded (minimisation
            attacks) or not applicable (spatial).
        params: the attack's own settings (steps, step sizes, binary search steps, ...).
        targeted: the attack aims for a random target class ≠ the true class.
        min_confidence: for high-confidence attacks, the adversarial-class probability to reach.
        description: one line for tables and the app.
    """

    name: str
    method: Method
    family: AttackFamily
    norm: Norm
    budget: Budget
    epsilon_255: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    targeted: bool = False
    min_confidence: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def epsilon(self) -> float | None:
        """ε on the models' [0, 1] input scale: ``epsilon_255 / 255``."""
        return None if self.epsilon_255 is None else self.epsilon_255 / 255.0

    @property
    def takes_epsilon(self) -> bool:
        """Whether a pixel budget applies at all (not to spatial attacks)."""
        return self.budget is not Budget.NONE

    @property
    def takes_linf_epsilon(self) -> bool:
        """Whether a common L∞ budget (the CLI's ``--epsilon``, the app's ε slider) applies: to
        fixed-budget L∞ attacks only. Minimisation attacks stay unbounded (their results are
        reported as accuracy vs ε curves), L2 attacks keep their own budget."""
        return self.budget is Budget.FIXED and self.norm is Norm.LINF

    @property
    def decision_based(self) -> bool:
        return self.family is AttackFamily.DECISION

    @property
    def grows_epsilon(self) -> bool:
        """ε-ladder attacks (binary search / high confidence) grow ε until they succeed."""
        return bool(self.params.get("epsilon_ladder_255"))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method.value, "family": self.family.value,
                "norm": self.norm.value, "budget": self.budget.value, "epsilon_255": self.epsilon_255,
                "epsilon": self.epsilon, "params": dict(self.params), "targeted": self.targeted,
                "min_confidence": self.min_confidence, "description": self.description}



# ε ladder (0–255 scale) of the binary-search / high-confidence PGD variants: foolbox 2's
# ``binary_search=True`` grew ε from its start value until the attack succeeded; we try each
# rung on the images not yet successful and keep the first success (smallest ε), up to
# ε = 0.3 (76.5 / 255), Table 7's ``epsilon=0.3``.
EPSILON_LADDER_255 = (4.0, 8.0, 16.0, 32.0, 48.0, 64.0, 76.5)

# restarts: extra random starts (transfer: foolbox PGD again on the images not yet fooled; adaptive:
# margin runs from random points); runner_up_targets / transfer_start: the adaptive plan's targeted
# runs (the r-th wrong class by clean soft-Borda score, r = 1..9: every wrong class of a 10-class
# model) and its start from the transfer adversarial (regroup_core.attacks.adaptive_plan)
_PGD = {"steps": 40, "abs_stepsize": 0.01, "random_start": True, "restarts": 1, "runner_up_targets": 9,
        "transfer_start": True}
# C&W/EAD: the paper's 5 binary steps; 100 steps each instead of 1000 (CPU), hence a larger step size
# and initial constant than the paper's 0.005 / 0.01 (with those, 100 steps fool 25 % of the MNIST
# softmax; with these 100 %)
_CW = {"binary_search_steps": 5, "steps": 100, "paper_steps": 1000, "stepsize": 0.05, "paper_stepsize": 0.005,
       "confidence": 0.0, "initial_const": 1.0, "paper_initial_const": 0.01, "abort_early": True}


def _pmf_match(name: str, steps: int, target_classes: int, *, description: str, keep_softmax: bool = False,
               targeted: bool = False) -> AttackSpec:
    """A feature-space preset (:mod:`~regroup_core.attacks.pmf_match`): L∞, fixed budget, 4/255 by default."""
    return AttackSpec(name, Method.PMF_MATCH, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
                      {"steps": steps, "target_classes": target_classes, "keep_softmax": keep_softmax},
                      targeted=targeted, description=description)


PRESETS: Mapping[str, AttackSpec] = MappingProxyType({p.name: p for p in (
    AttackSpec("pgd", Method.PGD_LINF, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0, _PGD,
                 description="PGD L∞ ε=4/255, 40 steps of 0.01, random start (Table 2)"),
    AttackSpec("pgd-l2", Method.PGD_L2, AttackFamily.GRADIENT, Norm.L2, Budget.FIXED, 127.5,
                 {"steps": 40, "rel_stepsize": 2.5 / 40, "random_start": True, "restarts": 1,
                  "runner_up_targets": 9, "transfer_start": True},
                 description="PGD L2 ε=127.5/255 (0.5), 40 steps (not in the paper)"),
    AttackSpec("deepfool", Method.DEEPFOOL, AttackFamily.GRADIENT, Norm.L2, Budget.MINIMAL, None,
                 {"steps": 100, "candidates": 10, "overshoot": 0.02, "paper_epsilon_255": 2.0},
                 description="DeepFool L2, 100 steps, 10 candidate classes (Table 2)"),
    AttackSpec("cw", Method.CARLINI_WAGNER, AttackFamily.GRADIENT, Norm.L2, Budget.MINIMAL, None,
               {**_CW, "paper_epsilon_255": 4.0},
                 description="Carlini–Wagner L2, 5 binary steps × 100, lr 0.05, c0 1 "
                             "(Table 2: × 1000, 0.005, 0.01)"),
    AttackSpec("ead", Method.EAD, AttackFamily.GRADIENT, Norm.L1_L2, Budget.MINIMAL, None,
                 {"binary_search_steps": 5, "steps": 100, "paper_steps": 1000, "initial_stepsize": 0.05,
                  "paper_initial_stepsize": 0.01, "confidence": 0.0, "initial_const": 1.0, "paper_initial_const": 0.01,
                  "regularization": 0.01, "abort_early": True},
                 description="EAD (elastic net), 5 binary steps, β 0.01 (Table 7)"),
    AttackSpec("pgd-targeted", Method.PGD_LINF, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, targeted=True,
                 description="targeted PGD L∞, ε grown 4→76.5/255 until success (Table 3)"),
    AttackSpec("cw-targeted", Method.CARLINI_WAGNER, AttackFamily.GRADIENT, Norm.L2, Budget.MINIMAL, None, _CW,
               targeted=True,
                 description="targeted Carlini–Wagner L2 (Table 3)"),
    AttackSpec("pgd-hc", Method.PGD_LINF, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, min_confidence=HIGH_CONFIDENCE,
                 description="PGD L∞, adversarial-class prob ≥ 0.9, ε grown 4→76.5/255 (Table 4)"),
    AttackSpec("pgd-hc-targeted", Method.PGD_LINF, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
                 {**_PGD, "epsilon_ladder_255": EPSILON_LADDER_255}, targeted=True,
                 min_confidence=HIGH_CONFIDENCE,
                 description="targeted PGD L∞, target prob ≥ 0.9, ε grown 4→76.5/255 (Table 4)"),
    AttackSpec("boundary", Method.BOUNDARY, AttackFamily.DECISION, Norm.L2, Budget.MINIMAL, None,
                 {"steps": 500, "paper_steps": 500, "spherical_step": 0.01, "source_step": 0.01,
                  "step_adaptation": 1.5, "paper_epsilon_255": 2.0},
                 description="Boundary attack L2, 500 steps (Table 2)"),
    AttackSpec("hopskipjump", Method.HOPSKIPJUMP, AttackFamily.DECISION, Norm.L2, Budget.MINIMAL, None,
                 {"steps": 10, "initial_gradient_eval_steps": 50, "max_gradient_eval_steps": 200,
                  "gamma": 1.0},
                 description="HopSkipJump L2, 10 steps of ≤200 queries (not in the paper)"),
    AttackSpec("hopskipjump-linf", Method.HOPSKIPJUMP, AttackFamily.DECISION, Norm.LINF, Budget.MINIMAL, None,
                 {"steps": 40, "initial_gradient_eval_steps": 50, "max_gradient_eval_steps": 200,
                  "gamma": 1.0, "constraint": "linf"},
                 description="HopSkipJump L∞, 40 steps of ≤200 queries (not in the paper; the label-only attack "
                             "whose distance is the L∞ budget's)"),
    AttackSpec("spatial", Method.SPATIAL, AttackFamily.DECISION, Norm.SPATIAL, Budget.NONE, None,
                 {"max_translation": 5.0, "max_rotation": 5.0, "num_translations": 11, "num_rotations": 11,
                  "grid_search": True},
                 description="rotations ±5°, shifts ±5 px, 11×11×11 grid (Table 2)"),
    AttackSpec("spsa", Method.SPSA, AttackFamily.SCORE, Norm.LINF, Budget.FIXED, 4.0,
                 {"steps": 100, "paper_steps": 300, "samples": 64, "delta": 0.01, "lr": 0.01,
                  "early_stop_loss": 0.0}, description="SPSA L∞ ε=4/255, early stop (Table 5)"),
    AttackSpec("apgd-ce", Method.APGD_CE, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
               {"steps": 100, "restarts": 1, "rho": 0.75},
               description="AutoAttack's APGD-CE (torchattacks), L∞, 100 steps (not in the paper)"),
    AttackSpec("apgd-t", Method.APGD_T, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
               {"steps": 50, "restarts": 1, "rho": 0.75, "target_classes": 3},
               description="AutoAttack's APGD-T (torchattacks), targeted DLR loss toward the 3 "
                           "runner-up classes, 50 steps each; untargeted success (not in the paper)"),
    AttackSpec("square", Method.SQUARE, AttackFamily.SCORE, Norm.LINF, Budget.FIXED, 4.0,
               {"queries": 1000, "restarts": 1, "p_init": 0.8},
               description="Square attack (torchattacks), score-based L∞, 1000 queries (not in the paper)"),
    AttackSpec("trust-region", Method.TRUST_REGION, AttackFamily.GRADIENT, Norm.LINF, Budget.MINIMAL, None,
               {"steps": 300, "eps": 0.001, "c": 9, "adaptive": True, "worst_case": False,
                "paper_epsilon_255": 2.0},
               description="Trust Region attack L∞ (adv-lib, Yao et al. 2019), adaptive radius, 300 iterations "
                           "(Table 2)"),
    AttackSpec("fmn", Method.FMN, AttackFamily.GRADIENT, Norm.LINF, Budget.MINIMAL, None,
               {"steps": 100, "alpha_init": 10.0, "gamma_init": 0.05, "gamma_final": 0.001,
                "binary_search_steps": 10},
               description="Fast Minimum-Norm attack L∞ (adv-lib), 100 steps (not in the paper)"),
    AttackSpec("fmn-l2", Method.FMN, AttackFamily.GRADIENT, Norm.L2, Budget.MINIMAL, None,
               {"steps": 100, "alpha_init": 1.0, "gamma_init": 0.05, "gamma_final": 0.001,
                "binary_search_steps": 10},
               description="Fast Minimum-Norm attack L2 (adv-lib), 100 steps (not in the paper)"),
    _pmf_match("pmf-match", 50, 9, description="feature-space attack: every voter's PMF toward a wrong class's "
               "mixtures (Σ log KL), APGD 50 steps per class, every wrong class in turn; adaptive only (not in the "
               "paper)"),
    _pmf_match("pmf-match-targeted", 100, 1, targeted=True,
               description="feature-space attack toward a random target class, APGD 100 steps; adaptive only"),
    _pmf_match("pmf-match-softmax", 50, 9, keep_softmax=True,
               description="feature-space attack that keeps the undefended softmax right (REGroup-only failures); "
                           "adaptive only"),
    AttackSpec("autoattack", Method.AUTOATTACK, AttackFamily.GRADIENT, Norm.LINF, Budget.FIXED, 4.0,
               {"version": "standard"},
               description="AutoAttack, standard version (pyautoattack: APGD-CE, APGD-T, FAB-T, Square), with its "
                           "flag checks; on REGroup through the soft-Borda surrogate (not in the paper)"),
)})


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def get_preset(name: str | AttackSpec) -> AttackSpec:
    """The preset called ``name`` (an :class:`AttackSpec` is returned as is)."""
    if isinstance(name, AttackSpec):
        return name
    try:
        return PRESETS[str(name)]
    except KeyError:
        raise DataError(f"expected an attack among {list(PRESETS)}, got '{name}'") from None


def is_minimisation(attack: str | AttackSpec, epsilon_255: float | None = None) -> bool:
    """Whether the attack has no budget of its own: a minimisation attack (DeepFool, C&W, EAD, FMN,
    Trust Region, Boundary, HopSkipJump) run without ``epsilon_255``, or an ε-ladder variant. Its
    result is judged against the model's budgets (:mod:`regroup_core.sources.budgets`)."""
    preset = get_preset(attack)
    return (preset.budget is Budget.MINIMAL and epsilon_255 is None) or preset.grows_epsilon

