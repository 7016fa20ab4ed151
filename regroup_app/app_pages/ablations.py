"""Ablations: pos / neg / pos+neg voters per attack, k-ablation with per-layer accuracy, and a
PGD ε sweep — from results stored on disk or shipped with the app, or run from the page with
progress; every accuracy with its 95 % interval; the whole view downloadable as one HTML report."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st


from regroup_app.services import attacking, suites
from regroup_app.services.shipped import MADE_BY, shipped_result
from regroup_app.services.threads import all_cores
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, report, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_core import ModelBundle, REGroup
from regroup_core.experiments import wilson_interval
from regroup_core.experiments.metrics import FEW
from regroup_core.sources.budgets import budget_note, largest_budget_255


def _section(kind: str, params: dict, compute: Callable[[Any], Any], label: str, bundle: ModelBundle,
             defended: REGroup, *, first_step: str = "") -> Any:
    """Stored result for ``params``, else the shipped one, else a Run button that computes (and stores) it,
    in a status box whose label names the step under way (``first_step`` until the first report)."""
    stored = suites.stored_result(kind, params, None)
    if stored is not None:
        st.caption("Stored result (same model, classifiers and settings).")
        return stored
    shipped = shipped_result(kind, params, bundle, defended)
    if shipped is not None:
        st.caption(f"Shipped result for these settings (made by `{MADE_BY}`); change a setting to compute your own.")
        return shipped
    if st.button(label, type="primary", key=f"run-{kind}"):
        with widgets.status_progress(label.removeprefix("Run the "), first_step) as callback, all_cores():
            return suites.stored_result(kind, params, lambda: compute(callback))
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
    """'— below this model's softmax budget 44/255 …' for a weak ε, '' otherwise: next to the numbers it
    qualifies."""
    top = largest_budget_255(bundle.spec)
    return "" if top is None or eps >= top else f"— below this model's softmax budget {top:g}/255, a weak attack"


def _curve_n(name: str, n: int) -> int:
    """Images behind a k-ablation curve: '#S = 12' in its name, else all n test images (clean)."""
    found = re.search(r"#S = (\d+)", name)
    return int(found.group(1)) if found else n


@dataclass(frozen=True)
class _View:
    """What every tab works with: the model, its defence, the page's settings and the attacks offered."""

    bundle: ModelBundle
    defended: REGroup
    n: int
    eps: float
    base: dict[str, Any]
    names: list[str]


def _voters_tab(v: _View) -> tuple[list[str], report.Section | None]:
    attacks = synced("attacks", "abl-attacks", links.names(v.names),
                     lambda key: st.multiselect("Attacks (transfer from softmax)", v.names, default=["pgd"], key=key),
                     link=lambda value: value or None)
    rows = None
    if attacks:
        rows = _section("variants", {**v.base, "attacks": attacks},
                        lambda cb: suites.variant_table(v.bundle, v.defended, attacks=attacks, n=v.n,
                                                        epsilon_255=v.eps, callback=cb),
                        "Run the voter ablation", v.bundle, v.defended,
                        first_step=f"{', '.join(attacks)} (transfer) on {v.n} images")
    if not rows:
        return attacks, None
    df = pd.DataFrame(rows)
    cats = [f"{a} (n = {m})" for a, m in zip(df["attack"], df["n"])]
    variants = ("pos", "neg", "pos+neg")
    shown = df[["attack", "n"]].copy()
    for c in variants:  # a count k/n below FEW images: a percentage of 7 images says too much
        shown[c] = [f"{round(float(x) * int(m) / 100)}/{int(m)}" if int(m) < FEW else f"{float(x):.1f} %"
                    for x, m in zip(df[c], df["n"])]
    fig = plots.grouped_bars(cats, {c: list(df[c]) for c in variants},
                             title=f"REGroup top-1 with pos, neg and pos+neg voters (k = {v.defended.classifiers.k}; "
                                   f"ε = {v.eps:g}/255 {_short_budget(v.bundle, v.eps)})",
                             x_title="images (attacks: those that fooled softmax, #S)", y_title="accuracy (%)",
                             intervals={c: _interval(df[c], df["n"]) for c in variants},
                             texts={c: [t.removesuffix(" %") for t in shown[c]] for c in variants})
    st.plotly_chart(fig, width="stretch", key="chart-abl-variants")
    st.dataframe(shown, hide_index=True, width="stretch")
    st.caption(f"Error bars: 95 % Wilson intervals for the n images of each group; groups of fewer than {FEW} "
               "images are shown as counts.")
    return attacks, report.Section("pos / neg / pos+neg voters", tables=[shown], figures=[fig])


