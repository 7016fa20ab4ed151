"""Our own attacks: SPSA (:mod:`regroup_core.attacks.spsa`), the adaptive plan on REGroup
(:mod:`regroup_core.attacks.adaptive_plan`, which the PGD presets run under the adaptive threat
model) and the feature-space attacks (:mod:`regroup_core.attacks.pmf_match`). They draw from their
own ``torch.Generator``, never the global one."""

from __future__ import annotations

import torch

from ..adaptive_plan import AdaptivePlan, run_plan
from ..pmf_match import pmf_match
from ..specs import Method
from ..spsa import spsa
from .base import Adapter, AttackJob, Extras, register

__all__ = ["OursAdapter", "PmfMatchAdapter", "adaptive_pgd_batch"]


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


@register
class PmfMatchAdapter(Adapter):
    """Feature-space attacks on REGroup's voters (adaptive threat model only)."""

    methods = (Method.PMF_MATCH,)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        p = job.params
        out = pmf_match(job.target.defended, x.to(job.target.device), y, norm=job.preset.norm, epsilon=job.eps,
                        steps=int(p["steps"]), target_classes=int(p["target_classes"]), targets=t,
                        keep_softmax=bool(p["keep_softmax"]))
        return out.adversarial.cpu(), {"pmf_target_rank": out.target_rank}

    def versions(self) -> dict[str, str]:
        return {"regroup_core.attacks.pmf_match": "ours"}


def adaptive_pgd_batch(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, eps: float,
                       seed: int, start: torch.Tensor | None) -> tuple[torch.Tensor, Extras]:
    """The adaptive plan of :mod:`regroup_core.attacks.adaptive_plan` on REGroup (``start``: the
    transfer adversarials it may start from), with its per-sample records."""
    outcome = run_plan(job.target.defended, x.to(job.target.device), y, norm=job.preset.norm, epsilon=eps,
                       plan=AdaptivePlan.of(job.params), transfer=start, targets=t,
                       generator=torch.Generator().manual_seed(int(seed) % 2**63))
    return outcome.adversarial.cpu(), {"adaptive_run": outcome.run_index, "zero_gradient": outcome.zero_gradient,
                                       "adaptive_passes": torch.full((len(x),), outcome.steps_run / max(len(x), 1))}
