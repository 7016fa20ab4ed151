"""The attacker-knowledge ladder: robust accuracy as the attacker learns more about REGroup (issue #19).

Rungs, from an attacker who knows nothing of REGroup to one who knows everything. Each rung's
figure is the per-image worst case over its own attacks *and every rung below it* (who knows more
can also do what the less informed do), so the ladder never goes up. The undefended softmax gets
the same kind of attack aimed at it (it has no voters: its feature-space rung repeats the
white-box one). Accuracy in % with Wilson 95 % intervals; a Borda tie counts as a REGroup error.

Minimisation attacks (HopSkipJump) run once, unbounded; an image counts as fooled at budget ε when
its adversarial is misclassified *and* lies within ε in L∞.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..attacks.specs import Budget, get_preset
from ..engine import REGroup
from ..run.evaluate import predict_all
from ..sources import ModelBundle
from ..store import AdversarialCache
from .intervals import wilson_interval
from ..attacks.cached import cached_attack
from .suite import TestImages

__all__ = ["LADDER", "Rung", "format_ladder", "ladder", "reading"]


@dataclass(frozen=True)
class Rung:
    name: str
    knows: str
    regroup: tuple[tuple[str, str], ...]   # (attack, threat) aimed at REGroup
    softmax: tuple[tuple[str, str], ...]   # (attack, threat) aimed at the undefended softmax
    meaning: str


_WHITE_BOX_SOFTMAX = (("pgd", "transfer"), ("apgd-ce", "transfer"), ("apgd-t", "transfer"))

LADDER: tuple[Rung, ...] = (
    Rung("transfer", "nothing of REGroup (white-box on the softmax only)", _WHITE_BOX_SOFTMAX, _WHITE_BOX_SOFTMAX,
         "If attackers cannot tell REGroup is there, this is what it keeps: the paper's threat model."),
    Rung("decision", "REGroup's decisions (labels only)",
         (("hopskipjump", "blackbox"), ("hopskipjump-linf", "blackbox")),
         (("hopskipjump", "transfer"), ("hopskipjump-linf", "transfer")),
         "Adds queries of the deployed labels (any public endpoint) to what the rungs below can do; our "
         "HopSkipJump runs (L2 and L∞) have a bounded query budget, so read their own figure before trusting this "
         "rung."),
    Rung("score", "REGroup's scores (Borda counts)", (("square", "blackbox"),), (("square", "transfer"),),
         "Exposing the Borda counts (or any confidence) adds score queries (Square, 1 000 queries) to the "
         "rungs below."),
    Rung("feature", "REGroup's voters (the fitted class mixtures)", (("pmf-match", "adaptive"),),
         _WHITE_BOX_SOFTMAX,
         "If the fitted classifier file leaks, an attacker can steer the voters directly."),
    Rung("adaptive", "everything (network, mixtures, the vote)", (("pgd", "adaptive"), ("apgd-ce", "adaptive")),
         _WHITE_BOX_SOFTMAX,
         "The honest worst case: what REGroup guarantees when nothing about it is secret."),
)


def _fooled_masks(bundle: ModelBundle, defended: REGroup, test: TestImages, attack: str, threat: str,
                  eps_255: float, cache: AdversarialCache | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax right, REGroup right) per image after one attack at ε (module doc for minimisation attacks)."""
    spec = get_preset(attack)
    minimal = spec.budget is Budget.MINIMAL
    options = {} if minimal else {"epsilon_255": float(eps_255)}
    result = cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat, defended=defended,
                           cache=cache, seed=seed, **options)
    pred = predict_all(defended, result.adversarial)
    soft_ok, reg_ok = pred.softmax_labels == test.labels, pred.regroup_correct(test.labels)
    if minimal:
        far = (result.adversarial - test.images).flatten(1).abs().max(1).values > eps_255 / 255.0 + 1e-6
        soft_ok, reg_ok = soft_ok | far, reg_ok | far
    return soft_ok, reg_ok


def _pct_ci(mask: torch.Tensor) -> tuple[float, list[float]]:
    lo, hi = wilson_interval(int(mask.sum()), len(mask))
    return round(100 * float(mask.float().mean()), 1), [round(100 * lo, 1), round(100 * hi, 1)]


