"""Embedded MNIST models: structure, shipped weights, and a training smoke test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from regroup_core.data.mnist import mnist_split
from regroup_core.models.mnist import (
    MNIST_MODELS,
    MnistResNet,
    MnistVGG,
    build_mnist_model,
)
from regroup_core.models.training import (
    evaluate_top1,
    random_affine,
    save_state_dict_atomic,
    train_mnist_model,
)

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "models"
NAMES = list(MNIST_MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name: str) -> None:
    model = build_mnist_model(name).eval()
    with torch.no_grad():
        assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert build_mnist_model(name, num_classes=4).eval()(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="mnist-vgg"):
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
    assert evaluate_top1(model, test_split) >= 0.975


def test_random_affine_keeps_shape_and_is_seeded() -> None:
    x = torch.rand(5, 1, 28, 28)
    a = random_affine(x, torch.Generator().manual_seed(0))
    b = random_affine(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


@pytest.mark.parametrize("name", NAMES)
def test_training_smoke_and_atomic_save(name: str, tmp_path: Path) -> None:
    rng_before = torch.get_rng_state()
    det_before = torch.are_deterministic_algorithms_enabled()
    kwargs = dict(epochs=1, seed=0, train_limit=128, evaluate=False, progress=False)
    model, metrics = train_mnist_model(name, **kwargs)
    assert not model.training and metrics["train_samples"] == 128
    assert metrics["final_train_loss"] == metrics["final_train_loss"]  # not NaN
    # Caller's RNG and determinism flag are untouched; same seed -> same weights.
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.are_deterministic_algorithms_enabled() == det_before
    again, _ = train_mnist_model(name, **kwargs)
    ref = model.state_dict()
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in ref.items())

    path = save_state_dict_atomic(ref, tmp_path / "m.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp left over
    fresh = build_mnist_model(name)
    fresh.load_state_dict(load_file(path), strict=True)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in ref.items())
