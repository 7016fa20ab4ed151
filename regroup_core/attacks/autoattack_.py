"""The authors' own AutoAttack (``pyautoattack``, Croce & Hein 2020) with its flag checks.

``standard`` version, L∞: APGD-CE, APGD-T (9 target classes), FAB-T, Square (5 000 queries), each
on the images the earlier ones left. On the softmax it attacks the logits; against REGroup it
attacks the soft-Borda surrogate (:class:`~regroup_core.attacks.threats.SoftRegroup`, as float32
scores), and the runner judges its adversarials by the exact REGroup decision.

AutoAttack's checks (``pyautoattack.checks``: a randomised or dynamic defence, probabilities
instead of logits, too many target classes, Square succeeding where the gradient attacks failed)
are logged as warnings on the ``auto-attack`` logger; :func:`autoattack` collects them and
returns them as a bit mask per image (:data:`FLAGS` names the bits), so the table can show them
next to the row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..rng import global_rng

__all__ = ["FLAGS", "autoattack", "flag_names"]

FLAGS = (
    ("randomized", "randomized defense"),
    ("probabilities", "probability distribution"),
    ("zero-gradients", "zero gradient"),
    ("square-beats-gradients", "Square Attack has decreased"),
    ("dynamic", "dynamic defense"),
    ("target-classes", "target classes"),
)
"""(flag name, a phrase of pyautoattack's warning that raises it), in bit order."""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _warnings() -> Iterator[_Collect]:
    logger = logging.getLogger("auto-attack")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _mask(messages: list[str]) -> int:
    bits = 0
    for i, (_, phrase) in enumerate(FLAGS):
        if any(phrase.lower() in m.lower() for m in messages):
            bits |= 1 << i
    return bits


def flag_names(mask: int) -> list[str]:
    """The names of the flags set in ``mask``."""
    return [name for i, (name, _) in enumerate(FLAGS) if int(mask) >> i & 1]


class _Logits32(nn.Module):
    """Scores as float32 (pyautoattack keeps float32 state; the surrogate computes in float64)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epsilon: float, version: str, seed: int,
               num_classes: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run pyautoattack's ``version`` on ``x`` (B, C, H, W) in [0, 1]; returns (adversarials on the CPU,
    {"autoattack_flags": (B,) int64 bit mask of :data:`FLAGS`})."""
    from pyautoattack import AutoAttack

    device = x.device
    attack = AutoAttack(_Logits32(model).eval(), norm="Linf", eps=float(epsilon), version=version,
                        seed=int(seed) % 2**31, device=device)
    if num_classes <= 10:  # APGD-T/FAB-T with more targets than wrong classes is one of its own flags
        attack.apgd_targeted.n_target_classes = min(9, num_classes - 1)
        attack.fab.n_target_classes = min(9, num_classes - 1)
    with global_rng(seed), _warnings() as collected:
        adv, _ = attack.run_standard_evaluation(x, y.to(device), batch_size=max(1, len(x)))
    flags = torch.full((len(x),), _mask(collected.messages), dtype=torch.int64)
    return adv.detach().cpu(), {"autoattack_flags": flags}
