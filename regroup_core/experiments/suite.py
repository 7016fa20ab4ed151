"""Run attacks × threat models once, cached and resumable; every table is derived from the result.

:func:`run_suite` attacks the same test images with every (attack, threat model) pair that fits,
in chunks of ``chunk_size`` images. Each finished chunk is stored in an
:class:`~regroup_core.experiments.cache.AdversarialCache` before the next starts, so an
interrupted run (Ctrl-C, a crash, a closed browser tab) resumes where it stopped. REGroup then
ranks every layer of every adversarial image once (``scope="all"``), so the k-ablation, the
pos/neg ablation and other voting rules re-aggregate the same rankings for free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from ..attacks.presets import get_preset
from ..attacks.runner import AttackResult, Progress, applicable, classifier_hash, random_targets, run_attack
from ..attacks.threats import Surrogate, ThreatModel, calibrate_temperature
from ..datasets import resolve_data
from ..errors import DataError
from ..regroup import REGroup, Prediction
from ..zoo import ModelBundle
from .cache import AdversarialCache, cache_key

__all__ = ["TestImages", "AttackRun", "Suite", "select_correct", "cached_attack", "run_suite", "predict_all"]

CACHE_VERSION = 2  # 2: C&W/EAD blank-image failures, already-fooled images skipped


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
class AttackRun:
    attack: str
    threat: ThreatModel
    result: AttackResult
    prediction: Prediction  # REGroup on the adversarial images, every layer ranked


@dataclass(frozen=True)
class Suite:
    test: TestImages
    clean: Prediction
    runs: tuple[AttackRun, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def run(self, attack: str, threat: ThreatModel | str) -> AttackRun:
        threat = ThreatModel(threat)
        for r in self.runs:
            if r.attack == attack and r.threat is threat:
                return r
        raise DataError(f"expected a run of '{attack}' under '{threat.value}', got none")


def predict_all(defended: REGroup, images: torch.Tensor, batch_size: int = 256) -> Prediction:
    """REGroup prediction of every layer (scope="all") for many images, batched."""
    parts = [defended.predict(images[i:i + batch_size], scope="all") for i in range(0, len(images), batch_size)]
    first = parts[0]
    return Prediction(layers=first.layers, logits=torch.cat([p.logits for p in parts]),
                      pos_ranks=torch.cat([p.pos_ranks for p in parts]),
                      neg_ranks=torch.cat([p.neg_ranks for p in parts]), k=first.k, variant=first.variant)


def select_correct(bundle: ModelBundle, data: str | Dataset, n: int, *, seed: int = 0,
                   defended: REGroup | None = None) -> TestImages:
    """The first ``n`` images (in a seeded random order) that the base model classifies correctly."""
    dataset = resolve_data(data, bundle) if isinstance(data, str) else data
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
    return TestImages(images=torch.stack(xs), labels=torch.tensor(ys), ids=tuple(chosen), source=str(data),
                      n_available=total, n_scanned=scanned, softmax_top1_all=100.0 * hits / scanned,
                      regroup_top1_all=None if defended is None else 100.0 * reg_hits / scanned)


def _merge(parts: Sequence[AttackResult], hits: int, misses: int) -> AttackResult:
    settings = dict(parts[0].settings)
    settings["n"] = sum(len(p.success) for p in parts)
    settings["cache"] = {"hits": hits, "misses": misses}
    keys = parts[0].per_sample.keys()
    return AttackResult(
        adversarial=torch.cat([p.adversarial for p in parts]), success=torch.cat([p.success for p in parts]),
        targets=None if parts[0].targets is None else torch.cat([p.targets for p in parts]),
        settings=settings, elapsed=sum(p.elapsed for p in parts),
        per_sample={k: torch.cat([p.per_sample[k] for p in parts]) for k in keys})


def cached_attack(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor, attack: str, *,
                  ids: Sequence[int] | None = None, threat: ThreatModel | str = ThreatModel.TRANSFER,
                  defended: REGroup | None = None, cache: AdversarialCache | None = None, chunk_size: int = 50,
                  seed: int = 0, progress: bool = False, callback: Progress | None = None,
                  owned: Callable[[int], bool] | None = None, **options: Any) -> AttackResult | None:
    """:func:`run_attack` chunk by chunk, each chunk looked up in / stored to ``cache``.

    With ``owned`` only the chunks ``c`` with ``owned(c)`` are run (the result holds just those,
    None if none): processes of a torchrun job fill one shared cache, each with its own chunks
    (see :func:`regroup_core.cli_scale.fill_suite_cache`).

    Random targets and the adaptive temperature are drawn once for all images, so the chunks
    of one run agree with each other whatever was cached before.
    """
    threat = ThreatModel(threat)
    preset = get_preset(attack)
    ids = tuple(range(len(labels))) if ids is None else tuple(int(i) for i in ids)
    if len(ids) != len(labels):
        raise DataError(f"expected {len(labels)} image ids, got {len(ids)}")
    if preset.targeted and options.get("targets") is None:
        options["targets"] = random_targets(labels, bundle.num_classes, seed)
    if threat is ThreatModel.ADAPTIVE and options.get("temperature") is None and defended is not None:
        options["temperature"] = calibrate_temperature(defended, images)
    targets = options.pop("targets", None)
    if options.get("epsilon_255") is not None and float(options["epsilon_255"]) == preset.epsilon_255:
        options.pop("epsilon_255")  # the preset's own ε: same cache entry as the default run
    base = {"v": CACHE_VERSION, "model": bundle.fingerprint, "attack": preset.as_dict(), "threat": threat.value,
            "seed": seed, "options": {k: (v.value if isinstance(v, Surrogate) else v) for k, v in sorted(options.items())}}
    if threat is not ThreatModel.TRANSFER and defended is not None:
        base["classifier"] = classifier_hash(defended)
    parts, hits0, misses0 = [], (cache.hits if cache else 0), (cache.misses if cache else 0)
    total = len(labels)
    for c, lo in enumerate(range(0, total, chunk_size)):
        if owned is not None and not owned(c):
            continue  # another process's chunk
        hi = min(lo + chunk_size, total)
        t = None if targets is None else targets[lo:hi]
        key = cache_key({**base, "ids": ids[lo:hi], "targets": None if t is None else t.tolist()})
        result = cache.get(key) if cache is not None else None
        if result is None:
            result = run_attack(bundle, images[lo:hi], labels[lo:hi], preset, threat=threat, defended=defended,
                                targets=t, seed=seed * 7919 + c, progress=progress, **options)
            if cache is not None:
                cache.put(key, result)
        parts.append(result)
        if callback is not None:
            callback(hi, total, f"{preset.name}/{threat.value}")
    hits = (cache.hits - hits0) if cache else 0
    misses = (cache.misses - misses0) if cache else len(parts)
    return _merge(parts, hits, misses) if parts else None


def run_suite(bundle: ModelBundle, defended: REGroup, test: TestImages, *, attacks: Sequence[str],
              threats: Sequence[ThreatModel | str] = (ThreatModel.TRANSFER,), seed: int = 0,
              cache: AdversarialCache | None = None, chunk_size: int = 50,
              attack_options: dict[str, dict[str, Any]] | None = None, progress: bool = False,
              callback: Progress | None = None) -> Suite:
    """Every applicable (attack, threat) pair on ``test``; pairs that do not fit are listed as skipped.

    ``attack_options[attack]`` are keyword arguments of :func:`run_attack` (``steps``,
    ``epsilon_255``, preset parameters...). ``callback(done, total, message)`` reports progress
    in images over all pairs.
    """
    threats = [ThreatModel(t) for t in threats]
    attack_options = attack_options or {}
    pairs = [(a, t) for a in attacks for t in threats if applicable(get_preset(a), t)]
    skipped = [f"{a}/{t.value}" for a in attacks for t in threats if not applicable(get_preset(a), t)]
    n = len(test.labels)
    runs = []
    for i, (attack, threat) in enumerate(pairs):
        def chunk_done(done: int, total: int, message: str, offset: int = i * n) -> None:
            if callback is not None:
                callback(offset + done, len(pairs) * n, message)
        result = cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat,
                               defended=defended, cache=cache, chunk_size=chunk_size, seed=seed,
                               progress=progress, callback=chunk_done, **dict(attack_options.get(attack, {})))
        runs.append(AttackRun(attack, threat, result, predict_all(defended, result.adversarial)))
    settings = {"model": bundle.name, "model_fingerprint": bundle.fingerprint, "k": defended.classifiers.k,
                "classifier_hash": classifier_hash(defended), "seed": seed, "n": n, "data": test.source,
                "image_selection": "first n correctly classified by softmax, seeded order",
                "attacks": list(attacks), "threats": [t.value for t in threats], "skipped": skipped,
                "attack_options": attack_options, "chunk_size": chunk_size}
    return Suite(test=test, clean=predict_all(defended, test.images), runs=tuple(runs), settings=settings)
