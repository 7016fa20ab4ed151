"""A random search on REGroup's *exact* vote, the last run of the adaptive plan.

Gradient runs optimise a surrogate; near the decision boundary the surrogate and the integer
Borda count can disagree, so an image can end one Borda point short. This search starts from the
point the plan found closest to fooling REGroup (smallest exact Borda margin) and queries the
exact classifier only: each query rewrites a random square window of the perturbation
(Square attack, Andriushchenko et al. 2020: L∞ windows set to ±ε by a random sign per channel; L2
windows get a Gaussian patch and the whole δ is projected), with window sizes shrinking over the
queries, and is kept when the exact score margin does not grow. The score is
:class:`~regroup_core.attacks.threats.RegroupScores`' Borda count plus its tie-breaker below half a
point, so the search moves on plateaus of the integer count. Success (the true class no longer
wins outright; a tie counts) is confirmed with :meth:`REGroup.predict`, and the first fooling
query is kept.
"""

from __future__ import annotations

import math

import torch

from ..engine import REGroup
from .adaptive import regroup_fooled
from .apgd import project
from .specs import Norm
from .threats import RegroupScores

__all__ = ["exact_margin", "exact_search"]


def exact_margin(scores: torch.Tensor, labels: torch.Tensor, aim: torch.Tensor | None) -> torch.Tensor:
    """(B,) margin to *minimise*: the label's score over the best other (untargeted), or the best
    other over the target's (targeted). Below 0.5 the untargeted attack has succeeded (tie or worse)."""
    cls = labels if aim is None else aim
    own = scores.gather(1, cls.unsqueeze(1)).squeeze(1)
    other = scores.scatter(1, cls.unsqueeze(1), -torch.inf).max(1).values
    return own - other if aim is None else other - own


def _window(shape: torch.Size, share: float, generator: torch.Generator) -> tuple[slice, slice]:
    h, w = shape[-2], shape[-1]
    side = max(1, min(h, int(round(math.sqrt(share * h * w)))))
    top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
    return slice(top, top + side), slice(left, left + side)


def _propose(delta: torch.Tensor, x: torch.Tensor, norm: Norm, epsilon: float, share: float,
             generator: torch.Generator) -> torch.Tensor:
    """One candidate per image: δ with one random window rewritten."""
    new = delta.clone()
    for i in range(len(delta)):
        rows, cols = _window(delta.shape, share, generator)
        c = delta.shape[1]
        if norm is Norm.LINF:
            sign = torch.randint(0, 2, (c, 1, 1), generator=generator).float() * 2 - 1
            new[i, :, rows, cols] = epsilon * sign.to(delta.device)
        else:
            patch = torch.randn(new[i, :, rows, cols].shape, generator=generator) * epsilon * math.sqrt(share)
            new[i, :, rows, cols] += patch.to(delta.device)
    return project(new, x, norm, epsilon)


def exact_search(defended: REGroup, x: torch.Tensor, start: torch.Tensor, labels: torch.Tensor,
                 aim: torch.Tensor | None, *, norm: Norm, epsilon: float, queries: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Search from ``start`` (B, C, H, W) within ε of ``x``; returns (adversarial, fooled, queries used)."""
    score = RegroupScores(defended)
    delta = project(start - x, x, norm, epsilon)
    current = exact_margin(score(x + delta).cpu(), labels, aim)
    fooled = regroup_fooled(defended, x + delta, labels, aim)
    used = len(x)
    for q in range(queries):
        idx = (~fooled).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        di = idx.to(x.device)
        share = max(0.8 * (1 - q / queries) ** 2, 1.0 / (x.shape[-1] * x.shape[-2]))  # windows shrink to 1 pixel
        cand = _propose(delta[di], x[di], norm, epsilon, share, generator)
        m = exact_margin(score(x[di] + cand).cpu(), labels[idx], None if aim is None else aim[idx])
        used += len(idx)
        keep = m <= current[idx]
        k = idx[keep]
        delta[k.to(x.device)] = cand[keep.to(x.device)]
        current[k] = m[keep]
        near = k[m[keep] < 0.5 + 1e-9] if aim is None else k[m[keep] < 0]
        if len(near):
            hit = regroup_fooled(defended, x[near.to(x.device)] + delta[near.to(x.device)], labels[near],
                                 None if aim is None else aim[near])
            fooled[near[hit]] = True
    return (x + delta).detach(), fooled, used
