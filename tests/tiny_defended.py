"""A tiny model bundle and its REGroup defence, shared by the attack and experiment tests."""

from __future__ import annotations

import functools

import torch
from conftest import SMALL_CLASSES, fit_small, self_labelled, small_bundle

from regroup_core.engine.predictor import REGroup
from regroup_core.sources.models import ModelBundle

CLASSES = SMALL_CLASSES


@functools.lru_cache(maxsize=1)
def tiny() -> tuple[ModelBundle, REGroup]:
    """SmallNet (1×8×8 inputs, 4 classes) and REGroup fitted on 200 self-labelled images, k=3."""
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 200)
    fitted = fit_small(bundle, x, y, per_class=30, k=3, batch_size=50)
    return bundle, REGroup(bundle.model, fitted)


def tiny_batch(n: int = 6, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh images labelled by the net itself (every one correctly classified by softmax)."""
    bundle, _ = tiny()
    return self_labelled(bundle.model, n, seed=seed)
