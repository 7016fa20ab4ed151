"""foolbox: PGD (L∞, L2; with random restarts, an ε ladder for the high-confidence and
binary-search presets, and the adaptive PGD of :mod:`.ours` under the adaptive threat model),
DeepFool, C&W, EAD, Boundary, HopSkipJump and the spatial attack.

foolbox is imported on first use (:func:`foolbox`), after ``GIT_PYTHON_REFRESH=quiet``: it imports
GitPython, which otherwise wants git on the PATH. Nothing changes the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from ...rng import global_rng
from ...run.progress import report_step
from ..specs import Method
from ..threats import ThreatModel
from .base import Adapter, AttackJob, Extras, Target, fooled, register
from .ours import adaptive_pgd_batch

__all__ = ["FoolboxAdapter", "foolbox"]

PGD = (Method.PGD_LINF, Method.PGD_L2)


def foolbox() -> ModuleType:
    """foolbox, imported on first use (see the module doc)."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # just before the import that needs it
    import foolbox as fb  # lazy: heavy, and only its attacks need it

    return fb


def _make(method: Method, p: dict[str, Any]) -> Any:
    """The foolbox attack of ``method`` with the preset's parameters ``p``."""
    attacks = foolbox().attacks
    makers: dict[Method, Callable[[], Any]] = {
        Method.PGD_LINF: lambda: attacks.LinfPGD(abs_stepsize=p["abs_stepsize"], steps=p["steps"],
                                                 random_start=p["random_start"]),
        Method.PGD_L2: lambda: attacks.L2PGD(rel_stepsize=p["rel_stepsize"], steps=p["steps"],
                                             random_start=p["random_start"]),
        Method.DEEPFOOL: lambda: attacks.L2DeepFoolAttack(steps=p["steps"], candidates=p["candidates"],
                                                          overshoot=p["overshoot"]),
        Method.CARLINI_WAGNER: lambda: attacks.L2CarliniWagnerAttack(
            binary_search_steps=p["binary_search_steps"], steps=p["steps"], stepsize=p["stepsize"],
            confidence=p["confidence"], initial_const=p["initial_const"], abort_early=p["abort_early"]),
        Method.EAD: lambda: attacks.EADAttack(
            binary_search_steps=p["binary_search_steps"], steps=p["steps"], initial_stepsize=p["initial_stepsize"],
            confidence=p["confidence"], initial_const=p["initial_const"], regularization=p["regularization"],
            abort_early=p["abort_early"]),
        Method.BOUNDARY: lambda: attacks.BoundaryAttack(steps=p["steps"], spherical_step=p["spherical_step"],
                                                        source_step=p["source_step"],
                                                        step_adaptation=p["step_adaptation"]),
        Method.HOPSKIPJUMP: lambda: attacks.HopSkipJumpAttack(
            steps=p["steps"], initial_gradient_eval_steps=p["initial_gradient_eval_steps"],
            max_gradient_eval_steps=p["max_gradient_eval_steps"], gamma=p["gamma"],
            constraint=p.get("constraint", "l2")),
        Method.SPATIAL: lambda: attacks.SpatialAttack(
            max_translation=p["max_translation"], max_rotation=p["max_rotation"],
            num_translations=p["num_translations"], num_rotations=p["num_rotations"], grid_search=p["grid_search"]),
    }
    return makers[method]()


def _criterion(y: torch.Tensor, t: torch.Tensor | None, device: torch.device) -> Any:
    fb = foolbox()
    return fb.criteria.Misclassification(y.to(device)) if t is None else fb.criteria.TargetedMisclassification(
        t.to(device))


def _model(target: Target) -> Any:
    return foolbox().PyTorchModel(target.model, bounds=(0.0, 1.0), device=target.device)


def _transfer_pgd(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, eps: float,
                  seed: int) -> torch.Tensor:
    """foolbox's PGD on ``job.target`` with ``restarts`` extra random starts on the images not yet fooled."""
    device = job.target.device
    fmodel, attack = _model(job.target), _make(job.preset.method, job.params)
    out = x.clone()
    todo = torch.ones(len(x), dtype=torch.bool)
    for r in range(1 + int(job.params.get("restarts", 0))):
        idx = todo.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        with global_rng(seed + 7919 * r):
            _, adv, _ = attack(fmodel, x.to(device)[idx.to(device)], _criterion(y[idx], None if t is None else t[idx],
                                                                                 device), epsilons=eps)
        adv = adv.detach().cpu()
        out[idx] = adv.to(out.dtype)
        todo[idx[fooled(job.target, adv, y[idx], None if t is None else t[idx], job.preset.min_confidence)]] = False
    return out


