"""Fitting from the Model page: the library's :func:`regroup_core.fit` with a progress callback,
saved to a content-addressed classifier file so every session (and page switch) reuses it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from regroup_core import ModelBundle, fit, save_classifiers
from regroup_core.datasets import make_loader, resolve_data

__all__ = ["Reporting", "classifier_path", "fit_to_file"]

Progress = Callable[[str, int, int], None]
"""callback(stage, done, total)."""


class Reporting:
    """Batches of a loader that report each one to ``callback`` (fit() reads ``len``)."""

    def __init__(self, loader, stage: str, callback: Progress) -> None:
        self.loader, self.stage, self.callback = loader, stage, callback

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        total = len(self.loader)
        for i, batch in enumerate(self.loader, start=1):
            yield batch
            self.callback(self.stage, i, total)


def classifier_path(cache_dir: Path, bundle: ModelBundle, settings: dict) -> Path:
    """Where the classifiers of ``bundle`` fitted with ``settings`` are (or will be) stored."""
    key = json.dumps({"model": bundle.name, "fingerprint": bundle.fingerprint, **settings}, sort_keys=True)
    return cache_dir / f"classifiers-{bundle.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"


def fit_to_file(bundle: ModelBundle, *, data: str, selection: str | None, per_class: int, k: int | None,
                threshold: float, cache_dir: Path, callback: Progress, batch_size: int = 64,
                on_empty: str = "error") -> Path:
    """Fit (unless an identical fit is cached) and return the classifier file's path."""
    settings = {"data": data, "selection": selection, "per_class": per_class, "k": k, "threshold": threshold,
                "on_empty": on_empty}
    path = classifier_path(cache_dir, bundle, settings)
    if path.is_file():
        callback("cached", 1, 1)
        return path
    train = Reporting(make_loader(resolve_data(data, bundle), batch_size=batch_size), "fit", callback)
    held_out = None
    if selection and k is None:
        held_out = Reporting(make_loader(resolve_data(selection, bundle), batch_size=batch_size), "choose k",
                             callback)
    classifiers = fit(bundle, train, per_class=per_class, selection=held_out, threshold=threshold, k=k,
                      on_empty=on_empty)
    save_classifiers(classifiers, path)  # atomic: concurrent sessions never read half a file
    return path
