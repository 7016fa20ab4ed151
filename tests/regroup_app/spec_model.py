"""An own-architecture model as a user brings it: a module with a factory, trained here on a small
generated folder, described by a ``model.toml`` in an operator's spec folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

CLASSES = ("red", "green", "blue")
SIZE = 16

MODULE = '''
"""A user's own little CNN (colour photos, 3 classes)."""
from torch import nn


def build(num_classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, num_classes))
'''

SPEC = '''
name = "colours"
description = "A tiny CNN that tells red, green and blue photos apart (trained in a test)"
factory = "colournet:build"
arguments = {{ num_classes = 3 }}
weights = "colournet.safetensors"
classes = "classes.txt"
input_size = [3, {size}, {size}]
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
'''


def colour_images(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, SIZE, SIZE, 3) uint8 noisy pictures whose dominant channel is the class, and labels."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(len(CLASSES)):
        base = rng.integers(0, 120, size=(n_per_class, SIZE, SIZE, 3))
        base[..., c] += rng.integers(80, 136, size=(n_per_class, SIZE, SIZE))
        images.append(base.clip(0, 255).astype(np.uint8))
        labels += [c] * n_per_class
    return np.concatenate(images), np.array(labels)


def write_folder(root: Path, n_per_class: int = 6, seed: int = 1) -> Path:
    """An ImageFolder of generated colour pictures (one sub-folder per class)."""
    images, labels = colour_images(n_per_class, seed)
    for i, (img, y) in enumerate(zip(images, labels)):
        (root / CLASSES[y]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / CLASSES[y] / f"{i:03d}.png")
    return root


def write_spec_model(folder: Path) -> Path:
    """The module, trained weights, classes.txt and model.toml in ``folder``; the spec's path."""
    import importlib.util

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "colournet.py").write_text(MODULE)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    spec = importlib.util.spec_from_file_location("colournet_for_training", folder / "colournet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    torch.manual_seed(0)
    net = module.build(3)
    images, labels = colour_images(40, seed=0)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "colournet.safetensors"))
    (folder / "model.toml").write_text(SPEC.format(size=SIZE))
    return folder / "model.toml"
