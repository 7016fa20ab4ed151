"""SPSA (Uesato et al., 2018), the gradient-free attack of the paper's Table 5.

Written here because neither pinned library has it: foolbox 3.3.4 has no SPSA and the pinned
torchattacks 3.3.0 has none either (it arrived in torchattacks 3.4). This follows CleverHans'
``spsa``, which the paper used: a margin loss, gradient estimated from ``samples`` random
Rademacher directions with finite differences of size ``delta``, Adam steps of ``lr``,
projection to the L∞ ball and the [0, 1] box, and an early stop once an image's loss falls
below ``early_stop_loss`` (0 = misclassified / target reached).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["spsa"]


def _margin_loss(scores: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Untargeted: score(true) − max other (< 0 = fooled). Targeted: max other − score(target)."""
    cls = labels if targets is None else targets
    own = scores.gather(1, cls.unsqueeze(1)).squeeze(1)
    others = scores.clone()
    others.scatter_(1, cls.unsqueeze(1), -torch.inf)
    best_other = others.max(1).values
    return own - best_other if targets is None else best_other - own


@torch.no_grad()
def spsa(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, labels: torch.Tensor, *,
         epsilon: float, steps: int, samples: int = 64, delta: float = 0.01, lr: float = 0.01,
         early_stop_loss: float = 0.0, targets: torch.Tensor | None = None,
         generator: torch.Generator | None = None, max_forward: int = 4096) -> torch.Tensor:
    """Return L∞ SPSA adversarials of ``x`` (B, C, H, W) in [0, 1] within ``epsilon``.

    ``model`` maps images to (B, M) scores; only its outputs are used. ``max_forward`` caps
    the images per forward pass (directions are evaluated in chunks).
    """
    b = x.shape[0]
    device = x.device
    delta_x = (torch.rand(x.shape, generator=generator, device="cpu").to(device) * 2 - 1) * epsilon
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    beta1, beta2, eps_adam = 0.9, 0.999, 1e-8
    active = torch.ones(b, dtype=torch.bool, device=device)
    for t in range(1, steps + 1):
        adv = (x + delta_x).clamp(0, 1)
        loss = _margin_loss(model(adv), labels, targets)
        active &= loss >= early_stop_loss
        if not active.any():
            break
        idx = active.nonzero().squeeze(1)
        xa = adv[idx]
        na = len(idx)
        directions = (torch.randint(0, 2, (na, samples) + x.shape[1:], generator=generator).float() * 2 - 1).to(device)
        probes = torch.cat([xa.unsqueeze(1) + delta * directions, xa.unsqueeze(1) - delta * directions], 1)
        probes = probes.reshape(na * 2 * samples, *x.shape[1:])
        lab = labels[idx].repeat_interleave(2 * samples)
        tgt = None if targets is None else targets[idx].repeat_interleave(2 * samples)
        losses = torch.cat([_margin_loss(model(probes[i:i + max_forward]), lab[i:i + max_forward],
                                         None if tgt is None else tgt[i:i + max_forward])
                            for i in range(0, len(probes), max_forward)]).view(na, 2, samples)
        diff = (losses[:, 0] - losses[:, 1]) / (2 * delta)          # (na, S)
        grad = (diff.view(na, samples, *([1] * (x.dim() - 1))).to(x.dtype) * directions).mean(1)
        m[idx] = beta1 * m[idx] + (1 - beta1) * grad
        v[idx] = beta2 * v[idx] + (1 - beta2) * grad * grad
        step = lr * (m[idx] / (1 - beta1 ** t)) / ((v[idx] / (1 - beta2 ** t)).sqrt() + eps_adam)
        new = (delta_x[idx] - step).clamp(-epsilon, epsilon)       # descend the margin loss
        delta_x[idx] = (x[idx] + new).clamp(0, 1) - x[idx]
    return (x + delta_x).clamp(0, 1)
