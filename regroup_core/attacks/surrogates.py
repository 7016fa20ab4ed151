"""The losses of the adaptive plan: three differentiable stand-ins for REGroup's Borda vote.

All take the (B, V, M) float64 voter divergences KL_v(y) of
:func:`~regroup_core.attacks.threats.voter_divergences` and return (B, M) scores whose argmax
imitates the Borda winner:

``soft-borda``  Σ_v Σ_j σ((KL_v(j) − KL_v(y)) / τ_v), τ_v the gap between the voter's two best
                classes at the current input (the library's surrogate since issue #10)
``rank``        the same soft rank points with τ_v the *mean gap between neighbouring classes*
                of the voter's ranking: every rank position, not only the first, is in σ's
                sensitive range, so the score follows the exact Borda count of Eq. 7 (which
                counts every position) rather than only the first places
``poe``         Σ_v log softmax(−KL_v / τ⁰_v), τ⁰ calibrated once on the clean image (product of
                experts; the loss of ``scripts/reference_adaptive_pgd.py``)

:func:`margin_loss` turns scores into the Carlini–Wagner margin the attack maximises.
"""

from __future__ import annotations

import enum

import torch

from .threats import TAU_FLOOR, soft_scores, voter_temperatures

__all__ = ["LossKind", "margin_loss", "rank_temperatures", "scores"]


class LossKind(str, enum.Enum):
    SOFT_BORDA = "soft-borda"
    RANK = "rank"
    POE = "poe"


def rank_temperatures(kl: torch.Tensor) -> torch.Tensor:
    """(B, V, 1) the mean gap between neighbouring classes of each voter's ranking (detached)."""
    s = kl.detach().sort(dim=-1).values
    return (s[..., 1:] - s[..., :-1]).mean(-1).clamp_min(TAU_FLOOR).unsqueeze(-1)


def _soft_rank_points(kl: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    z = -kl / tau
    return (torch.sigmoid(z.unsqueeze(-1) - z.unsqueeze(-2)).sum(-1) - 0.5).sum(1)


def scores(kl: torch.Tensor, kind: LossKind, clean_tau: torch.Tensor | None = None) -> torch.Tensor:
    """(B, M) surrogate scores of ``kind`` from (B, V, M) divergences; ``clean_tau`` (B, V, 1) for ``poe``."""
    if kind is LossKind.SOFT_BORDA:
        return soft_scores(kl)
    if kind is LossKind.RANK:
        return _soft_rank_points(kl, rank_temperatures(kl))
    tau = voter_temperatures(kl) if clean_tau is None else clean_tau
    return torch.log_softmax(-kl / tau, dim=-1).sum(1)


def margin_loss(s: torch.Tensor, labels: torch.Tensor, aim: torch.Tensor | None) -> torch.Tensor:
    """(B,) loss to maximise: untargeted ``max_{j≠y} s_j − s_y``; toward ``aim`` ``s_t − max_{j≠t} s_j``."""
    cls = labels if aim is None else aim
    own = s.gather(1, cls.unsqueeze(1)).squeeze(1)
    other = s.scatter(1, cls.unsqueeze(1), -torch.inf).max(1).values
    return other - own if aim is None else own - other
