"""The Model page's choice of a network and its weights: a family, a searchable list (or a typed
reference), the weights that network takes, and a pretrained download with its size and progress.

Nothing here loads a network: the page loads the choice once it is complete (a weights file
given, pretrained weights on this machine), so an offline machine never waits on a download
nobody asked for.
"""

from __future__ import annotations

import streamlit as st

from regroup_core.errors import ModelError, RegroupError, one_line
from regroup_core.sources.metadata import ModelKind, ModelSpec
from regroup_core.sources.zoo import weights_download
from regroup_core.sources.zoo.download import Download, fetch

from ..services import model_catalog as catalog
from ..services.weight_files import is_hub_file, offline_message
from ..state import state
from .text import md

__all__ = ["RANDOM", "SERVER", "UPLOAD", "download_ready", "is_file_weights", "pick_reference", "weights_options"]

SERVER = "A weights file on the server"
UPLOAD = "Upload a weights file"
RANDOM = "Random (untrained — to explore offline)"


def pick_reference(current: str) -> str | None:
    """The reference the page shows: picked in a family's list, or typed (None while a typed
    reference is refused; the refusal is shown)."""
    try:
        family = catalog.family_of(current)
    except RegroupError:
        family = catalog.FAMILIES[0]
    family = st.selectbox("Family", catalog.FAMILIES, index=catalog.FAMILIES.index(family),
                          key=state().keep("model-family"),
                          help="Embedded networks work offline; torchvision, timm and RobustBench networks need "
                               "their pretrained weights (downloaded once) or run with random weights.")
    options = catalog.choices(family)
    typed = st.text_input("…or type a model reference (used instead of the list)", key=state().keep("model-typed"),
                          placeholder="timm:convnext_atto · torchvision:regnet_y_400mf · "
                                      "robustbench:cifar10:Linf:Standard",
                          help="The same text as the command line's --model. Model spec files load only from "
                               "the operator's spec folder (listed under Spec files).")
    if typed.strip():
        try:
            return catalog.app_reference(typed.strip())
        except RegroupError as exc:
            st.error(md(one_line(exc), 400), icon=":material/warning:")
            return None
    if not options:
        st.info("No model spec files are offered: the operator puts them (`model.toml` with its code and weights) "
                "into the folder named by `REGROUP_MODEL_SPECS` or `model_specs` in the `[regroup]` section of the "
                "app's config file; they are listed here at once, without a restart.")
        return None
    index = options.index(current) if current in options else 0
    return st.selectbox("Model", options, index=index, key=state().keep(f"model-name-{family}"),
                        format_func=catalog.shown_reference, help="Type to search the list.")


def weights_options(spec: ModelSpec) -> dict[str, str | None]:
    """Radio label → weights value for a network: its named weights first (None = its default),
    then a file on the server, an upload, random."""
    named: dict[str, str | None] = {}
    if spec.kind is ModelKind.TORCHVISION:  # its default set first (the paper's V1 for a bare paper name)
        named[f"Pretrained {spec.weights} (torchvision; downloaded once)"] = None
        for choice in spec.weights_choices:
            if choice not in ("DEFAULT", "random", spec.weights):
                named[f"Pretrained {choice} (torchvision; downloaded once)"] = choice
    elif spec.kind is ModelKind.EMBEDDED:
        named["Embedded (shipped, offline)"] = None
    elif "spec" in spec.weights_choices:
        named["The spec file's weights"] = None
    elif "pretrained" in spec.weights_choices:
        named[f"Pretrained ({spec.kind.value}; downloaded once)"] = None
    return {**named, SERVER: SERVER, UPLOAD: UPLOAD, RANDOM: "random"}


def is_file_weights(spec: ModelSpec, weights: str | None) -> bool:
    """Whether ``weights`` names a file (not the default, a named set or random)."""
    return weights is not None and weights != "random" and weights not in spec.weights_choices


def default_option(options: dict[str, str | None], spec: ModelSpec, weights: str | None, same_model: bool) -> int:
    """Which radio option shows the session's current weights."""
    labels = list(options)
    if not same_model:
        return 0
    if is_file_weights(spec, weights):
        return labels.index(SERVER)
    for i, value in enumerate(options.values()):
        if value == weights:
            return i
    return 0


def download_ready(reference: str, weights: str | None) -> bool:
    """True when loading ``reference`` with ``weights`` needs no download (or it just finished);
    else the download's size and a button, or one message saying what to do offline."""
    try:
        download = weights_download(reference, weights)
    except ModelError as exc:
        st.error(md(one_line(exc), 400), icon=":material/warning:")
        return False
    if download is None or download.cached:
        return True
    size = download.size_text
    st.info(f"The pretrained weights ({download.what}, **{size}**) are not on this machine yet. They are "
            "downloaded once and kept for every later session.", icon=":material/cloud_download:")
    if not st.button(f"Download the weights ({size})", type="primary", key=f"download-{reference}-{weights}"):
        return False
    if not is_hub_file(download):
        return True  # timm / RobustBench download inside their packages: the page loads, a failure says what to do
    return _fetch(download)


def _fetch(download: Download) -> bool:
    box = st.empty()
    bar = box.progress(0.0, text=f"Downloading {download.what}: 0 of {download.size_text}")

    def progress(done: int, total: int | None) -> None:
        shown = f"{done / 1e6:.1f} of {total / 1e6:.0f} MB" if total else f"{done / 1e6:.1f} MB"
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"Downloading {download.what}: {shown}")

    try:
        fetch(download, progress)
    except ModelError as exc:
        box.empty()
        st.error(md(offline_message(download, exc), 1200), icon=":material/cloud_off:")
        return False
    box.success(f"Downloaded {download.what} ({download.size_text}).", icon=":material/check:")
    return True
