"""Layer ranks: each layer's ranking of the classes (pos and neg voters), clean vs adversarial,
and how the Borda total builds up as k grows."""

from __future__ import annotations

import numpy as np
import streamlit as st

from regroup_app.services.cache import predict_ranks
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, reproduce, verdicts, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_core import Prediction
from regroup_core.analysis.ranks import borda_buildup, focus_classes, image_ranks

BUILDUP_CLASSES = 10  # lines in the Borda build-up chart: the marked classes and the best by total Borda


def _marks(pred: Prediction, label: int | None) -> dict[str, int | None]:
    return {"true": label, "softmax": int(pred.softmax_labels[0]), "REGroup": int(pred.regroup_labels[0])}


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
               "and REGroup classes." + (" Colours are on a log scale so ranks 1–10 stay apart." if many else ""))
    links.publish(**reproduce.attack_params())
    if run is None:
        st.info("Run an attack in the Attack lab to compare clean and adversarial ranks side by side.")
    else:
        st.caption(f"Adversarial: {run.settings.get('attack', '?')} ({run.settings.get('threat', '?')}) — "
                   + verdicts.size_text(bundle, float(np.abs(run.adversarial - x).max()), run.settings))
    layers = [layer.name for layer in clean.layers]
    pos, neg = image_ranks(clean.pos_ranks, clean.neg_ranks)
    marks = _marks(clean, image.label)
    marked = [c for c in marks.values() if c is not None]
    if adv is not None:
        apos, aneg = image_ranks(adv.pos_ranks, adv.neg_ranks)
        amarks = _marks(adv, image.label)
        marked += [c for c in amarks.values() if c is not None]
    classes = focus_classes(pos, neg, top_n=top_n, marked=marked)
    clean_r = (pos if voter == "pos" else neg)[:, classes].numpy()
    common = {"layers": layers, "classes": classes, "class_names": bundle.class_names, "k": defended.classifiers.k}
    # side by side only while each map stays readable; else one full-width map under the other
    side_by_side = adv is not None and len(classes) <= 20 and len(layers) <= 20
    if adv is None:
        st.plotly_chart(plots.rank_heatmap(clean_r, num_classes=m, title=f"Clean image — {voter} voters",
                                           marks=marks, **common), width="stretch", key="hm-clean")
    else:
        adv_r = (apos if voter == "pos" else aneg)[:, classes].numpy()
        a, b = st.columns(2) if side_by_side else (st.container(), st.container())
        a.plotly_chart(plots.rank_heatmap(clean_r, num_classes=m, title=f"Clean — {voter} voters", marks=marks,
                                          **common), width="stretch", key="hm-clean")
        b.plotly_chart(plots.rank_heatmap(adv_r, num_classes=m,
                                          title=f"Adversarial ({run.settings.get('attack', '?')}) — {voter} voters",
                                          marks=amarks, **common), width="stretch", key="hm-adv")
        st.plotly_chart(plots.rank_change_heatmap(clean_r, adv_r, title="Rank change (adversarial − clean)",
                                                  marks=amarks, **common), width="stretch", key="hm-diff")
    st.subheader("Borda total as k grows")
    st.caption("k = 1 is the top layer alone; each step adds the next lower layer's pos and neg votes. "
               f"REGroup's answer is the leader at the chosen k. Lines: the marked classes and the best "
               f"{BUILDUP_CLASSES} by total Borda.")
    tabs = st.tabs(["clean"] + (["adversarial"] if adv is not None else []))
    for tab, (p, q, mk, name) in zip(tabs, [(pos, neg, marks, "clean")]
                                     + ([(apos, aneg, amarks, "adv")] if adv is not None else [])):
        with tab:
            lines = focus_classes(p, q, top_n=min(m, BUILDUP_CLASSES), marked=[c for c in mk.values() if c is not None])
            st.plotly_chart(plots.buildup_lines(borda_buildup(p, q).numpy(), classes=lines,
                                                class_names=bundle.class_names, layers=layers,
                                                chosen_k=defended.classifiers.k, marks=mk),
                            width="stretch", key=f"buildup-{name}")


run_page(body)
