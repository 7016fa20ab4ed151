"""The app's view of :mod:`regroup_core.attacks`: preset names, descriptions, defaults, and
:func:`run` (``run_attack``). Pages import this module only, never foolbox."""

from __future__ import annotations

import torch

from regroup_core import ModelBundle, REGroup
from regroup_core import attacks as _lib

__all__ = [
    "THREATS",
    "THREAT_HELP",
    "applicable",
    "attack_names",
    "default_epsilon_255",
    "default_steps",
    "describe",
    "is_targeted",
    "run",
    "takes_linf_epsilon",
]

THREATS = tuple(t.value for t in _lib.ThreatModel)
THREAT_HELP = {
    "transfer": "attack the undefended softmax model; REGroup sees the result (the paper's threat model)",
    "blackbox": "query the exact REGroup decision (decision-based) or its Borda count with a continuous "
                "tie-breaker (score-based); success judged by the exact REGroup, a tie counts as fooled",
    "adaptive": "white-box gradients through a soft-Borda surrogate of REGroup (one temperature per voter and "
                "image, float64); PGD tries several losses, targets and starts and checks the exact REGroup "
                "decision after every step",
}


def attack_names() -> tuple[str, ...]:
    return tuple(_lib.preset_names())


def describe(name: str) -> str:
    return _lib.get_preset(name).description


def is_targeted(name: str) -> bool:
    return bool(_lib.get_preset(name).targeted)


def default_epsilon_255(name: str) -> float | None:
    return _lib.get_preset(name).epsilon_255


def default_steps(name: str) -> int | None:
    steps = _lib.get_preset(name).params.get("steps")
    return int(steps) if steps is not None else None


def takes_linf_epsilon(name: str) -> bool:
    """Whether the common L∞ budget (the ε slider) applies to this attack."""
    return bool(_lib.get_preset(name).takes_linf_epsilon)


def applicable(name: str, threat: str) -> bool:
    return bool(_lib.applicable(_lib.get_preset(name), _lib.ThreatModel(threat)))


def run(bundle: ModelBundle, images: torch.Tensor, labels: torch.Tensor, attack: str, *, threat: str = "transfer",
        defended: REGroup | None = None, epsilon_255: float | None = None, steps: int | None = None,
        targets: torch.Tensor | None = None, seed: int = 0, callback=None) -> _lib.AttackResult:
    """:func:`regroup_core.attacks.run_attack` on ``images`` (B, C, H, W) in [0, 1]."""
    return _lib.run_attack(bundle, images, labels, attack, threat=threat, defended=defended,
                           epsilon_255=epsilon_255, steps=steps, targets=targets, seed=seed, callback=callback)
