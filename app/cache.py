"""Shared, cached, read-only resources of the app: models, defended classifiers, predictions,
attacks, t-SNE points and stored results.

Everything here is shared by every browser session and is **read-only**: never mutate what
these functions return. Files live under the cache directory the CLI and the scripts use too
(``$REGROUP_CACHE``, default ``~/.cache/regroup-explorer``): ``app/`` holds uploads and fitted
classifiers, ``adversarial/`` the attacks (so an image attacked by ``evaluate`` is found here
at once), ``results/`` the Ablations and Benchmark results.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import regroup_core
from regroup_core import ModelBundle, Prediction, REGroup
from regroup_core.attacks import AttackResult
from regroup_core import sources
from regroup_core.sources.models import model_spec
from regroup_core.store import AdversarialCache, ResultStore, atomic_write, default_cache_dir

__all__ = [
    "APP_MODELS",
    "ModelKey",
    "adversarial_cache",
    "app_dir",
    "attack_image",
    "configure_threads",
    "defended_model",
    "model_bundle",
    "predict_ranks",
    "results",
    "sample_set",
    "shipped_classifier",
    "stash_upload",
    "class_adversarial",
    "class_pmfs",
    "tsne_points",
]

APP_MODELS = ("mnist-vgg", "mnist-resnet", "resnet50", "vgg19")
"""The models offered in the app (the library supports more ResNets/VGGs)."""

ModelKey = tuple[str, str | None, str | None]
"""(model name, weights spec, classifier file): what a session works with."""


def app_dir() -> Path:
    """Uploads and fitted classifier files (content-addressed), shared by sessions."""
    return default_cache_dir() / "app"


def adversarial_cache() -> AdversarialCache:
    """The adversarial cache the CLI's ``evaluate`` and ``scripts/`` write to."""
    return AdversarialCache.default()


def results() -> ResultStore:
    """Stored experiment results (JSON) of the Ablations and Benchmark pages."""
    return ResultStore(default_cache_dir() / "results")


