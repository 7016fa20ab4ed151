"""Layer ranks: each layer's ranking of the classes (pos and neg voters), clean vs adversarial,
and how the Borda total builds up as k grows."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from regroup_app.services.cache import predict_ranks
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, reproduce, verdicts, widgets
from regroup_app.ui.exploring import excluded_note
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_core import ModelBundle, Prediction, REGroup
from regroup_core.analysis.ranks import borda_buildup, focus_classes, image_ranks

BUILDUP_CLASSES = 10  # lines in the Borda build-up chart: the marked classes and the best by total Borda


def _marks(pred: Prediction, label: int | None) -> dict[str, int | None]:
    return {"true": label, "softmax": int(pred.softmax_labels[0]), "REGroup": int(pred.regroup_labels[0])}


class _Version(NamedTuple):
    """One image's ranks (clean or adversarial) and the classes to mark on its maps."""

    name: str
    pos: torch.Tensor
    neg: torch.Tensor
    marks: dict[str, int | None]

    def marked(self) -> list[int]:
        return [c for c in self.marks.values() if c is not None]


def _heatmaps(bundle: ModelBundle, defended: REGroup, versions: list[_Version], *, voter: str, top_n: int | None,
              layers: list[str], attack: str) -> None:
    """Every layer's ranks of the focus classes: clean, and adversarial with the change when there is one."""
    clean, m = versions[0], bundle.num_classes
    classes = focus_classes(clean.pos, clean.neg, top_n=top_n, marked=[c for v in versions for c in v.marked()])
    clean_r = (clean.pos if voter == "pos" else clean.neg)[:, classes].numpy()
    common = {"layers": layers, "classes": classes, "class_names": bundle.class_names, "k": defended.classifiers.k}
    if len(versions) == 1:
        st.plotly_chart(plots.rank_heatmap(clean_r, num_classes=m, title=f"Clean image — {voter} voters",
                                           marks=clean.marks, **common), width="stretch", key="hm-clean")
        return
    adv = versions[1]
    adv_r = (adv.pos if voter == "pos" else adv.neg)[:, classes].numpy()
    # side by side only while each map stays readable; else one full-width map under the other
    side_by_side = len(classes) <= 20 and len(layers) <= 20
    a, b = st.columns(2) if side_by_side else (st.container(), st.container())
    a.plotly_chart(plots.rank_heatmap(clean_r, num_classes=m, title=f"Clean — {voter} voters", marks=clean.marks,
                                      **common), width="stretch", key="hm-clean")
    b.plotly_chart(plots.rank_heatmap(adv_r, num_classes=m, title=f"Adversarial ({attack}) — {voter} voters",
                                      marks=adv.marks, **common), width="stretch", key="hm-adv")
    st.plotly_chart(plots.rank_change_heatmap(clean_r, adv_r, title="Rank change (adversarial − clean)",
                                              marks=adv.marks, **common), width="stretch", key="hm-diff")


def _buildup(bundle: ModelBundle, defended: REGroup, versions: list[_Version], layers: list[str]) -> None:
    """The Borda total of the leading classes as k grows, one tab per version."""
    st.subheader("Borda total as k grows")
    st.caption("k = 1 is the top layer alone; each step adds the next lower layer's pos and neg votes. "
               f"REGroup's answer is the leader at the chosen k. Lines: the marked classes and the best "
               f"{BUILDUP_CLASSES} by total Borda.")
    tabs = st.tabs(["clean"] + (["adversarial"] if len(versions) > 1 else []))
    for tab, v in zip(tabs, versions):
        with tab:
            lines = focus_classes(v.pos, v.neg, top_n=min(bundle.num_classes, BUILDUP_CLASSES), marked=v.marked())
            st.plotly_chart(plots.buildup_lines(borda_buildup(v.pos, v.neg).numpy(), classes=lines,
                                                class_names=bundle.class_names, layers=layers,
                                                chosen_k=defended.classifiers.k, marks=v.marks),
                            width="stretch", key=f"buildup-{v.name}")


def body() -> None:
    st.title("Layer ranks")
    glossary.intro("layer_ranks")
    bundle, defended = require_defended()
    image, x, run = reproduce.image_and_attack(bundle)
    choice = state().model_choice
    clean = predict_ranks(choice, x[None])
    adv = predict_ranks(choice, run.adversarial[None]) if run is not None else None

    c0, c1, c2 = st.columns([1, 2, 2])
    c0.image(widgets.to_pil(x, size=112), caption=md(image.name, 60), width=112)
    m = bundle.num_classes
    many = m > 20
    links.restore("top", "ranks-topn", links.number(3, min(m, 100), integer=True))  # drawn below, when shown

    def toggle(key: str) -> bool:
        return c1.toggle(f"Show all {m} classes", value=not many, key=key, disabled=not many,
                         help="Every class as a column (hover for names); the colour scale is logarithmic.")

    if many:
        show_all = synced("classes", "ranks-all", lambda raw: links.one_of(["all"])(raw) == "all", toggle,
                          link=lambda v: "all" if v else None)
    else:
        show_all = toggle(state().keep("ranks-all"))
    top_n = None if show_all else int(c1.number_input("Classes shown (top-N by total Borda)", 3, min(m, 100),
                                                      min(m, 15), key=state().keep("ranks-topn")))
    links.record("top", top_n)
    voter = synced("voters", "ranks-voter", links.one_of(["pos", "neg"]),
                   lambda key: c2.radio("Voters", ["pos", "neg"], horizontal=True, key=key,
                                        help="Each layer votes twice: with its positive (pos) and its negative "
                                             "(neg) accumulator PMFs."))
    c2.caption("Rank 1 = the layer's favourite class (dark). The highest "
               f"k = {defended.classifiers.k} layers vote (dashed band); outlined columns are the true, softmax "
               "and REGroup classes." + (" Colours are on a log scale so ranks 1–10 stay apart." if many else "")
               + excluded_note(bundle, defended.classifiers))
    links.publish(**reproduce.attack_params())
    if run is None:
        st.info("Run an attack in the Attack lab to compare clean and adversarial ranks side by side.")
    else:
        st.caption(f"Adversarial: {run.settings.get('attack', '?')} ({run.settings.get('threat', '?')}) — "
                   + verdicts.size_text(bundle, float(np.abs(run.adversarial - x).max()), run.settings))
    versions = [_Version("clean", *image_ranks(clean.pos_ranks, clean.neg_ranks), _marks(clean, image.label))]
    if adv is not None:
        versions.append(_Version("adv", *image_ranks(adv.pos_ranks, adv.neg_ranks), _marks(adv, image.label)))
    layers = [layer.name for layer in clean.layers]
    _heatmaps(bundle, defended, versions, voter=voter, top_n=top_n, layers=layers,
              attack=run.settings.get("attack", "?") if run is not None else "")
    _buildup(bundle, defended, versions, layers)


run_page(body)
