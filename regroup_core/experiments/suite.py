"""Run attacks × threat models once, cached and resumable; every table is derived from the result.

:func:`run_suite` attacks the same test images with every (attack, threat model) pair that fits,
in chunks of ``chunk_size`` images. Each finished chunk is stored in the shared
:class:`~regroup_core.store.AdversarialCache` before the next starts, so an interrupted run
(Ctrl-C, a crash, a closed browser tab) resumes where it stopped, and the app finds every
image the CLI attacked. REGroup then ranks every layer of every adversarial image once
(``scope="all"``), so the k-ablation, the pos/neg ablation and other voting rules
re-aggregate the same rankings for free.

**Cache keys** and seeds: see :mod:`regroup_core.attacks.cached` (the one cached route to an attack).

**torchrun.** Under several processes every (attack, threat, chunk) unit belongs to one rank
(round-robin); each rank attacks its units into the shared cache, all wait, and rank 0
assembles the suite from the cache (every unit now a hit) while the others return None.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..attacks.adaptive import zero_gradient_mask
from ..attacks.cached import cached_attack
from ..attacks.runner import AttackResult, applicable
from ..attacks.specs import get_preset
from ..attacks.threats import ThreatModel
from ..engine import Prediction, REGroup
from ..errors import DataError
from ..run.dist import barrier, context
from ..run.evaluate import predict_all
from ..run.progress import Progress
from ..sources import Data, ModelBundle, resolve_data
from ..store import AdversarialCache, classifier_digest

__all__ = ["Suite", "SuiteRun", "TestImages", "run_suite", "select_correct"]

@dataclass(frozen=True)
class TestImages:
    """Test images the base model classifies correctly (the paper's V10K/V2K protocol).

    Attributes:
        images, labels: the selected (N, C, H, W) images and (N,) labels.
        ids: their indices in the source data (part of cache keys).
        source: the data spec they came from.
        n_available: images in the source; ``softmax_top1_all``/``regroup_top1_all``: accuracy (%)
            of both classifiers on the first ``n_scanned`` of them (before selection).
    """

    images: torch.Tensor
    labels: torch.Tensor
    ids: tuple[int, ...]
    source: str
    n_available: int
    n_scanned: int
    softmax_top1_all: float
    regroup_top1_all: float | None


@dataclass(frozen=True)
class SuiteRun:
    """One (attack, threat model) pair of a suite: the attack's result and REGroup's prediction
    of every adversarial image with every layer ranked."""

    attack: str
    threat: ThreatModel
    result: AttackResult
    prediction: Prediction  # REGroup on the adversarial images, every layer ranked


@dataclass(frozen=True)
class Suite:
    """Every run of a suite on the same test images.

    Attributes:
        sanity: per attack, (N,) bool success of the same attack and settings on the undefended
            softmax (its transfer run, run for the sanity check even where not asked for).
        zero_gradient: (N,) bool, the adaptive surrogate's gradient is exactly zero at the clean
            image (the gradient sanity figure of adaptive runs that do not record their own).
    """

    test: TestImages
    clean: Prediction
    runs: tuple[SuiteRun, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    sanity: dict[str, torch.Tensor] = field(default_factory=dict)
    zero_gradient: dict[str, torch.Tensor] = field(default_factory=dict)

    def run(self, attack: str, threat: ThreatModel | str) -> SuiteRun:
        threat = ThreatModel(threat)
        for r in self.runs:
            if r.attack == attack and r.threat is threat:
                return r
        raise DataError(f"expected a run of '{attack}' under '{threat.value}', got none")


def select_correct(bundle: ModelBundle, data: Data, n: int, *, seed: int = 0,
                   defended: REGroup | None = None) -> TestImages:
    """The first ``n`` images (in a seeded random order) that the base model classifies correctly."""
    dataset = resolve_data(data, bundle)
    total = len(dataset)
    if n < 1:
        raise DataError(f"expected n >= 1, got {n}")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed)).tolist()
    chosen: list[int] = []
    xs, ys = [], []
    scanned = hits = reg_hits = 0
    for lo in range(0, total, 256):
        idx = order[lo:lo + 256]
        x = torch.stack([torch.as_tensor(dataset[i][0]) for i in idx])
        y = torch.as_tensor([int(dataset[i][1]) for i in idx])
        with torch.no_grad():
            pred = bundle.model(x.to(bundle.device)).argmax(1).cpu()
        ok = pred == y
        scanned += len(idx)
        hits += int(ok.sum())
        if defended is not None:
            reg_hits += int((defended.predict(x).regroup_labels == y).sum())
        for j in ok.nonzero().squeeze(1).tolist():
            if len(chosen) < n:
                chosen.append(idx[j])
                xs.append(x[j])
                ys.append(int(y[j]))
        if len(chosen) >= n:
            break
    if not chosen:
        raise DataError("expected at least one correctly classified test image, got none")
    if len(chosen) < n:
        warnings.warn(f"expected {n} correctly classified test images in '{data}', got only {len(chosen)} of "
                      f"{total}: attacking those", stacklevel=2)
    return TestImages(images=torch.stack(xs), labels=torch.tensor(ys), ids=tuple(chosen), source=str(data),
                      n_available=total, n_scanned=scanned, softmax_top1_all=100.0 * hits / scanned,
                      regroup_top1_all=None if defended is None else 100.0 * reg_hits / scanned)


def run_suite(bundle: ModelBundle, defended: REGroup, test: TestImages, *, attacks: Sequence[str],
              threats: Sequence[ThreatModel | str] = (ThreatModel.TRANSFER,), seed: int = 0,
              cache: AdversarialCache | None = None, chunk_size: int = 50,
              attack_options: dict[str, dict[str, Any]] | None = None, progress: bool = False,
              callback: Progress | None = None) -> Suite | None:
    """Every applicable (attack, threat) pair on ``test``; pairs that do not fit are listed as skipped.

    ``attack_options[attack]`` are keyword arguments of :func:`run_attack` (``steps``,
    ``epsilon_255``, preset parameters...). ``callback(done, total, message)`` reports progress
    in images over all pairs. Collective under torchrun (see the module doc): rank 0 returns
    the suite, the other ranks None.
    """
    threats = [ThreatModel(t) for t in threats]
    attack_options = attack_options or {}
    pairs = [(a, t) for a in attacks for t in threats if applicable(get_preset(a), t)]
    skipped = [f"{a}/{t.value}" for a in attacks for t in threats if not applicable(get_preset(a), t)]
    # the sanity check: every attack also runs on the undefended softmax (its transfer run)
    sanity_only = [(a, ThreatModel.TRANSFER) for a in attacks if (a, ThreatModel.TRANSFER) not in pairs]
    jobs = pairs + sanity_only
    n = len(test.labels)
    ctx = context()
    if ctx.distributed:
        if cache is None:
            raise DataError("expected a shared adversarial cache for a suite under torchrun, got none")
        chunks = -(-n // chunk_size)
        for i, (attack, threat) in enumerate(jobs):
            cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat, defended=defended,
                          cache=cache, chunk_size=chunk_size, seed=seed,
                          owned=lambda c, base=i * chunks: (base + c) % ctx.world_size == ctx.rank,
                          **dict(attack_options.get(attack, {})))
        barrier()
        if not ctx.is_main:
            return None
    runs, sanity = [], {}
    for i, (attack, threat) in enumerate(jobs):
        def chunk_done(done: int, total: int, message: str, offset: int = i * n) -> None:
            if callback is not None:
                callback(offset + done, len(jobs) * n, message)
        result = cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat,
                               defended=defended, cache=cache, chunk_size=chunk_size, seed=seed,
                               progress=progress, callback=chunk_done, **dict(attack_options.get(attack, {})))
        if threat is ThreatModel.TRANSFER:
            sanity[attack] = result.success
        if (attack, threat) in pairs:
            runs.append(SuiteRun(attack, threat, result, predict_all(defended, result.adversarial)))
    zero = {}
    if any(t is ThreatModel.ADAPTIVE for _, t in pairs):
        mask = torch.cat([zero_gradient_mask(defended, test.images[lo:lo + chunk_size], test.labels[lo:lo + chunk_size])
                          for lo in range(0, n, chunk_size)])
        zero = {a: mask for a, t in pairs if t is ThreatModel.ADAPTIVE}
    settings = {"model": bundle.name, "model_fingerprint": bundle.fingerprint, "k": defended.classifiers.k,
                "classifier_hash": classifier_digest(defended.classifiers), "seed": seed, "n": n,
                "data": test.source, "image_selection": "first n correctly classified by softmax, seeded order",
                "attacks": list(attacks), "threats": [t.value for t in threats], "skipped": skipped,
                "attack_options": attack_options, "chunk_size": chunk_size}
    settings["sanity"] = ("every attack also ran on the undefended softmax (transfer) with the same settings; "
                          "softmax_success is its success rate")
    return Suite(test=test, clean=predict_all(defended, test.images), runs=tuple(runs), settings=settings,
                 sanity=sanity, zero_gradient=zero)
