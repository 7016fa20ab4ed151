"""An attack's settings as one frozen value, handed whole from the front ends (CLI, app,
experiments) through :func:`~regroup_core.attacks.runner.run_attack` to the adapters."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .specs import AttackSpec
from .threats import Surrogate, ThreatModel

__all__ = ["AttackSettings"]


@dataclass(frozen=True)
class AttackSettings:
    """What to run: a preset (name or spec) under a threat model, with the caller's overrides.

    Attributes:
        attack: a preset name (see :data:`~regroup_core.attacks.specs.PRESETS`) or an AttackSpec.
        threat: ``transfer``, ``blackbox`` or ``adaptive`` (see :func:`~regroup_core.attacks.run_attack`).
        epsilon_255, steps: the budget on the 0–255 scale and the iterations (None: the preset's).
        seed: seeds the attack's randomness and its random targets.
        batch_size: images per library call.
        surrogate: the adaptive threat model's stand-in for REGroup.
        overrides: any other key of the preset's ``params`` (e.g. ``binary_search_steps=3``).
    """

    attack: str | AttackSpec
    threat: ThreatModel | str = ThreatModel.TRANSFER
    epsilon_255: float | None = None
    steps: int | None = None
    seed: int = 0
    batch_size: int = 64
    surrogate: Surrogate | str = Surrogate.SOFT_BORDA
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, attack: str | AttackSpec | AttackSettings, **changes: Any) -> AttackSettings:
        """Settings for ``attack`` with ``changes``: a field's name sets the field, any other name
        is a preset parameter (an override)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"attack", "overrides"}
        fields = {k: v for k, v in changes.items() if k in names}
        extra = {k: v for k, v in changes.items() if k not in names}
        base = attack if isinstance(attack, AttackSettings) else cls(attack)
        return dataclasses.replace(base, **fields, overrides={**base.overrides, **extra})
