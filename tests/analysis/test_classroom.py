"""regroup_core.analysis.classroom: ballots, voting rules, one manipulated voter."""

from __future__ import annotations

import pytest
import torch

from regroup_core.analysis.classroom import Ballots, ballots, demote, promote, tally, voters_to_flip
from regroup_core.errors import DataError


def _b(rows) -> Ballots:
    return Ballots(tuple(f"v{i}" for i in range(len(rows))), torch.tensor(rows, dtype=torch.int64))


def test_promote_and_demote_keep_the_others_in_order():
    r = torch.tensor([2, 1, 3, 4])  # order: 1 > 0 > 2 > 3
    assert promote(r, 3).tolist() == [3, 2, 4, 1]  # 3 > 1 > 0 > 2
    assert demote(r, 1).tolist() == [1, 4, 2, 3]   # 0 > 2 > 3 > 1
    assert promote(r, 1).tolist() == r.tolist()
    with pytest.raises(DataError):
        promote(r, 4)


def test_rules_can_disagree_borda_vs_plurality():
    # 5 voters over classes 0, 1, 2. Plurality: 0 has 3 first places and wins. Borda: 1 is
    # second on three ballots and first on two (7 points) and beats 0 (6 points). Copeland: 0 beats
    # 1 (3 of 5) and 2 (3 of 5): the Condorcet winner is 0.
    rows = [[1, 2, 3], [1, 2, 3], [1, 2, 3], [3, 1, 2], [3, 1, 2]]
    t = tally(_b(rows))
    assert t["plurality"][0].tolist() == [3, 2, 0] and t["plurality"][1] == 0
    assert t["borda"][0].tolist() == [6, 7, 2] and t["borda"][1] == 1
    assert t["copeland"][0].tolist() == [2, 0, -2] and t["copeland"][1] == 0


def test_borda_winner_flip_count_is_exact_on_a_known_case():
    # 4 voters all rank 0 > 1 > 2: to make 2 win under Borda, rewrite ballots as 2 > 1 > 0.
    b = _b([[1, 2, 3]] * 4)
    assert voters_to_flip(b, 0) == 0
    # after r rewrites: class 2 has 2r points, class 0 has 2(4-r), class 1 has 4 → r = 3 (6 > 2, 6 > 4)
    assert voters_to_flip(b, 2) == 3
    # plurality: after r rewrites 2 has r first places against 4 - r for 0 (ties → 0): r = 3
    assert voters_to_flip(b, 2, "plurality") == 3


def test_ballots_from_layer_ranks_take_the_highest_k_layers():
    pos = torch.tensor([[1, 2, 3], [2, 1, 3], [3, 2, 1]], dtype=torch.int32)
    neg = torch.tensor([[3, 2, 1], [1, 3, 2], [2, 3, 1]], dtype=torch.int32)
    b = ballots(pos, neg, ["l0", "l1", "l2"], 2)
    assert b.names == ("l1 (pos)", "l1 (neg)", "l2 (pos)", "l2 (neg)")
    assert b.ranks.tolist() == [[2, 1, 3], [1, 3, 2], [3, 2, 1], [2, 3, 1]]
    with pytest.raises(DataError):
        ballots(pos, neg, ["l0", "l1", "l2"], 4)


def test_replace_does_not_touch_the_original_and_checks_permutations():
    b = _b([[1, 2, 3], [2, 1, 3]])
    c = b.replace(0, torch.tensor([3, 2, 1]))
    assert b.ranks[0].tolist() == [1, 2, 3] and c.ranks[0].tolist() == [3, 2, 1]
    with pytest.raises(DataError):
        b.replace(1, torch.tensor([1, 1, 3]))
