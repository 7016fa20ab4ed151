"""Voting against a brute-force loop implementation of the paper's equations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from regroup_core.engine.voting import (
    Variant,
    aggregate_borda,
    copeland_scores,
    kl_divergences,
    plurality_counts,
    stable_ranks,
    top_classes,
)


def brute_kl(pmf, classes):
    """Eq. 2 with explicit sums: KL(C_y || p) = Σ_i C_yi log(C_yi / p_i)."""
    return [[sum(c[i] * math.log(c[i] / p[i]) for i in range(len(p))) for c in classes] for p in pmf]


def brute_ranks(scores):
    """Ascending, ties to the lower index: rank = 1 + #{better} + #{equal with lower index}."""
    out = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda y: (row[y], y))
        ranks = [0] * len(row)
        for position, y in enumerate(order, start=1):
            ranks[y] = position
        out.append(ranks)
    return out


def random_pmfs(rng, n, d):
    a = rng.random((n, d)) + 1e-3
    return a / a.sum(1, keepdims=True)


def test_kl_matrix_equals_loop():
    rng = np.random.default_rng(0)
    pmf, classes = random_pmfs(rng, 5, 7), random_pmfs(rng, 4, 7)
    c = torch.tensor(classes)
    got = kl_divergences(torch.tensor(pmf), c, (c * torch.log(c)).sum(1))
    assert np.allclose(got.numpy(), brute_kl(pmf, classes), atol=1e-12)


def test_ranks_equal_loop_including_ties():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(20, 9)).astype(float)  # many ties
    got = stable_ranks(torch.tensor(scores))
    assert got.tolist() == brute_ranks(scores.tolist())
    # a tie goes to the lower class index
    assert stable_ranks(torch.tensor([[0.5, 0.5, 0.1]])).tolist() == [[2, 3, 1]]


def _torch_stable_ranks(scores: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(scores, dim=-1, stable=True)
    positions = torch.arange(1, scores.shape[-1] + 1, dtype=torch.int32).expand_as(order)
    return torch.empty(order.shape, dtype=torch.int32).scatter_(-1, order, positions)


@pytest.mark.parametrize("seed", range(40))
def test_cpu_fast_path_equals_torch_stable_sort(seed):
    """The NumPy path re-sorts tied rows stably: ties, ±inf, NaN and ±0 must rank as torch's stable sort."""
    g = torch.Generator().manual_seed(seed)
    shape = [(1,), (7,), (3, 9), (2, 4, 33), (16, 6, 100)][seed % 5]
    if seed % 3 == 0:  # many exact ties
        scores = torch.randint(0, 3, shape, generator=g).double()
    else:
        scores = torch.randn(shape, generator=g, dtype=torch.float64)
    flat = scores.view(-1)
    if seed % 4 == 1:
        flat[::3] = math.inf
    if seed % 5 == 2:
        flat[1::4] = math.nan
    if seed % 6 == 3:
        flat[::2] = -0.0
        flat[1::2] = 0.0
    if seed % 2:
        scores = scores.float()
    got = stable_ranks(scores)
    assert got.dtype == torch.int32 and got.shape == scores.shape
    assert torch.equal(got, _torch_stable_ranks(scores))


def test_cpu_fast_path_split_over_threads_equals_torch_stable_sort(monkeypatch):
    """Many rows are ranked in parts by a thread pool: the parts must come back in order."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    g = torch.Generator().manual_seed(7)
    scores = torch.randn(4, 400, 60, generator=g, dtype=torch.float64)
    scores[1, ::3] = torch.randint(0, 3, (134, 60), generator=g).double()  # tied rows in the middle part
    got = stable_ranks(scores)
    assert torch.equal(got, _torch_stable_ranks(scores))


def test_cpu_fast_path_on_a_noncontiguous_view():
    scores = torch.randn(5, 8, dtype=torch.float64).t()
    assert torch.equal(stable_ranks(scores), _torch_stable_ranks(scores.contiguous()))


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("k", [1, 3, 6])
def test_borda_aggregation_equals_loop(variant, k):
    rng = np.random.default_rng(2)
    b, layers, m = 3, 6, 5
    pos = np.stack([np.stack([rng.permutation(m) + 1 for _ in range(layers)]) for _ in range(b)])
    neg = np.stack([np.stack([rng.permutation(m) + 1 for _ in range(layers)]) for _ in range(b)])
    got = aggregate_borda(torch.tensor(pos), torch.tensor(neg), k, variant)
    for i in range(b):
        for y in range(m):
            total = 0
            for layer in range(layers - k, layers):  # the highest k layers (Eq. 7)
                if variant in (Variant.POS, Variant.BOTH):
                    total += m - pos[i, layer, y]
                if variant in (Variant.NEG, Variant.BOTH):
                    total += m - neg[i, layer, y]
            assert got[i, y] == total


def test_full_vote_equals_loop_end_to_end():
    """PMFs → KL → ranks → Borda → argmax, against the loops, on random data."""
    rng = np.random.default_rng(3)
    m, dims, k = 6, [4, 5, 3], 2
    classes = {s: [random_pmfs(rng, m, d) for d in dims] for s in ("pos", "neg")}
    tests = {s: [random_pmfs(rng, 4, d) for d in dims] for s in ("pos", "neg")}
    ranks = {}
    for s in ("pos", "neg"):
        per_layer = []
        for layer in range(len(dims)):
            c = torch.tensor(classes[s][layer])
            kl = kl_divergences(torch.tensor(tests[s][layer]), c, (c * torch.log(c)).sum(1))
            per_layer.append(stable_ranks(kl))
        ranks[s] = torch.stack(per_layer, 1)
    borda = aggregate_borda(ranks["pos"], ranks["neg"], k)
    for i in range(4):
        totals = [0] * m
        for layer in range(len(dims) - k, len(dims)):
            for s in ("pos", "neg"):
                r = brute_ranks(brute_kl(tests[s][layer][i:i + 1], classes[s][layer]))[0]
                for y in range(m):
                    totals[y] += m - r[y]
        assert borda[i].tolist() == totals
        best = max(range(m), key=lambda y: (totals[y], -y))
        assert int(top_classes(borda[i:i + 1], 1)[0, 0]) == best


def test_k_out_of_range():
    r = torch.ones(1, 2, 3, dtype=torch.int32)
    with pytest.raises(ValueError, match="k"):
        aggregate_borda(r, r, 3)


def test_plurality_and_copeland():
    # 5 voters, 3 candidates. First choices: A, A, B, C, C → plurality tie A/C,
    # but B beats both A and C pairwise (Condorcet winner) → Copeland picks B.
    ballots = [[0, 1, 2], [0, 1, 2], [1, 0, 2], [2, 1, 0], [2, 1, 0]]  # preference orders
    ranks = torch.zeros(5, 3, dtype=torch.int32)
    for v, order in enumerate(ballots):
        for position, c in enumerate(order, start=1):
            ranks[v, c] = position
    assert plurality_counts(ranks).tolist() == [2, 1, 2]
    assert copeland_scores(ranks).tolist() == [0, 2, -2]
