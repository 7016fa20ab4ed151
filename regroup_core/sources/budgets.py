"""An attack's size said against the model's own budgets (:attr:`ModelSpec.budgets_255`).

A number like "REGroup 80 %, softmax 70 %" teaches something false when the ε was too small to
make the undefended softmax fall: the note saying so must stand next to the number. And a
minimisation attack (DeepFool, C&W, FMN, Trust Region, ...) that needed a perturbation beyond the
largest budget did not find an adversarial example: it *changed the image*. Every page, table and
report takes its words from here.
"""

from __future__ import annotations

from .models import ModelSpec

__all__ = ["beyond_budget", "budget_note", "delta_note", "largest_budget_255", "short_budget_note",
           "softmax_fool_share"]

TOLERANCE_255 = 0.05
"""float32 rounding of a perturbation that sits on the budget (0–255 scale)."""


def largest_budget_255(spec: ModelSpec) -> float | None:
    """The model's largest L∞ softmax budget (0–255 scale), None when unknown."""
    return float(spec.budgets_255[-1]) if spec.budgets_255 else None


def softmax_fool_share(spec: ModelSpec, epsilon_255: float) -> float | None:
    """The share of the undefended softmax PGD fools at ``epsilon_255``, interpolated linearly on the
    measured curve (None outside it or when nothing was measured)."""
    curve = sorted(spec.softmax_fool_curve)
    if not curve or not curve[0][0] <= epsilon_255 <= curve[-1][0]:
        return None
    for (e0, s0), (e1, s1) in zip(curve, curve[1:]):
        if e0 <= epsilon_255 <= e1:
            return s0 if e1 == e0 else s0 + (s1 - s0) * (epsilon_255 - e0) / (e1 - e0)
    return curve[-1][1]  # a single point equal to epsilon_255


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def budget_note(spec: ModelSpec, epsilon_255: float, *, softmax_fooled: float | None = None,
                attack: str = "PGD") -> str:
    """One line: ``ε`` against the model's softmax budget.

    ``softmax_fooled``: the share of the undefended softmax this very attack fooled (a table's own
    sanity column); without it the measured PGD curve gives an estimate, said as such.
    """
    top = largest_budget_255(spec)
    head = f"ε = {epsilon_255:g}/255"
    if top is None:
        return f"{head} — this model's softmax budget is unknown (not measured)"
    share_top = _pct(spec.budget_shares[-1]) if spec.budget_shares else "most"
    if epsilon_255 >= top - TOLERANCE_255:
        return (f"{head} — at or above this model's softmax budget {top:g}/255 (PGD fools ≥ {share_top} of the "
                "softmax there)")
    if softmax_fooled is not None:
        share = f"{attack} fools only {_pct(softmax_fooled)} of the undefended softmax here"
    else:
        est = softmax_fool_share(spec, epsilon_255)
        share = ("too weak to make the undefended softmax fall" if est is None
                 else f"PGD fools about {_pct(est)} of the undefended softmax here (measured)")
    return f"{head} — below this model's softmax budget {top:g}/255: {share}"


def short_budget_note(spec: ModelSpec, epsilon_255: float, *, softmax_fooled: float | None = None) -> str:
    """:func:`budget_note` for a table cell next to the number it qualifies: 'weak: ε 16 < budget 45,
    softmax fooled 3 %', 'ε ≥ budget 45', or '' when the budget is unknown."""
    top = largest_budget_255(spec)
    if top is None:
        return ""
    if epsilon_255 >= top - TOLERANCE_255:
        return f"ε ≥ budget {top:g}"
    share = softmax_fooled if softmax_fooled is not None else softmax_fool_share(spec, epsilon_255)
    fooled = "" if share is None else f", softmax fooled {'only ' if softmax_fooled is not None else '~'}{_pct(share)}"
    return f"weak: ε {epsilon_255:g} < budget {top:g}{fooled}"


def beyond_budget(spec: ModelSpec, linf_255: float) -> bool:
    """Whether a perturbation of L∞ size ``linf_255`` (0–255 scale) exceeds every budget of the model
    (False when the budgets are unknown: nothing to compare with)."""
    top = largest_budget_255(spec)
    return top is not None and linf_255 > top + TOLERANCE_255


def delta_note(spec: ModelSpec, linf_255: float) -> str:
    """'max |δ| = 97.0/255 — beyond any budget of this model (largest 80/255)', or within it."""
    head = f"max |δ| = {linf_255:.1f}/255"
    top = largest_budget_255(spec)
    if top is None:
        return head
    if beyond_budget(spec, linf_255):
        return f"{head} — beyond any budget of this model (largest {top:g}/255)"
    return f"{head} — within this model's softmax budget {top:g}/255"
