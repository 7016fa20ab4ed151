"""The high-level workflow every front end calls: fit, select k, defend, save, load.

    bundle = load_model("mnist-vgg")
    classifiers = fit(bundle, "mnist:train", selection="mnist:selection")
    defended = defend(bundle, classifiers)
    prediction = defended.predict(bundle.image_batch([image]))
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch.utils.data import DataLoader, Dataset

from .classifier import DELTA, GenerativeClassifiers
from .datasets import make_loader, resolve_data
from .fit import EmptyClassPolicy, accumulate
from .persistence import check_compatible, load_classifiers
from .regroup import REGroup, per_layer_accuracy, select_k
from .zoo import ModelBundle

__all__ = ["fit", "defend", "load_defended", "DEFAULT_K", "DEFAULT_THRESHOLD"]

DEFAULT_K = 5
"""The paper's k for ResNet-50 and VGG-19, used when no selection data is given."""

DEFAULT_THRESHOLD = 0.75
"""The paper's per-layer accuracy threshold for choosing k."""

Data = str | Dataset | DataLoader | Iterable[tuple[torch.Tensor, torch.Tensor]]


def _batches(data: Data, bundle: ModelBundle, batch_size: int) -> tuple[Iterable, int | None, str]:
    """(batches, number of batches if known, description) for a spec, dataset or loader."""
    if isinstance(data, str):
        loader = make_loader(resolve_data(data, bundle), batch_size=batch_size)
        return loader, len(loader), data
    if isinstance(data, Dataset):
        loader = make_loader(data, batch_size=batch_size)
        return loader, len(loader), type(data).__name__
    total = len(data) if hasattr(data, "__len__") else None
    return data, total, type(data).__name__


def fit(bundle: ModelBundle, data: Data, *, per_class: int | None = 50, selection: Data | None = None,
        threshold: float = DEFAULT_THRESHOLD, k: int | None = None, on_empty: EmptyClassPolicy = "error",
        batch_size: int = 64, delta: float = DELTA, progress: bool = False) -> GenerativeClassifiers:
    """Fit the layer-wise generative classifiers of ``bundle`` and choose k.

    k is, in order: the given ``k``; else the paper's rule on ``selection`` data (number of
    highest layers whose own accuracy reaches ``threshold`` on correctly classified samples);
    else :data:`DEFAULT_K` (capped at the number of layers).
    """
    batches, total, description = _batches(data, bundle, batch_size)
    stats = accumulate(bundle.model, batches, bundle.layers, bundle.num_classes, per_class=per_class,
                       delta=delta, progress=progress, total=total)
    default_k = min(k or DEFAULT_K, len(bundle.layers))
    classifiers = stats.to_classifiers(class_names=bundle.class_names, model_id=bundle.name,
                                       fingerprint=bundle.fingerprint, per_class=per_class, k=default_k,
                                       on_empty=on_empty, info={"fit_data": description})
    if k is None and selection is not None:
        sel_batches, sel_total, sel_description = _batches(selection, bundle, batch_size)
        accuracy, n = per_layer_accuracy(REGroup(bundle.model, classifiers), sel_batches,
                                         progress=progress, total=sel_total)
        chosen = select_k(accuracy, threshold)
        classifiers = classifiers.with_k(chosen, k_selection={
            "data": sel_description, "threshold": threshold, "samples": n,
            "layer_accuracy": [round(float(a), 6) for a in accuracy]})
    return classifiers


def defend(bundle: ModelBundle, classifiers: GenerativeClassifiers) -> REGroup:
    """REGroup over ``bundle``'s model, after checking the classifiers belong to it."""
    check_compatible(classifiers, model_id=bundle.name, fingerprint=bundle.fingerprint,
                     layers=bundle.layers, class_names=bundle.class_names)
    return REGroup(bundle.model, classifiers)


def load_defended(bundle: ModelBundle, path: str | os.PathLike[str]) -> REGroup:
    """Load a classifier file and defend ``bundle`` with it (mismatches are clear errors)."""
    return defend(bundle, load_classifiers(path))
