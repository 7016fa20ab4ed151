"""Threat models: which classifier an attack queries, and the models that stand in for REGroup.

* ``transfer`` (the paper's): the attack sees the base model's softmax; the adversarial images
  are then classified by REGroup. REGroup is never queried by the attacker.
* ``blackbox``: decision-based attacks (Boundary, HopSkipJump, Spatial) and the score-based
  SPSA query the *exact* REGroup classifier through :class:`RegroupScores`, whose outputs are
  the Borda counts (only their argmax matters to decision-based attacks).
* ``adaptive``: gradient attacks run white-box against :class:`SoftRegroup`, a differentiable
  surrogate of REGroup's vote; success is then judged by the exact REGroup.

The surrogate (per voter layer ℓ and sign s ∈ {pos, neg} of the highest k layers)::

    KL_ℓs(y) = KL(C_y^{sℓ} ‖ PMF^{sℓ}(x))            exact, from capture(..., differentiable=True)
    "log-softmax" (default):  score(y) = Σ_ℓs log softmax_y(−KL_ℓs / τ)
    "soft-borda":             score(y) = Σ_ℓs Σ_j σ((KL_ℓs(j) − KL_ℓs(y)) / τ)   (soft Borda points)

``log-softmax`` is a product of experts, one per voter: it is maximised where every voter ranks
y first, like the Borda count, and gives cross-entropy losses well-scaled gradients.
``soft-borda`` replaces each rank by a sum of sigmoids (a soft rank), so as τ → 0 it becomes the
exact Borda count of Eq. 7. τ defaults to :func:`calibrate_temperature`: the median, over clean
images and voters, of the KL gap between a voter's first and second choice — so a typical
first/second preference ratio is e under the softmax and the sigmoid is neither saturated nor flat.
"""

from __future__ import annotations

import enum

import torch
from torch import nn

from ..engine import REGroup, capture, to_pmf
from ..errors import DataError

__all__ = ["ThreatModel", "Surrogate", "RegroupScores", "SoftRegroup", "calibrate_temperature",
           "voter_divergences"]


class ThreatModel(str, enum.Enum):
    """Who the attacker queries (see the module docstring)."""

    TRANSFER = "transfer"
    BLACKBOX = "blackbox"
    ADAPTIVE = "adaptive"


class Surrogate(str, enum.Enum):
    """Differentiable stand-in for the Borda vote used by the adaptive threat model."""

    LOG_SOFTMAX = "log-softmax"
    SOFT_BORDA = "soft-borda"


_LARGE_KL = 1e6  # excluded classes: a finite stand-in for +inf so gradients stay finite


def voter_divergences(defended: REGroup, x: torch.Tensor, *, k: int | None = None,
                      differentiable: bool = False) -> torch.Tensor:
    """(B, 2k, M) float64 KL(C_y ‖ PMF(x)) of every voter (pos and neg of the highest k layers)."""
    k = defended.classifiers.k if k is None else int(k)
    layers = defended.scored_layers(k, "voters")
    acc = capture(defended.model, x, layers, differentiable=differentiable)
    excluded = list(defended.classifiers.excluded)
    out = []
    for sign, table, accs in (("pos", defended.classifiers.pos, acc.pos), ("neg", defended.classifiers.neg, acc.neg)):
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


def calibrate_temperature(defended: REGroup, images: torch.Tensor, *, k: int | None = None) -> float:
    """τ = median over images and voters of (second-smallest KL − smallest KL), on clean images."""
    with torch.no_grad():
        kl = voter_divergences(defended, images.to(defended.device), k=k)
    two = torch.topk(kl, 2, dim=-1, largest=False).values
    tau = float((two[..., 1] - two[..., 0]).median())
    if not tau > 0:
        raise DataError(f"expected a positive KL gap to calibrate τ, got {tau}; pass temperature=")
    return tau


class SoftRegroup(nn.Module):
    """Differentiable surrogate of REGroup's vote: images in [0, 1] → (B, M) scores (logits).

    Args:
        defended: the REGroup classifier to imitate (its model, classifiers and k).
        temperature: τ of the module docstring (> 0).
        surrogate: :class:`Surrogate`.
    """

    def __init__(self, defended: REGroup, temperature: float, surrogate: Surrogate | str = Surrogate.LOG_SOFTMAX,
                 *, k: int | None = None) -> None:
        super().__init__()
        if not temperature > 0:
            raise DataError(f"expected a positive temperature, got {temperature}")
        self.defended = defended
        self.net = defended.model  # registered so .eval()/.parameters() reach the network
        self.temperature = float(temperature)
        self.surrogate = Surrogate(surrogate)
        self.k = defended.classifiers.k if k is None else int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kl = voter_divergences(self.defended, x, k=self.k, differentiable=True)  # (B, V, M)
        z = -kl / self.temperature
        if self.surrogate is Surrogate.LOG_SOFTMAX:
            return torch.log_softmax(z, dim=-1).sum(1).float()
        # soft rank points: Σ_j σ(z_y − z_j) counts the classes y beats (minus the self term ½)
        points = torch.sigmoid(z.unsqueeze(-1) - z.unsqueeze(-2)).sum(-1) - 0.5
        return points.sum(1).float()


class RegroupScores(nn.Module):
    """The exact REGroup classifier as a model: images → (B, M) Borda counts per voter.

    Counts are divided by the number of voters (so they lie in [0, M−1]) and a tie-breaker
    smaller than one point favours the lower class index, as REGroup's own argmax does. Not
    differentiable: only for decision-based and score-based (SPSA) attacks.
    """

    def __init__(self, defended: REGroup, *, k: int | None = None) -> None:
        super().__init__()
        self.defended = defended
        self.net = defended.model
        self.k = defended.classifiers.k if k is None else int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            pred = self.defended.predict(x.detach(), k=self.k)
            borda = pred.borda.to(torch.float32)
            m = borda.shape[1]
            tie = torch.arange(m, dtype=torch.float32) / (10.0 * m)
            scores = (borda - tie) / (2 * pred.k)
        return scores.to(x.device).clone()
