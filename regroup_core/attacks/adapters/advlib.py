"""adv-lib: Trust Region and FMN (minimisation attacks), imported on first use; a result is
bounded by ε when one is given."""

from __future__ import annotations

from importlib.metadata import version

import torch
from torch import nn

from ..specs import Method, Norm
from .base import Adapter, AttackJob, Extras, register

__all__ = ["AdvLibAdapter"]


class _Float32(nn.Module):
    """A score model's outputs as float32 (the surrogate computes in float64 inside; gradients flow)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()


def _clip(adv: torch.Tensor, x: torch.Tensor, norm: Norm, eps: float | None) -> torch.Tensor:
    """A minimisation attack's result bounded by ε when one is given (L∞ clamp / L2 rescale)."""
    if eps is None:
        return adv
    d = adv - x
    if norm is Norm.LINF:
        d = d.clamp(-eps, eps)
    else:
        n = d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (d.dim() - 1)))
        d = d * torch.clamp(eps / n, max=1.0)
    return (x + d).clamp(0.0, 1.0)


@register
class AdvLibAdapter(Adapter):
    methods = (Method.TRUST_REGION, Method.FMN)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        from adv_lib.attacks import fmn, tr  # lazy: adv-lib pulls in visdom (slow to import)

        p, m, preset = job.params, job.target.num_classes, job.preset
        xd, yd = x.to(job.target.device), y.to(job.target.device)
        norm = float("inf") if preset.norm is Norm.LINF else 2.0
        model = _Float32(job.target.model)  # adv-lib keeps float32 state (TR's radii) float64 scores would upcast
        if preset.method is Method.TRUST_REGION:
            adv = tr(model, xd, yd, iter=p["steps"], adaptive=p["adaptive"], p=norm, eps=p["eps"],
                     c=max(1, min(int(p["c"]), m - 1)), worst_case=p["worst_case"])
        else:
            adv = fmn(model, xd, yd, norm=norm, steps=p["steps"], α_init=p["alpha_init"], γ_init=p["gamma_init"],
                      γ_final=p["gamma_final"], binary_search_steps=p["binary_search_steps"])
        return _clip(adv.detach().cpu().float(), x, preset.norm, job.eps), {}

    def versions(self) -> dict[str, str]:
        return {"adv-lib": version("adv-lib")}
