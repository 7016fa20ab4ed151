"""The fit's sufficient statistics and its acceptance rule (paper Eq. 1), as pure maths.

For every layer and class the fit keeps ``Σ_j λ_j·PMF_j`` and ``Σ_j λ_j`` over the accepted
samples j (correctly classified, at most ``per_class`` per class, in data order), where λ_j
is the softmax probability of the true class. The mixture of Eq. 1 is their ratio. Sums
merge by addition, so shards fitted separately (other processes, other machines, a resumed
run) combine to exactly the one-shot result, and memory does not grow with the data.

The data loop that feeds these statistics (one process or many) is
:func:`regroup_core.run.fit.fit_statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import DataError, EmptyClassError
from .classifier import DELTA, GenerativeClassifiers, to_pmf
from .layers import LayerInfo

__all__ = ["FIT_RULES", "EmptyClassPolicy", "FitRule", "FitStatistics", "accept_mask", "check_rule",
           "true_class_weights"]

EmptyClassPolicy = Literal["error", "exclude"]

FitRule = Literal["paper", "exploring"]
"""Which fitting samples a class's mixture takes: ``paper`` — only correctly classified ones
(Eq. 1, the paper's rule); ``exploring`` — every labelled sample, whatever the network predicts.
Exploring is *not* the paper's rule: it exists so that a network that classifies nothing correctly
(random weights, offline) still gets classifiers whose layer ranks can be looked at."""

FIT_RULES: tuple[str, ...] = ("paper", "exploring")


def check_rule(rule: object) -> FitRule:
    """``rule`` when it is one of :data:`FIT_RULES`, else a :class:`DataError`."""
    if rule not in FIT_RULES:
        raise DataError(f"expected a fit rule in {list(FIT_RULES)}, got {rule!r}")
    return rule  # type: ignore[return-value]


@dataclass
class FitStatistics:
    """Sufficient statistics of the fit: weighted PMF sums, weight totals and counts per class.

    ``pos_sum[name]``/``neg_sum[name]`` are (M, D) float64; ``weight`` (M,) float64;
    ``count`` (M,) int64. All tensors live on the CPU.
    """

    layers: tuple[LayerInfo, ...]
    num_classes: int
    delta: float
    pos_sum: dict[str, torch.Tensor]
    neg_sum: dict[str, torch.Tensor]
    weight: torch.Tensor
    count: torch.Tensor

    @classmethod
    def empty(cls, layers: Sequence[LayerInfo], num_classes: int, delta: float = DELTA) -> FitStatistics:
        zeros = {layer.name: torch.zeros(num_classes, layer.dim, dtype=torch.float64) for layer in layers}
        return cls(layers=tuple(layers), num_classes=num_classes, delta=delta,
                   pos_sum=zeros, neg_sum={n: z.clone() for n, z in zeros.items()},
                   weight=torch.zeros(num_classes, dtype=torch.float64),
                   count=torch.zeros(num_classes, dtype=torch.int64))

    def merge(self, other: FitStatistics) -> FitStatistics:
        """The statistics of both shards together (a new object)."""
        if (self.layers != other.layers or self.num_classes != other.num_classes
                or self.delta != other.delta):
            raise DataError("expected statistics of the same layers, classes and delta, got different ones")
        return FitStatistics(
            layers=self.layers, num_classes=self.num_classes, delta=self.delta,
            pos_sum={n: t + other.pos_sum[n] for n, t in self.pos_sum.items()},
            neg_sum={n: t + other.neg_sum[n] for n, t in self.neg_sum.items()},
            weight=self.weight + other.weight, count=self.count + other.count)

    def tensors(self) -> list[torch.Tensor]:
        """Every statistic in a fixed order (for all-reduce in distributed fits)."""
        return ([self.pos_sum[layer.name] for layer in self.layers]
                + [self.neg_sum[layer.name] for layer in self.layers] + [self.weight, self.count])

    def add(self, pos: dict[str, torch.Tensor], neg: dict[str, torch.Tensor],
            labels: torch.Tensor, weights: torch.Tensor) -> None:
        """Add accepted samples: raw accumulators (B, D), labels (B,), λ weights (B,)."""
        labels = labels.cpu()
        weights = weights.to(device="cpu", dtype=torch.float64)
        for layer in self.layers:
            for raw, table in ((pos[layer.name], self.pos_sum), (neg[layer.name], self.neg_sum)):
                pmf = to_pmf(raw.cpu(), self.delta)
                table[layer.name].index_add_(0, labels, pmf * weights.unsqueeze(1))
        self.weight.index_add_(0, labels, weights)
        self.count.index_add_(0, labels, torch.ones_like(labels, dtype=torch.int64))

    def to_classifiers(self, *, class_names: Sequence[str], model_id: str, fingerprint: str,
                       per_class: int | None, k: int, on_empty: EmptyClassPolicy = "error",
                       info: dict[str, object] | None = None, rule: FitRule = "paper") -> GenerativeClassifiers:
        """The mixtures of Eq. 1 (sum / weight total).

        A class without any accepted sample is an :class:`EmptyClassError` naming it, or with
        ``on_empty="exclude"`` it is excluded from every vote (always ranked last) and listed
        in the result's ``excluded``. No accepted sample at all is always an error (an empty
        vote would predict class 0 for everything); it says what to do. ``rule`` (the rule the
        samples were accepted by) is recorded in ``info["rule"]``.
        """
        check_rule(rule)
        if len(class_names) != self.num_classes:
            raise DataError(f"expected {self.num_classes} class names, got {len(class_names)}")
        empty = [y for y in range(self.num_classes) if self.count[y] == 0 or self.weight[y] <= 0]
        if len(empty) == self.num_classes:
            raise EmptyClassError(_nothing_accepted(rule))
        if empty and on_empty == "error":
            shown = ", ".join(f"{y} ({class_names[y]!r})" for y in empty[:10])
            more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
            sample = "correctly classified fitting sample" if rule == "paper" else "fitting sample"
            raise EmptyClassError(
                f"expected at least one {sample} per class, got none for "
                f"class {shown}{more}; give more data, or exclude classes without samples")
        denominator = self.weight.clone()
        denominator[empty] = 1.0

        def mixtures(table: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            out = {}
            for layer in self.layers:
                mix = table[layer.name] / denominator.unsqueeze(1)
                mix[empty] = 1.0 / layer.dim  # placeholder rows, never voted for
                out[layer.name] = mix
            return out

        return GenerativeClassifiers(
            layers=self.layers, class_names=tuple(class_names), pos=mixtures(self.pos_sum),
            neg=mixtures(self.neg_sum), class_count=self.count.clone(), class_weight=self.weight.clone(),
            delta=self.delta, model_id=model_id, fingerprint=fingerprint, per_class=per_class, k=k,
            excluded=tuple(empty), info={**(info or {}), "rule": rule})


def _nothing_accepted(rule: FitRule) -> str:
    if rule == "exploring":
        return "expected at least one labelled fitting sample, got none: give a folder with images"
    return ("expected at least one correctly classified fitting sample, got none: the network classifies none of "
            "the fitting images correctly (random weights never do). Use pretrained weights, or fit in exploring "
            "mode (every labelled image, not the paper's rule) to look at the layers")


def true_class_weights(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct, λ) on the CPU: whether the softmax's top-1 is the label, and the float64 softmax
    probability of the label (the mixture weight of Eq. 1)."""
    probs = torch.softmax(logits.detach().to(torch.float64), dim=1).cpu()
    labels = labels.cpu()
    return probs.argmax(1) == labels, probs.gather(1, labels.unsqueeze(1)).squeeze(1)


def accept_mask(correct: torch.Tensor, labels: torch.Tensor, count: torch.Tensor,
                per_class: int | None, rule: FitRule = "paper") -> torch.Tensor:
    """The fit's acceptance rule: the correct samples (every sample with ``rule="exploring"``)
    still under the per-class cap, taken in batch order given the per-class ``count`` accepted
    so far."""
    if rule == "exploring":
        correct = torch.ones_like(correct)
    if per_class is None:
        return correct
    onehot = torch.nn.functional.one_hot(labels, count.numel()) * correct.unsqueeze(1)
    position = (onehot.cumsum(0) * onehot).sum(1)  # 1-based order of a correct sample in its class
    return correct & (count[labels] + position <= per_class)
