"""scripts/mnist_training.py: augmentation and a training smoke test of the embedded models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from regroup_core.sources.mnist import MNIST_MODELS, build_mnist_model
from scripts.mnist_training import (
    random_affine,
    save_state_dict_atomic,
    train_mnist_model,
)

NAMES = list(MNIST_MODELS)


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
