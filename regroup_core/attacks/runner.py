"""Run one attack spec on a batch of images under a threat model.

:func:`run_attack` is the single entry point of the CLI, the experiments and the app. It checks
its inputs before foolbox sees them (foolbox answers out-of-bounds inputs with a bare
``AssertionError`` and silently ignores targeted criteria in DeepFool/Spatial), builds the
attacked model for the threat model, runs the attack batch by batch, and judges success on
the model the attacker targeted.

**Randomness.** foolbox draws its random starts and walks from torch's and NumPy's *global*
generators and takes no generator argument. :func:`library_rng` (:func:`regroup_core.rng.global_rng`)
therefore holds one process-wide lock while it seeds them, runs the library call and restores them: concurrent
attacks (threads of the app's browser sessions) cannot interleave their draws, so every seeded
attack gives the same result whatever else runs. Our own stochastic code takes a
``torch.Generator`` and never touches the global ones.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine import REGroup
from ..errors import DataError
from ..rng import global_rng
from ..run.progress import Progress, Reporter
from ..sources import ModelBundle
from ..store import classifier_digest
from .adaptive import regroup_fooled
from .adaptive_plan import AdaptivePlan, run_plan, runs as plan_runs
from .specs import AttackFamily, AttackSpec, Method, Norm, get_preset
from .autoattack_ import autoattack
from .pmf_match import pmf_match
from .spsa import spsa
from .threats import RegroupScores, SoftRegroup, Surrogate, ThreatModel

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython, which wants git on PATH
import foolbox as fb  # noqa: E402

__all__ = ["AttackResult", "applicable", "library_rng", "random_targets", "resolve_settings", "run_attack"]



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


library_rng = global_rng
"""Seed the global generators for a library call that draws from them (see :mod:`regroup_core.rng`)."""


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


_FOOLBOX: dict[Method, Callable[[dict[str, Any]], Any]] = {
    Method.PGD_LINF: lambda p: fb.attacks.LinfPGD(abs_stepsize=p["abs_stepsize"], steps=p["steps"],
                                                  random_start=p["random_start"]),
    Method.PGD_L2: lambda p: fb.attacks.L2PGD(rel_stepsize=p["rel_stepsize"], steps=p["steps"],
                                              random_start=p["random_start"]),
    Method.DEEPFOOL: lambda p: fb.attacks.L2DeepFoolAttack(steps=p["steps"], candidates=p["candidates"],
                                                           overshoot=p["overshoot"]),
    Method.CARLINI_WAGNER: lambda p: fb.attacks.L2CarliniWagnerAttack(
        binary_search_steps=p["binary_search_steps"], steps=p["steps"], stepsize=p["stepsize"],
        confidence=p["confidence"], initial_const=p["initial_const"], abort_early=p["abort_early"]),
    Method.EAD: lambda p: fb.attacks.EADAttack(
        binary_search_steps=p["binary_search_steps"], steps=p["steps"], initial_stepsize=p["initial_stepsize"],
        confidence=p["confidence"], initial_const=p["initial_const"], regularization=p["regularization"],
        abort_early=p["abort_early"]),
    Method.BOUNDARY: lambda p: fb.attacks.BoundaryAttack(steps=p["steps"], spherical_step=p["spherical_step"],
                                                         source_step=p["source_step"],
                                                         step_adaptation=p["step_adaptation"]),
    Method.HOPSKIPJUMP: lambda p: fb.attacks.HopSkipJumpAttack(
        steps=p["steps"], initial_gradient_eval_steps=p["initial_gradient_eval_steps"],
        max_gradient_eval_steps=p["max_gradient_eval_steps"], gamma=p["gamma"]),
    Method.SPATIAL: lambda p: fb.attacks.SpatialAttack(
        max_translation=p["max_translation"], max_rotation=p["max_rotation"], num_translations=p["num_translations"],
        num_rotations=p["num_rotations"], grid_search=p["grid_search"]),
}
"""foolbox implementations by :class:`~regroup_core.attacks.specs.Method`."""

_TORCHATTACKS = (Method.APGD_CE, Method.APGD_T, Method.SQUARE)
_ADV_LIB = (Method.TRUST_REGION, Method.FMN)
_PGD = (Method.PGD_LINF, Method.PGD_L2)


@dataclass(frozen=True)
class _Target:
    """What the attack runs against and how its success is judged.

    ``model`` is what the attack queries (softmax, the REGroup scores or the surrogate);
    ``defended`` is set when success is judged by the exact REGroup decision (blackbox and
    adaptive: a Borda tie counts as fooled).
    """

    model: nn.Module
    defended: REGroup | None
    device: torch.device
    num_classes: int


def _fooled(target: _Target, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None,
            min_confidence: float | None) -> torch.Tensor:
    """Success on the attacked classifier (see :attr:`AttackResult.success`)."""
    if target.defended is not None:  # the exact REGroup decision; min_confidence is a softmax notion
        return regroup_fooled(target.defended, x.to(target.device), labels, targets)
    with torch.no_grad():
        scores = target.model(x.to(target.device)).float().cpu()
    pred = scores.argmax(1)
    ok = pred != labels if targets is None else pred == targets
    if min_confidence is not None:
        ok &= torch.softmax(scores, 1).max(1).values >= min_confidence
    return ok


def _run_batch(preset: AttackSpec, p: dict[str, Any], target: _Target, x: torch.Tensor, y: torch.Tensor,
               t: torch.Tensor | None, eps: float | None, seed: int, threat: ThreatModel, softmax: nn.Module,
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Adversarials for one batch (CPU tensors) and per-sample extras.

    Images the attacked classifier already gets wrong are returned unchanged (they are adversarial
    as they are; foolbox's Boundary attack would otherwise divide by a zero distance → NaN).
    """
    todo = ~_fooled(target, x, y, t, None)
    out = x.clone()
    extras: dict[str, torch.Tensor] = {}
    if todo.any():
        idx = todo.nonzero().squeeze(1)
        adv, part = _attack_batch(preset, p, target, x[idx], y[idx], None if t is None else t[idx], eps, seed,
                                  threat, softmax)
        out[idx] = adv.to(out.dtype)
        for key, v in part.items():
            extras[key] = torch.full((len(x),), _fill(v), dtype=v.dtype)
            extras[key][idx] = v
    return out, extras


