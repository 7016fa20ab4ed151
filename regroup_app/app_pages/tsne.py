"""t-SNE of one layer's accumulators (pos, neg, pos+neg; the paper's Fig. 5): clean points coloured
by class, adversarial points placed into the same map, coloured by REGroup's answer and joined to
their originals; clicking or box-selecting points shows their images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from regroup_app.services.gallery import sample_set
from regroup_app.services.tsne_map import TSNE_ATTACK_STEPS, class_adversarial, tsne_points
from regroup_app.state import state
from regroup_app.ui import glossary, links, plots, verdicts, widgets
from regroup_app.ui.guard import require_defended, run_page
from regroup_app.ui.synced import synced
from regroup_app.ui.text import md
from regroup_core import ModelBundle
from regroup_core.sources.budgets import budget_note

VIEWS = {"pos+neg": ("pos+neg",), "pos": ("pos",), "neg": ("neg",),
         "all three side by side (the paper's Fig. 5)": ("pos", "neg", "pos+neg")}


def _view_param(view: str) -> str:
    """The view's name in links: pos+neg, pos, neg or all."""
    return "all" if len(VIEWS[view]) > 1 else view


SHOW_AT_MOST = 48  # images shown for a selection (the rest are counted)


def _selected(event: Any) -> list[int]:
    """Point indices (customdata) selected in a chart, by click, box or lasso."""
    try:
        points = event.selection.points if event is not None else []
    except AttributeError:
        return []
    out = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is not None:
            out.append(int(cd))
    return out


def _show_selected(bundle: ModelBundle, data: dict[str, np.ndarray], chosen: list[int]) -> None:
    """The images of the selected points (the first SHOW_AT_MOST), with their classes."""
    st.subheader(f"Selected: {len(chosen)} image{'s' if len(chosen) != 1 else ''}")
    if len(chosen) > SHOW_AT_MOST:
        st.caption(f"Showing the first {SHOW_AT_MOST} of {len(chosen)}; select fewer to see the others.")
    cols = st.columns(8)
    for j, idx in enumerate(chosen[:SHOW_AT_MOST]):
        kind = "adversarial" if data["adversarial"][idx] else "clean"
        cols[j % len(cols)].image(
            widgets.to_pil(data["images"][idx], size=96),
            caption=f"#{idx} {kind}: true {bundle.class_names[int(data['labels'][idx])]}, "
                    f"REGroup {bundle.class_names[int(data['regroup'][idx])]}")


def _figure(bundle: ModelBundle, data: dict[str, Any], variants: tuple[str, ...], layer: str) -> Any:
    """One map, or the three maps side by side in one figure with one shared legend."""
    common = {"labels": data["labels"], "adversarial": data["adversarial"], "class_names": bundle.class_names,
              "regroup_labels": data["regroup"], "origins": data["origin"]}
    if len(variants) > 1:
        return plots.tsne_grid({v: data[v] for v in variants}, title=f"pos, neg and pos+neg accumulators — {layer}",
                               **common)
    return plots.tsne_scatter(data[variants[0]], title=f"{variants[0]} accumulators — {layer}", **common)


def _maps(bundle: ModelBundle, data: dict[str, Any], variants: tuple[str, ...], layer: str) -> list[int]:
    """The map (or the three maps side by side in one figure, one shared legend: three legends squeezed
    them); returns the points selected in it."""
    fig = _figure(bundle, data, variants, layer)
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            key=f"chart-tsne-{'-'.join(variants)}")
    return _selected(event)


@dataclass(frozen=True)
class _Request:
    """What the map shows: a layer, classes, images per class, the overlay (and its ε), the views."""

    layer: str
    classes: tuple[int, ...]
    per_class: int
    with_adv: bool
    eps: float
    variants: tuple[str, ...]


