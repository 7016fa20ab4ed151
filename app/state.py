"""Shared, cached resources and per-session state of the app.

Cached objects (models, defended classifiers, sample images) are shared by every browser
session and are **read-only**: never mutate what these loaders return. What belongs to one
user (the chosen model, the current image, the last attack) lives in ``st.session_state``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

import regroup_core
from regroup_core import ModelBundle, Prediction, REGroup
from regroup_core.persistence import atomic_write
from regroup_core.zoo import ASSETS_DIR, EMBEDDED_MODELS

__all__ = [
    "APP_MODELS",
    "CACHE_DIR",
    "AttackRun",
    "CurrentImage",
    "ModelChoice",
    "current_image",
    "current_model",
    "last_attack",
    "load_bundle",
    "load_defended",
    "model_choice",
    "predict_ranks",
    "set_current_image",
    "set_last_attack",
    "set_model_choice",
    "stash_upload",
]

APP_MODELS = ("mnist-vgg", "mnist-resnet", "resnet50", "vgg19")
"""The models offered in the app (the library supports more ResNets/VGGs)."""

CACHE_DIR = Path(os.environ.get("REGROUP_APP_CACHE", Path(".cache") / "app"))
"""Fitted classifier files and uploaded weights (content-addressed), shared by sessions."""


def configure_threads() -> int:
    """Use at most half the CPU cores for torch (``REGROUP_APP_THREADS`` overrides).

    Why: the embedded models are tiny, and on a busy machine torch's worker threads wait for
    each other — measured here (2 cores, other load): PGD on one MNIST image 0.14 s with one
    thread against 6–17 s with two. Half the cores also leaves room for concurrent sessions.
    """
    threads = int(os.environ.get("REGROUP_APP_THREADS", max(1, (os.cpu_count() or 2) // 2)))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def shipped_classifier(name: str) -> str | None:
    path = ASSETS_DIR / "classifiers" / f"{name}.safetensors"
    return str(path) if name in EMBEDDED_MODELS and path.is_file() else None


@dataclass(frozen=True)
class ModelChoice:
    """What a session works with: a model, its weights and its classifier file (if any)."""

    name: str = "mnist-vgg"
    weights: str | None = None
    classifier: str | None = field(default_factory=lambda: shipped_classifier("mnist-vgg"))

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return (self.name, self.weights, self.classifier)


@dataclass(frozen=True)
class CurrentImage:
    """The image a session is looking at: PNG bytes (model independent), a label if known."""

    name: str
    png: bytes
    label: int | None
    source: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png).hexdigest()[:16]

    def pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png))


@dataclass(frozen=True)
class AttackRun:
    """The last attack of a session: which model and image it belongs to, and its result."""

    model_key: tuple[str, str | None, str | None]
    image_digest: str
    adversarial: np.ndarray  # (C, H, W) float32 in [0, 1]
    success: bool
    settings: dict


def image_from_pil(img: Image.Image, *, name: str, label: int | None, source: str) -> CurrentImage:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return CurrentImage(name=name, png=buf.getvalue(), label=label, source=source)


# --------------------------------------------------------------------------------------------
# Cached, shared, read-only resources
# --------------------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_bundle(name: str, weights: str | None) -> ModelBundle:
    return regroup_core.load_model(name, weights=weights)


@st.cache_resource(show_spinner="Loading the REGroup classifiers…", max_entries=4)
def load_defended(name: str, weights: str | None, classifier: str) -> REGroup:
    return regroup_core.load_defended(load_bundle(name, weights), classifier)


@st.cache_data(show_spinner=False, max_entries=256)
def predict_ranks(model_key: tuple[str, str | None, str | None], x: np.ndarray) -> Prediction:
    """Prediction of a batch (B, C, H, W) with every layer's ranks (a copy per caller)."""
    defended = load_defended(*model_key)  # type: ignore[arg-type]
    bundle = load_bundle(model_key[0], model_key[1])
    batch = bundle.check_batch(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return defended.predict(batch, k=defended.classifiers.k, scope="all")


def stash_upload(data: bytes, suffix: str) -> str:
    """Write uploaded bytes to the content-addressed cache and return the path."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"upload-{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not path.is_file():  # concurrent sessions: atomic rename, readers never see half a file
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return str(path)


# --------------------------------------------------------------------------------------------
# Per-session state
# --------------------------------------------------------------------------------------------

def model_choice() -> ModelChoice:
    return st.session_state.setdefault("model_choice", ModelChoice())


def set_model_choice(choice: ModelChoice) -> None:
    st.session_state["model_choice"] = choice


def current_model() -> tuple[ModelBundle, REGroup | None]:
    """The session's model and, when a classifier file is chosen, its REGroup defence."""
    choice = model_choice()
    bundle = load_bundle(choice.name, choice.weights)
    defended = load_defended(*choice.key) if choice.classifier else None
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


def last_attack() -> AttackRun | None:
    """The session's last attack if it belongs to the current model and image."""
    run: AttackRun | None = st.session_state.get("last_attack")
    image = current_image()
    if run is None or image is None or run.model_key != model_choice().key or run.image_digest != image.digest:
        return None
    return run


def set_last_attack(run: AttackRun) -> None:
    st.session_state["last_attack"] = run


def label_text(bundle: ModelBundle, c: int | None) -> str:
    if c is None:
        return "unknown"
    name = bundle.class_names[c]
    return name if name == str(c) else f"{c}: {name}"



@st.cache_data(show_spinner=False, max_entries=128)
def cached_attack(model_key: tuple[str, str | None, str | None], x: np.ndarray, label: int, attack: str,
                  threat: str, epsilon_255: float | None, steps: int | None, target: int | None,
                  seed: int) -> tuple[np.ndarray, bool, dict]:
    """One image attacked (same inputs → same result for every session, without rerunning)."""
    from app import attacking

    bundle = load_bundle(model_key[0], model_key[1])
    defended = load_defended(*model_key) if model_key[2] else None  # type: ignore[arg-type]
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(0)
    result = attacking.run(bundle, images, torch.tensor([label]), attack, threat=threat, defended=defended,
                           epsilon_255=epsilon_255, steps=steps,
                           targets=None if target is None else torch.tensor([target]), seed=seed)
    return result.adversarial[0].numpy(), bool(result.success[0]), dict(result.settings)


@st.cache_data(show_spinner=False, max_entries=32)
def tsne_points(model_key: tuple[str, str | None, str | None], layer_name: str, classes: tuple[int, ...],
                per_class: int, with_adversarial: bool, epsilon_255: float, seed: int = 0) -> dict[str, np.ndarray]:
    """t-SNE of one layer's accumulator PMFs (pos, neg, pos+neg) for real samples of ``classes``,
    with PGD (transfer) adversarial versions of the same images when asked."""
    from app import attacking
    from regroup_core.analysis.tsne import embed, layer_pmfs

    bundle = load_bundle(model_key[0], model_key[1])
    layer = next(layer for layer in bundle.layers if layer.name == layer_name)
    x, y = sample_set(bundle.name, classes, per_class)
    images, labels, adv_flags = x, y, np.zeros(len(y), dtype=bool)
    if with_adversarial:
        result = attacking.run(bundle, torch.from_numpy(x), torch.from_numpy(y), "pgd", threat="transfer",
                               epsilon_255=epsilon_255, steps=10, seed=seed)  # 10 steps: interactive on a CPU
        images = np.concatenate([x, result.adversarial.numpy()])
        labels = np.concatenate([y, y])
        adv_flags = np.concatenate([adv_flags, np.ones(len(y), dtype=bool)])
    out: dict[str, np.ndarray] = {"images": images, "labels": labels, "adversarial": adv_flags}
    batch = torch.from_numpy(images)
    for variant in ("pos", "neg", "pos+neg"):
        out[variant] = embed(layer_pmfs(bundle.model, batch, layer, variant=variant), seed=seed, max_iter=300)
    return out


def sample_set(model_name: str, classes: tuple[int, ...], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Real images of ``classes``: the embedded test split for MNIST models, foolbox's ImageNet
    samples otherwise. Returns (N, C, H, W) float32 and (N,) int64."""
    if model_name.startswith("mnist-"):
        from regroup_core.data.mnist import mnist_split

        x, y = mnist_split("test").tensors
        idx = [j for c in classes for j in (y == c).nonzero().flatten()[:per_class].tolist()]
        return x[idx].numpy(), y[idx].numpy()
    from app.gallery import gallery

    from regroup_core.zoo import imagenet_preprocess

    preprocess = imagenet_preprocess()  # the torchvision models' own preprocessing, no model needed
    items = [it for it in gallery("foolbox samples", model_name) if it.label in classes or not classes]
    return (np.stack([preprocess(it.image).numpy() for it in items]),
            np.array([it.label for it in items], dtype=np.int64))


_PERSISTED = ("abl-", "bench-", "tsne-", "ranks-", "class-", "attack-", "eps-", "steps-", "threat-", "target-",
              "gallery-", "image-from", "upload-label", "model-name", "weights-", "fit-", "classifier-source")
_NOT_SETTABLE = ("attack-run", "bench-run", "bench-csv", "bench-json", "fit-button", "weights-file-", "chart-")


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