def _fill(like: torch.Tensor) -> float | int | bool:
    """The per-sample value of an image that was not attacked (already fooled): NaN, False, or −2
    (the adaptive run index of "wrong on the clean image")."""
    if like.is_floating_point():
        return float("nan")
    return False if like.dtype == torch.bool else -2


def _decision_attack(attack, fmodel, target: _Target, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None
                     ) -> torch.Tensor:
    """Boundary/HopSkipJump from explicit starting points.

    foolbox raises ``ValueError`` for the whole batch when its blended-noise initialisation
    fails for a single image. We run that initialisation ourselves, fall back to another image
    of the batch that the attacked model already puts in the wanted class, and leave the images
    without any adversarial starting point unattacked (returned as they are: failures).
    """
    device = target.device
    init = fb.attacks.LinearSearchBlendedUniformNoiseAttack()
    xd, yd = x.to(device), y.to(device)
    criterion = fb.criteria.Misclassification(yd) if t is None else fb.criteria.TargetedMisclassification(t.to(device))
    start, _, _ = init(fmodel, xd, criterion, epsilons=None)
    start = start.detach().cpu()
    ok = _fooled(target, start, y, t, None)
    if not ok.all():
        with torch.no_grad():
            pred = target.model(xd).argmax(1).cpu()
        for i in (~ok).nonzero().squeeze(1).tolist():
            wanted = pred != y[i] if t is None else pred == t[i]
            if wanted.any():
                start[i] = x[int(wanted.nonzero()[0])]
                ok[i] = True
    out = x.clone()
    idx = ok.nonzero().squeeze(1)
    if len(idx):
        crit = (fb.criteria.Misclassification(yd[idx.to(device)]) if t is None
                else fb.criteria.TargetedMisclassification(t[idx].to(device)))
        _, adv, _ = attack(fmodel, xd[idx.to(device)], crit, epsilons=None, starting_points=start[idx].to(device))
        out[idx] = adv.detach().cpu()
    return out


