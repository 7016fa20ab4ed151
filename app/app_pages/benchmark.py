"""Benchmark: an attack table (attacks × threat models) with progress, shown like the paper's
Table 2, downloadable as CSV or JSON."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import attacking, experiments, session, widgets
from app.ui import run_page

DISPLAY = {"attack": "attack", "threat": "threat", "n": "n", "n_success": "#S", "success_rate": "success %",
           "softmax_top1": "softmax top-1 % (#S)", "regroup_top1": "REGroup top-1 % (#S)",
           "regroup_top5": "REGroup top-5 % (#S)", "softmax_robust": "softmax % (all)",
           "regroup_robust": "REGroup % (all)", "median_linf": "median L∞", "median_l2": "median L2",
           "epsilon_255": "ε (0–255)", "steps": "steps", "seconds": "seconds"}


def body() -> None:
    st.title("Benchmark")
    st.write("Top-1 accuracy of softmax and REGroup on test images the model classifies correctly, "
             "after each attack (like the paper's Table 2). *transfer* attacks the softmax model; "
             "*blackbox* and *adaptive* attack REGroup itself.")
    bundle, defended = session.require_defended()
    key = session.model_choice().key
    names = attacking.attack_names()
    c1, c2, c3 = st.columns(3)
    attacks = c1.multiselect("Attacks", names, default=[a for a in ("pgd", "deepfool") if a in names],
                             key="bench-attacks")
    threats = c2.multiselect("Threat models", list(attacking.THREATS), default=["transfer"], key="bench-threats")
    n = int(c3.number_input("Test images", 2, 1000, 20, key="bench-n"))
    eps = float(c3.slider("ε for L∞ attacks (0–255)", 1.0, 128.0, bundle.spec.demo_epsilon_255, 1.0,
                          key="bench-eps"))
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
    if rows is None and st.button(f"Run {len(jobs)} attack(s) on {n} images", type="primary", key="bench-run"):
        bar, callback = widgets.progress_callback("Benchmark")
        rows = experiments.stored_result(
            "table", params,
            lambda: experiments.attack_table(bundle, defended, attacks=attacks, threats=threats, n=n,
                                             epsilon_255=eps, callback=callback))
        bar.empty()
    if rows is None:
        st.info("Press the button to run the table; results are stored and shown again next time.")
        return
    df = pd.DataFrame(rows)
    shown = df[[c for c in DISPLAY if c in df.columns]].rename(columns=DISPLAY)
    pct = [DISPLAY[c] for c in ("success_rate", "softmax_top1", "regroup_top1", "regroup_top5", "softmax_robust",
                                "regroup_robust") if c in df.columns]
    st.dataframe(shown.style.format({c: "{:.1f}" for c in pct}, na_rep="–")
                 .background_gradient(subset=[c for c in pct if c != DISPLAY["success_rate"]], cmap="RdYlGn",
                                      vmin=0, vmax=100),
                 hide_index=True, width="stretch")
    st.caption("Like the paper: top-1 on #S, the images the attack succeeded on (for transfer: fooled "
               "softmax); *robust* columns count all n images; *worst* rows: correct under every threat model.")
    d1, d2 = st.columns(2)
    d1.download_button("Download CSV", df.to_csv(index=False).encode(), file_name="regroup-benchmark.csv",
                       mime="text/csv", key="bench-csv")
    d2.download_button("Download JSON", json.dumps({"settings": params, "backend": experiments.BACKEND,
                                                    "rows": rows}, indent=2, default=str).encode(),
                       file_name="regroup-benchmark.json", mime="application/json", key="bench-json")
    import plotly.graph_objects as go

    bars = df[df["threat"] != "worst"]
    labels = [f"{a}<br>{t}" for a, t in zip(bars["attack"], bars["threat"])]
    fig = go.Figure([go.Bar(name=name, x=labels, y=bars[col], text=[f"{v:.1f}" for v in bars[col]],
                            hovertemplate=f"{name}<br>%{{x}}<br>accuracy on all n %{{y:.1f}} %<extra></extra>")
                     for name, col in (("softmax", "softmax_robust"), ("REGroup", "regroup_robust"))])
    fig.update_layout(barmode="group", title=f"Top-1 accuracy on all {n} images after each attack", height=380,
                      yaxis={"title": "accuracy (%)", "range": [0, 105]}, xaxis={"title": "attack / threat model"},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    st.plotly_chart(fig, width="stretch", key="chart-bench")


run_page(body)
