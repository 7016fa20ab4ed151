"""The attack self-test's results on the page: a verdict line per attack and budget (PASS / WEAK / UNTESTED,
the share of known adversarials found) and a table with every count, shown as each row comes in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from .text import md

__all__ = ["EXPLAIN", "MEANING", "results_table", "verdict_lines"]

EXPLAIN = ("**How do you know an attack is strong enough?** For each test image the self-test builds a slightly "
           "modified REGroup (only the true class and one wrong class vote, with the wrong class's mixtures planted "
           "at a point inside the ε ball) so that an adversarial example within the budget is *known* to exist, and "
           "checks that the attack finds it (the binarization test of Zimmermann et al. 2022). An attack that "
           "misses adversarials known to exist cannot be trusted when it reports REGroup as robust.")

MEANING = ("**PASS**: the attack found at least 95 % of the known adversarials, so its robust-accuracy figures at "
           "that budget are credible. **WEAK**: it missed more than 5 % of adversarials that provably exist: its "
           "figures at that budget *overstate* REGroup's robustness (an upper bound, not a measurement); use a "
           "stronger attack or more steps before trusting them. **UNTESTED**: fewer than 5 meaningful tasks (most "
           "images were *invalid*, the modified REGroup did not get them right, or *trivial*, random noise already "
           "fooled it): add images. Tasks skipped as invalid or trivial are counted, not attacked.")

_BADGE = {"PASS": ":green-badge[PASS]", "WEAK": ":red-badge[WEAK]", "UNTESTED": ":gray-badge[UNTESTED]"}


def results_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per attack and budget: the verdict, found / meaningful tasks, the share and what was skipped."""
    return pd.DataFrame([{
        "attack": r["attack"], "ε (0–255)": f"{float(r['epsilon_255']):g}", "verdict": r["verdict"],
        "found / tasks": f"{r['found']} / {r['tasks']}",
        "share found %": "–" if r["share"] is None else f"{100 * float(r['share']):.0f}",
        "skipped: invalid / trivial": f"{r['invalid']} / {r['trivial']}", "images": r["images"],
        "seconds": r["seconds"]} for r in rows])


def verdict_lines(rows: Sequence[dict[str, Any]]) -> None:
    """A line per attack and budget: the verdict badge and what was found."""
    lines = []
    for r in rows:
        share = "" if r["share"] is None else f" ({100 * float(r['share']):.0f} %)"
        lines.append(f"- {_BADGE.get(str(r['verdict']), md(r['verdict']))} **{md(r['attack'])}** at ε = "
                     f"{float(r['epsilon_255']):g}/255: found {int(r['found'])} of {int(r['tasks'])} known "
                     f"adversarials{share}")
    st.markdown("\n".join(lines))