class _Float32(nn.Module):
    """A score model's outputs as float32 (the surrogate computes in float64 inside; gradients flow)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()


def _clip(adv: torch.Tensor, x: torch.Tensor, norm: Norm, eps: float | None) -> torch.Tensor:
    """A minimisation attack's result bounded by ε when one is given (L∞ clamp / L2 rescale)."""
    if eps is None:
        return adv
    d = adv - x
    if norm is Norm.LINF:
        d = d.clamp(-eps, eps)
    else:
        n = d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (d.dim() - 1)))
        d = d * torch.clamp(eps / n, max=1.0)
    return (x + d).clamp(0.0, 1.0)


def _library_attack(preset: AttackSpec, p: dict[str, Any], target: _Target, x: torch.Tensor, y: torch.Tensor,
                    eps: float | None, seed: int) -> torch.Tensor:
    """torchattacks (APGD-CE, APGD-T, Square) and adv-lib (Trust Region, FMN) attacks."""
    xd, yd = x.to(target.device), y.to(target.device)
    m = target.num_classes
    if preset.method in _TORCHATTACKS:
        import torchattacks

        seed31 = int(seed) % 2**31
        if preset.method is Method.APGD_CE:
            attack = torchattacks.APGD(target.model, norm="Linf", eps=eps, steps=p["steps"], n_restarts=p["restarts"],
                                       seed=seed31, loss="ce", rho=p["rho"])
        elif preset.method is Method.APGD_T:
            attack = torchattacks.APGDT(target.model, norm="Linf", eps=eps, steps=p["steps"],
                                        n_restarts=p["restarts"], seed=seed31, rho=p["rho"], n_classes=m)
            attack.n_target_classes = max(1, min(int(p["target_classes"]), m - 2))  # DLR-T needs 3 other classes
        else:
            attack = torchattacks.Square(target.model, norm="Linf", eps=eps, n_queries=p["queries"],
                                         n_restarts=p["restarts"], p_init=p["p_init"], loss="margin", seed=seed31)
        with library_rng(seed):  # torchattacks seeds and draws from torch's global generator
            adv = attack(xd, yd)
        return adv.detach().cpu()
    from adv_lib.attacks import fmn, tr  # imported on use: adv-lib pulls in visdom (slow to import)

    norm = float("inf") if preset.norm is Norm.LINF else 2.0
    model = _Float32(target.model)  # adv-lib keeps float32 state (TR's radii) that float64 scores would upcast
    if preset.method is Method.TRUST_REGION:
        adv = tr(model, xd, yd, iter=p["steps"], adaptive=p["adaptive"], p=norm, eps=p["eps"],
                 c=max(1, min(int(p["c"]), m - 1)), worst_case=p["worst_case"])
    else:
        adv = fmn(model, xd, yd, norm=norm, steps=p["steps"], α_init=p["alpha_init"], γ_init=p["gamma_init"],
                  γ_final=p["gamma_final"], binary_search_steps=p["binary_search_steps"])
    return _clip(adv.detach().cpu().float(), x, preset.norm, eps)


def _plan(p: dict[str, Any]) -> AdaptivePlan:
    """The adaptive plan of a PGD preset's parameters (steps, restarts, runner_up_targets)."""
    return AdaptivePlan.for_steps(int(p["steps"]), restarts=int(p.get("restarts", 0)),
                                  target_classes=int(p.get("runner_up_targets", 0)))


