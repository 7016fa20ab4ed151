"""Voting classroom: the real per-layer rankings of one image under Borda, plurality and a
Condorcet-consistent rule (Copeland); change one voter's ballot and watch the winner."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
import torch

from regroup_app.services.cache import predict_ranks
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, reproduce, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_app.ui.verdicts import label_text
from regroup_core import ModelBundle
from regroup_core.analysis.classroom import RULES, Ballots, ballots, demote, promote, tally, voters_to_flip
from regroup_core.analysis.ranks import image_ranks

RULE_TEXT = {"borda": "Borda (REGroup)", "plurality": "Plurality (first choices)",
             "copeland": "Copeland (Condorcet-consistent)"}

EXPLANATION = """
**Why Borda resists a few manipulated voters — and when it does not.** Under *plurality* only
first choices count, so when the first places are split, flipping a couple of them changes the
winner. Under *Borda* every ballot ranks every class and each class collects points from all of
them, so one fully rewritten ballot moves the margin between two classes by at most 2(M − 1)
points. Borda therefore holds when the winner leads on *most* ballots by a wide total margin,
and falls quickly when a runner-up is close (the counts above show which case this image is).
An input perturbation does not rewrite ballots at will: it shifts the responses of every layer
at once, and layers disagree about where it pushes. REGroup's bet is that the many lower-ranked
positions (not only first choices) of many layers move less than the softmax output does.
Copeland, a Condorcet-consistent rule, also uses whole rankings, through pairwise majorities.
"""


def _ballot_text(ranking: torch.Tensor, class_names: Sequence[str], n: int = 5) -> str:
    order = sorted(range(len(ranking)), key=lambda c: int(ranking[c]))[:n]
    return " > ".join(class_names[c] for c in order) + (" > …" if len(ranking) > n else "")


def _rewrite(bundle: ModelBundle, b: Ballots, before: dict, voter: int, promoted: int, sink: bool,
             label: int | None) -> None:
    """Step 2's outcome: every rule's winner before and after the rewritten ballot, and their scores."""
    names = bundle.class_names
    ranking = promote(b.ranks[voter], promoted)
    if sink and before["borda"][1] != promoted:
        ranking = demote(ranking, before["borda"][1])
    after = tally(b.replace(voter, ranking))
    rows = [{"rule": RULE_TEXT[r], "winner before": label_text(bundle, before[r][1]),
             "winner after": label_text(bundle, after[r][1]),
             "changed?": "yes" if before[r][1] != after[r][1] else "no"} for r in RULES]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    classes = sorted({before[r][1] for r in RULES} | {after[r][1] for r in RULES} | {promoted}
                     | ({label} if label is not None else set()))
    for col, rule in zip(st.columns(3), RULES):
        fig = plots.grouped_bars([names[c] for c in classes],
                                 {"before": [float(before[rule][0][c]) for c in classes],
                                  "after": [float(after[rule][0][c]) for c in classes]},
                                 title=RULE_TEXT[rule], x_title="class", y_title="score", percent=False)
        col.plotly_chart(fig, width="stretch", key=f"chart-class-bars-{rule}")


def _control(bundle: ModelBundle, b: Ballots, before: dict, target: int) -> None:
    """Step 3: how many voters an attacker must control under each rule, and the Borda margin."""
    names, m = bundle.class_names, b.num_classes
    counts = {r: voters_to_flip(b, target, r) for r in RULES}
    for col, rule in zip(st.columns(3), RULES):
        n = counts[rule]
        shown_n = "already wins" if before[rule][1] == target else "—" if n is None else f"{n} of {len(b.names)}"
        col.metric(f"{RULE_TEXT[rule]}", shown_n,
                   help=f"Ballots to rewrite (class {names[target]} first, the winner last) to make "
                        f"{names[target]} win; greedy, exact for Borda.")
    st.markdown(_margin_text(before["borda"][0], target, names, m))


CONTEXT = "class-context"  # the image, version and k the ballot settings were chosen for


def _margin_text(scores: torch.Tensor, target: int, names: Sequence[str], m: int) -> str:
    """The sentence under the metrics, about the same class they count for (the one put first)."""
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    winner, swing = order[0], 2 * (m - 1)
    tied = [c for c in order if int(scores[c]) == int(scores[winner])]
    if target == winner:
        tie = (f" (tied with {', '.join(names[c] for c in tied[1:])}: the tie is broken by class index)"
               if len(tied) > 1 else "")
        return (f"**{names[target]}** already wins the Borda count{tie}: there is nothing to flip — put another "
                "class first to see what an attacker needs.")
    gap = int(scores[winner] - scores[target])
    return (f"To make **{names[target]}** win, an attacker must close the Borda winner **{names[winner]}**'s "
            f"lead of {gap} points over it; one rewritten ballot can swing at most 2(M − 1) = {swing} points.")


def body() -> None:
    st.title("Voting classroom")
    glossary.intro("classroom")
    bundle, defended = require_defended()
    image, x, run = reproduce.image_and_attack(bundle)
    c0, c1, c2 = st.columns([1, 2, 2])
    versions = ["clean", "adversarial"] if run is not None else ["clean"]
    which = synced("show", "class-which", links.one_of(versions),
                   lambda key: c1.radio("Image", versions, horizontal=True, key=key),
                   link=lambda v: v if v != "clean" else None)
    shown = run.adversarial if which == "adversarial" and run is not None else x
    c0.image(widgets.to_pil(shown, size=112), caption=f"{which} — {md(image.name, 60)}", width=112)
    pred = predict_ranks(state().model_choice, shown[None])
    layers = [layer.name for layer in pred.layers]
    k = int(synced("k", "class-k", links.number(1, len(layers), integer=True),
                   lambda key: c2.slider("k (highest layers voting)", 1, len(layers), defended.classifiers.k,
                                         key=key)))
    b = ballots(*image_ranks(pred.pos_ranks, pred.neg_ranks), layers, k)
    st.caption(f"{len(b.names)} voters: the pos and neg voter of each of the highest {k} layers. "
               f"True class: {label_text(bundle, image.label)}.")

    st.subheader("1 · The ballots")
    st.dataframe(pd.DataFrame({"voter": b.names, "ranking (best first)": [_ballot_text(r, bundle.class_names)
                                                                          for r in b.ranks]}),
                 hide_index=True, width="stretch")

    st.subheader("2 · Change one voter's ballot")
    d1, d2, d3 = st.columns(3)
    app = state()
    context = f"{image.digest}|{which}|{k}"
    if app.widget(CONTEXT) not in (None, context):  # another image or k: the defaults are this one's again
        app.drop_widget("class-promote")
        app.drop_widget("class-voter")
    app.set_widget(CONTEXT, context)
    voter = synced("voter", "class-voter", links.one_of(range(len(b.names))),
                   lambda key: d1.selectbox("Voter", range(len(b.names)), format_func=lambda v: b.names[v], key=key))
    before = tally(b)
    promoted = int(synced("promote", "class-promote", links.one_of(range(b.num_classes)),
                          lambda key: d2.selectbox(
                              "Put this class first", range(b.num_classes), format_func=lambda c: label_text(bundle, c),
                              index=int(torch.argsort(before["borda"][0], descending=True, stable=True)[1]),
                              key=key, help="Default: the Borda runner-up."), link=int))
    sink = d3.toggle("…and the current Borda winner last", value=True, key=state().keep("class-sink"))
    links.publish(**(reproduce.attack_params() if which == "adversarial" else {}))
    _rewrite(bundle, b, before, voter, promoted, sink, image.label)

    st.subheader("3 · How many voters must an attacker control?")
    _control(bundle, b, before, promoted)
    st.markdown(EXPLANATION)


run_page(body)
