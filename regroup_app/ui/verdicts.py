"""Result lines in words, from :mod:`regroup_core.analysis.outcome`: "fooled" only when an attack
turned a right answer into a wrong one within the model's budget, a minimisation attack beyond every
budget "changed the image", ties said as ties, and the attack's size said against the model's
softmax budget (:mod:`regroup_core.sources.budgets`) — the same words on every page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from regroup_core import ModelBundle, Prediction
from regroup_core.analysis.outcome import AttackOutcome, Effect, Verdict, attack_outcome
from regroup_core.attacks.specs import is_minimisation
from regroup_core.sources.budgets import budget_note, delta_note, largest_budget_255

from .text import md

__all__ = ["BADGES", "answer_text", "attack_lines", "label_text", "outcome_of", "size_text", "tie_text"]

BADGES = {
    Effect.FOOLED: ":red-badge[fooled]",
    Effect.BEYOND_BUDGET: ":violet-badge[changed the image (δ beyond any budget)]",
    Effect.HELD: ":green-badge[held]",
    Effect.ALREADY_WRONG: ":gray-badge[already wrong before the attack]",
    Effect.CHANGED: ":orange-badge[changed its answer]",
    Effect.UNCHANGED: ":blue-badge[kept its answer]",
}

THREAT_TARGET = {"transfer": "the softmax network", "blackbox": "REGroup's exact decision",
                 "adaptive": "a smooth stand-in for REGroup's vote"}


def _name(bundle: ModelBundle, c: int) -> str:
    """A class in a Markdown line: class names come from file metadata (a classifier file), so escaped."""
    name = bundle.class_names[c]
    return name if name == str(c) else f"{c} ({md(name, 60)})"


def label_text(bundle: ModelBundle, c: int | None) -> str:
    """A class as pickers and tables name it: '7', or '3: cat' where names are not numbers."""
    if c is None:
        return "unknown"
    name = bundle.class_names[c]
    return name if name == str(c) else f"{c}: {name}"


def tie_text(bundle: ModelBundle, v: Verdict) -> str:
    """'tie between 3 and 5, broken by class index → 3'."""
    tied = ", ".join(_name(bundle, c) for c in v.tied[:-1]) + f" and {_name(bundle, v.tied[-1])}"
    return f"tie between {tied}, broken by class index → {_name(bundle, v.predicted)}"


def answer_text(bundle: ModelBundle, v: Verdict) -> str:
    """One classifier's answer: '**7** (right)', '**3** (wrong)', or the tie in words."""
    if v.tied:
        return f"**{tie_text(bundle, v)}**" + ("" if v.correct is None else " (a tie does not count as right)")
    verdict = "" if v.correct is None else (" (right)" if v.correct else " (wrong)")
    return f"**{_name(bundle, v.predicted)}**{verdict}"


def outcome_of(bundle: ModelBundle, clean: Prediction, attacked: Prediction, label: int | None,
               x: np.ndarray, adversarial: np.ndarray, settings: Mapping[str, Any]) -> AttackOutcome:
    """The outcome of an attack run (its ``settings`` as :func:`regroup_core.attacks.run_attack`
    records them): a minimisation attack is judged against the model's largest budget."""
    minimisation = is_minimisation(str(settings.get("attack", "pgd")), settings.get("epsilon_255"))
    return attack_outcome(clean, attacked, label, linf=float(np.abs(adversarial - x).max()),
                          budget_255=largest_budget_255(bundle.spec) if minimisation else None)


def size_text(bundle: ModelBundle, linf: float, settings: Mapping[str, Any]) -> str:
    """The attack's size (``linf``: max |δ| on [0, 1]) against the model's budget: 'ε = 32/255 — below
    this model's softmax budget 44/255: PGD fools about 28 % …' for a fixed-budget L∞ attack, the
    max |δ| against the budgets otherwise."""
    eps = settings.get("epsilon_255")
    size = f"max |δ| = {255 * linf:.1f}/255"
    if eps is not None and settings.get("norm") == "linf" and settings.get("budget") == "fixed":
        return f"{budget_note(bundle.spec, float(eps))}; {size}"
    return delta_note(bundle.spec, 255 * linf)


def attack_lines(bundle: ModelBundle, outcome: AttackOutcome, *, attack: str, threat: str,
                 settings: Mapping[str, Any] | None = None) -> list[str]:
    """Markdown lines: what the attack aimed at and its size against the model's budget, then each
    classifier before → after."""
    size = size_text(bundle, outcome.linf, settings or {})
    head = f"**{attack}** ({threat}: aimed at {THREAT_TARGET.get(threat, 'the model')}) — {size}"
    if outcome.linf == 0:
        head += " — the attack returned the image unchanged"
    lines = [head]
    for who, before, after in (("softmax", outcome.softmax_before, outcome.softmax_after),
                               ("REGroup", outcome.regroup_before, outcome.regroup_after)):
        effect = outcome.effect("softmax" if who == "softmax" else "regroup")
        if effect is Effect.ALREADY_WRONG:
            detail = f"said {answer_text(bundle, before)} on the clean image: nothing to fool"
            if after.correct:
                detail += f"; after the attack it says {answer_text(bundle, after)}"
        else:
            detail = f"{answer_text(bundle, before)} → {answer_text(bundle, after)}"
        lines.append(f"{who}: {BADGES[effect]} {detail}")
    return lines
