"""The high-level workflow every front end calls: fit, defend, load a defended model.

    bundle = load_model("mnist-vgg")
    classifiers = fit(bundle, "mnist:train", selection="mnist:selection")
    defended = defend(bundle, classifiers)
    prediction = defended.predict(bundle.image_batch([image]))

Thin over :mod:`regroup_core.run`: the CLI (one process or torchrun) and the app go through
the same loop, so the same data gives the same classifier everywhere.
"""

from __future__ import annotations

import os

from .engine import DEFAULT_THRESHOLD, DELTA, EmptyClassPolicy, FitRule, GenerativeClassifiers, REGroup
from .errors import ClassifierFileError
from .run import fit as run_fit
from .run.precision import Precision
from .run.progress import Progress
from .sources import Data, ModelBundle
from .store import check_compatible, load_classifiers

__all__ = ["defend", "fit", "load_defended"]


def fit(bundle: ModelBundle, data: Data, *, per_class: int | None = 50, selection: Data | None = None,
        threshold: float = DEFAULT_THRESHOLD, k: int | None = None, on_empty: EmptyClassPolicy = "error",
        batch_size: int = 64, workers: int = 0, amp: Precision | str | None = None, seed: int = 0,
        checkpoint: str | os.PathLike[str] | None = None, delta: float = DELTA, progress: bool = False,
        callback: Progress | None = None, rule: FitRule = "paper") -> GenerativeClassifiers:
    """Fit the layer-wise generative classifiers of ``bundle`` on ``data`` and choose k.

    ``data``/``selection``: ``mnist:<split>``, an ImageFolder directory, a ``path label`` file
    list or a dataset of ``(image, label)``. k is the given ``k``; else the paper's rule on
    ``selection``; else 5 (capped at the number of layers). See
    :func:`regroup_core.run.fit.fit` for every option (``rule="exploring"``: every labelled
    sample, not the paper's correct-only rule).
    """
    return run_fit.fit(bundle, data, per_class=per_class, selection=selection, threshold=threshold, k=k,
                       on_empty=on_empty, batch_size=batch_size, workers=workers, amp=amp, seed=seed,
                       checkpoint=checkpoint, delta=delta, progress=progress, callback=callback,
                       rule=rule).classifiers


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
