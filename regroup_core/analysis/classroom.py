"""The voting classroom: one image's real per-layer rankings under several voting rules.

Each of the highest k layers casts two ballots (its pos and its neg voter), each a full
ranking of the classes. :func:`tally` counts them by Borda (REGroup's rule), plurality and
Copeland (Condorcet-consistent); :func:`promote` rewrites one ballot so that a chosen class
comes first (a manipulated voter), and :func:`voters_to_flip` counts how many ballots an
attacker must fully control to change the Borda winner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..engine import borda_points, copeland_scores, plurality_counts, top_classes
from ..errors import DataError

__all__ = ["RULES", "Ballots", "ballots", "demote", "promote", "tally", "voters_to_flip"]

RULES = ("borda", "plurality", "copeland")


@dataclass(frozen=True)
class Ballots:
    """V voters' rankings: ``ranks`` (V, M) int (1 = first choice) and a name per voter."""

    names: tuple[str, ...]
    ranks: torch.Tensor

    def __post_init__(self) -> None:
        if self.ranks.dim() != 2 or self.ranks.shape[0] != len(self.names):
            raise DataError(f"expected ranks of shape ({len(self.names)}, M), got {tuple(self.ranks.shape)}")
        m = self.ranks.shape[1]
        expected = torch.arange(1, m + 1)
        if not bool((self.ranks.sort(dim=1).values.cpu().to(torch.int64) == expected).all()):
            raise DataError(f"expected each voter to rank the {m} classes 1..{m} exactly once, got a non-permutation")

    @property
    def num_classes(self) -> int:
        return int(self.ranks.shape[1])

    def replace(self, voter: int, ranking: torch.Tensor) -> Ballots:
        """A copy with voter ``voter``'s ranking replaced (the original is untouched)."""
        ranks = self.ranks.clone()
        ranks[voter] = ranking
        return Ballots(self.names, ranks)


def ballots(pos_ranks: torch.Tensor, neg_ranks: torch.Tensor, layer_names: list[str] | tuple[str, ...],
            k: int) -> Ballots:
    """The 2k ballots of the highest ``k`` layers from one image's (L, M) pos/neg ranks."""
    layers = pos_ranks.shape[0]
    if len(layer_names) != layers or neg_ranks.shape != pos_ranks.shape:
        raise DataError(f"expected {len(layer_names)} layers of pos and neg ranks, got {tuple(pos_ranks.shape)} "
                        f"and {tuple(neg_ranks.shape)}")
    if not 1 <= k <= layers:
        raise DataError(f"expected 1 <= k <= {layers}, got {k}")
    names, rows = [], []
    for j in range(layers - k, layers):
        for sign, table in (("pos", pos_ranks), ("neg", neg_ranks)):
            names.append(f"{layer_names[j]} ({sign})")
            rows.append(table[j].to(torch.int64))
    return Ballots(tuple(names), torch.stack(rows))


def tally(b: Ballots) -> dict[str, tuple[torch.Tensor, int]]:
    """Rule → (scores (M,), winner) for Borda, plurality and Copeland; ties → lower class index."""
    m = b.num_classes
    scores = {"borda": borda_points(b.ranks, m).sum(0), "plurality": plurality_counts(b.ranks),
              "copeland": copeland_scores(b.ranks)}
    return {rule: (s, int(top_classes(s, 1)[0])) for rule, s in scores.items()}


def _move(ranking: torch.Tensor, cls: int, to_rank: int) -> torch.Tensor:
    m = ranking.numel()
    if not 0 <= cls < m:
        raise DataError(f"expected a class in [0, {m}), got {cls}")
    order = torch.argsort(ranking.to(torch.int64), stable=True).tolist()  # classes, best first
    order.remove(cls)
    order.insert(to_rank - 1, cls)
    out = torch.empty(m, dtype=torch.int64)
    out[torch.tensor(order)] = torch.arange(1, m + 1)
    return out


def promote(ranking: torch.Tensor, cls: int) -> torch.Tensor:
    """``ranking`` with ``cls`` moved to first place; the others keep their relative order."""
    return _move(ranking, cls, 1)


def demote(ranking: torch.Tensor, cls: int) -> torch.Tensor:
    """``ranking`` with ``cls`` moved to last place; the others keep their relative order."""
    return _move(ranking, cls, ranking.numel())


def voters_to_flip(b: Ballots, target: int, rule: str = "borda") -> int | None:
    """How many ballots an attacker must rewrite (target first, current winner last) to make ``target`` win.

    Greedy: rewrite first the ballots where the target gains most on the winner. For Borda the
    margin gain of each rewrite is independent of the others, so the count is the minimum; for
    plurality and Copeland it is an upper bound. 0 when ``target`` already wins; None when
    rewriting every ballot does not suffice.
    """
    if rule not in RULES:
        raise DataError(f"expected a rule in {RULES}, got '{rule}'")
    winner = tally(b)[rule][1]
    if winner == target:
        return 0
    m = b.num_classes
    current = b
    # Borda gain of rewriting voter v: target rises to M-1 points, the winner falls to 0 points
    gain = (b.ranks[:, target] - 1) + (m - b.ranks[:, winner])
    for count, v in enumerate(torch.argsort(gain, descending=True, stable=True).tolist(), start=1):
        current = current.replace(v, demote(promote(current.ranks[v], target), winner))
        if tally(current)[rule][1] == target:
            return count
    return None