def _pgd(preset: AttackSpec, p: dict[str, Any], target: _Target, x: torch.Tensor, y: torch.Tensor,
         t: torch.Tensor | None, eps: float, seed: int, threat: ThreatModel, softmax: nn.Module,
         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PGD: foolbox on the softmax (``restarts`` extra random starts on the images not yet fooled),
    or the adaptive PGD of :mod:`regroup_core.attacks.adaptive` on REGroup."""
    device = target.device
    softmax_target = _Target(softmax, None, device, target.num_classes)

    def transfer_pgd(pgd_target: _Target) -> torch.Tensor:
        fmodel = fb.PyTorchModel(pgd_target.model, bounds=(0.0, 1.0), device=device)
        attack = _FOOLBOX[preset.method](p)
        out = x.clone()
        todo = torch.ones(len(x), dtype=torch.bool)
        for r in range(1 + int(p.get("restarts", 0))):
            idx = todo.nonzero().squeeze(1)
            if len(idx) == 0:
                break
            di = idx.to(device)
            crit = (fb.criteria.Misclassification(y[idx].to(device)) if t is None
                    else fb.criteria.TargetedMisclassification(t[idx].to(device)))
            with library_rng(seed + 7919 * r):
                _, adv, _ = attack(fmodel, x.to(device)[di], crit, epsilons=eps)
            adv = adv.detach().cpu()
            out[idx] = adv.to(out.dtype)
            todo[idx[_fooled(pgd_target, adv, y[idx], None if t is None else t[idx], preset.min_confidence)]] = False
        return out

    if threat is not ThreatModel.ADAPTIVE:
        return transfer_pgd(target), {}
    start = transfer_pgd(softmax_target) if p.get("transfer_start") else None
    outcome = run_plan(target.defended, x.to(device), y, norm=preset.norm, epsilon=eps,
                       plan=_plan(p),
                       transfer=start, targets=t, generator=torch.Generator().manual_seed(int(seed) % 2**63))
    return outcome.adversarial.cpu(), {"adaptive_run": outcome.run_index, "zero_gradient": outcome.zero_gradient,
                                       "adaptive_passes": torch.full((len(x),), outcome.steps_run / max(len(x), 1))}


def _attack_batch(preset: AttackSpec, p: dict[str, Any], target: _Target, x: torch.Tensor, y: torch.Tensor,
                  t: torch.Tensor | None, eps: float | None, seed: int, threat: ThreatModel, softmax: nn.Module,
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    device = target.device
    xd, yd = x.to(device), y.to(device)
    td = None if t is None else t.to(device)
    if preset.method is Method.SPSA:  # ours: its own generator, no global RNG
        g = torch.Generator().manual_seed(seed)
        adv = spsa(target.model, xd, yd, epsilon=eps, steps=p["steps"], samples=p["samples"], delta=p["delta"],
                   lr=p["lr"], early_stop_loss=p["early_stop_loss"], targets=td, generator=g)
        return adv.cpu(), {}
    if preset.method is Method.PMF_MATCH:
        outcome = pmf_match(target.defended, xd, y, norm=preset.norm, epsilon=eps, steps=int(p["steps"]),
                            target_classes=int(p["target_classes"]), targets=t, keep_softmax=bool(p["keep_softmax"]))
        return outcome.adversarial.cpu(), {"pmf_target_rank": outcome.target_rank}
    if preset.method is Method.AUTOATTACK:
        adv, flags = autoattack(target.model, xd, yd, epsilon=eps, version=str(p["version"]), seed=seed,
                                num_classes=target.num_classes)
        return adv, flags
    if preset.method in _TORCHATTACKS or preset.method in _ADV_LIB:
        return _library_attack(preset, p, target, x, y, eps, seed), {}
    ladder = p.get("epsilon_ladder_255")
    if preset.method in _PGD and not ladder:
        return _pgd(preset, p, target, x, y, t, eps, seed, threat, softmax)
    fmodel = fb.PyTorchModel(target.model, bounds=(0.0, 1.0), device=device)
    criterion = fb.criteria.Misclassification(yd) if td is None else fb.criteria.TargetedMisclassification(td)
    if not preset.takes_epsilon:  # SpatialAttack takes no epsilons
        with library_rng(seed):
            adv, _, _ = _FOOLBOX[preset.method](p)(fmodel, xd, criterion)
        return adv.detach().cpu(), {}
    if preset.method.needs_starting_point:
        with library_rng(seed):
            return _decision_attack(_FOOLBOX[preset.method](p), fmodel, target, x, y, t), {}
    if not ladder:
        with library_rng(seed):
            _, adv, _ = _FOOLBOX[preset.method](p)(fmodel, xd, criterion, epsilons=eps)
        adv = adv.detach().cpu()
        if preset.method.may_return_blank:
            # foolbox's C&W and EAD start from an all-black "best adversarial" and return it when they
            # find nothing; a black image fools most models, so count it as the failure it is
            blank = (adv.flatten(1) == 0).all(1) & (x.flatten(1) != 0).any(1)
            adv[blank] = x[blank]
        return adv, {}
    # ε ladder (binary-search / high-confidence PGD): grow ε on the images not yet successful
    rungs = [e for e in ladder if e / 255.0 >= eps - 1e-12] or [eps * 255.0]
    out = x.clone()
    used = torch.full((len(x),), float("nan"))
    todo = torch.ones(len(x), dtype=torch.bool)
    for rung in rungs:
        idx = todo.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        adv, _ = _pgd(preset, p, target, x[idx], y[idx], None if t is None else t[idx], rung / 255.0,
                      seed + int(rung * 1000), threat, softmax)
        out[idx] = adv.to(out.dtype)
        used[idx] = rung
        ok = _fooled(target, adv, y[idx], None if t is None else t[idx], preset.min_confidence)
        todo[idx[ok]] = False
    return out, {"epsilon_255": used}


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


def run_attack(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor, attack: str | AttackSpec, *,
               threat: ThreatModel | str = ThreatModel.TRANSFER, defended: REGroup | None = None,
               epsilon_255: float | None = None, steps: int | None = None, targets: torch.Tensor | None = None,
               seed: int = 0, batch_size: int = 64, progress: bool = False, callback: Progress | None = None,
               surrogate: Surrogate | str = Surrogate.SOFT_BORDA, **overrides: Any) -> AttackResult:
    """Attack ``images`` (B, C, H, W) in [0, 1] with true ``labels`` (B,).

    Args:
        attack: a preset name (see :data:`~regroup_core.attacks.specs.PRESETS`) or an AttackSpec.
        threat: ``transfer`` (attack the softmax model), ``blackbox`` (query the exact REGroup;
            decision/score-based attacks) or ``adaptive`` (white-box on :class:`SoftRegroup`; PGD
            runs :func:`~regroup_core.attacks.adaptive_plan.run_plan`).
        defended: the REGroup classifier (required for blackbox and adaptive).
        epsilon_255: budget on the 0–255 scale (default: the preset's); used as ``/ 255``.
        steps: iterations (default: the preset's CPU-affordable count).
        targets: target classes for targeted presets (default: random ≠ label, from ``seed``).
        seed: seeds the attack's randomness (batch ``b`` of the run uses ``seed`` and ``b``) and the
            random targets.
        surrogate: adaptive threat model only (:class:`Surrogate`).
        overrides: any other key of the preset's ``params`` (e.g. ``binary_search_steps=3``).
    """
    preset = get_preset(attack)
    threat = ThreatModel(threat)
    surrogate = Surrogate(surrogate)
    if targets is not None and not preset.targeted:
        if not preset.method.supports_targets:
            raise DataError(f"expected no targets for '{preset.name}' (its implementation ignores or picks "
                            "targets itself), got targets")
        raise DataError(f"expected no targets for the untargeted '{preset.name}', got targets; "
                        "use a '-targeted' preset")
    images, labels = _check_inputs(bundle, images, labels,
                                   None if targets is None else torch.as_tensor(targets).to(torch.int64).cpu())
    if not applicable(preset, threat):
        raise DataError(f"expected an attack that fits the '{threat.value}' threat model, got '{preset.name}' "
                        f"({preset.family.value}-based; blackbox takes decision/score-based attacks, "
                        "adaptive takes gradient-based ones)")
    if threat is not ThreatModel.TRANSFER and defended is None:
        raise DataError(f"expected a REGroup classifier (defended=) for the '{threat.value}' threat model, got none")
    params, eps_255 = resolve_settings(preset, epsilon_255=epsilon_255, steps=steps, **overrides)
    eps = None if eps_255 is None else eps_255 / 255.0
    if preset.targeted:
        targets = random_targets(labels, bundle.num_classes, seed) if targets is None else torch.as_tensor(targets).cpu()

    device = bundle.device
    settings: dict[str, Any] = {
        "attack": preset.name, "method": preset.method.value, "threat": threat.value,
        "family": preset.family.value, "norm": preset.norm.value, "budget": preset.budget.value,
        "epsilon_255": eps_255, "epsilon": eps, "epsilon_scale": "epsilon = epsilon_255 / 255 on [0, 1] inputs",
        "params": params, "targeted": preset.targeted, "min_confidence": preset.min_confidence,
        "seed": int(seed), "batch_size": int(batch_size), "n": len(labels), "model": bundle.name,
        "model_fingerprint": bundle.fingerprint, "bounds": list(bundle.bounds), "libraries": library_versions(preset),
        "device": str(device),
    }
    if threat is ThreatModel.TRANSFER:
        target = _Target(bundle.model, None, device, bundle.num_classes)
        settings["success_judged_by"] = "softmax argmax"
    else:
        model = (RegroupScores(defended) if threat is ThreatModel.BLACKBOX else SoftRegroup(defended, surrogate)).eval()
        target = _Target(model, defended, device, bundle.num_classes)
        settings.update(k=defended.classifiers.k, classifier_hash=classifier_digest(defended.classifiers),
                        success_judged_by="exact REGroup decision (a Borda tie counts as fooled)")
        if threat is ThreatModel.BLACKBOX:
            settings["queried_score"] = "Borda count + 0.5·exp(−mean voter KL) (continuous tie-breaker)"
        else:
            settings.update(surrogate=surrogate.value, temperature_rule="per voter and image: the gap between "
                            "the voter's two smallest KL divergences at the current input (no gradient through it)")
            if preset.method in _PGD:
                adaptive_plan = _plan(params)
                settings["adaptive"] = {
                    "runs": [r.name for r in plan_runs(adaptive_plan, transfer_start=bool(params.get("transfer_start")),
                                                       targeted=preset.targeted, num_classes=bundle.num_classes)],
                    "plan": adaptive_plan.as_dict(),
                    "optimiser": "APGD step-size schedule with momentum 0.75 (Croce & Hein 2020)",
                    "decision_check": "exact REGroup.predict after every step; first fooling iterate kept"}

    start = time.perf_counter()
    advs, extras = [], []
    total = len(labels)
    with Reporter(total, f"{preset.name}/{threat.value}", bar=progress, callback=callback, unit="img") as bar:
        for lo in range(0, total, batch_size):
            hi = min(lo + batch_size, total)
            t = None if targets is None else targets[lo:hi]
            batch_seed = (int(seed) * 1_000_003 + lo) % 2**63  # torch seeds are 64-bit
            adv, extra = _run_batch(preset, params, target, images[lo:hi], labels[lo:hi], t, eps, batch_seed, threat,
                                    bundle.model)
            advs.append(adv.float().clamp(*bundle.bounds))
            extras.append(extra)
            bar.update(hi - lo)
    adversarial = torch.cat(advs) if advs else images.clone()
    success = (_fooled(target, adversarial, labels, targets, preset.min_confidence)
               if total else torch.zeros(0, dtype=torch.bool))
    keys = sorted({key for e in extras for key in e})
    per_sample = {}
    for key in keys:
        parts = []
        for e, a in zip(extras, advs):
            if key in e:
                parts.append(e[key])
            else:  # a batch where no image needed attacking
                like = next(x[key] for x in extras if key in x)
                parts.append(torch.full((len(a),), _fill(like), dtype=like.dtype))
        per_sample[key] = torch.cat(parts)
    return AttackResult(adversarial=adversarial, success=success, targets=targets, settings=settings,
                        elapsed=time.perf_counter() - start, per_sample=per_sample)


def library_versions(preset: AttackSpec) -> dict[str, str]:
    """The versions of the libraries an attack runs on (recorded in its settings)."""
    from importlib.metadata import version

    if preset.method in _TORCHATTACKS:
        return {"torchattacks": version("torchattacks")}
    if preset.method in _ADV_LIB:
        return {"adv-lib": version("adv-lib")}
    if preset.method is Method.SPSA:
        return {"regroup_core.attacks.spsa": "ours"}
    if preset.method is Method.PMF_MATCH:
        return {"regroup_core.attacks.pmf_match": "ours"}
    if preset.method is Method.AUTOATTACK:
        return {"pyautoattack": version("pyautoattack")}
    return {"foolbox": fb.__version__}
