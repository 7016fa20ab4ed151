"""One adapter per attack library — foolbox (:mod:`.foolbox_`), torchattacks (:mod:`.torchattacks_`),
adv-lib (:mod:`.advlib`), pyautoattack (:mod:`.pyautoattack_`) and ours (:mod:`.ours`) — registered by
:class:`~regroup_core.attacks.specs.Method` under one base (:mod:`.base`) that runs the batches, clips to the
model's bounds and judges success once.
Importing this package imports no attack library: each adapter imports its own on first use."""

from . import advlib, foolbox_, ours, pyautoattack_, torchattacks_  # noqa: F401 - each registers its adapter
from .base import REGISTRY, Adapter, AttackJob, Target, adapter_for, fooled

__all__ = ["REGISTRY", "Adapter", "AttackJob", "Target", "adapter_for", "fooled"]
