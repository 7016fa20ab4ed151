"""Result lines in words, from :mod:`regroup_core.analysis.outcome`: "fooled" only when an attack
turned a right answer into a wrong one, ties said as ties, the same words on every page."""

from __future__ import annotations

from regroup_core import ModelBundle
from regroup_core.analysis.outcome import AttackOutcome, Effect, Verdict

__all__ = ["BADGES", "answer_text", "attack_lines", "label_text", "tie_text"]

BADGES = {
    Effect.FOOLED: ":red-badge[fooled]",
    Effect.HELD: ":green-badge[held]",
    Effect.ALREADY_WRONG: ":gray-badge[already wrong before the attack]",
    Effect.CHANGED: ":orange-badge[changed its answer]",
    Effect.UNCHANGED: ":blue-badge[kept its answer]",
}

THREAT_TARGET = {"transfer": "the softmax network", "blackbox": "REGroup's exact decision",
                 "adaptive": "a smooth stand-in for REGroup's vote"}


def _name(bundle: ModelBundle, c: int) -> str:
    name = bundle.class_names[c]
    return name if name == str(c) else f"{c} ({name})"


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


def attack_lines(bundle: ModelBundle, outcome: AttackOutcome, *, attack: str, threat: str) -> list[str]:
    """Markdown lines: what the attack aimed at and changed, then each classifier before → after."""
    size = f"max |δ| = {255 * outcome.linf:.1f}/255"
    head = f"**{attack}** ({threat}: aimed at {THREAT_TARGET.get(threat, 'the model')}; {size})"
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