def configure_threads() -> int:
    """Use at most half the CPU cores for torch (``REGROUP_APP_THREADS`` overrides).

    Why: the embedded models are tiny, and on a busy machine torch's worker threads wait for
    each other — measured here (2 cores, other load): PGD on one MNIST image 0.14 s with one
    thread against 6–17 s with two. Half the cores also leaves room for concurrent sessions.
    """
    from regroup_core.checks import integer

    raw = os.environ.get("REGROUP_APP_THREADS")
    default = max(1, (os.cpu_count() or 2) // 2)
    threads = default if raw is None else integer(raw, "REGROUP_APP_THREADS", lo=1, hi=4096)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def shipped_classifier(name: str) -> str | None:
    """The classifier file shipped for a model (fitted on its default weights), if any."""
    path = sources.shipped_classifier(name)
    return None if path is None else str(path)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model_bundle(name: str, weights: str | None) -> ModelBundle:
    return regroup_core.load_model(name, weights=weights)


@st.cache_resource(show_spinner="Loading the REGroup classifiers…", max_entries=4)
def defended_model(name: str, weights: str | None, classifier: str) -> REGroup:
    return regroup_core.load_defended(model_bundle(name, weights), classifier)


@st.cache_data(show_spinner=False, max_entries=256)
def predict_ranks(model_key: ModelKey, x: np.ndarray) -> Prediction:
    """Prediction of a batch (B, C, H, W) with every layer's ranks (a copy per caller)."""
    defended = defended_model(*model_key)  # type: ignore[arg-type]
    bundle = model_bundle(model_key[0], model_key[1])
    batch = bundle.check_batch(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return defended.predict(batch, k=defended.classifiers.k, scope="all")


def stash_upload(data: bytes, suffix: str) -> str:
    """Write uploaded bytes to the content-addressed cache and return the path."""
    folder = app_dir()
    path = folder / f"upload-{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not path.is_file():  # concurrent sessions: atomic rename, readers never see half a file
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return str(path)


def attack_image(model_key: ModelKey, x: np.ndarray, label: int, attack: str, threat: str,
                 epsilon_255: float | None, steps: int | None, target: int | None, seed: int) -> AttackResult:
    """One image attacked, through the shared adversarial cache: the same inputs give the same
    result for every session, and an image the CLI already attacked with these settings is
    served without recomputing (:func:`regroup_core.experiments.cached_attack`)."""
    from regroup_core.experiments import cached_attack

    bundle = model_bundle(model_key[0], model_key[1])
    defended = defended_model(*model_key) if model_key[2] else None  # type: ignore[arg-type]
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(0)
    options: dict = {}
    if epsilon_255 is not None:
        options["epsilon_255"] = float(epsilon_255)
    if steps is not None:
        options["steps"] = int(steps)
    if target is not None:
        options["targets"] = torch.tensor([int(target)])
    result = cached_attack(bundle, images, torch.tensor([int(label)]), attack, threat=threat, defended=defended,
                           cache=adversarial_cache(), chunk_size=1, seed=seed, **options)
    assert result is not None  # one chunk, always ours
    return result


TSNE_ATTACK_STEPS = 10
"""PGD steps of the t-SNE overlay (interactive on a CPU; the Attack lab runs the full preset)."""

TSNE_ITERATIONS = 300
"""t-SNE iterations after early exaggeration (half as many before): ample for a few hundred points."""


@st.cache_data(show_spinner=False, max_entries=256)
def class_adversarial(model_key: ModelKey, c: int, per_class: int, epsilon_255: float,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """PGD (transfer) adversarial versions of class ``c``'s sample images, and REGroup's class for
    the clean and the adversarial images — computed once per (model, class), whatever the layer."""
    from regroup_core.attacks import run_attack

    bundle = model_bundle(model_key[0], model_key[1])
    x, y = sample_set(bundle.name, (c,), per_class)
    result = run_attack(bundle, torch.from_numpy(x), torch.from_numpy(y), "pgd", threat="transfer",
                        epsilon_255=epsilon_255, steps=TSNE_ATTACK_STEPS, seed=seed)
    adv = result.adversarial.numpy()
    defended = defended_model(*model_key)  # type: ignore[arg-type]
    both = defended.predict(torch.from_numpy(np.concatenate([x, adv])))
    labels = both.regroup_labels.numpy()
    return {"adversarial": adv, "regroup_clean": labels[:len(x)], "regroup_adversarial": labels[len(x):]}


@st.cache_data(show_spinner=False, max_entries=512)
def class_pmfs(model_key: ModelKey, layer_name: str, c: int, per_class: int, epsilon_255: float | None,
               seed: int = 0) -> np.ndarray:
    """(N, 2D) pos+neg PMFs at ``layer_name`` of class ``c``'s sample images — or of their
    adversarial versions when ``epsilon_255`` is given: computed once per (model, layer, class)."""
    from regroup_core.analysis import tsne as tsne_lib

    bundle = model_bundle(model_key[0], model_key[1])
    layer = next(layer for layer in bundle.layers if layer.name == layer_name)
    if epsilon_255 is None:
        images, _ = sample_set(bundle.name, (c,), per_class)
    else:
        images = class_adversarial(model_key, c, per_class, epsilon_255, seed)["adversarial"]
    return tsne_lib.layer_pmfs(bundle.model, torch.from_numpy(images), layer, variant="pos+neg")


@st.cache_data(show_spinner=False, max_entries=64)
def tsne_points(model_key: ModelKey, layer_name: str, classes: tuple[int, ...], per_class: int,
                with_adversarial: bool, epsilon_255: float, variants: tuple[str, ...] = ("pos", "neg", "pos+neg"),
                seed: int = 0) -> dict[str, np.ndarray]:
    """t-SNE of one layer's accumulator PMFs for real samples of ``classes``: the clean points are
    embedded, the PGD (transfer) adversarial versions are *placed* into that embedding (openTSNE
    ``transform``). Per-class PMFs and attacks come from :func:`class_pmfs` and
    :func:`class_adversarial`, so adding a class computes only that class.

    Returns ``images``, ``labels`` (true class), ``regroup`` (REGroup's class), ``adversarial``
    (bool), ``origin`` (index of each point's clean original) and one (N, 2) array per variant.
    """
    from regroup_core.analysis.tsne import embed, variant_features

    images, labels, regroup, pmfs = [], [], [], []
    adv_images, adv_regroup, adv_pmfs, adv_labels = [], [], [], []
    for c in classes:
        x, y = sample_set(model_key[0], (c,), per_class)
        pmfs.append(class_pmfs(model_key, layer_name, c, per_class, None, seed))
        images.append(x)
        labels.append(y)
        if with_adversarial:
            adv = class_adversarial(model_key, c, per_class, epsilon_255, seed)
            regroup.append(adv["regroup_clean"])
            adv_images.append(adv["adversarial"])
            adv_regroup.append(adv["regroup_adversarial"])
            adv_pmfs.append(class_pmfs(model_key, layer_name, c, per_class, epsilon_255, seed))
            adv_labels.append(y)
        else:
            regroup.append(predict_ranks(model_key, x).regroup_labels.numpy())
    clean = np.concatenate(pmfs)
    n = len(clean)
    out: dict[str, np.ndarray] = {
        "images": np.concatenate(images + adv_images), "labels": np.concatenate(labels + adv_labels),
        "regroup": np.concatenate(regroup + adv_regroup),
        "adversarial": np.concatenate([np.zeros(n, dtype=bool), np.ones(n if with_adversarial else 0, dtype=bool)]),
        "origin": np.concatenate([np.arange(n), np.arange(n if with_adversarial else 0)]),
    }
    placed = np.concatenate(adv_pmfs) if with_adversarial else None
    for variant in variants:
        out[variant] = embed(variant_features(clean, variant), placed=None if placed is None
                             else variant_features(placed, variant), seed=seed, max_iter=TSNE_ITERATIONS)
    return out


def sample_set(model_name: str, classes: tuple[int, ...], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Real images of ``classes``: the model's own test split where one ships, else foolbox's
    sample set for it. Returns (N, C, H, W) float32 and (N,) int64."""
    from regroup_core.sources.data import resolve_data

    spec = model_spec(model_name)
    if spec.test_data is not None:
        bundle = model_bundle(model_name, None)
        x, y = resolve_data(spec.test_data, bundle).tensors
        idx = [j for c in classes for j in (y == c).nonzero().flatten()[:per_class].tolist()]
        return x[idx].numpy(), y[idx].numpy()
    from app.gallery import gallery
    from regroup_core.sources.models import imagenet_preprocess

    preprocess = imagenet_preprocess()  # the torchvision models' own preprocessing, no model needed
    items = [it for it in gallery("foolbox samples", model_name) if it.label in classes or not classes]
    return (np.stack([preprocess(it.image).numpy() for it in items]),
            np.array([it.label for it in items], dtype=np.int64))
