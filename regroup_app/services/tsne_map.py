"""The t-SNE page's data: per (model, layer, class) accumulator PMFs of real images and of their PGD
(transfer) adversarial versions, and the 2-D map of chosen classes. Per-class results are cached, so
adding a class computes only that class; the attacks go through the shared adversarial cache."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from regroup_core.analysis import tsne

from ..state import AttackChoice, ModelChoice
from .attacking import attack_batch
from .cache import defended_model, model_bundle, predict_ranks
from .gallery import sample_set

__all__ = ["TSNE_ATTACK_STEPS", "TSNE_ITERATIONS", "class_adversarial", "class_pmfs", "tsne_points"]

TSNE_ATTACK_STEPS = 10
"""PGD steps of the t-SNE overlay (interactive on a CPU; the Attack lab runs the full preset)."""

TSNE_ITERATIONS = 300
"""t-SNE iterations after early exaggeration (half as many before): ample for a few hundred points."""


@st.cache_data(show_spinner=False, max_entries=256)
def class_adversarial(choice: ModelChoice, c: int, per_class: int, epsilon_255: float,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """PGD (transfer) adversarial versions of class ``c``'s sample images, and REGroup's class for
    the clean and the adversarial images — computed once per (model, class), whatever the layer."""
    x, y = sample_set(choice.name, (c,), per_class)
    request = AttackChoice("pgd", "transfer", epsilon=epsilon_255, steps=TSNE_ATTACK_STEPS, seed=seed)
    adv = attack_batch(choice, x, y, request).adversarial.numpy()
    both = defended_model(choice).predict(torch.from_numpy(np.concatenate([x, adv])))
    labels = both.regroup_labels.numpy()
    return {"adversarial": adv, "regroup_clean": labels[:len(x)], "regroup_adversarial": labels[len(x):]}


@st.cache_data(show_spinner=False, max_entries=512)
def class_pmfs(choice: ModelChoice, layer_name: str, c: int, per_class: int, epsilon_255: float | None,
               seed: int = 0) -> np.ndarray:
    """(N, 2D) pos+neg PMFs at ``layer_name`` of class ``c``'s sample images — or of their
    adversarial versions when ``epsilon_255`` is given: computed once per (model, layer, class)."""
    bundle = model_bundle(choice.name, choice.weights)
    layer = next(layer for layer in bundle.layers if layer.name == layer_name)
    if epsilon_255 is None:
        images, _ = sample_set(bundle.name, (c,), per_class)
    else:
        images = class_adversarial(choice, c, per_class, epsilon_255, seed)["adversarial"]
    return tsne.layer_pmfs(bundle.model, torch.from_numpy(images), layer, variant="pos+neg")


def _points(choice: ModelChoice, layer_name: str, classes: tuple[int, ...], per_class: int,
            epsilon_255: float | None, seed: int) -> dict[str, list[np.ndarray]]:
    """Per class: images, labels, REGroup's answers and PMFs, clean then (with ``epsilon_255``) adversarial."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("images", "labels", "regroup", "pmfs", "adv_images",
                                                          "adv_labels", "adv_regroup", "adv_pmfs")}
    for c in classes:
        x, y = sample_set(choice.name, (c,), per_class)
        parts["pmfs"].append(class_pmfs(choice, layer_name, c, per_class, None, seed))
        parts["images"].append(x)
        parts["labels"].append(y)
        if epsilon_255 is None:
            parts["regroup"].append(predict_ranks(choice, x).regroup_labels.numpy())
            continue
        adv = class_adversarial(choice, c, per_class, epsilon_255, seed)
        parts["regroup"].append(adv["regroup_clean"])
        parts["adv_images"].append(adv["adversarial"])
        parts["adv_regroup"].append(adv["regroup_adversarial"])
        parts["adv_pmfs"].append(class_pmfs(choice, layer_name, c, per_class, epsilon_255, seed))
        parts["adv_labels"].append(y)
    return parts


@st.cache_data(show_spinner=False, max_entries=64)
def tsne_points(choice: ModelChoice, layer_name: str, classes: tuple[int, ...], per_class: int,
                with_adversarial: bool, epsilon_255: float, variants: tuple[str, ...] = ("pos", "neg", "pos+neg"),
                seed: int = 0) -> dict[str, np.ndarray]:
    """t-SNE of one layer's accumulator PMFs for real samples of ``classes``: the clean points are
    embedded, the PGD (transfer) adversarial versions are *placed* into that embedding (openTSNE
    ``transform``). Per-class PMFs and attacks come from :func:`class_pmfs` and
    :func:`class_adversarial`, so adding a class computes only that class.

    Returns ``images``, ``labels`` (true class), ``regroup`` (REGroup's class), ``adversarial``
    (bool), ``origin`` (index of each point's clean original) and one (N, 2) array per variant.
    """
    p = _points(choice, layer_name, classes, per_class, epsilon_255 if with_adversarial else None, seed)
    clean = np.concatenate(p["pmfs"])
    n, n_adv = len(clean), len(clean) if with_adversarial else 0
    out: dict[str, np.ndarray] = {
        "images": np.concatenate(p["images"] + p["adv_images"]),
        "labels": np.concatenate(p["labels"] + p["adv_labels"]),
        "regroup": np.concatenate(p["regroup"] + p["adv_regroup"]),
        "adversarial": np.concatenate([np.zeros(n, dtype=bool), np.ones(n_adv, dtype=bool)]),
        "origin": np.concatenate([np.arange(n), np.arange(n_adv)]),
    }
    placed = np.concatenate(p["adv_pmfs"]) if with_adversarial else None
    for variant in variants:
        out[variant] = tsne.embed(tsne.variant_features(clean, variant), placed=None if placed is None
                             else tsne.variant_features(placed, variant), seed=seed, max_iter=TSNE_ITERATIONS)
    return out
