"""Benchmark: an attack table (attacks × threat models) with progress, shown like the paper's
Table 2 with 95 % intervals, downloadable as CSV, JSON or one self-contained HTML report; below it
the attacker-knowledge ladder (shipped results; here rather than on Ablations because it is an
evaluation of attacks by threat model, like the table, while Ablations takes REGroup's parts apart)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from regroup_app.services import attacking, suites
from regroup_app.services.shipped import MADE_BY, shipped_result
from regroup_app.services.threads import all_cores
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, report, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.ladder_chart import ladder_section
from regroup_app.ui.synced import synced
from regroup_core import ModelBundle, REGroup
from regroup_core.experiments import format_attack_table, format_robust_curves
from regroup_core.sources.budgets import budget_note, largest_budget_255
from regroup_core.sources.models import ModelSpec

MAIN = {"attack": "attack", "threat": "threat", "budget": "budget",
        "softmax fooled % (undefended, same attack)": "softmax fooled %", "#S / n": "#S / n",
        "REGroup top-1 on #S": "REGroup on #S", "softmax robust %": "softmax robust %",
        "REGroup robust %": "REGroup robust %",
        "ε vs softmax budget": "ε vs softmax budget", "ties": "ties",
        "median L∞·255 / L2": "median L∞·255 / L2"}
# (the table's columns, with short headers; all of them, sanity notes included, are in the
# "All columns" expander and in the downloads)


def _bar_label(row: pd.Series, spec: ModelSpec) -> str:
    """An x label: attack / threat, and for an L∞ budget below the model's softmax budget the note
    right under it (a weak ε makes both bars high for the wrong reason)."""
    label = f"{row['attack']}<br>{row['threat']}"
    eps, top = row.get("epsilon_255"), largest_budget_255(spec)
    if isinstance(eps, (int, float)) and eps == eps and top is not None and row.get("norm") == "linf" and eps < top:
        soft = row.get("softmax_success")
        fooled = f": softmax fooled only {soft:.0f} %" if isinstance(soft, (int, float)) and soft == soft else ""
        label += f"<br><i>ε {eps:g}/255 below budget {top:g}{fooled}</i>"
    return label


def _chart(df: pd.DataFrame, n: int, spec: ModelSpec) -> go.Figure:
    """Robust accuracy on all n images of every bounded run (minimisation attacks have curves
    instead), with the table's 95 % Wilson intervals as error bars and, under each bar pair, its ε
    against the model's softmax budget."""
    bounded = df["bounded"].fillna(False).astype(bool) if "bounded" in df else pd.Series(True, index=df.index)
    bars = df[bounded & (df["threat"] != "worst") & df["regroup_robust"].notna()]
    labels = [_bar_label(row, spec) for _, row in bars.iterrows()]
    fig = go.Figure()
    for name, col, color in (("softmax", "softmax_robust", plots.SOFTMAX_COLOR),
                             ("REGroup", "regroup_robust", plots.REGROUP_COLOR)):
        y = [float(v) for v in bars[col]]
        cis = bars[f"{col}_ci"] if f"{col}_ci" in bars else [None] * len(y)
        lows = [v - ci[0] if isinstance(ci, (list, tuple)) else 0.0 for v, ci in zip(y, cis)]
        highs = [ci[1] - v if isinstance(ci, (list, tuple)) else 0.0 for v, ci in zip(y, cis)]
        fig.add_trace(go.Bar(name=name, x=labels, y=y, text=[f"{v:.1f}" for v in y], marker_color=color,
                             textposition="inside", insidetextanchor="start",
                             error_y={"type": "data", "array": highs, "arrayminus": lows, "thickness": 1.2},
                             hovertemplate=f"{name}<br>%{{x}}<br>accuracy on all n %{{y:.1f}} %<extra></extra>"))
    top = largest_budget_255(spec)
    budget = "" if top is None else (f"<br><sup>This model's softmax budget: ε = {top:g}/255 (PGD fools ≥ 90 % of "
                                     "its undefended softmax there); a pair below it is labelled under its bars.</sup>")
    fig.update_layout(barmode="group", title=f"Top-1 accuracy on all {n} images after each bounded attack "
                      f"(95 % intervals; a REGroup tie counts as an error){budget}",
                      height=400, yaxis={"title": "accuracy (%)", "range": [0, 108]},
                      xaxis={"title": "attack / threat model"}, margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


def _form(bundle: ModelBundle) -> tuple[list[str], list[str], int, float]:
    """The attacks, threat models, number of images and ε, each synced with the link."""
    names = attacking.attack_names()
    c1, c2, c3 = st.columns(3)
    attacks = synced("attacks", "bench-attacks", links.names(names),
                     lambda key: c1.multiselect("Attacks", names, key=key,
                                                default=[a for a in ("pgd", "deepfool") if a in names]),
                     link=lambda v: v or None)
    threat_help = "\n".join(f"- **{t}**: {h}" for t, h in attacking.THREAT_HELP.items())
    threats = synced("threats", "bench-threats",
                     links.names(list(attacking.THREATS)),
                     lambda key: c2.multiselect("Threat models", list(attacking.THREATS), default=["transfer"], key=key,
                                                help=threat_help),
                     link=lambda v: v or None)
    n = int(synced("n", "bench-n", links.number(2, 1000, integer=True),
                   lambda key: c3.number_input("Test images", 2, 1000, 20, key=key)))
    eps = float(synced("epsilon", "bench-eps", links.number(1.0, 128.0, step=1.0),
                       lambda key: c3.slider("ε for L∞ attacks (0–255)", 1.0, 128.0,
                                             bundle.spec.default_epsilon_255, 1.0, key=key,
                                             help="Default: this model's softmax budget, where PGD fools ≥ 90 % of "
                                                  "its undefended softmax.")))
    c3.caption(budget_note(bundle.spec, eps))
    return attacks, threats, n, eps


def _rows(bundle: ModelBundle, defended: REGroup, params: dict[str, Any], jobs: int) -> tuple[Any, str]:
    """The table's rows (stored, else shipped, else computed when the button is pressed) and where from."""
    rows = suites.stored_result("table", params, None)
    if rows is not None:
        return rows, "stored"
    rows = shipped_result("table", params, bundle, defended)
    if rows is not None:
        return rows, "shipped"
    if not st.button(f"Run {jobs} attack(s) on {params['n']} images", type="primary", key="bench-run"):
        return None, "none"
    bar, callback = widgets.progress_callback("Benchmark")
    with all_cores():
        rows = suites.stored_result(
            "table", params, lambda: suites.attack_table(bundle, defended, attacks=params["attacks"],
                                                         threats=params["threats"], n=params["n"],
                                                         epsilon_255=params["eps"], callback=callback))
    bar.empty()
    return rows, "computed"


def _tables(df: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The attack table (short headers; ε against the model's softmax budget next to REGroup's number) and
    the minimisation attacks' curves, shown; both returned."""
    table = format_attack_table(df, spec)
    # A static table that wraps its cells: the grid (st.dataframe) kept every cell on one line, so the last
    # columns ("ε vs softmax budget", the medians) needed a horizontal scroll at the app's default width.
    # st.table renders each cell as Markdown: a lone "-" (the clean row's threat) would become a list bullet
    main = table[list(MAIN)].rename(columns=MAIN).replace({"-": "–"})
    st.table(main.style.hide(axis="index"))
    st.caption("Like the paper: top-1 on #S, the images the attack succeeded on (for transfer: fooled the "
               "softmax), shown as a count below 20 images; *robust* columns count all n images, a failed attack "
               "counting as correct; *worst* rows: correct under every threat model (bounded attacks only). "
               "A REGroup tie counts as an error. [ ]: 95 % Wilson interval. *softmax fooled*: the same attack "
               "run on the undefended softmax, a sanity check of the attack's strength; the column next to REGroup's "
               "accuracy says when ε is below this model's softmax budget (then both numbers are high because the "
               "attack is weak). A minimisation attack's median beyond every budget is marked: those images were "
               "*changed*, not adversarially perturbed.")
    curves = format_robust_curves(df)
    if len(curves):
        st.markdown("**Minimisation attacks** find each image's smallest adversarial perturbation, so an "
                    "accuracy without a budget would be 0 by construction; here is robust accuracy at each budget "
                    "(softmax / REGroup %, REGroup's 95 % interval):")
        st.dataframe(curves, hide_index=True, width="stretch")
    with st.expander("All columns"):
        st.dataframe(table, hide_index=True, width="stretch")
    return table, curves


def _downloads(bundle: ModelBundle, defended: REGroup, params: dict[str, Any], rows: Any, df: pd.DataFrame,
               shown: tuple[pd.DataFrame, pd.DataFrame, go.Figure]) -> None:
    table, curves, fig = shown
    settings = {"page": "Benchmark", "model": bundle.name, "weights": state().shown_name(bundle.weights, "default"),
                "classifier": state().model_choice.classifier, "k": defended.classifiers.k,
                "attacks": params["attacks"], "threats": params["threats"], "n": params["n"],
                "epsilon_255": params["eps"], "backend": suites.BACKEND}
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download CSV", report.csv_bytes(df), file_name="regroup-benchmark.csv",
                       mime="text/csv", key="bench-csv")
    everything = json.loads(json.dumps({"settings": settings, "params": params, "rows": rows}, default=str))
    d2.download_button("Download JSON", json.dumps(report.without_paths(everything), indent=2).encode(),
                       file_name="regroup-benchmark.json", mime="application/json", key="bench-json")
    d3.download_button("Download HTML report", report.html_report(
        f"REGroup benchmark — {bundle.name}",
        [report.Section("Attack table", tables=[table] + ([curves] if len(curves) else []), figures=[fig],
                        note="Top-1 accuracy (%) after each attack, 95 % Wilson intervals; ties count as errors.")],
        settings=settings), file_name=f"regroup-benchmark-{bundle.name}.html", mime="text/html", key="bench-report",
        icon=":material/description:")


def _attack_table(bundle: ModelBundle, defended: REGroup) -> None:
    """The form, the table (stored, shipped or run on a click), its chart and downloads."""
    attacks, threats, n, eps = _form(bundle)
    links.publish(with_image=False)
    jobs = [(a, t) for a in attacks for t in threats if attacking.applicable(a, t)]
    skipped = [(a, t) for a in attacks for t in threats if not attacking.applicable(a, t)]
    if skipped:
        st.caption("Skipped (attack does not fit the threat model): "
                   + ", ".join(f"{a}/{t}" for a, t in skipped))
    if not jobs:
        st.warning("Choose at least one attack and a threat model it fits.")
        return
    params = {"model": state().model_choice.parts, "fingerprint": bundle.fingerprint, "attacks": attacks,
              "threats": threats, "n": n, "eps": eps}
    rows, source = _rows(bundle, defended, params, len(jobs))
    if rows is None:
        st.info("Press the button to run the table; results are stored and shown again next time.")
        return
    if source == "shipped":
        st.caption(f"Shipped result for these settings (made by `{MADE_BY}`); change a setting to compute your own.")
    df = pd.DataFrame(rows)
    table, curves = _tables(df, bundle.spec)
    fig = _chart(df, n, bundle.spec)
    st.plotly_chart(fig, width="stretch", key="chart-bench")
    _downloads(bundle, defended, params, rows, df, (table, curves, fig))


def body() -> None:
    st.title("Benchmark")
    glossary.intro("benchmark")
    bundle, defended = require_defended()
    _attack_table(bundle, defended)
    st.divider()
    ladder_section(bundle, defended)  # shipped results, below the table: visible whatever the form says


run_page(body)
