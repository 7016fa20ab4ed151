"""Tables for people: the attack table with intervals in one cell, the robust-accuracy curves of
minimisation attacks, and the headline in one plain sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from .metrics import FEW

__all__ = ["format_attack_table", "format_robust_curves", "headline_verdict", "with_interval"]


def _fmt_pct(value: Any, ci: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"{value:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"
    return f"{value:.1f}"


def _present(row: pd.Series, key: str) -> Any:
    value = row.get(key)
    return None if value is None or (isinstance(value, float) and value != value) else value


def format_attack_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`attack_table` for people: accuracies with their Wilson 95 % intervals, on-#S
    accuracies as counts ``k/#S`` when fewer than :data:`FEW` images were fooled, minimisation
    attacks pointing to their ``robust_at`` curve instead of an unbounded accuracy."""
    out = []
    for _, row in table.iterrows():
        n_s = _present(row, "n_success")
        if n_s is None:
            on_s = "–"
        elif n_s < FEW:
            on_s = f"{int(_present(row, 'regroup_correct_on_s') or 0)}/{int(n_s)}"
        else:
            on_s = _fmt_pct(_present(row, "regroup_top1"), _present(row, "regroup_top1_ci"))
        bounded = bool(_present(row, "bounded"))
        eps = _present(row, "epsilon_255")
        budget = ("none (clean images)" if row["threat"] == "-"
                  else f"{eps:g}/255 {row.get('norm') or ''}".strip() if bounded and eps is not None
                  else "none (spatial grid)" if bounded else f"minimal ({row.get('norm')})")
        zero = _present(row, "zero_gradient_share")
        out.append({
            "attack": row["attack"], "threat": row["threat"], "budget": budget,
            "softmax fooled % (undefended, same attack)": "–" if _present(row, "softmax_success") is None
            else f"{row['softmax_success']:.0f}",
            "#S / n": "–" if n_s is None else f"{int(n_s)}/{int(row['n'])}",
            "REGroup top-1 on #S": on_s,
            "softmax robust %": _fmt_pct(_present(row, "softmax_robust"), _present(row, "softmax_robust_ci"))
            if bounded else "–",
            "REGroup robust %": _fmt_pct(_present(row, "regroup_robust"), _present(row, "regroup_robust_ci"))
            if bounded else "curve below",
            "ties": "–" if _present(row, "regroup_ties") is None else str(int(row["regroup_ties"])),
            "median L∞·255 / L2": "–" if _present(row, "linf_255_median") is None
            and _present(row, "l2_median") is None
            else f"{_present(row, 'linf_255_median') or float('inf'):.1f} / "
                 f"{_present(row, 'l2_median') or float('inf'):.2f}",
            "zero-grad %": "–" if zero is None else f"{zero:.0f}",
            "self-test": row.get("selftest") if isinstance(row.get("selftest"), str) else "–",
            "sanity": row.get("sanity") if isinstance(row.get("sanity"), str) else "",
        })
    return pd.DataFrame(out)


def with_interval(df: pd.DataFrame, value: str = "regroup_top1", ci: str = "regroup_top1_ci") -> pd.Series:
    """``value [lo, hi]`` strings of an accuracy column and its Wilson interval column."""
    return pd.Series([_fmt_pct(v, c) for v, c in zip(df[value], df[ci])], index=df.index)


def format_robust_curves(table: pd.DataFrame) -> pd.DataFrame:
    """The ``robust_at`` curves of the minimisation attacks: one row per run, one column per
    budget, ``softmax / REGroup`` robust accuracy (%) with REGroup's Wilson interval."""
    out = []
    for _, row in table.iterrows():
        curve = row.get("robust_at")
        if not isinstance(curve, dict):
            continue
        cis = row.get("robust_at_ci") or {}
        unit = "L∞·255" if row.get("robust_at_norm") == "linf_255" else "L2"
        entry = {"attack": row["attack"], "threat": row["threat"], "distance": unit}
        for eps, value in curve["regroup"].items():
            ci = cis.get("regroup", {}).get(eps)
            soft = curve.get("softmax", {}).get(eps)
            text = _fmt_pct(value, ci)
            entry[f"ε={eps}"] = text if soft is None else f"{soft:.0f} / {text}"
        out.append(entry)
    return pd.DataFrame(out)


def headline_verdict(rows: Sequence[dict[str, Any]]) -> str:
    """One plain sentence from :func:`headline` rows: where REGroup's interval lies above, overlaps
    or lies below the undefended softmax's (no claim the intervals do not support)."""
    better, same, worse = [], [], []
    for r in rows:
        s_lo, s_hi = r["softmax_robust_ci"]
        g_lo, g_hi = r["regroup_robust_ci"]
        tag = f"{r['model']} at {r['epsilon_255']:g}/255"
        (better if g_lo > s_hi else worse if g_hi < s_lo else same).append(tag)
    parts = []
    if better:
        parts.append("REGroup keeps more digits than the undefended softmax, with non-overlapping 95 % intervals, on "
                     + ", ".join(better))
    if same:
        parts.append("the intervals overlap (no measurable gain) on " + ", ".join(same))
    if worse:
        parts.append("REGroup is *less* robust than the undefended softmax on " + ", ".join(worse))
    return "; ".join(parts) + "."
