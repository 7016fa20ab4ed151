"""Run one attack spec on a batch of images under a threat model.

:func:`run_attack` is the single entry point of the CLI, the experiments and the app. It checks
its inputs before foolbox sees them (foolbox answers out-of-bounds inputs with a bare
``AssertionError`` and silently ignores targeted criteria in DeepFool/Spatial), builds the
attacked model for the threat model, runs the attack batch by batch, and judges success on
the model the attacker targeted.

**Randomness.** foolbox draws its random starts and walks from torch's and NumPy's *global*
generators and takes no generator argument. :func:`regroup_core.rng.global_rng`
therefore holds one process-wide lock while it seeds them, runs the library call and restores them: concurrent
attacks (threads of the app's browser sessions) cannot interleave their draws, so every seeded
attack gives the same result whatever else runs. Our own stochastic code takes a
``torch.Generator`` and never touches the global ones.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..engine import REGroup
from ..errors import DataError
from ..run.progress import Progress, Reporter
from ..sources import ModelBundle
from ..store import classifier_digest
from .adapters import AttackJob, Target, adapter_for
from .adaptive_plan import AdaptivePlan, runs as plan_runs
from .settings import AttackSettings
from .specs import AttackFamily, AttackSpec, Method, get_preset
from .threats import RegroupScores, SoftRegroup, Surrogate, ThreatModel

__all__ = ["AttackResult", "AttackSettings", "applicable", "random_targets", "resolve_settings", "run_attack"]


@dataclass(frozen=True)
class AttackResult:
    """Adversarial images and what it took to make them.

    Attributes:
        adversarial: (B, C, H, W) float32 images in the model's bounds, on the CPU.
        success: (B,) bool — the attacked model (softmax for ``transfer``, REGroup for
            ``blackbox``, the surrogate for ``adaptive``) is fooled: predicts ≠ label, or ==
            target for targeted attacks (and, for high-confidence presets, with probability ≥ 0.9).
        targets: (B,) int64 target classes of targeted attacks, else None.
        settings: every parameter actually used (JSON-serialisable).
        elapsed: seconds spent.
        per_sample: extra per-image tensors (e.g. ``epsilon_255`` reached by ε-ladder attacks).
    """

    adversarial: torch.Tensor
    success: torch.Tensor
    targets: torch.Tensor | None
    settings: dict[str, Any]
    elapsed: float
    per_sample: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self.success) else 0.0


def applicable(preset: AttackSpec | str, threat: ThreatModel | str) -> bool:
    """transfer: every attack; blackbox: decision/score-based; adaptive: gradient-based."""
    preset, threat = get_preset(preset), ThreatModel(threat)
    if preset.method.needs_voters:
        return threat is ThreatModel.ADAPTIVE
    if threat is ThreatModel.TRANSFER:
        return True
    if threat is ThreatModel.BLACKBOX:
        return preset.family in (AttackFamily.DECISION, AttackFamily.SCORE)
    return preset.family is AttackFamily.GRADIENT


def random_targets(labels: torch.Tensor, num_classes: int, seed: int,
                   keys: Sequence[str] | None = None) -> torch.Tensor:
    """A uniformly random target ≠ the true class for every label (seeded).

    With ``keys`` (one per image, e.g. its digest) each image's target depends only on
    ``(seed, key)``, not on its position in the batch: the same image gets the same target in
    a run of 1 or of 1 000 images.
    """
    labels = torch.as_tensor(labels).cpu()
    if keys is None:
        g = torch.Generator().manual_seed(int(seed))
        offsets = torch.randint(1, num_classes, (len(labels),), generator=g)
    else:
        if len(keys) != len(labels):
            raise DataError(f"expected one key per label ({len(labels)}), got {len(keys)}")
        offsets = torch.tensor([1 + int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest(), 16) % (num_classes - 1)
                                for key in keys], dtype=torch.int64)
    return (labels + offsets) % num_classes


def _check_inputs(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor,
                  targets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    bundle.check_batch(images)  # shape, finiteness and bounds: our DataError, not foolbox's AssertionError
    labels = torch.as_tensor(labels).to(torch.int64).cpu()
    m = bundle.num_classes
    if labels.shape != (images.shape[0],):
        raise DataError(f"expected labels of shape ({images.shape[0]},), got {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= m):
        raise DataError(f"expected labels in [0, {m}), got [{int(labels.min())}, {int(labels.max())}]")
    if targets is not None:
        if targets.shape != labels.shape:
            raise DataError(f"expected targets of shape {tuple(labels.shape)}, got {tuple(targets.shape)}")
        if len(targets) and (targets.min() < 0 or targets.max() >= m):
            raise DataError(f"expected targets in [0, {m}), got [{int(targets.min())}, {int(targets.max())}]")
        if (targets == labels).any():
            raise DataError("expected every target to differ from its true label, got equal ones")
    return images.detach().float().cpu(), labels


def resolve_settings(preset: AttackSpec | str, *, epsilon_255: float | None = None, steps: int | None = None,
                     **overrides: Any) -> tuple[dict[str, Any], float | None]:
    """The parameters and ε (0–255 scale) an attack will run with, after the caller's overrides.

    Two calls that resolve to the same settings run the same attack (caches key on this).
    """
    preset = get_preset(preset)
    unknown = sorted(set(overrides) - set(preset.params))
    if unknown:
        raise DataError(f"expected parameters among {sorted(preset.params)} for '{preset.name}', got {unknown}")
    params = {**preset.params, **overrides}
    if steps is not None:
        if "steps" not in params:
            raise DataError(f"expected no steps for '{preset.name}' (it has none), got steps={steps}")
        if isinstance(steps, bool) or int(steps) != steps or int(steps) < 1:
            raise DataError(f"expected steps to be an integer >= 1, got {steps}")
        params["steps"] = int(steps)
    if not preset.takes_epsilon and epsilon_255 is not None:
        raise DataError(f"expected no epsilon for '{preset.name}' (foolbox's SpatialAttack takes none), got one")
    eps_255 = preset.epsilon_255 if epsilon_255 is None else float(epsilon_255)
    if eps_255 is not None and not (math.isfinite(eps_255) and eps_255 > 0):
        raise DataError(f"expected epsilon_255 > 0 and finite, got {eps_255}")
    return params, eps_255


def _settings_record(bundle: ModelBundle, preset: AttackSpec, settings: AttackSettings, params: dict[str, Any],
                     eps_255: float | None, n: int) -> dict[str, Any]:
    """Every parameter the attack runs with (JSON-serialisable; recorded with its result)."""
    eps = None if eps_255 is None else eps_255 / 255.0
    return {
        "attack": preset.name, "method": preset.method.value, "threat": ThreatModel(settings.threat).value,
        "family": preset.family.value, "norm": preset.norm.value, "budget": preset.budget.value,
        "epsilon_255": eps_255, "epsilon": eps, "epsilon_scale": "epsilon = epsilon_255 / 255 on [0, 1] inputs",
        "params": params, "targeted": preset.targeted, "min_confidence": preset.min_confidence,
        "seed": int(settings.seed), "batch_size": int(settings.batch_size), "n": n, "model": bundle.name,
        "model_fingerprint": bundle.fingerprint, "bounds": list(bundle.bounds), "libraries": library_versions(preset),
        "device": str(bundle.device),
    }


def _target(bundle: ModelBundle, preset: AttackSpec, settings: AttackSettings, defended: REGroup | None,
            record: dict[str, Any]) -> Target:
    """What the attack runs against under its threat model (and what that adds to the record)."""
    threat, device = ThreatModel(settings.threat), bundle.device
    if threat is ThreatModel.TRANSFER:
        record["success_judged_by"] = "softmax argmax"
        return Target(bundle.model, None, device, bundle.num_classes)
    surrogate = Surrogate(settings.surrogate)
    model = (RegroupScores(defended) if threat is ThreatModel.BLACKBOX else SoftRegroup(defended, surrogate)).eval()
    record.update(k=defended.classifiers.k, classifier_hash=classifier_digest(defended.classifiers),
                  success_judged_by="exact REGroup decision (a Borda tie counts as fooled)")
    if threat is ThreatModel.BLACKBOX:
        record["queried_score"] = "Borda count + 0.5·exp(−mean voter KL) (continuous tie-breaker)"
        return Target(model, defended, device, bundle.num_classes)
    record.update(surrogate=surrogate.value, temperature_rule="per voter and image: the gap between "
                  "the voter's two smallest KL divergences at the current input (no gradient through it)")
    if preset.method in (Method.PGD_LINF, Method.PGD_L2):
        params = record["params"]
        adaptive_plan = AdaptivePlan.of(params)
        record["adaptive"] = {
            "runs": [r.name for r in plan_runs(adaptive_plan, transfer_start=bool(params.get("transfer_start")),
                                               targeted=preset.targeted, num_classes=bundle.num_classes)],
            "plan": adaptive_plan.as_dict(),
            "optimiser": "APGD step-size schedule with momentum 0.75 (Croce & Hein 2020)",
            "decision_check": "exact REGroup.predict after every step; first fooling iterate kept"}
    return Target(model, defended, device, bundle.num_classes)


def _check_request(preset: AttackSpec, threat: ThreatModel, targets: torch.Tensor | None,
                   defended: REGroup | None) -> None:
    if targets is not None and not preset.targeted:
        if not preset.method.supports_targets:
            raise DataError(f"expected no targets for '{preset.name}' (its implementation ignores or picks "
                            "targets itself), got targets")
        raise DataError(f"expected no targets for the untargeted '{preset.name}', got targets; "
                        "use a '-targeted' preset")
    if not applicable(preset, threat):
        raise DataError(f"expected an attack that fits the '{threat.value}' threat model, got '{preset.name}' "
                        f"({preset.family.value}-based; blackbox takes decision/score-based attacks, "
                        "adaptive takes gradient-based ones)")
    if threat is not ThreatModel.TRANSFER and defended is None:
        raise DataError(f"expected a REGroup classifier (defended=) for the '{threat.value}' threat model, got none")


def run_attack(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor,
               attack: str | AttackSpec | AttackSettings, *, defended: REGroup | None = None,
               targets: torch.Tensor | None = None, progress: bool = False, callback: Progress | None = None,
               **changes: Any) -> AttackResult:
    """Attack ``images`` (B, C, H, W) in [0, 1] with true ``labels`` (B,).

    Args:
        attack: an :class:`~regroup_core.attacks.settings.AttackSettings`, or a preset name (see
            :data:`~regroup_core.attacks.specs.PRESETS`) or AttackSpec; keyword ``changes`` are
            applied to it (``threat``, ``epsilon_255``, ``steps``, ``seed``, ``batch_size``,
            ``surrogate``, or any key of the preset's ``params``, e.g. ``binary_search_steps=3``).
            ``threat``: ``transfer`` (attack the softmax model), ``blackbox`` (query the exact
            REGroup; decision/score-based attacks) or ``adaptive`` (white-box on
            :class:`SoftRegroup`; PGD runs :func:`~regroup_core.attacks.adaptive_plan.run_plan`).
            ``epsilon_255`` is the budget on the 0–255 scale (used as ``/ 255``); ``seed`` seeds
            the attack's randomness (batch ``b`` uses ``seed`` and ``b``) and the random targets.
        defended: the REGroup classifier (required for blackbox and adaptive).
        targets: target classes for targeted presets (default: random ≠ label, from ``seed``).
    """
    settings = AttackSettings.of(attack, **changes)
    preset, threat = get_preset(settings.attack), ThreatModel(settings.threat)
    Surrogate(settings.surrogate)  # a bad name fails here, before any work
    _check_request(preset, threat, targets, defended)
    images, labels = _check_inputs(bundle, images, labels,
                                   None if targets is None else torch.as_tensor(targets).to(torch.int64).cpu())
    params, eps_255 = resolve_settings(preset, epsilon_255=settings.epsilon_255, steps=settings.steps,
                                       **settings.overrides)
    if preset.targeted:
        targets = (random_targets(labels, bundle.num_classes, settings.seed) if targets is None
                   else torch.as_tensor(targets).cpu())
    record = _settings_record(bundle, preset, settings, params, eps_255, len(labels))
    target = _target(bundle, preset, settings, defended, record)
    job = AttackJob(preset, params, None if eps_255 is None else eps_255 / 255.0, threat, target, bundle.model,
                    tuple(bundle.bounds))
    start = time.perf_counter()
    with Reporter(len(labels), f"{preset.name}/{threat.value}", bar=progress, callback=callback, unit="img") as bar:
        adversarial, success, per_sample = adapter_for(preset.method).attack(
            job, images, labels, targets, seed=settings.seed, batch_size=settings.batch_size, bar=bar)
    return AttackResult(adversarial=adversarial, success=success, targets=targets, settings=record,
                        elapsed=time.perf_counter() - start, per_sample=per_sample)


def library_versions(preset: AttackSpec) -> dict[str, str]:
    """The versions of the libraries an attack runs on (recorded in its settings)."""
    return adapter_for(get_preset(preset).method).versions()
