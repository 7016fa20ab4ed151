"""Shared, cached, read-only resources of the app: models, defended classifiers, predictions and
the stores on disk.

Everything here is shared by every browser session and is **read-only**: never mutate what
these functions return. Files live under the cache directory the CLI and the scripts use too
(``$REGROUP_CACHE``, default ``~/.cache/regroup-explorer``): ``app/`` holds uploads and fitted
classifiers, ``adversarial/`` the attacks (so an image attacked by ``evaluate`` is found here
at once), ``results/`` the Ablations and Benchmark results.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import regroup_core
from regroup_core import ModelBundle, Prediction, REGroup
from regroup_core.errors import ModelError
from regroup_core.store import AdversarialCache, ResultStore, atomic_write, default_cache_dir

from ..state import ModelChoice
from .weights import pretrained_help

__all__ = [
    "APP_MODELS",
    "adversarial_cache",
    "app_dir",
    "current_model",
    "defended_model",
    "model_bundle",
    "predict_ranks",
    "results",
    "stash_upload",
]

APP_MODELS = ("mnist-vgg", "mnist-resnet", "resnet50", "vgg19")
"""The models offered in the app (the library supports more ResNets/VGGs)."""


def app_dir() -> Path:
    """Uploads and fitted classifier files (content-addressed), shared by sessions."""
    return default_cache_dir() / "app"


def adversarial_cache() -> AdversarialCache:
    """The adversarial cache the CLI's ``evaluate`` and ``scripts/`` write to."""
    return AdversarialCache.default()


def results() -> ResultStore:
    """Stored experiment results (JSON) of the Ablations and Benchmark pages."""
    return ResultStore(default_cache_dir() / "results")


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model_bundle(name: str, weights: str | None) -> ModelBundle:
    return regroup_core.load_model(name, weights=weights)


@st.cache_resource(show_spinner="Loading the REGroup classifiers…", max_entries=4)
def defended_model(choice: ModelChoice) -> REGroup:
    """The REGroup defence of a choice that names a classifier file."""
    if choice.classifier is None:
        raise ModelError(f"expected a classifier file for {choice.name}, got none")
    return regroup_core.load_defended(model_bundle(choice.name, choice.weights), choice.classifier)


def current_model(choice: ModelChoice) -> tuple[ModelBundle, REGroup | None]:
    """The chosen model and, when a classifier file is chosen, its REGroup defence."""
    try:
        bundle = model_bundle(choice.name, choice.weights)
    except ModelError as exc:
        if choice.weights is not None:
            raise
        raise ModelError(pretrained_help(choice.name, exc)) from None
    return bundle, defended_model(choice) if choice.classifier else None


@st.cache_data(show_spinner=False, max_entries=256)
def predict_ranks(choice: ModelChoice, x: np.ndarray) -> Prediction:
    """Prediction of a batch (B, C, H, W) with every layer's ranks (a copy per caller)."""
    defended = defended_model(choice)
    bundle = model_bundle(choice.name, choice.weights)
    batch = bundle.check_batch(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return defended.predict(batch, k=defended.classifiers.k, scope="all")


def stash_upload(data: bytes, suffix: str) -> str:
    """Write uploaded bytes to the content-addressed cache and return the path."""
    folder = app_dir()
    path = folder / f"upload-{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not path.is_file():  # concurrent sessions: atomic rename, readers never see half a file
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return str(path)
