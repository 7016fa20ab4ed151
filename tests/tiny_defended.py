"""A tiny model bundle and its REGroup defence, shared by the attack and experiment tests."""

from __future__ import annotations

import functools

import torch
from conftest import make_small, self_labelled

from regroup_core.fit import fit_classifiers
from regroup_core.regroup import REGroup
from regroup_core.zoo import ModelBundle, bundle_from_module

CLASSES = ("a", "b", "c", "d")


@functools.lru_cache(maxsize=1)
def tiny() -> tuple[ModelBundle, REGroup]:
    """SmallNet (1×8×8 inputs, 4 classes) and REGroup fitted on 200 self-labelled images, k=3."""
    net = make_small()
    bundle = bundle_from_module(net, name="small", class_names=CLASSES, preprocess=lambda img: torch.zeros(1, 8, 8),
                                input_shape=(1, 8, 8))
    x, y = self_labelled(net, 200)
    fitted = fit_classifiers(net, [(x[i:i + 50], y[i:i + 50]) for i in range(0, 200, 50)], bundle.layers,
                             class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                             per_class=30, k=3)
    return bundle, REGroup(net, fitted)


def tiny_batch(n: int = 6, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh images labelled by the net itself (every one correctly classified by softmax)."""
    bundle, _ = tiny()
    return self_labelled(bundle.model, n, seed=seed)
