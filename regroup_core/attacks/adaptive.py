"""The exact REGroup judge and the gradient sanity figure of the ``adaptive`` threat model.

The adaptive attack itself is the plan of :mod:`regroup_core.attacks.adaptive_plan` (APGD on
several surrogates, every wrong class as a target, an exact-vote search). This module holds what
every attack on REGroup shares:

* :func:`regroup_fooled`, the exact decision: untargeted, fooled unless the label wins the Borda
  count outright (a tie counts as fooled); targeted, the target wins outright;
* :func:`zero_gradient_mask`, the gradient sanity figure: images whose surrogate gradient is
  exactly zero (a masked gradient shows up here, not as a robust-looking number);
* :func:`random_delta`, a uniform draw from the ε ball from the caller's ``torch.Generator``
  (never the global one).
"""

from __future__ import annotations

import torch

from ..engine import REGroup
from .apgd import project
from .specs import Norm
from .threats import Surrogate, soft_scores, voter_divergences

__all__ = ["random_delta", "regroup_fooled", "zero_gradient_mask"]


def regroup_fooled(defended: REGroup, x: torch.Tensor, labels: torch.Tensor,
                   targets: torch.Tensor | None = None) -> torch.Tensor:
    """The exact REGroup decision: untargeted, fooled unless the label wins the Borda count
    outright (a tie counts as fooled); targeted, the target wins outright. (B,) bool on the CPU."""
    with torch.no_grad():
        pred = defended.predict(x)
    labels = labels.cpu()
    if targets is None:
        return ~pred.regroup_correct(labels)
    return (pred.regroup_labels == targets.cpu()) & ~pred.regroup_tied


def _margin(scores: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """score(cls) − best other score, per row."""
    own = scores.gather(1, cls.unsqueeze(1)).squeeze(1)
    others = scores.clone()
    others.scatter_(1, cls.unsqueeze(1), -torch.inf)
    return own - others.max(1).values


def zero_gradient_mask(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, *,
                       surrogate: Surrogate | str = Surrogate.SOFT_BORDA) -> torch.Tensor:
    """(B,) bool: the untargeted surrogate margin has an exactly zero input gradient at ``x``."""
    xg = x.detach().clone().requires_grad_(True)
    scores = soft_scores(voter_divergences(defended, xg, differentiable=True), Surrogate(surrogate))
    loss = -_margin(scores, labels.to(x.device))
    (grad,) = torch.autograd.grad(loss.sum(), xg)
    return (grad.flatten(1) == 0).all(1).cpu()


def random_delta(x: torch.Tensor, norm: Norm, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """A uniform draw from the ε ball (L∞ or L2) around each image, kept inside [0, 1]."""
    if norm is Norm.LINF:
        noise = (torch.rand(x.shape, generator=generator, dtype=torch.float32) * 2 - 1) * epsilon
    else:  # uniform in the L2 ball
        d = x[0].numel()
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
        noise = noise / noise.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
        radius = torch.rand(len(x), generator=generator) ** (1.0 / d) * epsilon
        noise = noise * radius.view(-1, *([1] * (x.dim() - 1)))
    return project(noise.to(x.device), x, norm, epsilon)
