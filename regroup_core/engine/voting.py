"""Voting: KL scores → per-layer class rankings → Borda counts (paper Eqs. 2–7).

Everything here is a pure function of tensors, so the app, the experiments and the tests can
recombine per-layer rankings (other k, pos/neg only, other voting rules) without rerunning
the network.

Conventions: ranks are 1-based (1 = the class the layer prefers), ties go to the lower class
index (stable sort), Borda points are ``M - rank``.
"""

from __future__ import annotations

import enum
import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = [
    "Variant",
    "kl_divergences",
    "stable_ranks",
    "borda_points",
    "aggregate_borda",
    "top_classes",
    "plurality_counts",
    "copeland_scores",
]


class Variant(str, enum.Enum):
    """Which voters of each layer take part (paper Fig. 3)."""

    POS = "pos"
    NEG = "neg"
    BOTH = "pos+neg"


def kl_divergences(pmf: torch.Tensor, class_pmfs: torch.Tensor, class_neg_entropy: torch.Tensor,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """KL(C_y ‖ p) for every test PMF p and class y, as one matrix product.

    ``KL(C_y ‖ p) = Σ_i C_yi log C_yi − Σ_i C_yi log p_i``; the first term does not depend on
    the test sample and is passed in precomputed (``class_neg_entropy[y] = Σ_i C_yi log C_yi``).

    Args:
        pmf: (B, D) test PMFs, strictly positive (δ was added).
        class_pmfs: (M, D) class-conditional mixtures C_y.
        class_neg_entropy: (M,).
        out: optional (B, M) tensor (a view is fine) to write the divergences into.
    Returns:
        (B, M) divergences, in the dtype of ``class_pmfs``.
    """
    return torch.sub(class_neg_entropy.unsqueeze(0), torch.log(pmf.to(class_pmfs.dtype)) @ class_pmfs.T, out=out)


def stable_ranks(scores: torch.Tensor, descending: bool = False) -> torch.Tensor:
    """1-based ranks along the last dim; ascending scores by default; ties → lower index first."""
    if _numpy_sortable(scores, descending):
        return _cpu_stable_ranks(scores)
    order = torch.argsort(scores, dim=-1, descending=descending, stable=True)
    m = scores.shape[-1]
    positions = torch.arange(1, m + 1, device=scores.device, dtype=torch.int32).expand_as(order)
    return torch.empty(order.shape, dtype=torch.int32, device=scores.device).scatter_(-1, order, positions)


def _numpy_sortable(scores: torch.Tensor, descending: bool) -> bool:
    return (not descending and scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64)
            and scores.dim() >= 1 and scores.numel() > 0 and not scores.requires_grad)


_PARALLEL_ROWS = 512  # below this, one thread sorts faster than two can start


@functools.lru_cache(maxsize=4)
def _sort_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="regroup-ranks")


