"""A tiny model bundle and a tiny ImageFolder of PNGs for the scale tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import make_small
from PIL import Image

from regroup_core.sources.models import ModelBundle, bundle_from_module

CLASSES = ("a", "b", "c", "d")


def gray_preprocess(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).unsqueeze(0)


def tiny_bundle() -> ModelBundle:
    return bundle_from_module(make_small(), name="small", class_names=CLASSES, preprocess=gray_preprocess,
                              input_shape=(1, 8, 8))


def write_folder(root: Path, n: int = 60, seed: int = 0, wrong: float = 0.3) -> list[tuple[Path, int]]:
    """``n`` random 8×8 PNGs in class folders; a fraction ``wrong`` is filed under a class the
    model does not predict (so the fit must skip them). Returns (path, label) in write order."""
    bundle = tiny_bundle()
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
    with torch.no_grad():
        predicted = bundle.model(torch.from_numpy(pixels).float().div(255).unsqueeze(1)).argmax(1).numpy()
    out = []
    for i in range(n):
        label = int(predicted[i])
        if rng.random() < wrong:
            label = (label + 1 + int(rng.integers(0, 3))) % 4
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(pixels[i], mode="L").save(path)
        out.append((path, label))
    return out
