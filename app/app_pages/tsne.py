"""t-SNE of one layer's accumulators (pos, neg, pos+neg; the paper's Fig. 5), clean and
adversarial points overlaid; selecting a point shows its image."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import cache, plots, session, widgets
from app.ui import run_page


def _selected(event) -> list[int]:
    """Indices (customdata) of the points selected in a chart."""
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


def body() -> None:
    st.title("t-SNE of layer accumulators")
    st.write("Each point is one image's accumulator PMF at the chosen layer, embedded in 2-D. Classes that "
             "form clusters are what the layer's generative classifier can tell apart; adversarial points "
             "(×) show whether a perturbation moves an image into another class's cluster.")
    bundle, defended = session.require_defended()
    mnist = bundle.spec.ships_data  # classes to choose from; else foolbox's few ImageNet samples
    c1, c2, c3 = st.columns(3)
    names = [layer.name for layer in bundle.layers]
    layer = c1.selectbox("Layer", names, index=len(names) - defended.classifiers.k, key="tsne-layer",
                         help="Default: the lowest voting layer.")
    if mnist:
        classes = c2.multiselect("Classes", list(range(bundle.num_classes)), default=[0, 1, 7],
                                 format_func=lambda c: session.label_text(bundle, c), key="tsne-classes")
        per_class = int(c3.slider("Images per class", 5, 100, 25, 5, key="tsne-n"))
    else:
        classes, per_class = [], 1
        c2.caption("ImageNet models use foolbox's 20 bundled ImageNet samples.")
    with_adv = c3.toggle("Overlay PGD adversarials (transfer)", value=True, key="tsne-adv")
    eps = c3.slider("PGD ε (0–255)", 1.0, 64.0, 16.0, 1.0, key="tsne-eps", disabled=not with_adv)
    if mnist and len(classes) < 2:
        st.warning("Choose at least two classes.")
        return
    with st.spinner("Computing accumulators and t-SNE…"):
        data = cache.tsne_points(session.model_choice().key, layer, tuple(sorted(classes)), per_class, with_adv, eps)
    cols = st.columns(3)
    chosen: list[int] = []
    for col, variant in zip(cols, ("pos", "neg", "pos+neg")):
        fig = plots.tsne_scatter(data[variant], labels=data["labels"], adversarial=data["adversarial"],
                                 class_names=bundle.class_names, title=f"{variant} accumulators — {layer}")
        event = col.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("points", "box", "lasso"),
                                 key=f"chart-tsne-{variant}")
        chosen += _selected(event)
    st.caption("Click a point, or drag a box/lasso, to see the images.")
    if chosen:
        chosen = list(dict.fromkeys(chosen))[:12]
        cols = st.columns(min(6, len(chosen)))
        for j, idx in enumerate(chosen):
            kind = "adversarial" if data["adversarial"][idx] else "clean"
            cols[j % len(cols)].image(widgets.to_pil(data["images"][idx], size=112),
                                      caption=f"#{idx} {session.label_text(bundle, int(data['labels'][idx]))} ({kind})")
    n_adv = int(np.sum(data["adversarial"]))
    st.caption(f"{len(data['labels']) - n_adv} clean and {n_adv} adversarial points.")


run_page(body)