def _computed(bundle: ModelBundle, r: _Request) -> dict[str, Any]:
    """The map's data, in a status box naming each step: the clean map first (drawn at once, in a second
    or so), then each class's PGD overlay (cached per class), then the adversarial points placed into the
    map. Both boxes are cleared when the finished map is drawn below them."""
    choice = state().model_choice
    box, early = st.empty(), st.empty()
    with box.container(), widgets.status_progress(
            "t-SNE", f"accumulators of {len(r.classes)} classes at {md(r.layer)} and the clean map") as callback:
        total = len(r.classes) + 2
        data = tsne_points(choice, r.layer, r.classes, r.per_class, False, r.eps, r.variants)
        if r.with_adv:
            early.plotly_chart(_figure(bundle, data, r.variants, r.layer), width="stretch", key="chart-tsne-early")
            for i, c in enumerate(r.classes):
                callback(i + 1, total, f"PGD ({TSNE_ATTACK_STEPS} steps, ε = {r.eps:g}/255) on the {r.per_class} "
                                       f"images of class {md(verdicts.label_text(bundle, c))}")
                class_adversarial(choice, c, r.per_class, r.eps)
            callback(total - 1, total, "placing the adversarial points into the map")
            data = tsne_points(choice, r.layer, r.classes, r.per_class, True, r.eps, r.variants)
    box.empty()
    early.empty()
    return data


def body() -> None:
    st.title("t-SNE of layer accumulators")
    glossary.intro("tsne")
    bundle, defended = require_defended()
    mnist = bundle.spec.ships_data  # classes to choose from; else foolbox's few ImageNet samples
    c1, c2, c3 = st.columns(3)
    names = [layer.name for layer in bundle.layers]
    layer = synced("layer", "tsne-layer", links.one_of(names),
                   lambda key: c1.selectbox("Layer", names, index=len(names) - defended.classifiers.k, key=key,
                                            help="Default: the lowest voting layer."))
    shown = synced("view", "tsne-view", links.one_of(list(VIEWS), to_str=_view_param),
                   lambda key: c1.radio("Accumulators", list(VIEWS), key=key,
                                        help="pos+neg: both PMFs of the layer side by side in one vector (what "
                                             "the layer's two voters see together)."),
                   link=lambda v: _view_param(v) if v != "pos+neg" else None)
    if mnist:
        classes = synced("classes", "tsne-classes", links.integers(0, bundle.num_classes - 1, at_least=2),
                         lambda key: c2.multiselect("Classes", list(range(bundle.num_classes)), default=[0, 1, 7],
                                                    format_func=lambda c: verdicts.label_text(bundle, c), key=key,
                                                    help="A class keeps its colour when you add or remove others."))
        per_class = int(synced("n", "tsne-n", links.number(5, 100, integer=True, step=5),
                               lambda key: c3.slider("Images per class", 5, 100, 25, 5, key=key)))
    else:
        classes, per_class = sorted({int(c) for c in sample_set(bundle.name, (), 1)[1]}), 1
        c2.caption("ImageNet models use foolbox's 20 bundled ImageNet samples.")
    with_adv = synced("adversarial", "tsne-adv", links.boolean,
                      lambda key: c3.toggle("Overlay PGD adversarials (transfer)", value=mnist, key=key,
                                            help="Each image attacked with 10 PGD steps on the softmax, then "
                                                 "placed into the clean map."))
    eps = synced("epsilon", "tsne-eps", links.number(1.0, 64.0, step=1.0),
                 lambda key: c3.slider("PGD ε (0–255)", 1.0, 64.0, min(64.0, bundle.spec.default_epsilon_255), 1.0,
                                       key=key, disabled=not with_adv,
                                       help="Default: this model's softmax budget (PGD fools ≥ 90 % of its "
                                            "undefended softmax with its full preset)."),
                 link=lambda v: v if with_adv else None)
    links.publish(with_image=False)
    if mnist and len(classes) < 2:
        st.warning("Choose at least two classes.")
        return
    variants = VIEWS[shown]
    data = _computed(bundle, _Request(layer, tuple(sorted(classes)), per_class, with_adv, float(eps), variants))
    chosen = _maps(bundle, data, variants, layer)
    if with_adv:
        st.caption(f"PGD (transfer) {budget_note(bundle.spec, float(eps))}. The overlay runs 10 steps, fewer than "
                   "the 100 the budget was measured with, so it fools fewer images than that.")
    n_adv = int(data["adversarial"].sum())
    st.caption(f"{len(data['labels']) - n_adv} clean points (circles, colour = true class) and {n_adv} adversarial "
               "points (crosses, colour = REGroup's answer, a grey line to the original). Click a point to see its "
               "image (shift-click adds more), or pick Box or Lasso select in the chart's toolbar and drag; "
               "double-click the chart to clear.")
    if chosen:
        _show_selected(bundle, data, list(dict.fromkeys(chosen)))


run_page(body)
