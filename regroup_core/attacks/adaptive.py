"""Adaptive PGD aimed at REGroup itself (the ``adaptive`` threat model's PGD).

Following Carlini et al. 2019 ("On Evaluating Adversarial Robustness"), the attack does not trust
one loss or one start. Each image is attacked by a plan of *runs*, cheapest first; an image
leaves the plan at its first success (per-image worst case over the runs):

====================  ==========================================================================
run                   what it does
====================  ==========================================================================
``margin/clean``      untargeted soft-Borda margin ``max_{j≠y} S(j) − S(y)`` from the clean image
``margin/transfer``   the same loss from the transfer adversarial (PGD on the softmax, same ε)
``target-r/clean``    targeted margin ``S(t) − max_{j≠t} S(j)`` toward the r-th runner-up class
                      of the clean image's exact Borda count (r = 1, 2, ...)
``margin/random-i``   the untargeted margin from a uniformly random point of the ε ball
====================  ==========================================================================

``S`` are the surrogate scores of :func:`~regroup_core.attacks.threats.soft_scores` (float64,
one temperature per voter and per image). Steps are signed gradients (L∞) or normalised
gradients (L2) of size ε·¼, ε/10 and ε/25 over the first 40 %, next 30 % and last 30 % of the
steps, projected onto the ε ball and the [0, 1] box.

**The exact decision is checked after every step**: :meth:`REGroup.predict` on each iterate;
the first iterate where REGroup is fooled (the true class does not win the Borda count
outright — a tie counts as fooled, as in the tables) is kept, so a later step cannot undo a
success. A targeted preset succeeds only when the target wins outright.

**Gradient sanity figure**: the share of attacked images whose surrogate gradient is exactly
zero at the first step (a masked gradient shows up here, not as a robust-looking number).

Randomness (random starts) comes from the caller's ``torch.Generator``, never the global one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from ..engine import REGroup, top_classes
from .specs import Norm
from .threats import Surrogate, soft_scores, voter_divergences

__all__ = ["AdaptiveOutcome", "AdaptiveRun", "Loss", "Start", "adaptive_pgd", "plan", "regroup_fooled",
           "step_sizes", "zero_gradient_mask"]

SCHEDULE = ((0.4, 0.25), (0.3, 0.1), (0.3, 0.04))
"""(share of the steps, step size as a fraction of ε) of the adaptive PGD step schedule."""


class Loss(str, enum.Enum):
    MARGIN = "margin"        # untargeted soft-Borda margin
    TARGETED = "target"      # toward one class


class Start(str, enum.Enum):
    CLEAN = "clean"
    TRANSFER = "transfer"
    RANDOM = "random"


@dataclass(frozen=True)
class AdaptiveRun:
    """One run of the plan: a loss, its target (r-th runner-up) and a starting point."""

    loss: Loss
    start: Start
    runner_up: int = 0   # targeted loss: 1 = the strongest runner-up of the clean Borda count
    restart: int = 0     # random starts: 1, 2, ...

    @property
    def name(self) -> str:
        loss = f"target-{self.runner_up}" if self.loss is Loss.TARGETED and self.runner_up else self.loss.value
        start = f"random-{self.restart}" if self.start is Start.RANDOM else self.start.value
        return f"{loss}/{start}"


def plan(*, restarts: int, runner_up_targets: int, transfer_start: bool, targeted: bool = False
         ) -> tuple[AdaptiveRun, ...]:
    """The runs of an adaptive attack (see the module doc), cheapest and likeliest first.

    ``targeted`` (a targeted preset): every run aims at the given target class instead.
    """
    if targeted:
        runs = [AdaptiveRun(Loss.TARGETED, Start.CLEAN)]
        if transfer_start:
            runs.append(AdaptiveRun(Loss.TARGETED, Start.TRANSFER))
        runs += [AdaptiveRun(Loss.TARGETED, Start.RANDOM, restart=i) for i in range(1, restarts + 1)]
        return tuple(runs)
    runs = [AdaptiveRun(Loss.MARGIN, Start.CLEAN)]
    if transfer_start:
        runs.append(AdaptiveRun(Loss.MARGIN, Start.TRANSFER))
    runs += [AdaptiveRun(Loss.TARGETED, Start.CLEAN, runner_up=r) for r in range(1, runner_up_targets + 1)]
    runs += [AdaptiveRun(Loss.MARGIN, Start.RANDOM, restart=i) for i in range(1, restarts + 1)]
    return tuple(runs)


@dataclass(frozen=True)
class AdaptiveOutcome:
    """What :func:`adaptive_pgd` found.

    Attributes:
        adversarial: (B, C, H, W) the first fooling iterate, or the last iterate of the last run
            for images never fooled.
        fooled: (B,) exact REGroup fooled (see :func:`regroup_fooled`).
        run_index: (B,) int64 index into ``runs`` of the run that fooled the image first
            (−1: not fooled; −2: REGroup was already wrong on the clean image).
        runs: the plan's run names.
        zero_gradient: (B,) bool, the surrogate gradient was exactly zero at the first step of
            the first run (NaN-free images only).
        steps_run: forward-backward passes spent (summed over images).
    """

    adversarial: torch.Tensor
    fooled: torch.Tensor
    run_index: torch.Tensor
    runs: tuple[str, ...]
    zero_gradient: torch.Tensor
    steps_run: int


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


def step_sizes(epsilon: float, steps: int) -> list[float]:
    """The step size of every step (see :data:`SCHEDULE`)."""
    sizes: list[float] = []
    for share, fraction in SCHEDULE:
        sizes += [epsilon * fraction] * max(1, round(share * steps))
    return (sizes + [sizes[-1]] * steps)[:steps]


def _margin(scores: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """score(cls) − best other score, per row."""
    own = scores.gather(1, cls.unsqueeze(1)).squeeze(1)
    others = scores.clone()
    others.scatter_(1, cls.unsqueeze(1), -torch.inf)
    return own - others.max(1).values


def _objective(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, aim: torch.Tensor | None,
               surrogate: Surrogate) -> torch.Tensor:
    """(B,) loss to *maximise*: −margin(label) untargeted, margin(aim) toward ``aim``."""
    scores = soft_scores(voter_divergences(defended, x, differentiable=True), surrogate)
    return -_margin(scores, labels) if aim is None else _margin(scores, aim)


def zero_gradient_mask(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, *,
                       surrogate: Surrogate | str = Surrogate.SOFT_BORDA) -> torch.Tensor:
    """(B,) bool: the untargeted surrogate loss has an exactly zero input gradient at ``x``."""
    xg = x.detach().clone().requires_grad_(True)
    loss = _objective(defended, xg, labels.to(x.device), None, Surrogate(surrogate))
    (grad,) = torch.autograd.grad(loss.sum(), xg)
    return (grad.flatten(1) == 0).all(1).cpu()


def _project(delta: torch.Tensor, x: torch.Tensor, norm: Norm, epsilon: float) -> torch.Tensor:
    if norm is Norm.LINF:
        delta = delta.clamp(-epsilon, epsilon)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (delta.dim() - 1)))
        delta = delta * torch.clamp(epsilon / n, max=1.0)
    return (x + delta).clamp(0.0, 1.0) - x


def _random_delta(x: torch.Tensor, norm: Norm, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    if norm is Norm.LINF:
        noise = (torch.rand(x.shape, generator=generator, dtype=torch.float32) * 2 - 1) * epsilon
    else:  # uniform in the L2 ball
        d = x[0].numel()
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
        noise = noise / noise.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
        radius = torch.rand(len(x), generator=generator) ** (1.0 / d) * epsilon
        noise = noise * radius.view(-1, *([1] * (x.dim() - 1)))
    return _project(noise.to(x.device), x, norm, epsilon)


def _run(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, aim: torch.Tensor | None,
         goal: torch.Tensor | None, delta: torch.Tensor, *, norm: Norm, epsilon: float, steps: int,
         surrogate: Surrogate, zero_grad: torch.Tensor | None
         ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """PGD from ``x + delta`` on every image; returns (adversarial, fooled, passes)."""
    out = (x + delta).detach()
    fooled = regroup_fooled(defended, out, labels, goal)
    active = ~fooled
    passes = 0
    for t, alpha in enumerate(step_sizes(epsilon, steps)):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        dev_idx = idx.to(x.device)
        xa = (x[dev_idx] + delta[dev_idx]).detach().requires_grad_(True)
        loss = _objective(defended, xa, labels[dev_idx], None if aim is None else aim[dev_idx], surrogate)
        (grad,) = torch.autograd.grad(loss.sum(), xa)
        passes += len(idx)
        if t == 0 and zero_grad is not None:
            zero_grad[idx] = (grad.flatten(1) == 0).all(1).cpu()
        if norm is Norm.LINF:
            step = alpha * grad.sign()
        else:
            g = grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *([1] * (grad.dim() - 1)))
            step = alpha * grad / g
        delta[dev_idx] = _project(delta[dev_idx] + step.to(delta.dtype), x[dev_idx], norm, epsilon)
        now = (x[dev_idx] + delta[dev_idx]).detach()
        hit = regroup_fooled(defended, now, labels[dev_idx], None if goal is None else goal[dev_idx])
        out[dev_idx] = now  # the latest iterate; a fooling one is never overwritten (it leaves `active`)
        fooled[idx[hit]] = True
        active[idx[hit]] = False
    return out, fooled, passes


def adaptive_pgd(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, *, norm: Norm | str, epsilon: float,
                 steps: int, restarts: int = 1, runner_up_targets: int = 2, transfer: torch.Tensor | None = None,
                 targets: torch.Tensor | None = None, surrogate: Surrogate | str = Surrogate.SOFT_BORDA,
                 generator: torch.Generator | None = None) -> AdaptiveOutcome:
    """Attack REGroup with the plan of the module doc; ``x`` (B, C, H, W) in [0, 1].

    Args:
        norm: ``linf`` or ``l2``; ``epsilon`` on the [0, 1] scale.
        transfer: (B, C, H, W) transfer adversarials to start the ``margin/transfer`` run from
            (None: no such run).
        targets: a targeted attack's target classes (every run aims at them).
        generator: draws the random starts (default: a generator seeded with 0).
    """
    norm = Norm(norm)
    if norm not in (Norm.LINF, Norm.L2):
        raise ValueError(f"expected an L∞ or L2 budget, got {norm.value}")
    surrogate = Surrogate(surrogate)
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    x = x.detach()
    labels = labels.to(torch.int64).cpu()
    runs = plan(restarts=restarts, runner_up_targets=runner_up_targets, transfer_start=transfer is not None,
                targeted=targets is not None)
    n = len(x)
    adversarial = x.clone()
    run_index = torch.full((n,), -1, dtype=torch.int64)
    zero_grad = torch.zeros(n, dtype=torch.bool)
    with torch.no_grad():
        clean = defended.predict(x)
    fooled = ~clean.regroup_correct(labels) if targets is None else torch.zeros(n, dtype=torch.bool)
    run_index[fooled] = -2
    # the r-th runner-up of the clean Borda count (excluding the true class)
    borda = clean.borda.clone().to(torch.float64)
    borda.scatter_(1, labels.unsqueeze(1), -torch.inf)
    runner_ups = top_classes(borda, min(max(runner_up_targets, 1), borda.shape[1] - 1))
    passes = 0
    for r, run in enumerate(runs):
        idx = (~fooled).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        dev_idx = idx.to(x.device)
        xs = x[dev_idx]
        if run.start is Start.CLEAN:
            delta = torch.zeros_like(xs)
        elif run.start is Start.TRANSFER:
            delta = _project(transfer.to(x.device)[dev_idx] - xs, xs, norm, epsilon)
        else:
            delta = _random_delta(xs, norm, epsilon, generator)
        aim = (targets[idx] if targets is not None
               else runner_ups[idx, run.runner_up - 1] if run.loss is Loss.TARGETED else None)
        goal = None if targets is None else targets[idx]
        first = r == 0
        zg = torch.zeros(len(idx), dtype=torch.bool) if first else None
        adv, hit, used = _run(defended, xs, labels[idx], None if aim is None else aim.to(x.device), goal, delta,
                              norm=norm, epsilon=epsilon, steps=steps, surrogate=surrogate, zero_grad=zg)
        passes += used
        if zg is not None:
            zero_grad[idx] = zg
        adversarial[dev_idx] = adv  # unsuccessful images keep the last run's final iterate
        fooled[idx[hit]] = True
        run_index[idx[hit]] = r
    return AdaptiveOutcome(adversarial=adversarial, fooled=fooled, run_index=run_index,
                           runs=tuple(run.name for run in runs), zero_gradient=zero_grad, steps_run=passes)
