"""Model page: choose the model and its weights, fit or load the REGroup classifiers, see the
layers, their own accuracy and the chosen k."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from regroup_app.services import cache
from regroup_app.services.fitting import fit_to_file
from regroup_app.services.model_catalog import shown_reference
from regroup_app.services.uploads import read_bytes_upload
from regroup_app.services.weight_files import check_server_path, pretrained_help
from regroup_app.state import ModelChoice, shipped_classifier, state
from regroup_app.ui import glossary, links, plots
from regroup_app.ui.exploring import excluded_note, is_exploring
from regroup_app.ui.guard import run_page, without_cache_paths
from regroup_app.ui.model_picker import (
    SERVER,
    UPLOAD,
    default_option,
    download_ready,
    is_file_weights,
    pick_reference,
    weights_options,
)
from regroup_app.ui.text import md
from regroup_core import ModelBundle, REGroup
from regroup_core.api import FitOptions
from regroup_core.errors import EmptyClassError, ModelError, RegroupError, one_line
from regroup_core.experiments import wilson_interval
from regroup_core.sources.models import model_spec
from regroup_core.sources.samples import FOOLBOX_SETS

PAPER_RULE = "The paper's rule: correctly classified images only"
EXPLORING_RULE = "Exploring: every labelled image — not the paper's rule"
EXCLUDE_LABEL = ("Exclude classes without any correctly classified fitting sample (they then never win a vote) "
                 "instead of stopping with an error")


def _weights_ui(name: str, current: ModelChoice) -> str | None | bool:
    """The weights chosen in the UI (None: the network's default); False while a file is still
    missing or unusable."""
    spec = model_spec(name)
    options = weights_options(spec)
    same = current.name == name
    picked = st.radio("Weights", list(options), index=default_option(options, spec, current.weights, same),
                      key=state().keep(f"weights-{name}"))
    if options[picked] not in (SERVER, UPLOAD):
        return options[picked]
    keep = current.weights if same and is_file_weights(spec, current.weights) else None
    if picked == SERVER:
        text = st.text_input("Path of a state dict on the server (.safetensors, .pth, .pt; read with "
                             "weights_only=True)", value=keep or "", key=state().keep(f"weights-path-{name}"),
                             placeholder="/data/checkpoints/resnet50.pth",
                             help="For checkpoints too large to upload comfortably: the file is read where the "
                                  "app runs, nothing is copied.")
        if not text.strip():
            return False
        try:
            return check_server_path(text)
        except RegroupError as exc:
            st.error(md(str(exc), 300), icon=":material/warning:")
            return False
    upload = st.file_uploader(f"State dict (.safetensors, .pth, .pt; loaded with weights_only=True; at most "
                              f"{state_max_mb()} MB)", type=["safetensors", "pth", "pt"], key=f"weights-file-{name}")
    if upload is None:
        return keep or False
    suffix = Path(upload.name).suffix.lower()
    path = cache.stash_upload(read_bytes_upload(upload, max_mb=state_max_mb()), suffix)
    state().name_upload(path, upload.name)  # for messages
    return path


def state_max_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


def _layers_table(bundle: ModelBundle) -> None:
    rows = [{"#": i, "layer": layer.name, "kind": layer.kind.value, "dim (channels/units)": layer.dim,
             "depth": layer.depth} for i, layer in enumerate(bundle.layers)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))


def _classifier_ui(bundle: ModelBundle, choice: ModelChoice) -> None:
    st.subheader("REGroup classifiers")
    shipped = shipped_classifier(bundle.name)
    options = (["Shipped classifier file"] if shipped and choice.weights is None else []) + \
        ["Fit now", "A classifier file on the server", "Upload a classifier file"]
    how = st.radio("Source", options, horizontal=True, key=state().keep("classifier-source"))
    new_path: str | None = None
    shown_name: str | None = None  # what to call an uploaded file in messages (not its cache path)
    if how == "Shipped classifier file":
        st.caption(f"`{Path(shipped).name}` — fitted on mnist:train, k chosen on mnist:selection.")
        if choice.classifier != shipped:
            new_path = shipped
    elif how == "A classifier file on the server":
        text = st.text_input("Path of a classifier file on the server (.safetensors, written by "
                             "`python -m regroup_core fit`)", key=state().keep("classifier-path"),
                             placeholder="/data/regroup/resnet50.safetensors",
                             help="ImageNet classifier files are large (ResNet-50: 420 MB): read them where the app "
                                  "runs instead of uploading them.")
        if text.strip():
            try:
                new_path = check_server_path(text, suffixes=(".safetensors",), what="classifier file")
            except RegroupError as exc:
                st.error(md(str(exc), 300), icon=":material/warning:")
    elif how == "Upload a classifier file":
        upload = st.file_uploader("Classifier file (.safetensors, written by `python -m regroup_core fit`)",
                                  type=["safetensors"], key=f"classifier-file-{bundle.name}")  # per model: a
        # file uploaded for one model is not re-checked (and refused) against the next one
        if upload is not None:
            new_path = cache.stash_upload(read_bytes_upload(upload, max_mb=state_max_mb()), ".safetensors")
            shown_name = upload.name
            state().name_upload(new_path, upload.name)  # for the sidebar
    else:
        new_path = _fit_form(bundle, choice)
        if new_path is None:
            return
    if new_path is not None and new_path != choice.classifier:
        try:  # validate before switching
            cache.defended_model(ModelChoice(choice.name, choice.weights, new_path))
        except RegroupError as exc:
            if shown_name is None:
                raise
            raise type(exc)(str(exc).replace(repr(new_path), f"'{shown_name}'").replace(new_path, shown_name)) from None
        state().model_choice = ModelChoice(choice.name, choice.weights, new_path)
        st.rerun()


def default_fit_data(bundle: ModelBundle) -> str:
    """Fitting data that is on every machine: the model's own split where one ships (mnist:train),
    else foolbox's labelled samples of its dataset (foolbox:imagenet, foolbox:cifar10), else none."""
    spec = bundle.spec
    if spec.ships_data and spec.fit_data:
        return spec.fit_data
    if spec.sample_set in FOOLBOX_SETS and FOOLBOX_SETS[spec.sample_set] == bundle.num_classes:
        return f"foolbox:{spec.sample_set}"
    return ""


def _fit_form(bundle: ModelBundle, choice: ModelChoice) -> str | None:
    """The fit settings and button; the new classifier file once fitted (None before, or on failure)."""
    data = st.text_input("Fitting data: built-in (`mnist:train`, `foolbox:imagenet`, `foolbox:cifar10`, "
                         "`cifar10:train`) or an ImageFolder directory under the data roots (one sub-folder per class)",
                         value=default_fit_data(bundle), key=state().keep("fit-data"),
                         help="`foolbox:<set>`: the 20 labelled photos foolbox ships, on every machine — enough to "
                              "look at the layers, far too few for an accuracy claim.")
    selection = st.text_input("Held-out data to choose k (empty: fix k below)",
                              value=bundle.spec.selection_data if bundle.spec.ships_data else "",
                              key=state().keep("fit-selection"))
    exploring = choice.weights == "random"
    rule = st.radio("Fitting rule", [PAPER_RULE, EXPLORING_RULE], index=1 if exploring else 0,
                    key=state().keep("fit-rule-random" if exploring else "fit-rule"),
                    help="The paper fits each class's mixture on the images the network classifies correctly. "
                         "Random weights classify none correctly: exploring mode fits on every labelled image so "
                         "that the layers can still be looked at — every page then says it is not the paper's rule.")
    c1, c2, c3 = st.columns(3)
    per_class = c1.number_input("Samples per class", 1, 1000, 50, key=state().keep("fit-per-class"))
    threshold = c2.slider("Per-layer accuracy threshold for k", 0.05, 1.0, 0.75, 0.05,
                          key=state().keep("fit-threshold"))
    fixed_k = c3.number_input("k (0 = choose from held-out data)", 0, len(bundle.layers),
                              0 if selection else min(5, len(bundle.layers)), key=state().keep("fit-k"))
    if rule == EXPLORING_RULE:
        st.caption("Exploring: classes without any fitting image are left out of every vote (ranked last).")
        exclude = True
    else:
        exclude = st.checkbox(EXCLUDE_LABEL, value=False, key=state().keep("fit-exclude"),
                              help="Useful with a partial ImageFolder, e.g. a few ImageNet classes.")
    if not st.button("Fit the classifiers", type="primary", key="fit-button"):
        return None
    if not data.strip():
        st.error("Give the fitting data: built-in data such as `foolbox:imagenet` or an ImageFolder directory.")
        return None
    return _fit(bundle, choice, data.strip(), FitOptions(
        per_class=int(per_class), selection=selection.strip() or None, threshold=float(threshold),
        k=int(fixed_k) or None, on_empty="exclude" if exclude else "error",
        rule="exploring" if rule == EXPLORING_RULE else "paper"))


def _fit(bundle: ModelBundle, choice: ModelChoice, data: str, options: FitOptions) -> str | None:
    """Fit with progress and load the result; on failure the progress box goes away and one line
    says what to do ("Fitted." is only ever shown for a classifier that loads)."""
    box = st.empty()
    failure: BaseException | None = None
    with box.container():
        bar = st.progress(0.0, text="Starting…")

        def report(done: int, total: int, message: str) -> None:
            bar.progress(min(1.0, done / max(total, 1)), text=f"{message}: step {done} of {total}")

        try:
            with st.status("Fitting the layer-wise generative classifiers…", expanded=True) as status:
                path = fit_to_file(bundle, data, replace(options, callback=report), cache.app_dir())
                cache.defended_model(ModelChoice(choice.name, choice.weights, str(path)))  # it loads: then "Fitted."
                status.update(label="Fitted.", state="complete")
        except Exception as exc:  # noqa: BLE001 - shown below, after the progress box is gone
            failure = exc
    if failure is None:
        return str(path)
    box.empty()  # no half-full progress bar or "Fitting…" box left behind
    if isinstance(failure, EmptyClassError):
        st.error(without_cache_paths(str(failure)).replace(
            "give more data, or exclude classes without samples",
            "give more data, or tick \"Exclude classes without any correctly classified fitting sample\" above the "
            "Fit button"), icon=":material/warning:")
        return None
    raise failure


def _accuracy_ui(bundle: ModelBundle, defended: REGroup) -> None:
    cls = defended.classifiers
    sel = cls.info.get("k_selection") if isinstance(cls.info, dict) else None
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("k (voting layers)", cls.k, help="The highest k layers vote, each with a pos and a neg voter.")
    c2.metric("Fitting samples", int(cls.class_count.sum()),
              help="Every labelled image (exploring mode), per class capped." if is_exploring(cls) else
              "Correctly classified, per class capped.")
    c3.metric("Classes", cls.num_classes)
    c4.metric("Fitting rule", "exploring" if is_exploring(cls) else "paper",
              help="paper: correctly classified images only (Eq. 1); exploring: every labelled image.")
    note = excluded_note(bundle, cls)
    if note:
        st.caption(note.strip())
    if sel and "layer_accuracy" in sel:
        acc = [100 * a for a in sel["layer_accuracy"]]
        names = [layer.name for layer in cls.layers]
        samples = int(sel.get("samples") or 0)
        bounds = [wilson_interval(int(round(a * samples / 100)), samples) for a in acc] if samples else None
        fig = plots.line_chart(names, {"layer's own Borda vote": acc},
                               intervals=None if bounds is None else
                               {"layer's own Borda vote": ([100 * lo for lo, _ in bounds],
                                                           [100 * hi for _, hi in bounds])},
                               title=f"Per-layer accuracy on {sel.get('data', 'held-out data')} "
                                     f"({sel.get('samples', '?')} "
                                     f"{'' if is_exploring(cls) else 'correctly classified '}samples; 95 % intervals)",
                               x_title="layer (input → output)", y_title="accuracy (%)")
        fig.add_hline(y=100 * float(sel.get("threshold", 0.75)), line_dash="dot",
                      annotation_text=f"threshold {100 * float(sel.get('threshold', 0.75)):.0f} %")
        fig.add_vrect(x0=len(acc) - cls.k - 0.5, x1=len(acc) - 0.5, fillcolor="#2f6fdf", opacity=0.1,
                      annotation_text=f"k = {cls.k} voting layers", annotation_position="top left")
        fig.update_xaxes(type="category")
        st.plotly_chart(fig, width="stretch")
    else:
        st.caption("This classifier file records no k-selection accuracies (k was fixed).")


def _switch(name: str, weights: str | None) -> bool:
    """Load the new choice (downloading pretrained weights when asked) and switch to it; False
    (with one message) when it cannot be loaded."""
    if weights is None or not is_file_weights(model_spec(name), weights):
        if not download_ready(name, weights):
            return False
    try:
        cache.model_bundle(name, weights)  # fail here, before switching, with a clear message
    except ModelError as exc:
        shown = state().upload_name(weights) if isinstance(weights, str) else None
        if weights is None or not is_file_weights(model_spec(name), weights):
            message = pretrained_help(name, weights, exc) if weights != "random" else one_line(exc)
        else:
            message = str(exc).replace(weights, shown) if shown else str(exc)
        st.error(md(message, 1200), icon=":material/cloud_off:" if weights is None else ":material/warning:")
        return False
    classifier = shipped_classifier(name) if weights is None else None
    state().model_choice = ModelChoice(name, weights, classifier)
    return True


def body() -> None:
    st.title("Model")
    glossary.intro("model")
    choice = state().model_choice
    c1, c2 = st.columns([1, 2])
    with c1:
        name = pick_reference(choice.name)
        weights = _weights_ui(name, choice) if name is not None else False
    if weights is False:
        if name is not None:
            st.info("Give a weights file (a path on the server or an upload) to continue.")
        links.publish(with_image=False)
        return
    if (name, weights) != (choice.name, choice.weights):
        with c1:
            switched = _switch(name, weights)  # type: ignore[arg-type]
        if not switched:
            links.publish(with_image=False)
            return
        st.rerun()
    bundle, defended = cache.current_model(state().model_choice)
    links.publish(with_image=False)
    with c2:
        st.markdown(f"**{md(shown_reference(bundle.name), 120)}** · {len(bundle.layers)} tapped layers · "
                    f"{bundle.num_classes} classes · input {tuple(bundle.input_shape)} · weights: "
                    f"{md(state().shown_name(bundle.weights, 'default'), 60)} · device: {bundle.device}")
        _layers_table(bundle)
    _classifier_ui(bundle, choice)
    if defended is not None:
        _accuracy_ui(bundle, defended)
    else:
        st.info("No classifiers yet for this model: fit them or upload a classifier file above.")


run_page(body)
