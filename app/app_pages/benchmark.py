"""Benchmark: an attack table (attacks × threat models) with progress, shown like the paper's
Table 2 with 95 % intervals, downloadable as CSV, JSON or one self-contained HTML report."""

from __future__ import annotations

import json
import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import attacking, experiments, glossary, plots, report, session, views, widgets
from app.fitting import all_cores
from app.shipped import MADE_BY, shipped_result
from app.ui import run_page
from regroup_core.experiments import wilson_interval

MAIN = ("attack", "threat", "n", "#S", "softmax % (#S)", "REGroup % (#S) [95 %]", "softmax % (all)",
        "REGroup % (all) [95 %]", "median L2", "ε (0–255)")
# (the table's columns; the others are in the "All columns" expander and in the downloads)


def _count(pct, n) -> int | None:
    if pct is None or n is None or (isinstance(pct, float) and math.isnan(pct)) or not n:
        return None
    return int(round(float(pct) * int(n) / 100))


def _ci(pct, n) -> str:
    """'48–72' (95 % Wilson interval, %) or '–' when there is nothing to count."""
    hits = _count(pct, n)
    if hits is None:
        return "–"
    lo, hi = wilson_interval(hits, int(n))
    return f"{100 * lo:.0f}–{100 * hi:.0f}"


def _with_ci(pct, n) -> str:
    """'60.0 [39–78]': an accuracy with its 95 % Wilson interval ('–' when it does not apply)."""
    if pct is None or (isinstance(pct, float) and math.isnan(pct)):
        return "–"
    ci = _ci(pct, n)
    return f"{float(pct):.1f}" + ("" if ci == "–" else f" [{ci}]")


def _num(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):.{digits}f}" if digits else f"{int(round(float(v)))}"


def display_table(rows: list[dict]) -> pd.DataFrame:
    """Every row of the attack table as text: numbers with sensible digits, '–' for what does not
    apply (no None, no 4.000000), a 95 % interval next to REGroup's accuracies."""
    out = []
    for r in rows:
        n, s = r.get("n"), r.get("n_success")
        counted = s if r.get("threat") not in ("-", "worst") else n
        eps = r.get("epsilon_255")
        linf = r.get("median_linf")
        out.append({
            "attack": r.get("attack", ""), "threat": r.get("threat", ""), "n": _num(n, 0),
            "#S": _num(s, 0), "success %": _num(r.get("success_rate")),
            "softmax % (#S)": _num(r.get("softmax_top1")), "REGroup % (#S)": _num(r.get("regroup_top1")),
            "REGroup 95 % (#S)": _ci(r.get("regroup_top1"), counted) if r.get("regroup_top1") is not None else "–",
            "REGroup % (#S) [95 %]": _with_ci(r.get("regroup_top1"), counted),
            "REGroup % (all) [95 %]": _with_ci(r.get("regroup_robust"), n),
            "REGroup top-5 % (#S)": _num(r.get("regroup_top5")),
            "softmax % (all)": _num(r.get("softmax_robust")), "REGroup % (all)": _num(r.get("regroup_robust")),
            "REGroup 95 % (all)": _ci(r.get("regroup_robust"), n),
            "median L2": _num(r.get("median_l2"), 2),
            "median L∞ (0–255)": "–" if linf is None or (isinstance(linf, float) and math.isnan(linf))
            else f"{255 * float(linf):.1f}",
            "ε (0–255)": "–" if eps is None or (isinstance(eps, float) and math.isnan(eps)) else f"{float(eps):g}",
            "steps": _num(r.get("steps"), 0), "seconds": _num(r.get("seconds"), 1),
        })
    return pd.DataFrame(out)


