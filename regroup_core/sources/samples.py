"""``foolbox:<set>`` data: the 20 labelled sample images foolbox ships for each of its sample sets.

They are real photos and digits inside the installed foolbox package (no download), which makes
them the one labelled data that is everywhere: enough to fit REGroup on a network offline in
*exploring* mode and look at its layers, or to smoke-test a pipeline end to end. Twenty images
are far too few for an accuracy claim. Images are read as files with the model's own
preprocessing, like any ImageFolder.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError

__all__ = ["FOOLBOX_SETS", "foolbox_sample_files"]

FOOLBOX_SETS = {"imagenet": 1000, "cifar10": 10, "cifar100": 100, "mnist": 10, "fashionMNIST": 10}
"""foolbox's sample sets and their number of classes (the labels are the datasets' class indices)."""

_NAME = re.compile(r"^(?P<set>[A-Za-z0-9]+)_(?P<index>\d+)_(?P<label>\d+)\.(png|jpg)$")  # ImageNet's are .jpg


def _folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("foolbox")
    if spec is None or spec.origin is None:
        raise DataError("expected the foolbox package for 'foolbox:<set>' data, got none installed")
    return Path(spec.origin).parent / "data"


def foolbox_sample_files(name: str, num_classes: int) -> list[tuple[str, int]]:
    """(path, label) of foolbox's samples of set ``name``, in foolbox's order, for a model with
    ``num_classes`` classes (a set of another class count is a clear error)."""
    if name not in FOOLBOX_SETS:
        raise DataError(f"expected one of {[f'foolbox:{s}' for s in FOOLBOX_SETS]}, got 'foolbox:{name}'")
    if FOOLBOX_SETS[name] != num_classes:
        raise DataError(f"expected a model with {FOOLBOX_SETS[name]} classes for 'foolbox:{name}', got one with "
                        f"{num_classes} classes")
    found = []
    for path in sorted(_folder().iterdir()):
        match = _NAME.match(path.name)
        if match and match["set"] == name:
            found.append((int(match["index"]), str(path), int(match["label"])))
    if not found:
        raise DataError(f"expected foolbox's sample images of '{name}' in the installed foolbox, got none")
    return [(path, label) for _, path, label in sorted(found)]

