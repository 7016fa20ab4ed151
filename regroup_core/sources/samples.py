"""``foolbox:<dataset>``: the 20 real sample images foolbox ships for each of its datasets
(``imagenet``, ``cifar10``, ``cifar100``, ``mnist``, ``fashionMNIST``), as an offline data
spec read through the model's own preprocessing. Twenty images check a pipeline; they are not
an evaluation set."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError

__all__ = ["FOOLBOX_SETS", "foolbox_samples"]

FOOLBOX_SETS = {"imagenet": 1000, "cifar10": 10, "cifar100": 100, "mnist": 10, "fashionMNIST": 10}
"""foolbox's sample sets and their number of classes."""


def _folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("expected the 'foolbox' package for foolbox:<dataset> samples, got none installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def foolbox_samples(dataset: str, class_names: Sequence[str], name: str) -> list[tuple[str, int]]:
    """(path, label) of the 20 samples of ``dataset``, for a model with ``class_names``."""
    if dataset not in FOOLBOX_SETS:
        raise DataError(f"expected one of {[f'foolbox:{d}' for d in FOOLBOX_SETS]}, got 'foolbox:{dataset}'")
    if len(class_names) != FOOLBOX_SETS[dataset]:
        raise DataError(f"expected a model with {FOOLBOX_SETS[dataset]} classes for 'foolbox:{dataset}', got "
                        f"{name} with {len(class_names)} classes")
    pattern = re.compile(rf"^{re.escape(dataset)}_(\d\d)_(\d+)\.png$")
    found = sorted((int(m.group(1)), int(m.group(2)), entry) for entry in os.listdir(_folder())
                   if (m := pattern.match(entry)))
    if not found:
        raise DataError(f"expected foolbox's {dataset} sample images, got none in the installed foolbox")
    return [(str(_folder() / entry), label) for _, label, entry in found]
