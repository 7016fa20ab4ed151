"""Threat models: which classifier an attack queries, and the models that stand in for REGroup.

* ``transfer`` (the paper's): the attack sees the base model's softmax; the adversarial images
  are then classified by REGroup. REGroup is never queried by the attacker.
* ``blackbox``: decision-based attacks (Boundary, HopSkipJump, Spatial) and score-based attacks
  (SPSA, Square) query the *exact* REGroup classifier through :class:`RegroupScores`: the Borda
  count plus a continuous tie-breaker (Borda counts alone are integers, flat under the small
  finite differences of score-based attacks).
* ``adaptive``: gradient attacks run white-box against :class:`SoftRegroup`, a differentiable
  surrogate of REGroup's vote; success is judged by the exact REGroup (a Borda tie counts as
  fooled). PGD runs our own adaptive attack (:mod:`regroup_core.attacks.adaptive`): several
  losses, targets, starts, and the exact decision checked after every step.

The surrogate (per voter v = (layer ℓ, sign s ∈ {pos, neg}) of the highest k layers)::

    KL_v(y) = KL(C_y^{v} ‖ PMF^{v}(x))                 exact, float64, from capture(..., differentiable=True)
    τ_v(x)  = KL_v(2nd) − KL_v(1st)  at the current x (no gradient through τ; ≥ TAU_FLOOR)
    "soft-borda" (default): S(y) = Σ_v Σ_{j≠y} σ((KL_v(j) − KL_v(y)) / τ_v)    soft Borda points
    "log-softmax":          S(y) = Σ_v log softmax_y(−KL_v / τ_v)               product of experts

Why a temperature per voter and per image: the KL gaps between a voter's first and second
choice differ by ~500× across voters (0.006–2.9 on mnist-resnet). One global τ saturates
``σ``/``softmax`` for most voters, and in float32 their gradient is then exactly zero (the
attack cannot move). Scaling each voter by its own current gap keeps every voter's contest
between its first two classes at σ(±1), and an image's scores never depend on its batch-mates.
As τ → 0, soft Borda points become the exact Borda count of Eq. 7.
"""

from __future__ import annotations

import enum

import torch
from torch import nn

from ..engine import REGroup, borda_points, capture, stable_ranks, to_pmf

__all__ = ["TAU_FLOOR", "RegroupScores", "SoftRegroup", "Surrogate", "ThreatModel", "soft_scores",
           "voter_divergences", "voter_temperatures"]

TAU_FLOOR = 1e-9
"""Smallest per-voter temperature (KL nats): a voter whose first two classes tie exactly."""


class ThreatModel(str, enum.Enum):
    """Who the attacker queries (see the module docstring)."""

    TRANSFER = "transfer"
    BLACKBOX = "blackbox"
    ADAPTIVE = "adaptive"


class Surrogate(str, enum.Enum):
    """Differentiable stand-in for the Borda vote used by the adaptive threat model."""

    SOFT_BORDA = "soft-borda"
    LOG_SOFTMAX = "log-softmax"


_LARGE_KL = 1e6  # excluded classes: a finite stand-in for +inf so gradients stay finite


def voter_divergences(defended: REGroup, x: torch.Tensor, *, k: int | None = None,
                      differentiable: bool = False) -> torch.Tensor:
    """(B, 2k, M) float64 KL(C_y ‖ PMF(x)) of every voter (pos and neg of the highest k layers)."""
    k = defended.classifiers.k if k is None else int(k)
    layers = defended.scored_layers(k, "voters")
    acc = capture(defended.model, x, layers, differentiable=differentiable)
    excluded = list(defended.classifiers.excluded)
    out = []
    for table, accs in ((defended.classifiers.pos, acc.pos), (defended.classifiers.neg, acc.neg)):
        for layer in layers:
            c = table[layer.name].to(x.device)
            logc = torch.log(c)
            neg_entropy = (c * logc).sum(1)
            if excluded:
                neg_entropy = neg_entropy.clone()
                neg_entropy[excluded] = _LARGE_KL
            pmf = to_pmf(accs[layer.name], defended.classifiers.delta)
            out.append(neg_entropy.unsqueeze(0) - torch.log(pmf) @ c.T)
    return torch.stack(out, dim=1)


def voter_temperatures(kl: torch.Tensor) -> torch.Tensor:
    """(B, V, 1) per-voter temperatures τ_v: the gap between each voter's two smallest KL
    divergences (detached, at least :data:`TAU_FLOOR`)."""
    two = torch.topk(kl.detach(), 2, dim=-1, largest=False).values
    return (two[..., 1] - two[..., 0]).clamp_min(TAU_FLOOR).unsqueeze(-1)


def soft_scores(kl: torch.Tensor, surrogate: Surrogate | str = Surrogate.SOFT_BORDA) -> torch.Tensor:
    """(B, M) float64 surrogate scores from (B, V, M) divergences (see the module docstring)."""
    z = -kl / voter_temperatures(kl)
    if Surrogate(surrogate) is Surrogate.LOG_SOFTMAX:
        return torch.log_softmax(z, dim=-1).sum(1)
    # soft rank points: Σ_j σ(z_y − z_j) counts the classes y beats (minus the self term ½)
    return (torch.sigmoid(z.unsqueeze(-1) - z.unsqueeze(-2)).sum(-1) - 0.5).sum(1)


class SoftRegroup(nn.Module):
    """Differentiable surrogate of REGroup's vote: images in [0, 1] → (B, M) float64 scores.

    Args:
        defended: the REGroup classifier to imitate (its model, classifiers and k).
        surrogate: :class:`Surrogate`.
    """

    def __init__(self, defended: REGroup, surrogate: Surrogate | str = Surrogate.SOFT_BORDA, *,
                 k: int | None = None) -> None:
        super().__init__()
        self.defended = defended
        self.net = defended.model  # registered so .eval()/.parameters() reach the network
        self.surrogate = Surrogate(surrogate)
        self.k = defended.classifiers.k if k is None else int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(next(self.net.parameters()).dtype)  # libraries that step in float64 (foolbox's DeepFool)
        return soft_scores(voter_divergences(self.defended, x, k=self.k, differentiable=True), self.surrogate)


class RegroupScores(nn.Module):
    """The exact REGroup classifier as a score model: images → (B, M) float64 scores.

    ``score(y) = Borda(y) + ½ · exp(−mean_v KL_v(y))``: the exact Borda count (integers) plus a
    continuous tie-breaker below half a point, so the argmax is a class with the top Borda count
    and a score-based attack sees the vote move before a rank flips. Not differentiable (no
    gradients reach the attacker): only for decision- and score-based attacks. When classes tie
    on the Borda count the tie-breaker, not the class index, picks the argmax; results are judged
    by the exact REGroup decision afterwards, where a tie counts as an error.
    """

    def __init__(self, defended: REGroup, *, k: int | None = None) -> None:
        super().__init__()
        self.defended = defended
        self.net = defended.model
        self.k = defended.classifiers.k if k is None else int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # one pass: the same capture and float64 KL as REGroup.predict
            kl = voter_divergences(self.defended, x.detach(), k=self.k)
            borda = borda_points(stable_ranks(kl), kl.shape[-1]).sum(1)
            scores = borda.to(torch.float64) + 0.5 * torch.exp(-kl.mean(1))
        return scores.to(x.device).clone()
