"""Ablations: pos / neg / pos+neg voters per attack, k-ablation with per-layer accuracy, and a
PGD ε sweep — from results stored on disk or shipped with the app, or run from the page with
progress; every accuracy with its 95 % interval; the whole view downloadable as one HTML report."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from collections.abc import Callable, Sequence
from typing import Any

from regroup_app.services import attacking, suites
from regroup_app.services.shipped import MADE_BY, shipped_result
from regroup_app.services.threads import all_cores
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, report, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_core import ModelBundle, REGroup
from regroup_core.experiments import wilson_interval
from regroup_core.experiments.tables import FEW
from regroup_core.sources.budgets import budget_note, largest_budget_255


def _section(kind: str, params: dict, compute: Callable[[Any], Any], label: str, bundle: ModelBundle,
             defended: REGroup) -> Any:
    """Stored result for ``params``, else the shipped one, else a Run button that computes (and stores) it."""
    stored = suites.stored_result(kind, params, None)
    if stored is not None:
        st.caption("Stored result (same model, classifiers and settings).")
        return stored
    shipped = shipped_result(kind, params, bundle, defended)
    if shipped is not None:
        st.caption(f"Shipped result for these settings (made by `{MADE_BY}`); change a setting to compute your own.")
        return shipped
    if st.button(label, type="primary", key=f"run-{kind}"):
        bar, callback = widgets.progress_callback(label)
        with st.spinner(label + "…"), all_cores():
            result = suites.stored_result(kind, params, lambda: compute(callback))
        bar.empty()
        return result
    st.info("Not computed yet for these settings: press the button (a few seconds per attack on the "
            "embedded model).")
    return None


def _interval(pcts: Sequence[float], ns: Sequence[int]) -> tuple[list[float], list[float]]:
    """95 % Wilson intervals (in %) of accuracies ``pcts`` (%) measured on ``ns`` images."""
    lows, highs = [], []
    for p, n in zip(pcts, ns):
        n = int(n)
        lo, hi = wilson_interval(int(round(float(p) * n / 100)), n)
        lows.append(100 * lo)
        highs.append(100 * hi)
    return lows, highs


def _short_budget(bundle: ModelBundle, eps: float) -> str:
    """'(below the softmax budget 45/255)' for a weak ε, '' otherwise: next to the numbers it qualifies."""
    top = largest_budget_255(bundle.spec)
    return "" if top is None or eps >= top else f"— below this model's softmax budget {top:g}/255, a weak attack"


def _curve_n(name: str, n: int) -> int:
    """Images behind a k-ablation curve: '#S = 12' in its name, else all n test images (clean)."""
    found = re.search(r"#S = (\d+)", name)
    return int(found.group(1)) if found else n


def body() -> None:
    st.title("Ablations")
    glossary.intro("ablations")
    bundle, defended = require_defended()
    c1, c2 = st.columns(2)
    n = int(synced("n", "abl-n", links.number(2, 500, integer=True),
                   lambda key: c1.number_input("Test images (correctly classified by softmax)", 2, 500, 20, key=key)))
    eps = float(synced("epsilon", "abl-eps", links.number(1.0, 128.0, step=1.0),
                       lambda key: c2.slider("ε for L∞ attacks (0–255 scale) — used by every tab, marked in the ε "
                                             "sweep", 1.0, 128.0, bundle.spec.default_epsilon_255, 1.0, key=key,
                                             help="Default: this model's softmax budget, where PGD fools ≥ 90 % of "
                                                  "its undefended softmax.")))
    c2.caption(budget_note(bundle.spec, eps))
    base = {"model": state().model_choice.parts, "fingerprint": bundle.fingerprint, "n": n, "eps": eps}
    tab1, tab2, tab3 = st.tabs(["pos / neg / pos+neg voters", "k-ablation", "PGD ε sweep"])
    names = [a for a in attacking.attack_names() if attacking.applicable(a, "transfer")]
    sections: list[report.Section] = []

    with tab1:
        attacks = synced("attacks", "abl-attacks", links.names(names),
                         lambda key: st.multiselect("Attacks (transfer from softmax)", names, default=["pgd"], key=key),
                         link=lambda v: v or None)
        rows = None
        if attacks:
            rows = _section("variants", {**base, "attacks": attacks},
                            lambda cb: suites.variant_table(bundle, defended, attacks=attacks, n=n,
                                                                 epsilon_255=eps, callback=cb),
                            "Run the voter ablation", bundle, defended)
        if rows:
            df = pd.DataFrame(rows)
            cats = [f"{a} (n = {m})" for a, m in zip(df["attack"], df["n"])]
            variants = ("pos", "neg", "pos+neg")
            shown = df[["attack", "n"]].copy()
            for c in variants:  # a count k/n below FEW images: a percentage of 7 images says too much
                shown[c] = [f"{round(float(v) * int(m) / 100)}/{int(m)}" if int(m) < FEW else f"{float(v):.1f} %"
                            for v, m in zip(df[c], df["n"])]
            fig = plots.grouped_bars(cats, {c: list(df[c]) for c in variants},
                                     title=f"REGroup top-1 with pos, neg and pos+neg voters (k = {defended.classifiers.k}"
                                           f"; {budget_note(bundle.spec, eps).split(' — ')[0]} "
                                           f"{_short_budget(bundle, eps)})",
                                     x_title="images (attacks: those that fooled softmax, #S)",
                                     y_title="accuracy (%)",
                                     intervals={c: _interval(df[c], df["n"]) for c in variants},
                                     texts={c: [t.removesuffix(" %") for t in shown[c]] for c in variants})
            st.plotly_chart(fig, width="stretch", key="chart-abl-variants")
            st.dataframe(shown, hide_index=True, width="stretch")
            st.caption(f"Error bars: 95 % Wilson intervals for the n images of each group; groups of fewer than {FEW} "
                       "images are shown as counts.")
            sections.append(report.Section("pos / neg / pos+neg voters", tables=[shown], figures=[fig]))

    with tab2:
        attack = synced("attack", "abl-k-attack", links.one_of(names),
                        lambda key: st.selectbox("Attack", names, index=names.index("pgd") if "pgd" in names else 0,
                                                 key=key))
        curves = _section("k-ablation", {**base, "attack": attack},
                          lambda cb: suites.k_ablation(bundle, defended, attack=attack, n=n, epsilon_255=eps,
                                                            callback=cb),
                          "Run the k-ablation", bundle, defended)
        if curves:
            ks = list(range(1, len(next(iter(curves.values()))) + 1))
            fig = plots.line_chart(ks, curves, title="REGroup top-1 as the highest k layers vote, and each k-th "
                                   "highest layer's own vote", x_title="k", y_title="accuracy (%)",
                                   vline=defended.classifiers.k, vline_text=f"chosen k = {defended.classifiers.k}",
                                   intervals={name: _interval(v, [_curve_n(name, n)] * len(v))
                                              for name, v in curves.items() if name.startswith("REGroup")})
            st.plotly_chart(fig, width="stretch", key="chart-abl-k")
            st.caption("Both kinds of curve count a tie at the top of the vote as an error (as every page does), so "
                       "at k = 1 — the highest layer's two voters alone — \"REGroup\" and \"k-th highest layer alone\" "
                       f"are the same number. Bands: 95 % Wilson intervals. {budget_note(bundle.spec, eps)}.")
            sections.append(report.Section(f"k-ablation ({attack})", figures=[fig],
                                           note=budget_note(bundle.spec, eps)))

    with tab3:
        default = list(bundle.spec.epsilon_grid_255)
        picked = st.multiselect("ε values (0–255 scale); the slider's ε is always included",
                                sorted({*default, 1.0, 4.0, 48.0, 96.0, 128.0}), default=default,
                                key=state().keep("abl-eps-list"))
        epsilons = sorted({float(e) for e in picked} | {eps})
        sweep = _section("eps-sweep", {**base, "epsilons": epsilons},
                         lambda cb: suites.epsilon_sweep(bundle, defended, epsilons_255=epsilons, n=n,
                                                              callback=cb),
                         "Run the ε sweep", bundle, defended)
        if sweep:
            fig = plots.line_chart(epsilons, sweep, title=f"PGD L∞ (transfer) on {n} images", x_title="ε (0–255 scale)",
                                   y_title="accuracy (%)", vline=eps, vline_text=f"ε = {eps:g} (slider)",
                                   intervals={name: _interval(v, [n] * len(v)) for name, v in sweep.items()})
            top = largest_budget_255(bundle.spec)
            if top is not None:  # left of this line the attack is too weak to make the softmax fall
                fig.add_vline(x=top, line_dash="dot", line_color="#555", annotation_position="bottom right",
                              annotation_text=f"softmax budget {top:g}")
            st.plotly_chart(fig, width="stretch", key="chart-abl-eps")
            at = epsilons.index(eps)
            parts = [f"{name} **{values[at]:.0f} %**" for name, values in sweep.items()]
            lo_hi = [_interval([values[at]], [n]) for values in sweep.values()]
            st.markdown(f"At the slider's ε = {eps:g}: " + ", ".join(
                f"{p} (95 % interval {lo[0]:.0f}–{hi[0]:.0f} %)" for p, (lo, hi) in zip(parts, lo_hi)))
            sections.append(report.Section("PGD ε sweep", figures=[fig], tables=[pd.DataFrame(
                {"epsilon (0-255)": epsilons, **{f"{k} %": v for k, v in sweep.items()}})]))

    links.publish(with_image=False)
    if sections:
        settings = {"page": "Ablations", "model": bundle.name, "weights": state().shown_name(bundle.weights, "default"),
                    "classifier": state().model_choice.classifier, "k": defended.classifiers.k, "n": n,
                    "epsilon_255": eps, "voter_attacks": attacks, "k_ablation_attack": attack, "epsilons": epsilons}
        st.download_button("Download these results as an HTML report", report.html_report(
            f"REGroup ablations — {bundle.name}", sections, settings=settings,
            intro="Accuracies are top-1 (%) on test images the softmax classifies correctly; attacks are "
                  "transfer attacks on the softmax; bars and error bars show 95 % Wilson intervals."),
            file_name=f"regroup-ablations-{bundle.name}.html", mime="text/html", key="abl-report",
            icon=":material/description:")


run_page(body)
