"""The authors' AutoAttack (``pyautoattack``): :func:`regroup_core.attacks.autoattack_.autoattack`
on the attacked classifier (the softmax's logits, or the soft-Borda surrogate under the adaptive
threat model), with its flag checks as a per-sample bit mask."""

from __future__ import annotations

from importlib.metadata import version

import torch

from ..autoattack_ import autoattack
from ..specs import Method
from .base import Adapter, AttackJob, Extras, register

__all__ = ["AutoAttackAdapter"]


@register
class AutoAttackAdapter(Adapter):
    methods = (Method.AUTOATTACK,)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        device = job.target.device
        return autoattack(job.target.model, x.to(device), y.to(device), epsilon=job.eps,
                          version=str(job.params["version"]), seed=seed, num_classes=job.target.num_classes)

    def versions(self) -> dict[str, str]:
        return {"pyautoattack": version("pyautoattack")}