def _pgd(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, eps: float,
         seed: int) -> tuple[torch.Tensor, Extras]:
    """PGD on the softmax (transfer, blackbox scores), or the adaptive PGD on REGroup."""
    if job.threat is not ThreatModel.ADAPTIVE:
        return _transfer_pgd(job, x, y, t, eps, seed), {}
    softmax = Target(job.softmax, None, job.target.device, job.target.num_classes)
    if job.params.get("transfer_start"):
        report_step(0, 0, "a PGD start on the undefended softmax (the plan's transfer start)")
    start = _transfer_pgd(job.on(softmax), x, y, t, eps, seed) if job.params.get("transfer_start") else None
    return adaptive_pgd_batch(job, x, y, t, eps, seed, start)


def _ladder(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
    """ε ladder (binary-search / high-confidence PGD): grow ε on the images not yet successful."""
    eps = job.eps
    rungs = [e for e in job.params["epsilon_ladder_255"] if e / 255.0 >= eps - 1e-12] or [eps * 255.0]
    out = x.clone()
    used = torch.full((len(x),), float("nan"))
    todo = torch.ones(len(x), dtype=torch.bool)
    for rung in rungs:
        idx = todo.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        ti = None if t is None else t[idx]
        adv, _ = _pgd(job, x[idx], y[idx], ti, rung / 255.0, seed + int(rung * 1000))
        out[idx] = adv.to(out.dtype)
        used[idx] = rung
        todo[idx[fooled(job.target, adv, y[idx], ti, job.preset.min_confidence)]] = False
    return out, {"epsilon_255": used}


def _decision_attack(job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
    """Boundary/HopSkipJump from explicit starting points.

    foolbox raises ``ValueError`` for the whole batch when its blended-noise initialisation
    fails for a single image. We run that initialisation ourselves, fall back to another image
    of the batch that the attacked model already puts in the wanted class, and leave the images
    without any adversarial starting point unattacked (returned as they are: failures).
    """
    target, device = job.target, job.target.device
    fmodel, xd = _model(target), x.to(device)
    start, _, _ = foolbox().attacks.LinearSearchBlendedUniformNoiseAttack()(fmodel, xd, _criterion(y, t, device),
                                                                          epsilons=None)
    start = start.detach().cpu()
    ok = fooled(target, start, y, t, None)
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
        _, adv, _ = _make(job.preset.method, job.params)(
            fmodel, xd[idx.to(device)], _criterion(y[idx], None if t is None else t[idx], device), epsilons=None,
            starting_points=start[idx].to(device))
        out[idx] = adv.detach().cpu()
    return out


@register
class FoolboxAdapter(Adapter):
    methods = (*PGD, Method.DEEPFOOL, Method.CARLINI_WAGNER, Method.EAD, Method.BOUNDARY, Method.HOPSKIPJUMP,
               Method.SPATIAL)

    def run(self, job: AttackJob, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
            seed: int) -> tuple[torch.Tensor, Extras]:
        preset, device = job.preset, job.target.device
        if preset.method in PGD:
            return _ladder(job, x, y, t, seed) if job.params.get("epsilon_ladder_255") else _pgd(
                job, x, y, t, job.eps, seed)
        if preset.method.needs_starting_point:
            with global_rng(seed):
                return _decision_attack(job, x, y, t), {}
        fmodel, xd, criterion = _model(job.target), x.to(device), _criterion(y, t, device)
        with global_rng(seed):
            if not preset.takes_epsilon:  # SpatialAttack takes no epsilons
                adv, _, _ = _make(preset.method, job.params)(fmodel, xd, criterion)
                return adv.detach().cpu(), {}
            _, adv, _ = _make(preset.method, job.params)(fmodel, xd, criterion, epsilons=job.eps)
        adv = adv.detach().cpu()
        if preset.method.may_return_blank:
            # foolbox's C&W and EAD start from an all-black "best adversarial" and return it when they
            # find nothing; a black image fools most models, so count it as the failure it is
            blank = (adv.flatten(1) == 0).all(1) & (x.flatten(1) != 0).any(1)
            adv[blank] = x[blank]
        return adv, {}

    def versions(self) -> dict[str, str]:
        return {"foolbox": foolbox().__version__}
