"""APGD's step-size schedule with momentum (Croce & Hein 2020), on any per-image loss.

The optimiser of the adaptive plan (:mod:`regroup_core.attacks.adaptive_plan`). Per image: a step
size η that starts at 2ε (L∞) or 2ε (L2, on the normalised gradient), momentum 0.75 on the
iterates, and *checkpoints* at the APGD fractions 0, 0.22, 0.41, ... of the steps: at a checkpoint
η is halved and the iterate reset to the best point so far when fewer than ρ = 75 % of the steps
since the last checkpoint improved the loss, or when neither η nor the best loss changed.

The caller's ``judge`` sees every iterate (the exact REGroup decision): an image leaves the
optimisation at its first fooling iterate, which is kept (a later step cannot undo a success).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .specs import Norm

__all__ = ["ApgdResult", "apgd", "checkpoints", "project"]

RHO = 0.75
MOMENTUM = 0.75

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(images (b, C, H, W), their indices into the batch (b,)) → (b,) loss to *maximise*."""
Judge = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(images, indices) → (b,) bool fooled (the exact decision); may record anything it likes."""


def checkpoints(steps: int) -> list[int]:
    """APGD's checkpoint iterations: p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({int(round(q * steps)) for q in p[1:] if 0 < round(q * steps) < steps})


def project(delta: torch.Tensor, x: torch.Tensor, norm: Norm, epsilon: float) -> torch.Tensor:
    """``delta`` projected onto the ε ball of ``norm`` and so that x + δ stays in [0, 1]."""
    if norm is Norm.LINF:
        delta = delta.clamp(-epsilon, epsilon)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (delta.dim() - 1)))
        delta = delta * torch.clamp(epsilon / n, max=1.0)
    return (x + delta).clamp(0.0, 1.0) - x


def _direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    if norm is Norm.LINF:
        return grad.sign()
    g = grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *([1] * (grad.dim() - 1)))
    return grad / g


@dataclass
class ApgdResult:
    """Per image: ``adversarial`` (first fooling iterate, else the best-loss point), ``fooled``,
    ``zero_gradient`` (gradient exactly zero at the start), ``passes`` (forward-backward passes)."""

    adversarial: torch.Tensor
    fooled: torch.Tensor
    zero_gradient: torch.Tensor
    passes: int


def _grad(loss_fn: LossFn, xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xg = xa.detach().clone().requires_grad_(True)
    loss = loss_fn(xg, idx)
    (g,) = torch.autograd.grad(loss.sum(), xg)
    return loss.detach().cpu(), g.detach()


def apgd(loss_fn: LossFn, judge: Judge, x: torch.Tensor, delta: torch.Tensor, *, norm: Norm, epsilon: float,
         steps: int) -> ApgdResult:
    """Maximise ``loss_fn`` from ``x + delta`` with APGD (module doc); ``judge`` after every step."""
    n = len(x)
    delta = project(delta.clone(), x, norm, epsilon)
    all_idx = torch.arange(n)
    fooled = judge(x + delta, all_idx).clone()
    out = (x + delta).detach().clone()
    eta = torch.full((n,), 2.0 * epsilon)
    loss, grad = _grad(loss_fn, x + delta, all_idx)
    zero = (grad.flatten(1) == 0).all(1).cpu()
    passes = n
    best_loss, best_delta, best_grad = loss.clone(), delta.clone(), grad.clone()
    prev_delta = delta.clone()
    improved = torch.zeros(n)
    last = {"k": 0, "eta": eta.clone(), "best": best_loss.clone()}
    marks = set(checkpoints(steps))
    shape = (-1, *([1] * (x.dim() - 1)))
    for k in range(steps):
        idx = (~fooled).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        di = idx.to(x.device)
        xi, d, e = x[di], delta[di], eta[idx].to(x.device).view(shape)
        z = project(d + e * _direction(grad[di], norm), xi, norm, epsilon)
        a = 1.0 if k == 0 else MOMENTUM
        new = project(d + a * (z - d) + (1 - a) * (d - prev_delta[di]), xi, norm, epsilon)
        prev_delta[di], delta[di] = d, new
        hit = judge(xi + new, idx)
        out[di] = (xi + new).detach()
        fooled[idx[hit]] = True
        loss_i, grad_i = _grad(loss_fn, xi + new, idx)
        passes += len(idx)
        grad[di] = grad_i
        better = loss_i > best_loss[idx]
        improved[idx] += better.float()
        b, bd = idx[better], idx[better].to(x.device)
        best_loss[b], best_delta[bd], best_grad[bd] = loss_i[better], delta[bd], grad_i[better.to(x.device)]
        if k + 1 in marks:
            span = k + 1 - last["k"]
            stuck = (improved < RHO * span) | ((last["eta"] == eta) & (last["best"] == best_loss))
            stuck &= ~fooled
            eta[stuck] /= 2
            s = stuck.nonzero().squeeze(1).to(x.device)
            delta[s], grad[s], prev_delta[s] = best_delta[s], best_grad[s], best_delta[s]
            improved.zero_()
            last = {"k": k + 1, "eta": eta.clone(), "best": best_loss.clone()}
    rest = (~fooled).nonzero().squeeze(1).to(x.device)
    out[rest] = (x[rest] + best_delta[rest]).detach()
    return ApgdResult(adversarial=out, fooled=fooled, zero_gradient=zero, passes=passes)