def _chart(df: pd.DataFrame, n: int) -> go.Figure:
    bars = df[df["threat"] != "worst"]
    labels = [f"{a}<br>{t}" for a, t in zip(bars["attack"], bars["threat"])]
    fig = go.Figure()
    for name, col, color in (("softmax", "softmax_robust", plots.SOFTMAX_COLOR),
                             ("REGroup", "regroup_robust", plots.REGROUP_COLOR)):
        y = [float(v) for v in bars[col]]
        lows, highs = [], []
        for v in y:
            lo, hi = wilson_interval(int(round(v * n / 100)), n)
            lows.append(v - 100 * lo)
            highs.append(100 * hi - v)
        fig.add_trace(go.Bar(name=name, x=labels, y=y, text=[f"{v:.1f}" for v in y], marker_color=color,
                             textposition="inside", insidetextanchor="start",
                             error_y={"type": "data", "array": highs, "arrayminus": lows, "thickness": 1.2},
                             hovertemplate=f"{name}<br>%{{x}}<br>accuracy on all n %{{y:.1f}} %<extra></extra>"))
    fig.update_layout(barmode="group", title=f"Top-1 accuracy on all {n} images after each attack (95 % intervals)",
                      height=400, yaxis={"title": "accuracy (%)", "range": [0, 108]},
                      xaxis={"title": "attack / threat model"}, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def body() -> None:
    st.title("Benchmark")
    glossary.intro("benchmark")
    bundle, defended = session.require_defended()
    key = session.model_choice().key
    names = attacking.attack_names()
    c1, c2, c3 = st.columns(3)
    views.restore("attacks", "bench-attacks", lambda raw: [views.one_of(names)(a) for a in raw.split(",")])
    attacks = c1.multiselect("Attacks", names, default=[a for a in ("pgd", "deepfool") if a in names],
                             key="bench-attacks")
    views.restore("threats", "bench-threats", lambda raw: [views.one_of(attacking.THREATS)(t) for t in raw.split(",")])
    threats = c2.multiselect("Threat models", list(attacking.THREATS), default=["transfer"], key="bench-threats",
                             help="\n".join(f"- **{t}**: {h}" for t, h in attacking.THREAT_HELP.items()))
    views.restore("n", "bench-n", views.number(2, 1000, integer=True))
    n = int(c3.number_input("Test images", 2, 1000, 20, key="bench-n"))
    views.restore("epsilon", "bench-eps", views.number(1.0, 128.0, step=1.0))
    eps = float(c3.slider("ε for L∞ attacks (0–255)", 1.0, 128.0, bundle.spec.demo_epsilon_255, 1.0,
                          key="bench-eps"))
    views.publish(with_image=False, attacks=attacks or None, threats=threats or None, n=n, epsilon=eps)
    jobs = [(a, t) for a in attacks for t in threats if attacking.applicable(a, t)]
    skipped = [(a, t) for a in attacks for t in threats if not attacking.applicable(a, t)]
    if skipped:
        st.caption("Skipped (attack does not fit the threat model): "
                   + ", ".join(f"{a}/{t}" for a, t in skipped))
    if not jobs:
        st.warning("Choose at least one attack and a threat model it fits.")
        return
    params = {"model": key, "fingerprint": bundle.fingerprint, "attacks": attacks, "threats": threats, "n": n,
              "eps": eps}
    rows = experiments.stored_result("table", params, None)
    source = "stored"
    if rows is None:
        rows = shipped_result("table", params, bundle, defended)
        source = "shipped"
    if rows is None and st.button(f"Run {len(jobs)} attack(s) on {n} images", type="primary", key="bench-run"):
        bar, callback = widgets.progress_callback("Benchmark")
        with all_cores():
            rows = experiments.stored_result(
                "table", params,
                lambda: experiments.attack_table(bundle, defended, attacks=attacks, threats=threats, n=n,
                                                 epsilon_255=eps, callback=callback))
        bar.empty()
        source = "computed"
    if rows is None:
        st.info("Press the button to run the table; results are stored and shown again next time.")
        return
    if source == "shipped":
        st.caption(f"Shipped result for these settings (made by `{MADE_BY}`); change a setting to compute your own.")
    df = pd.DataFrame(rows)
    table = display_table(rows)
    st.dataframe(table[list(MAIN)], hide_index=True, width="stretch",
                 column_config={c: st.column_config.TextColumn(c, width="small")
                                for c in ("n", "#S", "ε (0–255)", "median L2")})
    st.caption("Like the paper: top-1 on #S, the images the attack succeeded on (for transfer: fooled the "
               "softmax); *(all)* columns count all n images, a failed attack counting as correct; *worst* rows: "
               "correct under every threat model. A REGroup tie is not counted as correct. 95 %: Wilson interval.")
    with st.expander("All columns"):
        st.dataframe(table, hide_index=True, width="stretch")
    fig = _chart(df, n)
    st.plotly_chart(fig, width="stretch", key="chart-bench")
    settings = {"page": "Benchmark", "model": bundle.name, "weights": bundle.weights,
                "classifier": session.model_choice().classifier, "k": defended.classifiers.k, "attacks": attacks,
                "threats": threats, "n": n, "epsilon_255": eps, "backend": experiments.BACKEND}
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download CSV", df.to_csv(index=False).encode(), file_name="regroup-benchmark.csv",
                       mime="text/csv", key="bench-csv")
    d2.download_button("Download JSON", json.dumps({"settings": settings, "params": params, "rows": rows}, indent=2,
                                                   default=str).encode(),
                       file_name="regroup-benchmark.json", mime="application/json", key="bench-json")
    d3.download_button("Download HTML report", report.html_report(
        f"REGroup benchmark — {bundle.name}", [report.Section("Attack table", tables=[table], figures=[fig],
                                                              note="Top-1 accuracy (%) after each attack.")],
        settings=settings), file_name=f"regroup-benchmark-{bundle.name}.html", mime="text/html", key="bench-report",
        icon=":material/description:")


run_page(body)