def ladder(bundle: ModelBundle, defended: REGroup, test: TestImages, *, epsilons_255: Sequence[float],
           cache: AdversarialCache | None = None, seed: int = 0, rungs: Sequence[Rung] = LADDER,
           callback=None) -> list[dict[str, Any]]:  # noqa: ANN001
    """One row per (budget, rung): softmax and REGroup robust accuracy with intervals (module doc).

    Besides the cumulative figures, each row has the rung's own attacks alone (``*_own``), the digits they
    fool that no rung below did (``regroup_new``), and a one-sentence ``reading`` of the two."""
    rows = []
    for eps in epsilons_255:
        soft_all = torch.ones(len(test.labels), dtype=torch.bool)
        reg_all = soft_all.clone()
        for rung in rungs:
            reg_own, soft_own = torch.ones_like(reg_all), torch.ones_like(soft_all)
            for attack, threat in rung.regroup:
                reg_own &= _fooled_masks(bundle, defended, test, attack, threat, eps, cache, seed)[1]
            for attack, threat in rung.softmax:
                soft_own &= _fooled_masks(bundle, defended, test, attack, threat, eps, cache, seed)[0]
            new = int((reg_all & ~reg_own).sum())
            reg_all &= reg_own
            soft_all &= soft_own
            if callback is not None:
                callback(f"ladder ε={eps:g}: {rung.name}")
            row = {"model": bundle.name, "epsilon_255": float(eps), "n": len(test.labels), "rung": rung.name,
                   "knows": rung.knows, "regroup_attacks": ["/".join(a) for a in rung.regroup],
                   "softmax_attacks": ["/".join(a) for a in rung.softmax], "meaning": rung.meaning,
                   "regroup_new": new}
            for key, mask in (("regroup_robust", reg_all), ("softmax_robust", soft_all),
                              ("regroup_own", reg_own), ("softmax_own", soft_own)):
                row[key], row[f"{key}_ci"] = _pct_ci(mask)
            first = not rows or rows[-1]["epsilon_255"] != float(eps)
            row["reading"] = reading(row, first=first, below=None if first else rows[-1]["regroup_robust"])
            rows.append(row)
    return rows


def _overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def reading(row: dict[str, Any], *, first: bool, below: float | None = None) -> str:
    """One sentence on a ladder row: what this rung's attacks did on their own and against the rungs below,
    and REGroup against the softmax at this rung (intervals that overlap are no measurable difference).
    ``below``: REGroup's figure on the rung below; a rung whose own attacks alone leave REGroup well above
    it is said to be carried by the rungs below (its attacks are weak at this budget, not the attacker)."""
    reg, soft = row["regroup_robust"], row["softmax_robust"]
    if _overlap(row["regroup_robust_ci"], row["softmax_robust_ci"]):
        versus = f"REGroup {reg:.0f} % vs the softmax {soft:.0f} %: the intervals overlap, no measurable difference"
    else:
        word = "above" if reg > soft else "below"
        versus = f"REGroup {reg:.0f} % is measurably {word} the softmax's {soft:.0f} %"
    attacks = ", ".join(row["regroup_attacks"])
    if first:
        return f"With its attacks ({attacks}): {versus}."
    new = row["regroup_new"]
    gain = "no digit" if new == 0 else f"{new} digit{'s' if new != 1 else ''}"
    weak = ""
    if below is not None and row["regroup_own"] >= below + 10:
        weak = (" These attacks alone are far weaker than the rungs below at this budget: the rung's figure is "
                "carried by the rungs below, and a stronger attack of this kind (more queries or steps) may go "
                "lower.")
    return (f"Its own attacks ({attacks}) alone leave REGroup {row['regroup_own']:.0f} % and fool {gain} that the "
            f"rungs below did not; {versus}.{weak}")


def format_ladder(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: one table per (model, budget) and the rungs' meaning once."""
    lines: list[str] = []
    keys = sorted({(r["model"], r["epsilon_255"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for model, eps in keys:
        part = [r for r in rows if r["model"] == model and r["epsilon_255"] == eps]
        lines += [f"**{model}, ε = {eps:g}/255** (n = {part[0]['n']})", "",
                  "| the attacker knows | REGroup robust % [95 %] | softmax robust % [95 %] | attacks on REGroup "
                  "| these attacks alone: REGroup % | digits they add |",
                  "|---|---|---|---|---|---|"]
        for r in part:
            reg, soft = r["regroup_robust_ci"], r["softmax_robust_ci"]
            lines.append(f"| {r['knows']} | {r['regroup_robust']:.1f} [{reg[0]:.1f}, {reg[1]:.1f}] | "
                         f"{r['softmax_robust']:.1f} [{soft[0]:.1f}, {soft[1]:.1f}] | "
                         f"{', '.join(r['regroup_attacks'])} | {r['regroup_own']:.1f} | {r['regroup_new']} |")
        lines.append("")
        lines += [f"- **{r['rung']}**: {r['reading']}" for r in part if r.get("reading")]
        lines.append("")
    lines += ["What each rung means for a user deploying REGroup:", ""]
    lines += [f"- **{rung.name}** ({rung.knows}): {rung.meaning}" for rung in LADDER]
    return lines
