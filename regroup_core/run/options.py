"""The fit's options as one frozen value: every front end (the API, the CLI, the app, torchrun)
builds a :class:`FitOptions` and hands it whole to the loop, so no option can be dropped on the way
(``api.fit`` once lost ``checkpoint_every`` by re-declaring the list)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..engine import DEFAULT_THRESHOLD, DELTA, EmptyClassPolicy
from ..errors import DataError
from ..sources import Data
from .precision import Precision
from .progress import Progress

__all__ = ["FitOptions"]


@dataclass(frozen=True)
class FitOptions:
    """How to fit (see :func:`regroup_core.run.fit.fit`).

    Attributes:
        per_class: correctly classified samples per class (None: every candidate).
        selection: held-out data to choose k by the paper's rule (ignored when ``k`` is given).
        threshold: the per-layer accuracy the rule asks for.
        k: the number of voting layers, fixed (None: the rule on ``selection``, else 5).
        on_empty: a class without any sample: ``"error"`` or ``"exclude"`` it.
        batch_size, workers: the data loop's batch and DataLoader worker processes.
        amp: mixed-precision forward (``bf16``/``fp16``/``off``).
        checkpoint, checkpoint_every: where to save resumable progress, and every how many steps.
        seed: the class-interleaved draw of image folders and file lists.
        delta: the PMFs' δ.
        progress: a terminal progress bar; ``callback(done, total, message)`` after every step.
    """

    per_class: int | None = 50
    selection: Data | None = None
    threshold: float = DEFAULT_THRESHOLD
    k: int | None = None
    on_empty: EmptyClassPolicy = "error"
    batch_size: int = 64
    workers: int = 0
    amp: Precision | str | None = None
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int = 50
    seed: int = 0
    delta: float = DELTA
    progress: bool = False
    callback: Progress | None = None

    def __post_init__(self) -> None:
        if self.per_class is not None and self.per_class < 1:
            raise DataError(f"expected per_class >= 1 or None, got {self.per_class}")
        if self.batch_size < 1:
            raise DataError(f"expected batch_size >= 1, got {self.batch_size}")
        if self.checkpoint_every < 1:
            raise DataError(f"expected checkpoint_every >= 1, got {self.checkpoint_every}")

    @classmethod
    def of(cls, options: FitOptions | None = None, **changes: Any) -> FitOptions:
        """``options`` (default: the defaults) with ``changes`` applied; an unknown name is a clear error."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise DataError(f"expected fit options among {[f.name for f in dataclasses.fields(cls)]}, got {unknown}")
        return dataclasses.replace(options or cls(), **changes)
