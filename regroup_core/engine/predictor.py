"""REGroup prediction: a pretrained model plus its fitted generative classifiers.

:class:`REGroup` runs the model once with taps on the layers it needs, turns each layer's
accumulators into PMFs, ranks the classes by KL divergence (pos and neg voters), and sums
the Borda points of the highest k layers. Every per-layer ranking is returned in a
:class:`Prediction`, so callers can re-aggregate (other k, variant or voting rule) for free.

A REGroup object is read-only after construction and safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import nn

from ..errors import DataError, LayerError
from .classifier import GenerativeClassifiers, to_pmf
from .layers import LayerInfo, check_layers
from .taps import capture
from .voting import (
    Variant,
    aggregate_borda,
    borda_points,
    kl_divergences,
    stable_ranks,
    top_classes,
)

__all__ = ["DEFAULT_K", "DEFAULT_THRESHOLD", "LayerScope", "Prediction", "REGroup", "select_k"]

LayerScope = Literal["voters", "all"]

DEFAULT_K = 5
"""The paper's k for ResNet-50 and VGG-19, used when no selection data is given."""

DEFAULT_THRESHOLD = 0.75
"""The paper's per-layer accuracy threshold for choosing k."""


@dataclass(frozen=True)
class Prediction:
    """Softmax and REGroup predictions for a batch, with every scored layer's rankings.

    Attributes:
        layers: the scored layers in network order (the highest k, or all).
        logits: (B, M) float32 logits of the base model.
        pos_ranks, neg_ranks: (B, L, M) int32 ranks, 1 = the layer's preferred class.
        k: number of highest layers summed in :attr:`borda`.
        variant: which voters count in :attr:`borda`.
    """

    layers: tuple[LayerInfo, ...]
    logits: torch.Tensor
    pos_ranks: torch.Tensor
    neg_ranks: torch.Tensor
    k: int
    variant: Variant

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])

    @cached_property
    def borda(self) -> torch.Tensor:
        """(B, M) int64 Borda totals of the highest k layers (Eq. 7)."""
        return aggregate_borda(self.pos_ranks, self.neg_ranks, self.k, self.variant)

    def borda_at(self, k: int, variant: Variant | str = Variant.BOTH) -> torch.Tensor:
        """Borda totals for another k or variant, from the same rankings."""
        return aggregate_borda(self.pos_ranks, self.neg_ranks, k, Variant(variant))

    @cached_property
    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.logits.to(torch.float64), dim=1)

    @property
    def softmax_labels(self) -> torch.Tensor:
        return top_classes(self.logits, 1)[:, 0]

    @property
    def regroup_labels(self) -> torch.Tensor:
        """argmax of the Borda count; ties go to the lower class index (see :attr:`regroup_tied`)."""
        return top_classes(self.borda, 1)[:, 0]

    @property
    def regroup_tied(self) -> torch.Tensor:
        """(B,) bool: the top Borda count is shared by two or more classes, so
        :attr:`regroup_labels` was decided by class index, not by the vote."""
        top2 = torch.topk(self.borda, min(2, self.num_classes), dim=1).values
        return top2[:, 0] == top2[:, -1] if self.num_classes > 1 else torch.zeros(len(self.borda), dtype=torch.bool)

    def regroup_correct(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) bool: REGroup's vote names ``labels`` *outright*; a tie counts as an error even
        when the tie-break by class index happens to pick the label."""
        return (self.regroup_labels == labels.to(self.regroup_labels.device)) & ~self.regroup_tied

    def softmax_top(self, n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, probabilities), each (B, n)."""
        idx = top_classes(self.logits, min(n, self.num_classes))
        return idx, self.probabilities.gather(1, idx)

    def regroup_top(self, n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, Borda counts), each (B, n)."""
        idx = top_classes(self.borda, min(n, self.num_classes))
        return idx, self.borda.gather(1, idx)

    def layer_borda(self) -> torch.Tensor:
        """(B, L, M) per-layer Borda counts B^{ℓy} = B+ + B- (the per-layer voters)."""
        m = self.num_classes
        return borda_points(self.pos_ranks, m) + borda_points(self.neg_ranks, m)

    def layer_labels(self) -> torch.Tensor:
        """(B, L) per-layer predictions argmax_y B^{ℓy} (ties → lower index)."""
        return top_classes(self.layer_borda(), 1)[..., 0]

    def layer_correct(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, L) bool: each layer's own vote names ``labels`` *outright*; a tie at the top of a
        layer's count is an error (as in :meth:`regroup_correct`), whatever the class index says."""
        counts = self.layer_borda()
        top2 = torch.topk(counts, min(2, self.num_classes), dim=-1).values
        tied = (top2[..., 0] == top2[..., -1]) if self.num_classes > 1 else torch.zeros(counts.shape[:2],
                                                                                       dtype=torch.bool)
        return (top_classes(counts, 1)[..., 0] == labels.to(counts.device).unsqueeze(1)) & ~tied


