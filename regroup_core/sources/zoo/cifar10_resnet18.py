"""``cifar10-resnet18``: the standard-trained CIFAR-10 ResNet-18 shipped in the installed
``pyautoattack`` package (the AutoAttack authors' demo network, MIT): the state dict
``pyautoattack/examples/model_test.pt`` for ``pyautoattack/examples/resnet.py``. Inputs are
32×32 RGB in [0, 1] without normalisation; outputs the 10 CIFAR-10 classes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from torch import nn

from ...errors import ModelError
from ..statedict import apply_state, read_state_dict, seeded_build, state_from_file

__all__ = ["CIFAR10_CLASSES", "NAME", "build", "weights_file"]

NAME = "cifar10-resnet18"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _examples() -> Path:
    spec = importlib.util.find_spec("pyautoattack")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"expected the 'pyautoattack' package (pip install pyautoattack==0.2.0) for {NAME}, "
                         "got none installed")
    return Path(next(iter(spec.submodule_search_locations))) / "examples"


def weights_file() -> Path:
    return _examples() / "model_test.pt"


def _architecture() -> nn.Module:
    path = _examples() / "resnet.py"
    spec = importlib.util.spec_from_file_location("regroup_pyautoattack_resnet", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ModelError(f"expected {path.name} in pyautoattack's examples for {NAME}, got none")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # code of an installed package, like any import
    return module.ResNet18()


def build(weights: str | None) -> tuple[nn.Module, str]:
    """(network, weights label) for None (the shipped weights), 'random' or a file."""
    if weights == "random":
        return seeded_build(_architecture), "random"
    net = _architecture()
    if weights is None or weights == "embedded":
        apply_state(net, read_state_dict(weights_file()), f"pyautoattack {weights_file().name}")
        return net, "embedded"
    return net, state_from_file(net, weights)
