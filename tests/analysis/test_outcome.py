"""regroup_core.analysis.outcome: "fooled" only when a right answer became wrong; ties are ties."""

from __future__ import annotations

import pytest
import torch

from regroup_core.analysis.outcome import Effect, attack_outcome, tied_classes, verdict
from regroup_core.engine import LayerInfo, LayerKind, Prediction, Variant
from regroup_core.errors import DataError

LAYER = (LayerInfo(name="fc", kind=LayerKind.FC, dim=4, depth=0, source="fc"),)


def _prediction(firsts: list[int], *, tie: bool = False, m: int = 4) -> Prediction:
    """One voter layer per image ranking ``firsts[i]`` first and the next class second; with ``tie``
    the neg voter swaps those two, so they share the top Borda count."""
    def ranking(*top: int) -> torch.Tensor:
        order = list(top) + [c for c in range(m) if c not in top]
        row = torch.empty(m, dtype=torch.int32)
        row[torch.tensor(order)] = torch.arange(1, m + 1, dtype=torch.int32)
        return row

    pos = torch.stack([ranking(f, (f + 1) % m) for f in firsts])[:, None]
    neg = torch.stack([ranking((f + 1) % m, f) if tie else ranking(f, (f + 1) % m) for f in firsts])[:, None]
    logits = torch.nn.functional.one_hot(torch.tensor(firsts), m).float()
    return Prediction(layers=LAYER, logits=logits, pos_ranks=pos, neg_ranks=neg, k=1, variant=Variant.BOTH)


def test_verdicts_and_ties():
    clean = _prediction([2])
    assert verdict(clean, 0, 2, classifier="regroup").correct
    tied = _prediction([2], tie=True)
    v = verdict(tied, 0, 2, classifier="regroup")
    assert v.tied == (2, 3) and v.predicted == 2 and v.correct is False  # a tie is not counted as right
    assert tied_classes(tied.borda[0]) == [2, 3]
    assert verdict(tied, 0, None, classifier="softmax").correct is None
    with pytest.raises(DataError):
        verdict(clean, 0, 2, classifier="both")
    with pytest.raises(DataError):
        verdict(clean, 3, 2, classifier="softmax")


def test_effects():
    clean, attacked = _prediction([1, 0]), _prediction([0, 0])
    fooled = attack_outcome(clean, attacked, 1, linf=0.1)
    assert fooled.effect("softmax") is Effect.FOOLED and fooled.effect("regroup") is Effect.FOOLED
    held = attack_outcome(clean, attacked, 0, linf=0.1, i=1, j=1)
    assert held.effect("softmax") is Effect.HELD and not held.regroup_holds_where_softmax_falls
    already = attack_outcome(clean, attacked, 3, linf=0.0)  # wrong before the attack: nothing to fool
    assert already.effect("softmax") is Effect.ALREADY_WRONG and already.effect("regroup") is Effect.ALREADY_WRONG
    unknown = attack_outcome(clean, attacked, None, linf=0.1)
    assert unknown.effect("softmax") is Effect.CHANGED
    assert attack_outcome(clean, clean, None, linf=0.0).effect("regroup") is Effect.UNCHANGED
    tie_after = attack_outcome(clean, _prediction([1], tie=True), 1, linf=0.1)
    assert tie_after.effect("regroup") is Effect.FOOLED and tie_after.effect("softmax") is Effect.HELD


def test_regroup_holds_where_softmax_falls():
    clean = _prediction([1])
    attacked = Prediction(layers=LAYER, logits=torch.tensor([[0.0, 0.0, 5.0, 0.0]]), pos_ranks=clean.pos_ranks,
                          neg_ranks=clean.neg_ranks, k=1, variant=Variant.BOTH)  # softmax moved, voters did not
    outcome = attack_outcome(clean, attacked, 1, linf=0.1)
    assert outcome.regroup_holds_where_softmax_falls


def test_minimisation_beyond_every_budget_changed_the_image_not_fooled():
    from regroup_core.analysis.outcome import Effect as E

    clean, attacked = _prediction([1]), _prediction([0])
    far = attack_outcome(clean, attacked, 1, linf=1.0, budget_255=80.0)
    assert far.effect("softmax") is E.BEYOND_BUDGET and far.effect("regroup") is E.BEYOND_BUDGET
    assert E.BEYOND_BUDGET.value == "changed the image (δ beyond any budget)"
    assert not far.regroup_holds_where_softmax_falls
    near = attack_outcome(clean, attacked, 1, linf=80 / 255, budget_255=80.0)  # on the budget: within it
    assert near.effect("softmax") is E.FOOLED
    bounded = attack_outcome(clean, attacked, 1, linf=1.0)
    assert bounded.effect("softmax") is E.FOOLED  # a fixed-budget attack stays within the ε asked for
    assert attack_outcome(clean, clean, 1, linf=1.0, budget_255=80.0).effect("softmax") is E.HELD
