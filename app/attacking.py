"""The one place the app reaches attacks: ``regroup_core.attacks`` when present, else a small
foolbox fallback with the same call shape (transfer threat model only).

Pages call :func:`run`, :func:`attack_names`, :func:`describe`, :func:`is_targeted`,
:func:`default_epsilon_255` and :func:`applicable`; swapping the backend touches only this file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from regroup_core import ModelBundle, REGroup
from regroup_core.errors import DataError

__all__ = ["BACKEND", "THREATS", "attack_names", "describe", "is_targeted", "default_epsilon_255",
           "applicable", "run"]

THREATS = ("transfer", "blackbox", "adaptive")
THREAT_HELP = {
    "transfer": "attack the undefended softmax model; REGroup sees the result (the paper's threat model)",
    "blackbox": "query the exact REGroup decision (decision/score-based attacks only)",
    "adaptive": "white-box gradients through a soft REGroup surrogate (gradient attacks only)",
}

try:  # the library's attacks (paper Table 7 presets, three threat models)
    from regroup_core import attacks as _lib
    BACKEND = "regroup_core.attacks"
except ImportError:  # pragma: no cover - exercised only before the attacks module exists
    _lib = None
    BACKEND = "foolbox fallback"


@dataclass(frozen=True)
class _Fallback:
    name: str
    epsilon_255: float | None
    targeted: bool
    description: str
    params: dict[str, Any] = field(default_factory=dict)


_FALLBACK = {p.name: p for p in (
    _Fallback("pgd", 4.0, False, "PGD L∞ ε=4/255, 40 steps of 0.01, random start", {"steps": 40}),
    _Fallback("pgd-l2", 127.5, False, "PGD L2 ε=0.5, 40 steps", {"steps": 40}),
    _Fallback("deepfool", None, False, "DeepFool L2, 50 steps", {"steps": 50}),
    _Fallback("pgd-targeted", 16.0, True, "targeted PGD L∞ ε=16/255, 40 steps", {"steps": 40}),
)}


@dataclass(frozen=True)
class FallbackResult:
    adversarial: torch.Tensor
    success: torch.Tensor
    targets: torch.Tensor | None
    settings: dict[str, Any]
    elapsed: float


def attack_names() -> tuple[str, ...]:
    return tuple(_lib.preset_names()) if _lib else tuple(_FALLBACK)


def describe(name: str) -> str:
    return _lib.get_preset(name).description if _lib else _FALLBACK[name].description


def is_targeted(name: str) -> bool:
    return bool(_lib.get_preset(name).targeted if _lib else _FALLBACK[name].targeted)


def default_epsilon_255(name: str) -> float | None:
    return _lib.get_preset(name).epsilon_255 if _lib else _FALLBACK[name].epsilon_255


def default_steps(name: str) -> int | None:
    params = _lib.get_preset(name).params if _lib else _FALLBACK[name].params
    steps = params.get("steps")
    return int(steps) if steps is not None else None


def applicable(name: str, threat: str) -> bool:
    if _lib:
        return bool(_lib.applicable(_lib.get_preset(name), _lib.ThreatModel(threat)))
    return threat == "transfer"


def run(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor, attack: str, *, threat: str = "transfer",
        defended: REGroup | None = None, epsilon_255: float | None = None, steps: int | None = None,
        targets: torch.Tensor | None = None, seed: int = 0, callback=None):
    """Attack ``images`` (B, C, H, W) in [0, 1]; returns an object with ``adversarial``, ``success``,
    ``targets`` and ``settings`` (the library's AttackResult when available)."""
    if _lib:
        return _lib.run_attack(bundle, images, labels, attack, threat=threat, defended=defended,
                               epsilon_255=epsilon_255, steps=steps, targets=targets, seed=seed, callback=callback)
    return _fallback_run(bundle, images, labels, attack, threat=threat, epsilon_255=epsilon_255, steps=steps,
                         targets=targets, seed=seed)


def _fallback_run(bundle, images, labels, attack, *, threat, epsilon_255, steps, targets, seed):
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import foolbox as fb

    if attack not in _FALLBACK:
        raise DataError(f"expected an attack in {list(_FALLBACK)}, got '{attack}'")
    if threat != "transfer":
        raise DataError(f"expected the 'transfer' threat model (the fallback backend has no other), got '{threat}'")
    preset = _FALLBACK[attack]
    n_steps = int(steps or preset.params.get("steps", 40))
    eps_255 = preset.epsilon_255 if epsilon_255 is None else float(epsilon_255)
    images = bundle.check_batch(images).to(bundle.device)
    labels = torch.as_tensor(labels, dtype=torch.int64).to(bundle.device)
    torch.manual_seed(seed)
    fmodel = fb.PyTorchModel(bundle.model, bounds=bundle.bounds, device=bundle.device)
    if preset.targeted:
        if targets is None:
            g = torch.Generator().manual_seed(seed)
            targets = (labels.cpu() + torch.randint(1, bundle.num_classes, labels.shape, generator=g)) % bundle.num_classes
        criterion = fb.criteria.TargetedMisclassification(torch.as_tensor(targets).to(bundle.device))
    else:
        criterion = fb.criteria.Misclassification(labels)
    if attack == "deepfool":
        atk, eps = fb.attacks.L2DeepFoolAttack(steps=n_steps), None
    elif attack == "pgd-l2":
        atk, eps = fb.attacks.L2PGD(steps=n_steps), eps_255 / 255.0
    else:
        atk, eps = fb.attacks.LinfPGD(steps=n_steps, abs_stepsize=0.01, random_start=True), eps_255 / 255.0
    start = time.perf_counter()
    _, adv, success = atk(fmodel, images, criterion, epsilons=eps)
    return FallbackResult(adversarial=adv.detach().cpu().clamp(*bundle.bounds), success=success.cpu(),
                          targets=None if targets is None else torch.as_tensor(targets).cpu(),
                          settings={"attack": attack, "threat": threat, "epsilon_255": eps_255, "steps": n_steps,
                                    "seed": seed, "backend": BACKEND},
                          elapsed=time.perf_counter() - start)
