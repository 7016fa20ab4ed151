"""Ablations: pos / neg / pos+neg voters per attack, k-ablation with per-layer accuracy, and a
PGD ε sweep — from results stored on disk, or run from the page with progress."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import attacking, experiments, plots, session, widgets
from app.ui import run_page


def _section(kind: str, params: dict, compute, label: str):
    """Stored result for ``params`` or a Run button that computes (and stores) it."""
    stored = experiments.stored_result(kind, params, None)
    if stored is not None:
        st.caption("Stored result (same model, classifiers and settings).")
        return stored
    if st.button(label, type="primary", key=f"run-{kind}"):
        bar, callback = widgets.progress_callback(label)
        with st.spinner(label + "…"):
            result = experiments.stored_result(kind, params, lambda: compute(callback))
        bar.empty()
        return result
    st.info("Not computed yet for these settings: press the button (a few seconds per attack on the "
            "embedded model).")
    return None


def body() -> None:
    st.title("Ablations")
    bundle, defended = session.require_defended()
    key = session.model_choice().key
    c1, c2 = st.columns(2)
    n = int(c1.number_input("Test images (correctly classified by softmax)", 2, 500, 20, key="abl-n"))
    eps = float(c2.slider("ε for L∞ attacks (0–255 scale)", 1.0, 128.0, bundle.spec.demo_epsilon_255, 1.0,
                          key="abl-eps"))
    base = {"model": key, "fingerprint": bundle.fingerprint, "n": n, "eps": eps}
    tab1, tab2, tab3 = st.tabs(["pos / neg / pos+neg voters", "k-ablation", "PGD ε sweep"])
    names = [a for a in attacking.attack_names() if attacking.applicable(a, "transfer")]

    with tab1:
        attacks = st.multiselect("Attacks (transfer from softmax)", names, default=["pgd"], key="abl-attacks")
        if attacks:
            rows = _section("variants", {**base, "attacks": attacks},
                            lambda cb: experiments.variant_table(bundle, defended, attacks=attacks, n=n,
                                                                 epsilon_255=eps, callback=cb),
                            "Run the voter ablation")
            if rows:
                df = pd.DataFrame(rows)
                cats = [f"{a} (n = {m})" for a, m in zip(df["attack"], df["n"])]
                st.plotly_chart(plots.grouped_bars(cats, {c: list(df[c]) for c in ("pos", "neg", "pos+neg")},
                                                   title=f"REGroup top-1 with pos, neg and pos+neg voters "
                                                         f"(k = {defended.classifiers.k})",
                                                   x_title="images (attacks: those that fooled softmax, #S)",
                                                   y_title="accuracy (%)"),
                                width="stretch", key="chart-abl-variants")
                st.dataframe(df.round(1), hide_index=True, width="stretch")

    with tab2:
        attack = st.selectbox("Attack", names, index=names.index("pgd") if "pgd" in names else 0, key="abl-k-attack")
        curves = _section("k-ablation", {**base, "attack": attack},
                          lambda cb: experiments.k_ablation(bundle, defended, attack=attack, n=n, epsilon_255=eps,
                                                            callback=cb),
                          "Run the k-ablation")
        if curves:
            ks = list(range(1, len(next(iter(curves.values()))) + 1))
            st.plotly_chart(plots.line_chart(ks, curves, title="REGroup top-1 as the highest k layers vote, "
                                             "and each k-th highest layer's own vote", x_title="k",
                                             y_title="accuracy (%)", vline=defended.classifiers.k,
                                             vline_text=f"chosen k = {defended.classifiers.k}"),
                            width="stretch", key="chart-abl-k")

    with tab3:
        default = list(bundle.spec.epsilon_grid_255)
        picked = st.multiselect("ε values (0–255 scale)", sorted({*default, 1.0, 4.0, 48.0, 96.0, 128.0}),
                                default=default, key="abl-eps-list")
        if picked:
            epsilons = sorted(float(e) for e in picked)
            sweep = _section("eps-sweep", {**base, "epsilons": epsilons},
                             lambda cb: experiments.epsilon_sweep(bundle, defended, epsilons_255=epsilons, n=n,
                                                                  callback=cb),
                             "Run the ε sweep")
            if sweep:
                st.plotly_chart(plots.line_chart(epsilons, sweep, title=f"PGD L∞ (transfer) on {n} images",
                                                 x_title="ε (0–255 scale)", y_title="accuracy (%)"),
                                width="stretch", key="chart-abl-eps")


run_page(body)
