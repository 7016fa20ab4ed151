"""The attack cache's one route: :func:`cached_attack` runs :func:`~regroup_core.attacks.runner.run_attack`
chunk by chunk through the shared :class:`~regroup_core.store.AdversarialCache`, so the CLI, the
scripts, the paper's tables and the app all find each other's attacks.

**Cache keys.** A run key (:func:`attack_run_key`) names everything a result depends on except the
images (model weights, classifier arrays when the attacker queries REGroup, the attack's resolved
settings, threat model, seed); each chunk is keyed by its images' digests and targets. A chunk's
randomness is seeded from the seed and its images' digests and random targets from the seed and
each image's digest, so the same images give the same result in any run and in the app.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..engine import REGroup
from ..errors import DataError
from ..run.progress import Progress
from ..sources import ModelBundle
from ..store import AdversarialCache, CacheEntry, cache_key, classifier_digest, tensor_digest
from .adaptive_plan import PLAN_VERSION
from .runner import AttackResult, random_targets, resolve_settings, run_attack
from .specs import Method, get_preset
from .threats import ThreatModel

__all__ = ["CACHE_VERSION", "attack_run_key", "cached_attack"]

CACHE_VERSION = 4  # 3: per-image digests and seeds, shared with the app; 4: adaptive PGD, exact success judge


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
