"""Run attacks × threat models once, cached and resumable; every table is derived from the result.

:func:`run_suite` attacks the same test images with every (attack, threat model) pair that fits,
in chunks of ``chunk_size`` images. Each finished chunk is stored in the shared
:class:`~regroup_core.store.AdversarialCache` before the next starts, so an interrupted run
(Ctrl-C, a crash, a closed browser tab) resumes where it stopped, and the app finds every
image the CLI attacked. REGroup then ranks every layer of every adversarial image once
(``scope="all"``), so the k-ablation, the pos/neg ablation and other voting rules
re-aggregate the same rankings for free.

**Cache keys.** A run key names everything a result depends on except the images (model
weights, classifier arrays when the attacker queries REGroup, the attack's resolved settings,
threat model, seed); each chunk is keyed by its images' digests and targets. A chunk's
randomness is seeded from the seed and its images' digests and random targets from the seed and
each image's digest, so the same images give the same result in any run and in the app.

**torchrun.** Under several processes every (attack, threat, chunk) unit belongs to one rank
(round-robin); each rank attacks its units into the shared cache, all wait, and rank 0
assembles the suite from the cache (every unit now a hit) while the others return None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..attacks.adaptive import zero_gradient_mask
from ..attacks.runner import AttackResult, applicable, random_targets, resolve_settings, run_attack
from ..attacks.adaptive_plan import PLAN_VERSION
from ..attacks.specs import Method, get_preset
from ..attacks.threats import ThreatModel
from ..engine import Prediction, REGroup
from ..errors import DataError
from ..run.dist import barrier, context
from ..run.evaluate import predict_all
from ..run.progress import Progress
from ..sources import Data, ModelBundle, resolve_data
from ..store import AdversarialCache, CacheEntry, cache_key, classifier_digest, tensor_digest

__all__ = ["Suite", "SuiteRun", "TestImages", "attack_run_key", "cached_attack", "run_suite", "select_correct"]

CACHE_VERSION = 4  # 3: per-image digests and seeds, shared with the app; 4: adaptive PGD, exact success judge


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
        import warnings

        warnings.warn(f"expected {n} correctly classified test images in '{data}', got only {len(chosen)} of "
                      f"{total}: attacking those", stacklevel=2)
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


def attack_run_key(bundle: ModelBundle, attack: str, *, threat: ThreatModel | str = ThreatModel.TRANSFER,
                   defended: REGroup | None = None, seed: int = 0, **options: Any) -> str:
    """The cache key of everything an attack's result depends on except the images and targets:
    model weights, the classifier (when the attacker queries REGroup), the attack's resolved
    settings, the threat model, the seed and any other option (temperature...)."""
    threat = ThreatModel(threat)
    spec = get_preset(attack)
    setting_keys = {"epsilon_255", "steps", *spec.params}
    params, eps_255 = resolve_settings(spec, **{k: v for k, v in options.items() if k in setting_keys})
    payload: dict[str, Any] = {
        "v": CACHE_VERSION, "model": bundle.fingerprint, "attack": spec.name, "method": spec.method.value,
        "targeted": spec.targeted, "min_confidence": spec.min_confidence, "params": params, "epsilon_255": eps_255,
        "threat": threat.value, "seed": int(seed),
        "options": {k: v for k, v in sorted(options.items()) if k not in setting_keys and k != "targets"}}
    if threat is not ThreatModel.TRANSFER and defended is not None:
        payload["classifier"] = classifier_digest(defended.classifiers)
    if threat is ThreatModel.ADAPTIVE and spec.method in (Method.PGD_LINF, Method.PGD_L2):
        payload["adaptive_plan"] = PLAN_VERSION  # a new plan never reuses an older plan's results
    return cache_key(payload)


def _from_entry(entry: CacheEntry) -> AttackResult:
    t = entry.tensors
    per_sample = {k.removeprefix("per_sample."): v for k, v in t.items() if k.startswith("per_sample.")}
    return AttackResult(adversarial=t["adversarial"], success=t["success"].bool(), targets=t.get("targets"),
                        settings=entry.meta["settings"], elapsed=float(entry.meta.get("elapsed", 0.0)),
                        per_sample=per_sample)


def cached_attack(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor, attack: str, *,
                  ids: Sequence[int | str] | None = None, threat: ThreatModel | str = ThreatModel.TRANSFER,
                  defended: REGroup | None = None, cache: AdversarialCache | None = None, chunk_size: int = 50,
                  seed: int = 0, progress: bool = False, callback: Progress | None = None,
                  owned: Callable[[int], bool] | None = None, **options: Any) -> AttackResult | None:
    """:func:`~regroup_core.attacks.runner.run_attack` chunk by chunk, each chunk looked up in /
    stored to ``cache`` (see the module doc for keys and seeds).

    ``ids`` name the images in the cache's metadata (their identity in keys is their digest).
    With ``owned`` only the chunks ``c`` with ``owned(c)`` are run (the result holds just those,
    None if none): the processes of a torchrun job fill one shared cache, each with its own chunks.
    Every image's result depends only on the image, the seed and the settings (the adaptive
    surrogate's temperatures are calibrated per image), never on its chunk-mates' images.
    """
    threat = ThreatModel(threat)
    preset = get_preset(attack)
    if chunk_size < 1:
        raise DataError(f"expected chunk_size >= 1, got {chunk_size}")
    ids = tuple(range(len(labels))) if ids is None else tuple(ids)
    if len(ids) != len(labels):
        raise DataError(f"expected {len(labels)} image ids, got {len(ids)}")
    digests = [tensor_digest(img.float()) for img in images]
    targets = options.pop("targets", None)
    if preset.targeted and targets is None:
        targets = random_targets(labels, bundle.num_classes, seed, keys=digests)
    if options.get("epsilon_255") is not None and float(options["epsilon_255"]) == preset.epsilon_255:
        options.pop("epsilon_255")  # the preset's own ε: same cache entry as the default run
    run_key = attack_run_key(bundle, preset.name, threat=threat, defended=defended, seed=seed, **options)
    parts, hits0, misses0 = [], (cache.hits if cache else 0), (cache.misses if cache else 0)
    total = len(labels)
    for c, lo in enumerate(range(0, total, chunk_size)):
        if owned is not None and not owned(c):
            continue  # another process's chunk
        hi = min(lo + chunk_size, total)
        t = None if targets is None else torch.as_tensor(targets[lo:hi]).to(torch.int64)
        chunk_key = cache_key({"images": digests[lo:hi], "targets": None if t is None else t.tolist()})
        entry = cache.get(run_key, chunk_key, digests[lo:hi]) if cache is not None else None
        result = _from_entry(entry) if entry is not None else None
        if result is None:
            chunk_seed = int(cache_key({"seed": seed, "images": digests[lo:hi]})[:12], 16)
            result = run_attack(bundle, images[lo:hi], labels[lo:hi], preset, threat=threat, defended=defended,
                                targets=t, seed=chunk_seed, progress=progress, **options)
            result.settings["run_seed"] = int(seed)
            if cache is not None:
                tensors = {"adversarial": result.adversarial, "success": result.success.to(torch.uint8)}
                if result.targets is not None:
                    tensors["targets"] = result.targets
                tensors |= {f"per_sample.{k}": v for k, v in result.per_sample.items()}
                cache.put(run_key, chunk_key, tensors, {
                    "settings": result.settings, "elapsed": result.elapsed, "image_digests": digests[lo:hi],
                    "image_ids": [str(i) for i in ids[lo:hi]], "labels": labels[lo:hi].tolist()})
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