def _k_tab(v: _View) -> tuple[str, report.Section | None]:
    names = v.names
    attack = synced("attack", "abl-k-attack", links.one_of(names),
                    lambda key: st.selectbox("Attack", names, index=names.index("pgd") if "pgd" in names else 0,
                                             key=key))
    curves = _section("k-ablation", {**v.base, "attack": attack},
                      lambda cb: suites.k_ablation(v.bundle, v.defended, attack=attack, n=v.n, epsilon_255=v.eps,
                                                   callback=cb),
                      "Run the k-ablation", v.bundle, v.defended, first_step=f"{attack} (transfer) on {v.n} images")
    if not curves:
        return attack, None
    k = v.defended.classifiers.k
    ks = list(range(1, len(next(iter(curves.values()))) + 1))
    fig = plots.line_chart(ks, curves, title="REGroup top-1 as the highest k layers vote, and each k-th "
                           "highest layer's own vote", x_title="k", y_title="accuracy (%)",
                           vline=k, vline_text=f"chosen k = {k}",
                           intervals={name: _interval(c, [_curve_n(name, v.n)] * len(c))
                                      for name, c in curves.items() if name.startswith("REGroup")})
    st.plotly_chart(fig, width="stretch", key="chart-abl-k")
    note = budget_note(v.bundle.spec, v.eps)
    st.caption("Both kinds of curve count a tie at the top of the vote as an error (as every page does), so at "
               "k = 1 — the highest layer's two voters alone — \"REGroup\" and \"k-th highest layer alone\" are "
               f"the same number. Bands: 95 % Wilson intervals. {note}.")
    return attack, report.Section(f"k-ablation ({attack})", figures=[fig], note=note)


def _sweep_figure(v: _View, epsilons: Sequence[float], sweep: dict[str, list[float]]) -> Any:
    """The ε sweep's chart: the points computed so far (all of them once the sweep is done)."""
    done = list(epsilons)[:len(next(iter(sweep.values())))]
    fig = plots.line_chart(done, sweep, title=f"PGD L∞ (transfer) on {v.n} images", x_title="ε (0–255 scale)",
                           y_title="accuracy (%)", vline=v.eps, vline_text=f"ε = {v.eps:g} (slider)",
                           intervals={name: _interval(c, [v.n] * len(c)) for name, c in sweep.items()})
    top = largest_budget_255(v.bundle.spec)
    if top is not None:  # left of this line the attack is too weak to make the softmax fall
        fig.add_vline(x=top, line_dash="dot", line_color="#555", annotation_position="bottom right",
                      annotation_text=f"softmax budget {top:g}")
    if len(done) < len(epsilons):  # the whole ε range from the first point on: the curve grows, nothing jumps
        fig.update_xaxes(range=[min(epsilons) - 2, max(epsilons) + 2])
    return fig


def _streamed_sweep(v: _View, epsilons: list[float], callback: Callable[[int, int, str], None]) -> dict:
    """The ε sweep, each ε's point drawn as soon as its attack is done (a few seconds each on a CPU)."""
    sweep: dict[str, list[float]] = {"softmax": [], "REGroup": []}
    chart = st.empty()
    total = len(epsilons)
    for i, (eps, softmax, regroup) in enumerate(suites.epsilon_sweep_points(v.bundle, v.defended,
                                                                            epsilons_255=epsilons, n=v.n)):
        sweep["softmax"].append(softmax)
        sweep["REGroup"].append(regroup)
        chart.plotly_chart(_sweep_figure(v, epsilons, sweep), width="stretch", key=f"chart-abl-eps-partial-{i}")
        following = f"; now PGD at ε = {epsilons[i + 1]:g}/255" if i + 1 < total else ""
        callback(i + 1, total, f"ε = {eps:g}/255 drawn: softmax {softmax:.0f} %, REGroup {regroup:.0f} %{following}")
    chart.empty()  # the finished chart is drawn below the box
    return sweep


