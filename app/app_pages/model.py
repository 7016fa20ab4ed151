"""Model page: choose the model and its weights, fit or load the REGroup classifiers, see the
layers, their own accuracy and the chosen k."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import cache, plots, session
from app.fitting import fit_to_file
from app.ui import run_page
from app.uploads import read_bytes_upload
from regroup_core.errors import ModelError, RegroupError
from regroup_core.sources.models import ModelKind, model_spec

WEIGHT_OPTIONS = {
    "embedded": ["Embedded (trained on MNIST)", "Upload a weights file"],
    "torchvision": ["ImageNet V1 (torchvision cache or download)", "Upload a weights file",
                    "Random (untrained — to try the app offline)"],
}


def _weights_ui(name: str, current: session.ModelChoice) -> str | None | bool:
    """The weights spec chosen in the UI; False while an upload is still missing."""
    kind = "embedded" if model_spec(name).kind is ModelKind.EMBEDDED else "torchvision"
    options = WEIGHT_OPTIONS[kind]
    default = 0
    if current.name == name and current.weights == "random":
        default = 2
    elif current.name == name and current.weights not in (None, "random"):
        default = 1
    picked = st.radio("Weights", options, index=default, key=f"weights-{name}")
    if picked == options[0]:
        return None
    if picked.startswith("Random"):
        return "random"
    upload = st.file_uploader("State dict (.safetensors, .pth, .pt; loaded with weights_only=True)",
                              type=["safetensors", "pth", "pt"], key=f"weights-file-{name}")
    if upload is None:
        return current.weights if current.name == name and current.weights not in (None, "random") else False
    suffix = Path(upload.name).suffix.lower()
    path = cache.stash_upload(read_bytes_upload(upload, max_mb=state_max_mb()), suffix)
    st.session_state.setdefault("upload-names", {})[path] = upload.name  # for messages
    return path


def state_max_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


def _layers_table(bundle) -> None:
    rows = [{"#": i, "layer": layer.name, "kind": layer.kind.value, "dim (channels/units)": layer.dim,
             "depth": layer.depth} for i, layer in enumerate(bundle.layers)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))


def _classifier_ui(bundle, choice: session.ModelChoice) -> None:
    st.subheader("REGroup classifiers")
    shipped = cache.shipped_classifier(bundle.name)
    options = (["Shipped classifier file"] if shipped and choice.weights is None else []) + \
        ["Fit now", "Upload a classifier file"]
    how = st.radio("Source", options, horizontal=True, key="classifier-source")
    new_path: str | None = None
    shown_name: str | None = None  # what to call an uploaded file in messages (not its cache path)
    if how == "Shipped classifier file":
        st.caption(f"`{Path(shipped).name}` — fitted on mnist:train, k chosen on mnist:selection.")
        if choice.classifier != shipped:
            new_path = shipped
    elif how == "Upload a classifier file":
        upload = st.file_uploader("Classifier file (.safetensors, written by `python -m regroup_core fit`)",
                                  type=["safetensors"], key="classifier-file")
        if upload is not None:
            new_path = cache.stash_upload(read_bytes_upload(upload, max_mb=state_max_mb()), ".safetensors")
            shown_name = upload.name
    else:
        default_data = bundle.spec.fit_data or ""
        data = st.text_input("Fitting data: `mnist:train` or an ImageFolder directory (one sub-folder per class)",
                             value=default_data, key="fit-data")
        selection = st.text_input("Held-out data to choose k (empty: fix k below)",
                                  value=bundle.spec.selection_data or "", key="fit-selection")
        c1, c2, c3 = st.columns(3)
        per_class = c1.number_input("Samples per class", 1, 1000, 50, key="fit-per-class")
        threshold = c2.slider("Per-layer accuracy threshold for k", 0.05, 1.0, 0.75, 0.05, key="fit-threshold")
        fixed_k = c3.number_input("k (0 = choose from held-out data)", 0, len(bundle.layers),
                                  0 if selection else min(5, len(bundle.layers)), key="fit-k")
        exclude = st.checkbox("Exclude classes without any correctly classified fitting sample (they then never "
                              "win a vote) instead of stopping with an error", value=False, key="fit-exclude",
                              help="Useful with a partial ImageFolder, e.g. a few ImageNet classes.")
        if st.button("Fit the classifiers", type="primary", key="fit-button"):
            if not data.strip():
                st.error("Give the fitting data: `mnist:train` or an ImageFolder directory.")
                return
            bar = st.progress(0.0, text="Starting…")

            def report(done: int, total: int, message: str) -> None:
                bar.progress(min(1.0, done / max(total, 1)), text=f"{message}: step {done} of {total}")

            with st.status("Fitting the layer-wise generative classifiers…", expanded=True) as status:
                path = fit_to_file(bundle, data=data.strip(), selection=selection.strip() or None,
                                   per_class=int(per_class), k=int(fixed_k) or None, threshold=float(threshold),
                                   cache_dir=cache.app_dir(), callback=report,
                                   on_empty="exclude" if exclude else "error")
                status.update(label="Fitted.", state="complete")
            new_path = str(path)
    if new_path is not None and new_path != choice.classifier:
        try:  # validate before switching
            cache.defended_model(choice.name, choice.weights, new_path)
        except RegroupError as exc:
            if shown_name is None:
                raise
            raise type(exc)(f"{shown_name}: {str(exc).replace(repr(new_path), 'it').replace(new_path, 'it')}") from None
        session.set_model_choice(session.ModelChoice(choice.name, choice.weights, new_path))
        st.rerun()


def _accuracy_ui(defended) -> None:
    cls = defended.classifiers
    sel = cls.info.get("k_selection") if isinstance(cls.info, dict) else None
    c1, c2, c3 = st.columns(3)
    c1.metric("k (voting layers)", cls.k, help="The highest k layers vote, each with a pos and a neg voter.")
    c2.metric("Fitting samples", int(cls.class_count.sum()), help="Correctly classified, per class capped.")
    c3.metric("Classes", cls.num_classes)
    if sel and "layer_accuracy" in sel:
        acc = [100 * a for a in sel["layer_accuracy"]]
        names = [layer.name for layer in cls.layers]
        fig = plots.line_chart(names, {"layer's own Borda vote": acc},
                               title=f"Per-layer accuracy on {sel.get('data', 'held-out data')} "
                                     f"({sel.get('samples', '?')} correctly classified samples)",
                               x_title="layer (input → output)", y_title="accuracy (%)")
        fig.add_hline(y=100 * float(sel.get("threshold", 0.75)), line_dash="dot",
                      annotation_text=f"threshold {100 * float(sel.get('threshold', 0.75)):.0f} %")
        fig.add_vrect(x0=len(acc) - cls.k - 0.5, x1=len(acc) - 0.5, fillcolor="#2f6fdf", opacity=0.1,
                      annotation_text=f"k = {cls.k} voting layers", annotation_position="top left")
        fig.update_xaxes(type="category")
        st.plotly_chart(fig, width="stretch")
    else:
        st.caption("This classifier file records no k-selection accuracies (k was fixed).")


def body() -> None:
    st.title("Model")
    st.write("REGroup turns a pretrained CNN into an ensemble of layer-wise generative classifiers "
             "that vote with a Borda count. Pick the network and its classifiers here; every other "
             "page uses them.")
    choice = session.model_choice()
    c1, c2 = st.columns([1, 2])
    with c1:
        name = st.selectbox("Model", cache.APP_MODELS, index=cache.APP_MODELS.index(choice.name)
                            if choice.name in cache.APP_MODELS else 0, key="model-name",
                            help="mnist-* models are embedded and work offline; ResNet-50/VGG-19 "
                                 "need ImageNet weights from torchvision's cache or a file.")
        weights = _weights_ui(name, choice)
    if weights is False:
        st.info("Upload a weights file to continue.")
        return
    if (name, weights) != (choice.name, choice.weights):
        try:
            cache.model_bundle(name, weights)  # fail here, before switching, with a clear message
        except ModelError as exc:
            shown = st.session_state.get("upload-names", {}).get(weights) if isinstance(weights, str) else None
            message = str(exc).replace(weights, shown) if shown else str(exc)
            st.error(message, icon=":material/warning:")
            return
        classifier = cache.shipped_classifier(name) if weights is None else None
        session.set_model_choice(session.ModelChoice(name, weights, classifier))
        st.rerun()
    bundle, defended = session.current_model()
    with c2:
        st.markdown(f"**{bundle.name}** · {len(bundle.layers)} tapped layers · {bundle.num_classes} classes · "
                    f"input {tuple(bundle.input_shape)} · weights: {bundle.weights} · device: {bundle.device}")
        _layers_table(bundle)
    _classifier_ui(bundle, choice)
    if defended is not None:
        _accuracy_ui(defended)
    else:
        st.info("No classifiers yet for this model: fit them or upload a classifier file above.")


run_page(body)
