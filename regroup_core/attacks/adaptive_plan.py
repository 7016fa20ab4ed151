"""The adaptive plan against REGroup (the ``adaptive`` threat model's PGD), issue #19.

Each image is attacked by *runs*, cheapest and likeliest first; it leaves the plan at its first
success, judged by the exact REGroup decision after every step (a Borda tie counts as fooled; the
first fooling iterate is kept):

=========================  =====================================================================
run                        what it does
=========================  =====================================================================
``soft-borda/clean``       APGD on the untargeted soft-Borda margin from the clean image
``soft-borda/transfer``    the same from the transfer adversarial (PGD on the softmax, same ε)
``rank/clean``             the margin of soft rank points that follow every rank position
``poe/clean``              the margin of the voters' product of experts (clean temperatures)
``target-r/clean``         APGD toward the r-th wrong class (ordered by the clean soft-Borda
                           scores), r = 1 … ``target_classes`` (every wrong class by default)
``soft-borda/random-i``    the untargeted margin from a random point of the ε ball
``exact-search``           a random search on the exact Borda margin from the point of smallest
                           exact margin any run reached (:mod:`~regroup_core.attacks.exact_search`)
=========================  =====================================================================

Losses: :mod:`~regroup_core.attacks.surrogates`; optimiser: :mod:`~regroup_core.attacks.apgd`.
Randomness comes from the caller's ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..engine import REGroup
from ..run.progress import report_step
from .adaptive import random_delta
from .apgd import apgd, project
from .exact_search import exact_search
from .specs import Norm
from .surrogates import LossKind, margin_loss, scores
from .threats import voter_divergences, voter_temperatures

__all__ = ["AdaptivePlan", "PLAN_VERSION", "PlanOutcome", "PlanRun", "ordered_wrong_classes", "run_plan", "runs"]

PLAN_VERSION = 2
"""Part of the adaptive cache key: results of an older plan are never reused."""


@dataclass(frozen=True)
class AdaptivePlan:
    """The plan's budget (steps are per run; the transfer start is the caller's)."""

    steps: int = 100
    losses: tuple[str, ...] = ("soft-borda", "rank", "poe")
    target_classes: int = 9
    target_steps: int = 50
    target_loss: str = "poe"
    restarts: int = 1
    search_queries: int = 500

    @classmethod
    def for_steps(cls, steps: int, *, restarts: int = 1, target_classes: int = 9) -> "AdaptivePlan":
        """The plan of a preset's ``steps``: the ``pgd`` preset's 40 → 100 APGD steps per untargeted
        run, 50 per target, 500 exact-search queries (``--steps`` scales the whole plan). ``steps=1``
        is the deliberately weakened one-step attack (one step of the first loss, nothing else) that
        the self-test must fail."""
        if steps <= 1:
            return cls(steps=1, losses=cls.losses[:1], target_classes=0, restarts=0, search_queries=0)
        return cls(steps=round(2.5 * steps), target_steps=round(1.25 * steps), restarts=restarts,
                   target_classes=target_classes, search_queries=round(12.5 * steps))

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> "AdaptivePlan":
        """The plan of a PGD preset's parameters (``steps``, ``restarts``, ``runner_up_targets``)."""
        return cls.for_steps(int(params["steps"]), restarts=int(params.get("restarts", 0)),
                             target_classes=int(params.get("runner_up_targets", 0)))

    def as_dict(self) -> dict:
        return {**asdict(self), "losses": list(self.losses), "version": PLAN_VERSION}


@dataclass(frozen=True)
class PlanRun:
    loss: LossKind
    start: str            # "clean", "transfer", "random-i" or "best" (the exact search)
    target_rank: int = 0  # targeted: the r-th wrong class

    @property
    def name(self) -> str:
        if self.start == "best":
            return "exact-search"
        head = f"target-{self.target_rank}" if self.target_rank else self.loss.value
        return f"{head}/{self.start}"


def runs(plan: AdaptivePlan, *, transfer_start: bool, targeted: bool, num_classes: int = 10) -> tuple[PlanRun, ...]:
    """The runs of ``plan`` in order (module doc). ``targeted``: every run aims at the given class."""
    first = LossKind(plan.losses[0]) if plan.losses else LossKind.SOFT_BORDA
    out = [PlanRun(first, "clean")]
    if transfer_start:
        out.append(PlanRun(first, "transfer"))
    out += [PlanRun(LossKind(kind), "clean") for kind in plan.losses[1:]]
    if not targeted:
        out += [PlanRun(LossKind(plan.target_loss), "clean", r)
                for r in range(1, min(plan.target_classes, num_classes - 1) + 1)]
    out += [PlanRun(first, f"random-{i}") for i in range(1, plan.restarts + 1)]
    if plan.search_queries > 0:
        out.append(PlanRun(first, "best"))
    return tuple(out)


@dataclass(frozen=True)
class PlanOutcome:
    """Like :class:`~regroup_core.attacks.adaptive.AdaptiveOutcome` (same fields)."""

    adversarial: torch.Tensor
    fooled: torch.Tensor
    run_index: torch.Tensor
    runs: tuple[str, ...]
    zero_gradient: torch.Tensor
    steps_run: int


