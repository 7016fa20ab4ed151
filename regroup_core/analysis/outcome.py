"""What an attack did to one image, stated truthfully.

An attack "fooled" a classifier only when it turned a correct prediction into a wrong one: an
image the classifier already got wrong was not fooled (foolbox returns it unchanged, max |δ| = 0),
and a REGroup prediction whose top Borda count is shared is a *tie* decided by class index,
which is neither a win to boast about nor hidden. A minimisation attack (DeepFool, C&W, FMN, ...)
whose perturbation went beyond every budget of the model (``regroup_core.sources.budgets``) did not
fool anything:
it *changed the image* (:attr:`Effect.BEYOND_BUDGET`). :func:`verdict` reads one image of a
:class:`~regroup_core.engine.Prediction`; :func:`attack_outcome` compares the clean and the
attacked image for both classifiers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from ..engine import Prediction
from ..errors import DataError

_TOLERANCE_255 = 0.05  # float32 rounding of a perturbation on the budget, as sources.budgets.TOLERANCE_255

__all__ = ["AttackOutcome", "Effect", "Verdict", "attack_outcome", "tied_classes", "verdict"]


def tied_classes(borda: torch.Tensor) -> list[int]:
    """The classes sharing the top Borda count of one image (one class when there is no tie)."""
    if borda.dim() != 1:
        raise DataError(f"expected one image's Borda counts (M,), got shape {tuple(borda.shape)}")
    return (borda == borda.max()).nonzero().flatten().tolist()


@dataclass(frozen=True)
class Verdict:
    """One classifier's answer for one image.

    Attributes:
        predicted: the predicted class (for a REGroup tie: the lowest tied class index).
        correct: whether it names the label outright (a tie is not correct); None without a label.
        tied: the classes sharing REGroup's top Borda count when there is a tie, else ().
    """

    predicted: int
    correct: bool | None
    tied: tuple[int, ...] = ()


def verdict(pred: Prediction, i: int, label: int | None, *, classifier: str) -> Verdict:
    """``classifier`` = ``"softmax"`` or ``"regroup"``: its answer for image ``i`` of ``pred``."""
    if not 0 <= i < pred.logits.shape[0]:
        raise DataError(f"expected an image index in [0, {pred.logits.shape[0]}), got {i}")
    if classifier == "softmax":
        c = int(pred.softmax_labels[i])
        return Verdict(c, None if label is None else c == int(label))
    if classifier != "regroup":
        raise DataError(f"expected classifier 'softmax' or 'regroup', got '{classifier}'")
    c = int(pred.regroup_labels[i])
    tied = tuple(tied_classes(pred.borda[i])) if bool(pred.regroup_tied[i]) else ()
    return Verdict(c, None if label is None else (c == int(label) and not tied), tied)


class Effect(str, enum.Enum):
    """What an attack did to one classifier on one image."""

    FOOLED = "fooled"                  # right before, wrong (or tied) after
    BEYOND_BUDGET = "changed the image (δ beyond any budget)"  # as FOOLED, but δ exceeds every budget
    HELD = "held"                      # right before and after
    ALREADY_WRONG = "already wrong"    # wrong (or tied) before the attack: nothing to fool
    CHANGED = "changed"                # no label: the answer changed
    UNCHANGED = "unchanged"            # no label: the answer stayed


@dataclass(frozen=True)
class AttackOutcome:
    """Both classifiers on the clean and the attacked image.

    Attributes:
        label: the true class, None when unknown (then effects compare answers only).
        linf: max |δ| on the [0, 1] scale (0: the attack returned the image unchanged).
        beyond_budget: δ exceeds every L∞ budget of the model and the attack was a minimisation
            attack (no budget of its own): a right answer turned wrong is then not "fooled".
    """

    label: int | None
    softmax_before: Verdict
    softmax_after: Verdict
    regroup_before: Verdict
    regroup_after: Verdict
    linf: float
    beyond_budget: bool = False

    def effect(self, classifier: str) -> Effect:
        before, after = ((self.softmax_before, self.softmax_after) if classifier == "softmax"
                         else (self.regroup_before, self.regroup_after))
        if self.label is None:
            same = before.predicted == after.predicted and before.tied == after.tied
            return Effect.UNCHANGED if same else Effect.CHANGED
        if not before.correct:
            return Effect.ALREADY_WRONG
        if after.correct:
            return Effect.HELD
        return Effect.BEYOND_BUDGET if self.beyond_budget else Effect.FOOLED

    @property
    def regroup_holds_where_softmax_falls(self) -> bool:
        """The paper's claim on this image: softmax fooled, REGroup still right outright."""
        return self.effect("softmax") is Effect.FOOLED and self.effect("regroup") is Effect.HELD


def attack_outcome(clean: Prediction, attacked: Prediction, label: int | None, *, linf: float,
                   i: int = 0, j: int = 0, budget_255: float | None = None) -> AttackOutcome:
    """Compare image ``i`` of ``clean`` with image ``j`` of ``attacked`` for both classifiers.

    ``budget_255``: for a minimisation attack (no budget of its own), the model's largest L∞ budget
    (0–255 scale); a δ beyond it is :attr:`Effect.BEYOND_BUDGET`, not :attr:`Effect.FOOLED`. None: not
    judged (a fixed-budget attack stays within the ε asked for; unknown budgets).
    """
    beyond = budget_255 is not None and 255.0 * float(linf) > budget_255 + _TOLERANCE_255
    return AttackOutcome(label=None if label is None else int(label),
                         softmax_before=verdict(clean, i, label, classifier="softmax"),
                         softmax_after=verdict(attacked, j, label, classifier="softmax"),
                         regroup_before=verdict(clean, i, label, classifier="regroup"),
                         regroup_after=verdict(attacked, j, label, classifier="regroup"),
                         linf=float(linf), beyond_budget=beyond)
