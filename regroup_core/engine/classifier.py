"""The fitted layer-wise generative classifiers (paper Eq. 1) and the PMFs they compare.

A :class:`GenerativeClassifiers` holds, for every tapped layer, the class-conditional
mixtures ``C_y^{+ℓ}`` and ``C_y^{-ℓ}`` (arrays of shape (M, D_ℓ), rows summing to one) plus
what is needed to check and reproduce them: per-class fit counts and weights, δ, the model
they belong to and a fingerprint of its weights. It is what a classifier file stores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from ..errors import ClassifierFileError
from .layers import LayerInfo

__all__ = ["DELTA", "to_pmf", "GenerativeClassifiers"]

DELTA = 1e-20
"""δ added to every accumulator before L1 normalisation (paper Algorithm 1)."""


def to_pmf(accumulator: torch.Tensor, delta: float = DELTA) -> torch.Tensor:
    """Algorithm 1: add δ and L1-normalise each row, in float64. (B, D) → (B, D)."""
    a = accumulator.to(torch.float64) + delta
    return a / a.sum(dim=-1, keepdim=True)


@dataclass(frozen=True)
class GenerativeClassifiers:
    """Class-conditional PMF mixtures of every tapped layer.

    Attributes:
        layers: tapped layers in network order.
        class_names: the M class names, index = class id.
        pos, neg: layer name → (M, D) float64 mixtures C_y^{+ℓ}, C_y^{-ℓ}.
        class_count: (M,) number of fitting samples per class.
        class_weight: (M,) sum of the λ (softmax probabilities of the true class) per class.
        delta: δ used in the PMFs.
        model_id: name of the model the classifiers were fitted on.
        fingerprint: hash of that model's weights (see :func:`regroup_core.sources.models.weights_fingerprint`).
        per_class: the per-class cap used in the fit (None = no cap).
        k: number of highest layers that vote by default.
        excluded: classes without any fitting sample, excluded from every vote (ranked last).
        info: free-form JSON-serialisable facts (k-selection accuracies, fit data spec, ...).
    """

    layers: tuple[LayerInfo, ...]
    class_names: tuple[str, ...]
    pos: dict[str, torch.Tensor]
    neg: dict[str, torch.Tensor]
    class_count: torch.Tensor
    class_weight: torch.Tensor
    delta: float
    model_id: str
    fingerprint: str
    per_class: int | None
    k: int
    excluded: tuple[int, ...] = ()
    info: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = len(self.class_names)
        if not self.layers:
            raise ClassifierFileError("expected at least one layer, got none")
        if not 1 <= self.k <= len(self.layers):
            raise ClassifierFileError(f"expected 1 <= k <= {len(self.layers)}, got {self.k}")
        if not (math.isfinite(self.delta) and self.delta > 0):
            raise ClassifierFileError(f"expected a positive finite delta, got {self.delta}")
        excluded = set(self.excluded)
        kept = [y for y in range(m) if y not in excluded]
        for layer in self.layers:
            for sign, table in (("pos", self.pos), ("neg", self.neg)):
                arr = table.get(layer.name)
                if arr is None:
                    raise ClassifierFileError(f"expected array '{sign}/{layer.name}', got none")
                if tuple(arr.shape) != (m, layer.dim):
                    raise ClassifierFileError(
                        f"expected '{sign}/{layer.name}' of shape {(m, layer.dim)}, got {tuple(arr.shape)}")
                if arr.dtype != torch.float64:
                    raise ClassifierFileError(f"expected '{sign}/{layer.name}' as float64, got {arr.dtype}")
                rows = arr[kept] if excluded else arr
                if not torch.isfinite(rows).all() or (rows <= 0).any():
                    raise ClassifierFileError(
                        f"expected '{sign}/{layer.name}' to hold positive finite PMFs, got NaN, inf or <= 0")
                if not torch.allclose(rows.sum(1), torch.ones(len(kept), dtype=torch.float64), atol=1e-6):
                    raise ClassifierFileError(f"expected rows of '{sign}/{layer.name}' to sum to 1")
        if tuple(self.class_count.shape) != (m,) or tuple(self.class_weight.shape) != (m,):
            raise ClassifierFileError(f"expected class_count and class_weight of shape ({m},)")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def rule(self) -> str:
        """The fit rule that built these classifiers: ``paper`` (correctly classified samples only)
        or ``exploring`` (every labelled sample); files written before the rule was recorded are
        ``paper``."""
        return str(self.info.get("rule", "paper")) if isinstance(self.info, dict) else "paper"

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def with_k(self, k: int, **info: object) -> GenerativeClassifiers:
        """A copy with another default k (and extra info entries)."""
        return replace(self, k=k, info={**self.info, **info})