class _Best:
    """Per image, the iterate with the smallest exact Borda margin seen by any run."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x.clone()
        self.margin = torch.full((len(x),), float("inf"), dtype=torch.float64)

    def update(self, x: torch.Tensor, idx: torch.Tensor, borda: torch.Tensor, labels: torch.Tensor,
               aim: torch.Tensor | None) -> None:
        cls = labels if aim is None else aim
        own = borda.gather(1, cls.unsqueeze(1)).squeeze(1).double()
        other = borda.scatter(1, cls.unsqueeze(1), torch.iinfo(borda.dtype).min).max(1).values.double()
        m = own - other if aim is None else other - own
        better = m < self.margin[idx]
        self.margin[idx[better]] = m[better]
        self.x[idx[better].to(self.x.device)] = x[better.to(x.device)].detach()


def _judge(defended: REGroup, labels: torch.Tensor, goal: torch.Tensor | None, best: _Best, sub: torch.Tensor):
    """The exact decision on a run's images ``sub`` (indices into the plan's batch)."""

    def judge(xs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            pred = defended.predict(xs)
        plan_idx = sub[idx]
        g = None if goal is None else goal[plan_idx]
        best.update(xs, plan_idx, pred.borda, labels[plan_idx], g)
        if g is None:
            return ~pred.regroup_correct(labels[plan_idx])
        return (pred.regroup_labels == g) & ~pred.regroup_tied

    return judge


def _loss(defended: REGroup, kind: LossKind, labels: torch.Tensor, aim: torch.Tensor | None,
          clean_tau: torch.Tensor, sub: torch.Tensor):
    def loss(xs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        kl = voter_divergences(defended, xs, differentiable=True)
        plan_idx = sub[idx]
        s = scores(kl, kind, clean_tau[plan_idx.to(kl.device)])
        return margin_loss(s, labels[plan_idx].to(s.device), None if aim is None else aim[plan_idx].to(s.device))

    return loss


def _start(run: PlanRun, x: torch.Tensor, transfer: torch.Tensor | None, best: _Best, norm: Norm, epsilon: float,
           generator: torch.Generator) -> torch.Tensor:
    """The run's starting perturbation δ for images ``x``."""
    if run.start == "clean":
        return torch.zeros_like(x)
    if run.start == "transfer":
        return project(transfer - x, x, norm, epsilon)
    return random_delta(x, norm, epsilon, generator)


def ordered_wrong_classes(defended: REGroup, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, M−1) the wrong classes of every image, best clean soft-Borda score first."""
    with torch.no_grad():
        s = scores(voter_divergences(defended, x), LossKind.SOFT_BORDA).cpu()
    s.scatter_(1, labels.unsqueeze(1), -torch.inf)
    return s.argsort(dim=1, descending=True, stable=True)[:, : s.shape[1] - 1]


def run_plan(defended: REGroup, x: torch.Tensor, labels: torch.Tensor, *, norm: Norm | str, epsilon: float,
             plan: AdaptivePlan = AdaptivePlan(), transfer: torch.Tensor | None = None,
             targets: torch.Tensor | None = None, generator: torch.Generator | None = None) -> PlanOutcome:
    """Attack REGroup with ``plan`` (module doc); ``x`` (B, C, H, W) in [0, 1], ε on [0, 1]."""
    norm = Norm(norm)
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    x, labels = x.detach(), labels.to(torch.int64).cpu()
    n = len(x)
    with torch.no_grad():
        pred = defended.predict(x)
        clean_tau = voter_temperatures(voter_divergences(defended, x))
    m = pred.borda.shape[1]
    plan_runs = runs(plan, transfer_start=transfer is not None, targeted=targets is not None, num_classes=m)
    fooled = ~pred.regroup_correct(labels) if targets is None else torch.zeros(n, dtype=torch.bool)
    run_index = torch.full((n,), -1, dtype=torch.int64)
    run_index[fooled] = -2
    adversarial, zero_grad = x.clone(), torch.zeros(n, dtype=torch.bool)
    wrong = ordered_wrong_classes(defended, x, labels) if targets is None else None
    best, passes = _Best(x), 0
    for r, run in enumerate(plan_runs):
        sub = (~fooled).nonzero().squeeze(1)
        if len(sub) == 0:
            break
        ds = sub.to(x.device)
        report_step(r, len(plan_runs), f"adaptive plan, run {r + 1} of {len(plan_runs)} ({run.name}): REGroup "
                                       f"still holds on {len(sub)} of {n} image(s)")
        aim = targets if targets is not None else (wrong[:, run.target_rank - 1] if run.target_rank else None)
        if run.start == "best":
            adv, hit, used = exact_search(defended, x[ds], best.x[ds], labels[sub], None if aim is None else aim[sub],
                                          norm=norm, epsilon=epsilon, queries=plan.search_queries,
                                          generator=generator)
        else:
            judge = _judge(defended, labels, targets, best, sub)
            loss = _loss(defended, run.loss, labels, aim, clean_tau, sub)
            start = _start(run, x[ds], None if transfer is None else transfer.to(x.device)[ds], best, norm, epsilon,
                           generator)
            steps = plan.target_steps if run.target_rank else plan.steps
            res = apgd(loss, judge, x[ds], start, norm=norm, epsilon=epsilon, steps=steps)
            adv, hit, used = res.adversarial, res.fooled, res.passes
            if r == 0:
                zero_grad[sub] = res.zero_gradient
        passes += used
        adversarial[ds] = adv
        fooled[sub[hit]] = True
        run_index[sub[hit]] = r
    return PlanOutcome(adversarial=adversarial, fooled=fooled, run_index=run_index,
                       runs=tuple(run.name for run in plan_runs), zero_gradient=zero_grad, steps_run=passes)
