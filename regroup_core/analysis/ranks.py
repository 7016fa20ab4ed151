"""Rank matrices of one image, shaped for reading: which classes to show, how Borda builds up.

With 1 000 classes a layers × classes heatmap is unreadable, so :func:`focus_classes` picks
the classes that matter (the marked ones first, then the best by total Borda over every
scored layer); :func:`borda_buildup` gives the Borda totals as k grows from the top layer down.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..engine import Variant, aggregate_borda, borda_points, top_classes
from ..errors import DataError

__all__ = ["borda_buildup", "focus_classes", "image_ranks"]


def image_ranks(pos_ranks: torch.Tensor, neg_ranks: torch.Tensor, i: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(L, M) int16 pos and neg ranks of image ``i`` from (B, L, M) batch ranks (compact for plots)."""
    if pos_ranks.dim() != 3 or pos_ranks.shape != neg_ranks.shape:
        raise DataError(f"expected pos/neg ranks of equal shape (B, L, M), got {tuple(pos_ranks.shape)} "
                        f"and {tuple(neg_ranks.shape)}")
    if not 0 <= i < pos_ranks.shape[0]:
        raise DataError(f"expected an image index in [0, {pos_ranks.shape[0]}), got {i}")
    return pos_ranks[i].to(torch.int16), neg_ranks[i].to(torch.int16)


def focus_classes(pos: torch.Tensor, neg: torch.Tensor, *, top_n: int | None,
                  marked: Sequence[int] = ()) -> list[int]:
    """Class indices to show for one image's (L, M) ranks, at most ``top_n`` (None = all).

    The ``marked`` classes (true, softmax, REGroup) always come first, in the given order,
    then the classes with the highest Borda total over every layer and both voters.
    Returned in ascending class order so columns read like the class list.
    """
    m = pos.shape[-1]
    if top_n is None or top_n >= m:
        return list(range(m))
    if top_n < 1:
        raise DataError(f"expected top_n >= 1 or None, got {top_n}")
    chosen: list[int] = []
    for c in marked:
        if 0 <= int(c) < m and int(c) not in chosen:
            chosen.append(int(c))
    totals = (borda_points(pos, m) + borda_points(neg, m)).sum(0)
    for c in top_classes(totals, m).tolist():
        if len(chosen) >= top_n:
            break
        if c not in chosen:
            chosen.append(c)
    return sorted(chosen)  # every marked class stays, even beyond top_n

def borda_buildup(pos: torch.Tensor, neg: torch.Tensor, variant: Variant | str = Variant.BOTH) -> torch.Tensor:
    """(L, M) int64: row j is the Borda total of the highest j + 1 layers (k = j + 1)."""
    layers = pos.shape[-2]
    return torch.stack([aggregate_borda(pos, neg, k, Variant(variant)) for k in range(1, layers + 1)])
