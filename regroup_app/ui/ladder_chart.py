"""The attacker-knowledge ladder on the Benchmark page: REGroup's and the softmax's robust accuracy as the
attacker learns more (transfer → decision → score → feature → adaptive), one panel per budget, 95 %
intervals, and what each rung means for someone deploying REGroup. The rows are the shipped ones
(:func:`regroup_app.services.shipped.shipped_ladder`); a model without them gets the CLI command that
makes them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from regroup_core import ModelBundle, REGroup
from regroup_core.experiments.ladder import LADDER
from regroup_core.experiments.ladder_file import ladder_command

from ..services.shipped import LADDER_MADE_BY, ShippedLadder, shipped_ladder
from ..state import shipped_classifier, state
from . import plots
from .text import md

__all__ = ["ladder_figure", "ladder_section"]

_KNOWS = {rung.name: rung.knows for rung in LADDER}


def _budgets(rows: Sequence[dict[str, Any]]) -> list[float]:
    return sorted({float(r["epsilon_255"]) for r in rows})


def _trace(part: Sequence[dict[str, Any]], side: str, name: str, color: str, first: bool) -> go.Scatter:
    y = [float(r[f"{side}_robust"]) for r in part]
    lo = [v - float(r[f"{side}_robust_ci"][0]) for v, r in zip(y, part)]
    hi = [float(r[f"{side}_robust_ci"][1]) - v for v, r in zip(y, part)]
    attacks = [html.escape(", ".join(map(str, r[f"{side}_attacks"]))) for r in part]
    return go.Scatter(x=[r["rung"] for r in part], y=y, name=name, legendgroup=name, showlegend=first,
                      mode="lines+markers+text", text=[f"{v:.0f}" for v in y], textposition="top right",
                      line={"color": color, "width": 2.5 if side == "regroup" else 1.5},
                      marker={"size": 9 if side == "regroup" else 7, "color": color},
                      error_y={"type": "data", "array": hi, "arrayminus": lo, "thickness": 1.2},
                      customdata=[[_KNOWS.get(r["rung"], ""), a, f"{r[f'{side}_robust_ci'][0]:.1f}",
                                   f"{r[f'{side}_robust_ci'][1]:.1f}"] for r, a in zip(part, attacks)],
                      hovertemplate=f"{name}: %{{y:.1f}} % [%{{customdata[2]}}, %{{customdata[3]}}]<br>"
                                    "the attacker knows %{customdata[0]}<br>attacks: %{customdata[1]}"
                                    "<extra></extra>")


def ladder_figure(rows: Sequence[dict[str, Any]], model: str) -> go.Figure:
    """One panel per budget: robust accuracy (%) of REGroup and of the softmax on each rung, with the rows'
    95 % Wilson intervals as error bars (``rows``: one model, checked, in ladder order)."""
    budgets = _budgets(rows)
    n = rows[0]["n"] if rows else 0
    fig = make_subplots(rows=1, cols=max(1, len(budgets)), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"ε = {e:g}/255" for e in budgets])
    for col, eps in enumerate(budgets, start=1):
        part = [r for r in rows if float(r["epsilon_255"]) == eps]
        for side, name, color in (("regroup", "REGroup", plots.REGROUP_COLOR),
                                  ("softmax", "softmax (undefended)", plots.SOFTMAX_COLOR)):
            fig.add_trace(_trace(part, side, name, color, first=col == 1), row=1, col=col)
        fig.update_xaxes(categoryorder="array", categoryarray=[rung.name for rung in LADDER], row=1, col=col,
                         title_text="the attacker knows more →")
    fig.update_yaxes(range=[0, 105], row=1, col=1, title_text="robust accuracy (%)")
    fig.update_layout(title=f"{html.escape(model)}: robust accuracy as the attacker learns more (n = {n} each)",
                      height=460, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "y": -0.22, "x": 0})
    return fig


def _meanings(rows: Sequence[dict[str, Any]]) -> None:
    """One line per rung: what the attacker knows, REGroup's figure at each budget, and what it means."""
    budgets = _budgets(rows)
    lines = []
    for rung in LADDER:
        mine = {float(r["epsilon_255"]): r for r in rows if r["rung"] == rung.name}
        if not mine:
            continue
        first = next(iter(mine.values()))
        figures = "; ".join(f"ε {e:g}: REGroup {mine[e]['regroup_robust']:.0f} %, softmax "
                            f"{mine[e]['softmax_robust']:.0f} %" for e in budgets if e in mine)
        lines.append(f"- **{md(rung.name)}** — knows {md(first['knows'], 300)} ({md(figures, 300)}). "
                     f"{md(first['meaning'], 400)}")
        lines += [f"    - at ε {e:g}: {md(mine[e]['reading'], 400)}" for e in budgets
                  if e in mine and isinstance(mine[e].get("reading"), str)]
    st.markdown("**What each rung means if you deploy REGroup:**\n" + "\n".join(lines))


def _missing(bundle: ModelBundle, shipped: ShippedLadder) -> None:
    """No shipped ladder for this model, weights and classifier: say so and give the command that makes one."""
    if shipped.problem:
        st.warning(f"The shipped ladder file could not be read: {md(shipped.problem, 300)}", icon=":material/warning:")
    choice = state().model_choice
    own = choice.classifier is not None and choice.classifier == shipped_classifier(choice.name) and not choice.weights
    classifier = f"regroup_core/assets/classifiers/{choice.name}.safetensors" if own else "YOUR_CLASSIFIER.safetensors"
    st.info(f"No ladder ships for **{md(bundle.name)}** with these weights and this classifier. It takes hours of "
            "CPU (every rung attacks 100 digits at each budget), so the page does not run it; the command line "
            "makes it (add `--weights` as on the Model page for other weights; the shipped classifier's path is "
            "the one in a checkout):", icon=":material/info:")
    st.code(ladder_command(choice.name, classifier, [bundle.spec.default_epsilon_255]), language="bash",
            wrap_lines=True)


def ladder_section(bundle: ModelBundle, defended: REGroup) -> None:
    """The ladder of the session's model (see the module doc), under its own heading."""
    st.subheader("What the attacker knows: the ladder")
    st.caption("Each rung adds what the attacker knows of REGroup, from nothing (a transfer attack made on the "
               "softmax) to everything (an adaptive white-box attack on the vote). A rung's figure is the per-digit "
               "worst case over its own attacks and every rung below it, so the line never goes up; the softmax "
               "gets the same kind of attack aimed at it. Error bars: 95 % Wilson intervals; a REGroup tie counts "
               "as an error.")
    shipped = shipped_ladder(bundle, defended)
    if not shipped.rows:
        _missing(bundle, shipped)
        return
    st.plotly_chart(ladder_figure(shipped.rows, bundle.name), width="stretch", key="chart-ladder")
    _meanings(shipped.rows)
    source = shipped.source
    seconds = "" if source is None or bundle.name not in source.empty_cache_seconds else \
        (f", {source.empty_cache_seconds[bundle.name]:.0f} s for this model from an empty adversarial cache "
         "(a one-thread process on 2 shared cores)")
    command = source.command if source is not None and source.command else LADDER_MADE_BY
    st.caption(f"Shipped result for this model, weights and classifier{seconds}, made by: {md(command, 300)}")
