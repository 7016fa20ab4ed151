"""Optional mixed precision for the forward pass.

``amp="bf16"`` (CPU or CUDA) or ``"fp16"`` (CUDA only) runs convolutions and matmuls under
:func:`torch.autocast`; the taps still reduce to float32 accumulators
(:func:`regroup_core.engine.taps.reduce_accumulators`) and the fit/predict maths after them is
float64, so only the network's own activations lose precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum

import torch

from ..errors import DataError

__all__ = ["Precision", "autocast"]


class Precision(str, Enum):
    OFF = "off"
    BF16 = "bf16"
    FP16 = "fp16"


_DTYPES = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


def check_amp(device: torch.device | str, amp: Precision | str | None) -> Precision:
    """``amp`` as a :class:`Precision` usable on ``device`` (fp16 needs CUDA), before any work."""
    precision = Precision(amp or "off")
    device_type = torch.device(device).type
    if precision is Precision.FP16 and device_type != "cuda":
        raise DataError(f"expected amp 'bf16' or 'off' on {device_type}, got 'fp16' (fp16 autocast is for CUDA)")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device | str, amp: Precision | str | None) -> Iterator[None]:
    """A ``torch.autocast`` context for ``amp`` on ``device`` (nothing for ``off``/None)."""
    precision = check_amp(device, amp)
    if precision is Precision.OFF:
        yield
        return
    device_type = torch.device(device).type
    with torch.autocast(device_type=device_type, dtype=_DTYPES[precision]):
        yield
