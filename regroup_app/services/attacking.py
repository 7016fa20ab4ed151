"""The app's view of :mod:`regroup_core.attacks`: preset names, descriptions, defaults, and
:func:`attack_image`, the app's one route to an attack (through the shared adversarial cache).
Pages import this module only, never foolbox."""

from __future__ import annotations

import numpy as np
import torch

from regroup_core import attacks as lib

from ..state import AttackChoice, ModelChoice
from .cache import adversarial_cache, defended_model, model_bundle

__all__ = [
    "THREATS",
    "THREAT_HELP",
    "applicable",
    "attack_image",
    "attack_names",
    "default_epsilon_255",
    "default_steps",
    "describe",
    "is_targeted",
    "running_text",
    "takes_linf_epsilon",
]

THREATS = tuple(t.value for t in lib.ThreatModel)
THREAT_HELP = {
    "transfer": "attack the undefended softmax model; REGroup sees the result (the paper's threat model)",
    "blackbox": "query the exact REGroup decision (decision-based) or its Borda count with a continuous "
                "tie-breaker (score-based); success judged by the exact REGroup, a tie counts as fooled",
    "adaptive": "white-box gradients through a soft-Borda surrogate of REGroup (one temperature per voter and "
                "image, float64); PGD tries several losses, targets and starts and checks the exact REGroup "
                "decision after every step",
}


def attack_names() -> tuple[str, ...]:
    return tuple(lib.preset_names())


def describe(name: str) -> str:
    return lib.get_preset(name).description


def is_targeted(name: str) -> bool:
    return bool(lib.get_preset(name).targeted)


def default_epsilon_255(name: str) -> float | None:
    return lib.get_preset(name).epsilon_255


def default_steps(name: str) -> int | None:
    steps = lib.get_preset(name).params.get("steps")
    return int(steps) if steps is not None else None


def takes_linf_epsilon(name: str) -> bool:
    """Whether the common L∞ budget (the ε slider) applies to this attack."""
    return bool(lib.get_preset(name).takes_linf_epsilon)


def applicable(name: str, threat: str) -> bool:
    return bool(lib.applicable(lib.get_preset(name), lib.ThreatModel(threat)))


def running_text(request: AttackChoice) -> str:
    """What the page says while an attack runs: the attack, the threat model and its work, e.g.
    'Running cw (transfer): 5 binary-search rounds × 100 steps on one image…'."""
    params = lib.get_preset(request.attack).params
    steps = request.steps if request.steps is not None else params.get("steps")
    rounds = params.get("binary_search_steps")
    # "per run": PGD restarts on images not yet fooled, and the adaptive plan chains several runs
    work = f"{rounds} binary-search rounds × {steps} steps" if rounds and steps else \
        f"{steps} steps per run" if steps else ""
    return f"Running {request.attack} ({request.threat}){': ' + work if work else ''} on one image…"


def attack_batch(choice: ModelChoice, x: np.ndarray, labels: np.ndarray, request: AttackChoice,
                 chunk_size: int | None = None) -> lib.AttackResult:
    """Images (B, C, H, W) attacked through the shared adversarial cache, in chunks of ``chunk_size``
    (default: one chunk): the same inputs give the same result for every session, and images the CLI
    already attacked with these settings are served without recomputing
    (:func:`regroup_core.attacks.cached_attack`)."""
    bundle = model_bundle(choice.name, choice.weights)
    defended = defended_model(choice) if choice.classifier else None
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    options: dict = {}
    if request.epsilon is not None:
        options["epsilon_255"] = float(request.epsilon)
    if request.steps is not None:
        options["steps"] = int(request.steps)
    if request.target is not None:
        options["targets"] = torch.full((len(images),), int(request.target))
    result = lib.cached_attack(bundle, images, torch.as_tensor(labels, dtype=torch.int64), request.attack,
                               threat=request.threat, defended=defended, cache=adversarial_cache(),
                               chunk_size=chunk_size or max(1, len(images)), seed=request.seed, **options)
    assert result is not None  # one process: every chunk is ours
    return result


def attack_image(choice: ModelChoice, x: np.ndarray, label: int, request: AttackChoice) -> lib.AttackResult:
    """One image (C, H, W) attacked through the shared adversarial cache (see :func:`attack_batch`)."""
    return attack_batch(choice, x[None], np.array([int(label)]), request)
