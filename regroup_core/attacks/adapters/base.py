"""The adapters' base: what an attack runs against (:class:`Target`), the resolved job
(:class:`AttackJob`), success on the attacked classifier (:func:`fooled`) and :class:`Adapter`,
whose :meth:`~Adapter.attack` owns the run — batches, images already wrong left as they are, every
result clipped to the model's bounds, success judged once over all images (as foolbox's base
``__call__`` does) — so a library adapter writes only :meth:`~Adapter.run` for one batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from ...engine import REGroup
from ...errors import DataError
from ...run.progress import Reporter
from ..adaptive import regroup_fooled
from ..specs import AttackSpec, Method
from ..threats import ThreatModel

__all__ = ["REGISTRY", "Adapter", "AttackJob", "Target", "adapter_for", "fooled", "register"]

Extras = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Target:
    """What the attack runs against and how its success is judged.

    ``model`` is what the attack queries (softmax, the REGroup scores or the surrogate);
    ``defended`` is set when success is judged by the exact REGroup decision (blackbox and
    adaptive: a Borda tie counts as fooled).
    """

    model: nn.Module
    defended: REGroup | None
    device: torch.device
    num_classes: int


@dataclass(frozen=True)
class AttackJob:
    """An attack resolved for one run: the preset, its parameters, ε on [0, 1] inputs, the threat
    model, what is attacked and the undefended softmax (the transfer start of adaptive PGD)."""

    preset: AttackSpec
    params: dict[str, Any]
    eps: float | None
    threat: ThreatModel
    target: Target
    softmax: nn.Module
    bounds: tuple[float, float] = (0.0, 1.0)

    def on(self, target: Target) -> AttackJob:
        """The same job against another classifier."""
        return AttackJob(self.preset, self.params, self.eps, self.threat, target, self.softmax, self.bounds)


def fooled(target: Target, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None,
           min_confidence: float | None) -> torch.Tensor:
    """Success on the attacked classifier: predicts ≠ label, or == target for targeted attacks (and,
    with ``min_confidence``, with a softmax probability at least that)."""
    if target.defended is not None:  # the exact REGroup decision; min_confidence is a softmax notion
        return regroup_fooled(target.defended, x.to(target.device), labels, targets)
    with torch.no_grad():
        scores = target.model(x.to(target.device)).float().cpu()
    pred = scores.argmax(1)
    ok = pred != labels if targets is None else pred == targets
    if min_confidence is not None:
        ok &= torch.softmax(scores, 1).max(1).values >= min_confidence
    return ok


def _fill(like: torch.Tensor) -> float | int | bool:
    """The per-sample value of an image that was not attacked (already fooled): NaN, False, or −2
    (the adaptive run index of "wrong on the clean image")."""
    if like.is_floating_point():
        return float("nan")
    return False if like.dtype == torch.bool else -2


def _merge_extras(extras: list[Extras], sizes: list[int]) -> Extras:
    """Per-sample extras of every batch, one tensor per key (filled where a batch had none)."""
    out = {}
    for key in sorted({key for e in extras for key in e}):
        like = next(e[key] for e in extras if key in e)
        out[key] = torch.cat([e[key] if key in e else torch.full((n,), _fill(like), dtype=like.dtype)
                              for e, n in zip(extras, sizes)])
    return out


class Adapter(ABC):
    """One attack library. Subclasses name their ``methods`` and write :meth:`run` for one batch."""

    methods: ClassVar[tuple[Method, ...]] = ()

    @abstractmethod
    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        """Adversarials (CPU) of images the attacked classifier gets right, and per-sample extras."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """The versions of the libraries it runs on (recorded in the attack's settings)."""

    def attack(self, job: AttackJob, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None, *,
               seed: int, batch_size: int, bar: Reporter) -> tuple[torch.Tensor, torch.Tensor, Extras]:
        """The whole run: (adversarial, success, per-sample extras). Batch ``b`` is seeded from
        ``seed`` and its offset; every result is clipped to the model's bounds; success is judged
        once, on the attacked classifier, over all images."""
        advs, extras = [], []
        total = len(labels)
        for lo in range(0, total, batch_size):
            hi = min(lo + batch_size, total)
            t = None if targets is None else targets[lo:hi]
            batch_seed = (int(seed) * 1_000_003 + lo) % 2**63  # torch seeds are 64-bit
            adv, extra = self._batch(job, images[lo:hi], labels[lo:hi], t, batch_seed)
            advs.append(adv.float().clamp(*job.bounds))
            extras.append(extra)
            bar.update(hi - lo)
        adversarial = torch.cat(advs) if advs else images.clone()
        success = (fooled(job.target, adversarial, labels, targets, job.preset.min_confidence)
                   if total else torch.zeros(0, dtype=torch.bool))
        return adversarial, success, _merge_extras(extras, [len(a) for a in advs])

    def _batch(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
               seed: int) -> tuple[torch.Tensor, Extras]:
        """One batch. Images the attacked classifier already gets wrong are returned unchanged (they
        are adversarial as they are; foolbox's Boundary attack would otherwise divide by a zero
        distance → NaN)."""
        todo = ~fooled(job.target, x, y, t, None)
        out = x.clone()
        extras: Extras = {}
        if todo.any():
            idx = todo.nonzero().squeeze(1)
            adv, part = self.run(job, x[idx], y[idx], None if t is None else t[idx], seed)
            out[idx] = adv.to(out.dtype)
            for key, v in part.items():
                extras[key] = torch.full((len(x),), _fill(v), dtype=v.dtype)
                extras[key][idx] = v
        return out, extras


REGISTRY: dict[Method, Adapter] = {}
"""The adapter of every method (filled by :func:`register` as the adapter modules load)."""

A = TypeVar("A", bound=type[Adapter])


def register(cls: A) -> A:
    """Class decorator: one instance of ``cls`` serves every method it names."""
    instance = cls()
    for method in cls.methods:
        if method in REGISTRY:
            raise RuntimeError(f"two adapters for {method.value}")
        REGISTRY[method] = instance
    return cls


def adapter_for(method: Method) -> Adapter:
    try:
        return REGISTRY[method]
    except KeyError:
        raise DataError(f"expected an attack method with an adapter, got '{method.value}'") from None

