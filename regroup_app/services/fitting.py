"""Fitting from the Model page: the library's one fit entry (:func:`regroup_core.api.fit` with a
:class:`~regroup_core.run.options.FitOptions`, what the CLI runs too, at its batch size) with a
progress callback, saved to a content-addressed classifier file so every session (and page
switch) reuses it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from regroup_core import ModelBundle, checks, save_classifiers
from regroup_core.api import FitOptions, fit
from regroup_core.sources import ImageFiles, resolve_data
from regroup_core.store import cache_key

from .data_roots import check_data_spec, check_files
from .threads import all_cores

__all__ = ["classifier_path", "default_workers", "fit_to_file"]

def default_workers(data: str) -> int:
    """DataLoader workers for fitting data: files on disk are decoded in parallel (up to 4 worker
    processes, at most one per core); in-memory data specs (``mnist:train``) need none."""
    return min(4, os.cpu_count() or 1) if Path(data).exists() else 0


def classifier_path(cache_dir: Path, bundle: ModelBundle, settings: dict) -> Path:
    """Where the classifiers of ``bundle`` fitted with ``settings`` are (or will be) stored."""
    key = cache_key({"model": bundle.name, "fingerprint": bundle.fingerprint, **settings})
    return cache_dir / f"classifiers-{bundle.name}-{key[:16]}.safetensors"


def fit_to_file(bundle: ModelBundle, data: str, options: FitOptions, cache_dir: Path) -> Path:
    """Fit (unless an identical fit is cached) and return the classifier file's path.

    ``data`` and ``options.selection`` are read only from built-in splits or under the configured
    data roots (:mod:`~regroup_app.services.data_roots`), every listed file included. Runs at the
    engine's throughput: its batch size, every core (:func:`~regroup_app.services.threads.all_cores`)
    and DataLoader workers for files on disk (:func:`default_workers`).
    """
    per_class = checks.integer(options.per_class, "Samples per class", lo=1)
    k = None if options.k is None else checks.integer(options.k, "k", lo=1, hi=len(bundle.layers))
    threshold = checks.probability(options.threshold, "Per-layer accuracy threshold")
    data = check_data_spec(data, "fitting data")
    raw = options.selection
    selection = check_data_spec(raw, "held-out data") if isinstance(raw, str) and raw.strip() else None
    for spec, what in ((data, "fitting data"), (selection, "held-out data")):
        if spec is not None:
            dataset = resolve_data(spec, bundle)
            if isinstance(dataset, ImageFiles):
                check_files(dataset, what)
    settings = {"data": data, "selection": selection, "per_class": per_class, "k": k, "threshold": threshold,
                "on_empty": options.on_empty}
    path = classifier_path(cache_dir, bundle, settings)
    if path.is_file():
        if options.callback is not None:
            options.callback(1, 1, "cached")
        return path
    options = replace(options, per_class=per_class, k=k, threshold=threshold,
                      selection=selection if k is None else None, workers=default_workers(data))
    with all_cores():
        classifiers = fit(bundle, data, options)
    save_classifiers(classifiers, path)  # atomic: concurrent sessions never read half a file
    return path