def _sweep_tab(v: _View) -> tuple[list[float], report.Section | None]:
    n, eps = v.n, v.eps
    default = list(v.bundle.spec.epsilon_grid_255)
    picked = st.multiselect("ε values (0–255 scale); the slider's ε is always included",
                            sorted({*default, 1.0, 4.0, 48.0, 96.0, 128.0}), default=default,
                            key=state().keep("abl-eps-list"))
    epsilons = sorted({float(e) for e in picked} | {eps})
    sweep = _section("eps-sweep", {**v.base, "epsilons": epsilons}, lambda cb: _streamed_sweep(v, epsilons, cb),
                     "Run the ε sweep", v.bundle, v.defended,
                     first_step=f"PGD at ε = {epsilons[0]:g}/255 on {n} images (point 1 of {len(epsilons)})")
    if not sweep:
        return epsilons, None
    fig = _sweep_figure(v, epsilons, sweep)
    st.plotly_chart(fig, width="stretch", key="chart-abl-eps")
    at = epsilons.index(eps)
    parts = [f"{name} **{values[at]:.0f} %**" for name, values in sweep.items()]
    lo_hi = [_interval([values[at]], [n]) for values in sweep.values()]
    st.markdown(f"At the slider's ε = {eps:g}: " + ", ".join(
        f"{p} (95 % interval {lo[0]:.0f}–{hi[0]:.0f} %)" for p, (lo, hi) in zip(parts, lo_hi)))
    return epsilons, report.Section("PGD ε sweep", figures=[fig], tables=[pd.DataFrame(
        {"epsilon (0-255)": epsilons, **{f"{k} %": c for k, c in sweep.items()}})])


def body() -> None:
    st.title("Ablations")
    glossary.intro("ablations")
    bundle, defended = require_defended()
    c1, c2 = st.columns(2)
    n = int(synced("n", "abl-n", links.number(2, 500, integer=True),
                   lambda key: c1.number_input("Test images (correctly classified by softmax)", 2, 500, 20, key=key)))
    eps = float(synced("epsilon", "abl-eps", links.number(1.0, 128.0, step=1.0),
                       lambda key: c2.slider("ε for L∞ attacks (0–255 scale) — used by every tab, marked in "
                                             "the ε sweep", 1.0, 128.0, bundle.spec.default_epsilon_255, 1.0,
                                             key=key, help="Default: this model's softmax budget, where PGD fools "
                                                           "≥ 90 % of its undefended softmax.")))
    c2.caption(budget_note(bundle.spec, eps))
    view = _View(bundle, defended, n, eps, {"model": state().model_choice.parts, "fingerprint": bundle.fingerprint,
                                            "n": n, "eps": eps},
                 [a for a in attacking.attack_names() if attacking.applicable(a, "transfer")])
    tab1, tab2, tab3 = st.tabs(["pos / neg / pos+neg voters", "k-ablation", "PGD ε sweep"])
    with tab1:
        attacks, voters = _voters_tab(view)
    with tab2:
        attack, k_curves = _k_tab(view)
    with tab3:
        epsilons, sweep = _sweep_tab(view)
    links.publish(with_image=False)
    sections = [section for section in (voters, k_curves, sweep) if section is not None]
    if sections:
        weights = state().shown_name(bundle.weights, "default")
        settings = {"page": "Ablations", "model": bundle.name, "weights": weights,
                    "classifier": state().model_choice.classifier, "k": defended.classifiers.k, "n": n,
                    "epsilon_255": eps, "voter_attacks": attacks, "k_ablation_attack": attack, "epsilons": epsilons}
        st.download_button("Download these results as an HTML report", report.html_report(
            f"REGroup ablations — {bundle.name}", sections, settings=settings,
            intro="Accuracies are top-1 (%) on test images the softmax classifies correctly; attacks are "
                  "transfer attacks on the softmax; bars and error bars show 95 % Wilson intervals."),
            file_name=f"regroup-ablations-{bundle.name}.html", mime="text/html", key="abl-report",
            icon=":material/description:")


run_page(body)
