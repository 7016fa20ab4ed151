"""regroup_core.analysis.ranks: focus classes and the Borda build-up over k."""

from __future__ import annotations

import pytest
import torch

from regroup_core.analysis.ranks import borda_buildup, focus_classes, image_ranks
from regroup_core.engine.voting import Variant, aggregate_borda
from regroup_core.errors import DataError


def _ranks(rows):
    return torch.tensor(rows, dtype=torch.int32)


def test_focus_classes_keeps_marked_first_then_best_by_borda():
    # 2 layers, 5 classes; totals (Borda = 5 - rank, pos+neg): class 3 best, then 1, then 0 ...
    pos = _ranks([[3, 2, 5, 1, 4], [3, 2, 5, 1, 4]])
    neg = pos.clone()
    assert focus_classes(pos, neg, top_n=2, marked=[]) == [1, 3]
    assert focus_classes(pos, neg, top_n=2, marked=[4]) == [3, 4]        # marked 4 + best 3
    assert focus_classes(pos, neg, top_n=2, marked=[4, 2, 0]) == [0, 2, 4]  # every marked class stays
    assert focus_classes(pos, neg, top_n=None) == [0, 1, 2, 3, 4]
    assert focus_classes(pos, neg, top_n=9) == [0, 1, 2, 3, 4]


def test_focus_classes_rejects_zero():
    pos = _ranks([[1, 2]])
    with pytest.raises(DataError):
        focus_classes(pos, pos, top_n=0)


def test_borda_buildup_matches_aggregate_borda_for_every_k():
    g = torch.Generator().manual_seed(0)
    pos = torch.argsort(torch.rand(4, 6, generator=g), dim=1).argsort(dim=1).to(torch.int32) + 1
    neg = torch.argsort(torch.rand(4, 6, generator=g), dim=1).argsort(dim=1).to(torch.int32) + 1
    build = borda_buildup(pos, neg)
    assert build.shape == (4, 6)
    for k in range(1, 5):
        assert torch.equal(build[k - 1], aggregate_borda(pos, neg, k, Variant.BOTH))
    # k = 1 is the top layer alone: M - rank of both voters
    assert torch.equal(build[0], (6 - pos[-1].long()) + (6 - neg[-1].long()))


def test_image_ranks_int16_and_checks():
    pos = torch.ones(2, 3, 4, dtype=torch.int32)
    p, _n = image_ranks(pos, pos, 1)
    assert p.dtype == torch.int16 and p.shape == (3, 4)
    with pytest.raises(DataError):
        image_ranks(pos, pos, 2)
    with pytest.raises(DataError):
        image_ranks(pos, pos[:, :2], 0)
