"""The high-level workflow every front end calls: fit, defend, load a defended model.

    bundle = load_model("mnist-vgg")
    classifiers = fit(bundle, "mnist:train", selection="mnist:selection")
    defended = defend(bundle, classifiers)
    prediction = defended.predict(bundle.image_batch([image]))

Thin over :mod:`regroup_core.run`: the CLI (one process or torchrun) and the app call
:func:`fit_result` / :func:`fit` with one :class:`~regroup_core.run.options.FitOptions`, so the same
data and options give the same classifier everywhere.
"""

from __future__ import annotations

import os
from typing import Any

from .engine import GenerativeClassifiers, REGroup
from .errors import ClassifierFileError
from .run import fit as run_fit
from .run.fit import FitResult
from .run.options import FitOptions
from .sources import Data, ModelBundle
from .store import check_compatible, load_classifiers

__all__ = ["FitOptions", "defend", "fit", "fit_result", "load_defended"]


def fit_result(bundle: ModelBundle, data: Data, options: FitOptions | None = None, **changes: Any) -> FitResult:
    """Fit, and say what the run did: :func:`fit`'s classifiers with the run's counts (images read,
    unreadable files skipped, candidates) — what the CLI prints."""
    return run_fit.fit(bundle, data, FitOptions.of(options, **changes))


def fit(bundle: ModelBundle, data: Data, options: FitOptions | None = None, **changes: Any) -> GenerativeClassifiers:
    """Fit the layer-wise generative classifiers of ``bundle`` on ``data`` and choose k.

    ``data`` (and ``selection``): ``mnist:<split>``, an ImageFolder directory, a ``path label``
    file list or a dataset of ``(image, label)``. ``options`` is a
    :class:`~regroup_core.run.options.FitOptions`; keyword ``changes`` (``per_class=50``,
    ``selection="mnist:selection"``, ``checkpoint_every=10``, ... every field of it) are applied to
    it. k is the given ``k``; else the paper's rule on ``selection``; else 5 (capped at the
    number of layers).
    """
    return fit_result(bundle, data, options, **changes).classifiers


def defend(bundle: ModelBundle, classifiers: GenerativeClassifiers) -> REGroup:
    """REGroup over ``bundle``'s model, after checking the classifiers belong to it."""
    check_compatible(classifiers, model_id=bundle.name, fingerprint=bundle.fingerprint,
                     layers=bundle.layers, class_names=bundle.class_names)
    return REGroup(bundle.model, classifiers)


def load_defended(bundle: ModelBundle, path: str | os.PathLike[str]) -> REGroup:
    """Load a classifier file and defend ``bundle`` with it (mismatches are clear errors)."""
    classifiers = load_classifiers(path)  # its errors name the file already
    try:
        return defend(bundle, classifiers)
    except ClassifierFileError as exc:
        raise ClassifierFileError(f"'{path}': {exc}") from None
