"""torchattacks: APGD-CE, APGD-T and Square (L∞), imported on first use."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import torch

from ...rng import global_rng
from ..specs import Method
from .base import Adapter, AttackJob, Extras, register

__all__ = ["TorchattacksAdapter"]


def _attack(job: AttackJob, seed31: int) -> Any:
    import torchattacks  # lazy: only these presets need it

    p, m, model, eps = job.params, job.target.num_classes, job.target.model, job.eps
    if job.preset.method is Method.APGD_CE:
        return torchattacks.APGD(model, norm="Linf", eps=eps, steps=p["steps"], n_restarts=p["restarts"],
                                 seed=seed31, loss="ce", rho=p["rho"])
    if job.preset.method is Method.APGD_T:
        attack = torchattacks.APGDT(model, norm="Linf", eps=eps, steps=p["steps"], n_restarts=p["restarts"],
                                    seed=seed31, rho=p["rho"], n_classes=m)
        attack.n_target_classes = max(1, min(int(p["target_classes"]), m - 2))  # DLR-T needs 3 other classes
        return attack
    return torchattacks.Square(model, norm="Linf", eps=eps, n_queries=p["queries"], n_restarts=p["restarts"],
                               p_init=p["p_init"], loss="margin", seed=seed31)


@register
class TorchattacksAdapter(Adapter):
    methods = (Method.APGD_CE, Method.APGD_T, Method.SQUARE)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        attack = _attack(job, int(seed) % 2**31)
        with global_rng(seed):  # torchattacks seeds and draws from torch's global generator
            adv = attack(x.to(job.target.device), y.to(job.target.device))
        return adv.detach().cpu(), {}

    def versions(self) -> dict[str, str]:
        return {"torchattacks": version("torchattacks")}
