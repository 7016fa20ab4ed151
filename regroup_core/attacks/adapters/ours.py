"""Our own attacks: SPSA (:mod:`regroup_core.attacks.spsa`) and the adaptive PGD on REGroup
(:mod:`regroup_core.attacks.adaptive`, which the PGD presets run under the adaptive threat model).
Both draw from their own ``torch.Generator``, never the global one."""

from __future__ import annotations

import torch

from ..adaptive import adaptive_pgd
from ..specs import Method
from ..spsa import spsa
from .base import Adapter, AttackJob, Extras, register

__all__ = ["OursAdapter", "adaptive_pgd_batch"]


@register
class OursAdapter(Adapter):
    methods = (Method.SPSA,)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        p, device = job.params, job.target.device
        g = torch.Generator().manual_seed(seed)
        adv = spsa(job.target.model, x.to(device), y.to(device), epsilon=job.eps, steps=p["steps"],
                   samples=p["samples"], delta=p["delta"], lr=p["lr"], early_stop_loss=p["early_stop_loss"],
                   targets=None if t is None else t.to(device), generator=g)
        return adv.cpu(), {}

    def versions(self) -> dict[str, str]:
        return {"regroup_core.attacks.spsa": "ours"}


def adaptive_pgd_batch(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, eps: float,
                       seed: int, start: torch.Tensor | None) -> tuple[torch.Tensor, Extras]:
    """The adaptive PGD of :mod:`regroup_core.attacks.adaptive` on REGroup (``start``: the transfer
    adversarials it may start from), with its per-sample records."""
    p = job.params
    outcome = adaptive_pgd(job.target.defended, x.to(job.target.device), y, norm=job.preset.norm, epsilon=eps,
                           steps=p["steps"], restarts=int(p.get("restarts", 0)),
                           runner_up_targets=int(p.get("runner_up_targets", 0)), transfer=start, targets=t,
                           surrogate=job.target.model.surrogate,
                           generator=torch.Generator().manual_seed(int(seed) % 2**63))
    return outcome.adversarial.cpu(), {"adaptive_run": outcome.run_index, "zero_gradient": outcome.zero_gradient,
                                       "adaptive_passes": torch.full((len(x),), outcome.steps_run / max(len(x), 1))}
