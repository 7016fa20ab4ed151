"""Feature-space attacks on REGroup: make every voter's PMF look like another class's (issue #19).

Defences built on class-conditional statistics of internal features fall to attacks that match
the features of another class instead of attacking the output (Tramèr et al. 2020, the
generative-classifier and kNN cases). REGroup's analogue: each voter v (layer ℓ, sign ±) ranks
the classes by KL(C_y^v ‖ PMF^v(x)); the attack moves every voter's PMF toward the target
class's mixture C_t^v, minimising

    L(x) = Σ_v log KL(C_t^v ‖ PMF^v(x))

(the logarithm makes the voters' ~500× different KL scales contribute relative progress, so no
voter dominates). No surrogate of the vote is involved: the attack never sees Borda points.

* ``pmf-match``: toward each wrong class in turn (best clean soft-Borda score first, up to
  ``target_classes``); success = the exact REGroup no longer names the label outright.
* ``pmf-match-targeted``: toward the given target; success = the target wins outright.
* ``pmf-match-softmax``: the same as ``pmf-match`` plus a hinge that keeps the undefended
  softmax right (``max_{j≠y} logit_j − logit_y + κ ≤ 0``); success = REGroup fooled *and* the
  softmax still right: the failures that are REGroup's alone.

Optimiser: APGD (:mod:`~regroup_core.attacks.apgd`), the exact decision judged after every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..engine import REGroup
from .adaptive_plan import ordered_wrong_classes
from .apgd import apgd
from .specs import Norm
from .threats import voter_divergences

__all__ = ["PmfMatchOutcome", "pmf_match"]

KAPPA = 2.0
"""Logit margin the softmax-keeping variant asks the true class to hold."""
HINGE_WEIGHT = 10.0


@dataclass(frozen=True)
class PmfMatchOutcome:
    adversarial: torch.Tensor
    fooled: torch.Tensor
    target_rank: torch.Tensor   # (B,) the r-th wrong class that succeeded (−1: none, −2: wrong when clean)
    passes: int


def _loss(defended: REGroup, labels: torch.Tensor, aim: torch.Tensor, sub: torch.Tensor, keep_softmax: bool):
    def loss(xs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        kl = voter_divergences(defended, xs, differentiable=True)
        t = aim[sub[idx]].to(kl.device)
        kl_t = kl.gather(2, t.view(-1, 1, 1).expand(-1, kl.shape[1], 1)).squeeze(2)
        value = -torch.log(kl_t.clamp_min(1e-12)).sum(1)
        if keep_softmax:
            logits = defended.model(xs).double()
            y = labels[sub[idx]].to(logits.device)
            own = logits.gather(1, y.unsqueeze(1)).squeeze(1)
            other = logits.scatter(1, y.unsqueeze(1), -torch.inf).max(1).values
            value = value - HINGE_WEIGHT * torch.relu(other - own + KAPPA)
        return value

    return loss


def _judge(defended: REGroup, labels: torch.Tensor, goal: torch.Tensor | None, sub: torch.Tensor,
           keep_softmax: bool):
    def judge(xs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            pred = defended.predict(xs)
        y = labels[sub[idx]]
        if goal is not None:
            return (pred.regroup_labels == goal[sub[idx]]) & ~pred.regroup_tied
        hit = ~pred.regroup_correct(y)
        return hit & (pred.softmax_labels == y) if keep_softmax else hit

    return judge


def pmf_match(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, *, norm: Norm | str, epsilon: float,
              steps: int, target_classes: int = 3, targets: torch.Tensor | None = None,
              keep_softmax: bool = False) -> PmfMatchOutcome:
    """Run the attack of the module doc on ``x`` (B, C, H, W) in [0, 1]; ε on the [0, 1] scale."""
    norm = Norm(norm)
    x, labels = x.detach(), labels.to(torch.int64).cpu()
    n = len(x)
    with torch.no_grad():
        clean = defended.predict(x)
    fooled = torch.zeros(n, dtype=torch.bool) if targets is not None else ~clean.regroup_correct(labels)
    rank = torch.full((n,), -1, dtype=torch.int64)
    rank[fooled] = -2
    aims = ([targets.cpu()] if targets is not None
            else list(ordered_wrong_classes(defended, x, labels).T[:target_classes]))
    adversarial, passes = x.clone(), 0
    for r, aim in enumerate(aims, start=1):
        sub = (~fooled).nonzero().squeeze(1)
        if len(sub) == 0:
            break
        ds = sub.to(x.device)
        res = apgd(_loss(defended, labels, aim, sub, keep_softmax),
                   _judge(defended, labels, None if targets is None else targets.cpu(), sub, keep_softmax),
                   x[ds], torch.zeros_like(x[ds]), norm=norm, epsilon=epsilon, steps=steps)
        passes += res.passes
        adversarial[ds] = res.adversarial
        fooled[sub[res.fooled]] = True
        rank[sub[res.fooled]] = r
    return PmfMatchOutcome(adversarial=adversarial, fooled=fooled, target_rank=rank, passes=passes)
