"""Per-session state of the app: what one browser session works with (model, image, last
attack) and the widget settings it keeps across page switches. Shared resources are in
:mod:`app.cache`."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app import cache
from regroup_core import ModelBundle, REGroup
from regroup_core.errors import ModelError

__all__ = [
    "CurrentImage",
    "LastAttack",
    "ModelChoice",
    "current_image",
    "current_model",
    "image_from_pil",
    "image_tensor",
    "label_text",
    "last_attack",
    "model_choice",
    "persist_widget_state",
    "require_defended",
    "set_current_image",
    "set_last_attack",
    "set_model_choice",
    "shown_name",
]


@dataclass(frozen=True)
class ModelChoice:
    """What a session works with: a model, its weights and its classifier file (if any)."""

    name: str = "mnist-vgg"
    weights: str | None = None
    classifier: str | None = field(default_factory=lambda: cache.shipped_classifier("mnist-vgg"))

    @property
    def key(self) -> cache.ModelKey:
        return (self.name, self.weights, self.classifier)


@dataclass(frozen=True)
class CurrentImage:
    """The image a session is looking at: PNG bytes (model independent), a label if known, and
    its id in shareable links (``mnist:test:201``, ``drawing:…``; None for an upload)."""

    name: str
    png: bytes
    label: int | None
    source: str
    id: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png).hexdigest()[:16]

    def pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png))


@dataclass(frozen=True)
class LastAttack:
    """The last attack of a session: which model and image it belongs to, and its result."""

    model_key: cache.ModelKey
    image_digest: str
    adversarial: np.ndarray  # (C, H, W) float32 in [0, 1]
    success: bool
    settings: dict


def image_from_pil(img: Image.Image, *, name: str, label: int | None, source: str,
                   image_id: str | None = None) -> CurrentImage:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return CurrentImage(name=name, png=buf.getvalue(), label=label, source=source, id=image_id)


def model_choice() -> ModelChoice:
    return st.session_state.setdefault("model_choice", ModelChoice())


def set_model_choice(choice: ModelChoice) -> None:
    st.session_state["model_choice"] = choice


def current_model() -> tuple[ModelBundle, REGroup | None]:
    """The session's model and, when a classifier file is chosen, its REGroup defence."""
    choice = model_choice()
    try:
        bundle = cache.model_bundle(choice.name, choice.weights)
    except ModelError as exc:
        if choice.weights is not None:
            raise
        from app.weights import pretrained_help

        raise ModelError(pretrained_help(choice.name, exc)) from None
    defended = cache.defended_model(*choice.key) if choice.classifier else None
    return bundle, defended


def require_defended() -> tuple[ModelBundle, REGroup]:
    """Like :func:`current_model`, but stops the page with a hint when no classifier is loaded."""
    bundle, defended = current_model()
    if defended is None:
        st.info(f"**{bundle.name}** has no REGroup classifiers yet: fit or load them on the Model page.")
        st.page_link("app_pages/model.py", label="Go to the Model page", icon=":material/memory:")
        st.stop()
    return bundle, defended


def current_image() -> CurrentImage | None:
    return st.session_state.get("current_image")


def set_current_image(image: CurrentImage) -> None:
    if st.session_state.get("current_image") != image:
        st.session_state["current_image"] = image


def image_tensor(bundle: ModelBundle, image: CurrentImage) -> np.ndarray:
    """(C, H, W) float32 in [0, 1]: the image preprocessed for ``bundle``."""
    return bundle.preprocess(image.pil()).numpy()


def last_attack() -> LastAttack | None:
    """The session's last attack if it belongs to the current model and image."""
    run: LastAttack | None = st.session_state.get("last_attack")
    image = current_image()
    if run is None or image is None or run.model_key != model_choice().key or run.image_digest != image.digest:
        return None
    return run


def set_last_attack(run: LastAttack) -> None:
    st.session_state["last_attack"] = run


def label_text(bundle: ModelBundle, c: int | None) -> str:
    if c is None:
        return "unknown"
    name = bundle.class_names[c]
    return name if name == str(c) else f"{c}: {name}"


_PERSISTED = ("abl-", "bench-", "tsne-", "ranks-", "class-", "attack-", "eps-", "steps-", "threat-", "target-",
              "gallery-", "image-from", "upload-label", "model-name", "weights-", "fit-", "classifier-source",
              "tour-", "classifier-path", "draw-label", "draw-attack", "draw-threat", "draw-eps", "test-index")
_NOT_SETTABLE = ("attack-run", "bench-run", "bench-csv", "bench-json", "bench-report", "abl-report", "fit-button",
                 "weights-file-", "chart-", "tour-back-", "tour-next-", "tour-open-")


def persist_widget_state() -> None:
    """Keep this session's settings when it switches pages.

    Streamlit forgets a widget's value once a run does not render it (another page); copying the
    value into session state under the same key keeps it. Buttons, downloads and uploaders cannot
    be set that way and are skipped.
    """
    # Streamlit then logs "created with a default value but also had its value set via the
    # Session State API" (with a stack) for each such widget: expected here, so silenced.
    logging.getLogger("streamlit.elements.lib.policies").setLevel(logging.ERROR)
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(_PERSISTED) and not key.startswith(_NOT_SETTABLE):
            st.session_state[key] = st.session_state[key]


def shown_name(path: str | None, default: str) -> str:
    """What to call a weights or classifier file in the sidebar: the name it was uploaded under
    (not its cache path), else the file's name; ``default`` when there is none."""
    if not path:
        return default
    if path == "random":
        return path
    return st.session_state.get("upload-names", {}).get(path) or Path(path).name