def _cpu_stable_ranks(scores: torch.Tensor) -> torch.Tensor:
    """:func:`stable_ranks` on the CPU, the same ranks about twice as fast as torch's stable argsort (ranking
    every layer of a ResNet-50 for ImageNet sorts 1 728 rows of 1 000 scores per batch of 16; ``python -m
    benchmarks.bench_engine_parts`` times both).

    NumPy's default sort is vectorised but not stable; a stable sort differs from it only on rows
    with equal (or NaN) scores, so those rows, and only those, are sorted again stably. NumPy sorts
    without the GIL, so many rows are split over torch's thread count. The gather and scatter around
    the sort are torch's (several times faster than NumPy's ``take_along_axis``/``put_along_axis``) and
    run on the calling thread: a torch op on a pool thread would start a second OpenMP team, whose
    threads keep spinning after it: in ``bench_inference`` the fit after it ran a fifth slower (fit_ratio
    0.73 against 0.91).
    """
    m = scores.shape[-1]
    rows = scores.detach().contiguous().view(-1, m)
    ranks = torch.empty(rows.shape, dtype=torch.int32)
    workers = min(torch.get_num_threads(), 8, len(rows) // _PARALLEL_ROWS)
    if workers > 1:
        blocks = list(zip(torch.tensor_split(rows, workers), torch.tensor_split(ranks, workers)))
        orders = list(_sort_pool(workers).map(lambda block: np.argsort(block[0].numpy(), axis=-1), blocks))
    else:
        blocks, orders = [(rows, ranks)], [np.argsort(rows.numpy(), axis=-1)]
    for (part, out), order in zip(blocks, orders):  # each block ranked into its own rows: no concatenation
        _scatter_ranks(part, torch.from_numpy(order), out)
    return ranks.view(scores.shape)


def _scatter_ranks(rows: torch.Tensor, order: torch.Tensor, out: torch.Tensor) -> None:
    """Write the 1-based ranks given by ``order`` (NumPy's sort of ``rows``) into ``out``, after sorting again
    stably the rows whose sorted scores hold a tie or a NaN."""
    ordered = torch.gather(rows, -1, order)
    redo = ((ordered[:, 1:] == ordered[:, :-1]).any(-1) | ordered[:, -1].isnan()).nonzero().flatten()
    if len(redo):
        order[redo] = torch.from_numpy(np.argsort(rows[redo].numpy(), axis=-1, kind="stable"))
    out.scatter_(-1, order, torch.arange(1, rows.shape[-1] + 1, dtype=torch.int32).expand_as(order))


def borda_points(ranks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Borda points ``M − rank`` (Eq. 6) as int64."""
    return num_classes - ranks.to(torch.int64)


def aggregate_borda(pos_ranks: torch.Tensor, neg_ranks: torch.Tensor, k: int,
                    variant: Variant = Variant.BOTH) -> torch.Tensor:
    """Borda count of the highest ``k`` layers (Eq. 7).

    Args:
        pos_ranks, neg_ranks: (B, L, M) ranks, layers in network order.
        k: number of highest layers to sum, 1 ≤ k ≤ L.
        variant: which voters of each layer count.
    Returns:
        (B, M) int64 Borda totals.
    """
    layers, m = pos_ranks.shape[-2], pos_ranks.shape[-1]
    if not 1 <= k <= layers:
        raise ValueError(f"expected 1 <= k <= {layers}, got {k}")
    variant = Variant(variant)
    total = torch.zeros(pos_ranks.shape[:-2] + (m,), dtype=torch.int64, device=pos_ranks.device)
    if variant in (Variant.POS, Variant.BOTH):
        total += borda_points(pos_ranks[..., layers - k:, :], m).sum(-2)
    if variant in (Variant.NEG, Variant.BOTH):
        total += borda_points(neg_ranks[..., layers - k:, :], m).sum(-2)
    return total


def top_classes(scores: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the ``n`` highest scores per row, ties → lower class index first."""
    return torch.argsort(scores, dim=-1, descending=True, stable=True)[..., :n]


def plurality_counts(ranks: torch.Tensor) -> torch.Tensor:
    """Plurality rule: each voter (dim -2) gives one vote to its first choice. (…, V, M) → (…, M)."""
    return (ranks == 1).sum(-2).to(torch.int64)


def copeland_scores(ranks: torch.Tensor) -> torch.Tensor:
    """Copeland rule (Condorcet-consistent): wins minus losses in pairwise majority contests.

    Class a beats b when more voters rank a above b than b above a. A Condorcet winner, when
    one exists, has the unique maximum M − 1. (…, V, M) → (…, M).
    """
    m = ranks.shape[-1]
    prefers = torch.zeros(ranks.shape[:-2] + (m, m), dtype=torch.int32, device=ranks.device)
    for v in range(ranks.shape[-2]):  # one voter at a time: (V, M, M) would not fit for M = 1000
        r = ranks[..., v, :]
        prefers += (r.unsqueeze(-1) < r.unsqueeze(-2)).to(torch.int32)  # [a, b]: a ranked above b
    margin = prefers - prefers.transpose(-1, -2)
    return ((margin > 0).sum(-1) - (margin < 0).sum(-1)).to(torch.int64)
