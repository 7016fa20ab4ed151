"""The embedded MNIST networks (``mnist-vgg``, ``mnist-resnet``): weights shipped in assets/models."""

from __future__ import annotations

from torch import nn

from ..assets import asset_path
from ..statedict import seeded_build, state_from_file

__all__ = ["build"]


def build(name: str, weights: str | None) -> tuple[nn.Module, str]:
    """(network, weights label) for None/'embedded' (the shipped file), 'random' or a file."""
    from ..mnist import build_mnist_model

    if weights == "random":
        return seeded_build(lambda: build_mnist_model(name)), "random"
    net = build_mnist_model(name)
    if weights is None or weights == "embedded":
        state_from_file(net, asset_path("models", f"{name}.safetensors"))
        return net, "embedded"
    return net, state_from_file(net, weights)