class REGroup:
    """A pretrained classifier defended by REGroup.

    Args:
        model: the base network (eval mode, taking the inputs the classifiers were fitted on).
        classifiers: fitted :class:`GenerativeClassifiers` for this model's layers.
    """

    def __init__(self, model: nn.Module, classifiers: GenerativeClassifiers) -> None:
        check_layers(model, classifiers.layers)
        if model.training:
            raise LayerError("expected the model in eval mode (BatchNorm/Dropout change the "
                             "responses in train mode), got train mode; call model.eval()")
        self.model = model
        self.classifiers = classifiers
        device = next(model.parameters()).device
        excluded = list(classifiers.excluded)
        self._terms: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {"pos": {}, "neg": {}}
        for sign, table in (("pos", classifiers.pos), ("neg", classifiers.neg)):
            for layer in classifiers.layers:
                c = table[layer.name].to(device)
                if excluded and not torch.isfinite(c[excluded]).all():  # a file's unused rows, never validated:
                    c = c.clone()  # keep NaN out of the scores (rank_layers reads NaN as a broken input)
                    c[excluded] = 1.0 / c.shape[1]
                neg_entropy = (c * torch.log(c)).sum(1)
                neg_entropy[excluded] = torch.inf  # excluded classes always rank last
                self._terms[sign][layer.name] = (c, neg_entropy)

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        return self.classifiers.layers

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def scored_layers(self, k: int, scope: LayerScope) -> tuple[LayerInfo, ...]:
        if not 1 <= k <= len(self.layers):
            raise DataError(f"expected 1 <= k <= {len(self.layers)}, got {k}")
        return self.layers if scope == "all" else self.layers[len(self.layers) - k:]

    def rank_layers(self, pos: dict[str, torch.Tensor], neg: dict[str, torch.Tensor],
                    layers: Sequence[LayerInfo]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-layer ranks (B, L, M) of both voters from raw accumulators."""
        voters = [(sign, acc, layer) for sign, acc in (("pos", pos), ("neg", neg)) for layer in layers]
        first = pos[layers[0].name]
        scores = torch.empty(first.shape[0], len(voters), self.classifiers.num_classes, dtype=torch.float64,
                             device=first.device)
        for i, (sign, acc, layer) in enumerate(voters):  # each voter's KL scores go straight into its column
            c, neg_entropy = self._terms[sign][layer.name]
            kl_divergences(to_pmf(acc[layer.name], self.classifiers.delta), c, neg_entropy, out=scores[:, i])
        # A non-finite accumulator makes its PMF NaN (inf / inf) and so its whole row of scores NaN, while finite
        # PMFs never give NaN nor -inf (the mixtures are positive; an excluded class scores +inf): so one sum per
        # row is NaN exactly for the broken voters, a check of all voters at once.
        broken = torch.isnan(scores.sum(-1)).any(0).nonzero().flatten().tolist()
        if broken:
            raise DataError(f"expected finite responses at layer '{voters[broken[0]][2].name}', got NaN or inf "
                            "(are the model weights or inputs corrupted?)")
        # one stable sort over all 2L voters: multi-threaded, ~2x faster than L separate sorts
        ranks = stable_ranks(scores).cpu()
        return ranks[:, :len(layers)], ranks[:, len(layers):]

    def predict(self, x: torch.Tensor, *, k: int | None = None, variant: Variant | str = Variant.BOTH,
                scope: LayerScope = "voters") -> Prediction:
        """Predict a batch ``x`` of preprocessed images.

        Args:
            k: highest layers that vote (default: the classifiers' k).
            variant: pos, neg or pos+neg voters.
            scope: ``"voters"`` taps only the highest k layers (fast path); ``"all"`` ranks every
                layer (for heatmaps and k-ablations).
        """
        k = self.classifiers.k if k is None else int(k)
        layers = self.scored_layers(k, scope)
        acc = capture(self.model, x.to(self.device), layers)
        pos_ranks, neg_ranks = self.rank_layers(acc.pos, acc.neg, layers)
        return Prediction(layers=layers, logits=acc.logits.detach().float().cpu(), pos_ranks=pos_ranks,
                          neg_ranks=neg_ranks, k=min(k, len(layers)), variant=Variant(variant))


def select_k(layer_accuracy: Sequence[float], threshold: float = DEFAULT_THRESHOLD) -> int:
    """The paper's k: the number of highest layers whose own accuracy reaches ``threshold``.

    Counted from the top layer down until the first layer below the threshold; at least 1
    (the top layer votes even when it misses the threshold).
    """
    k = 0
    for acc in reversed(list(layer_accuracy)):
        if acc < threshold:
            break
        k += 1
    return max(k, 1)
