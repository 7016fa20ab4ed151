"""REGroup prediction on a tiny model: consistency, thread safety, k-selection."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import fit_small, make_small, sample_inputs, self_labelled, small_bundle

from regroup_core.engine.predictor import REGroup, select_k
from regroup_core.engine.voting import Variant, aggregate_borda
from regroup_core.errors import DataError, LayerError


@pytest.fixture(scope="module")
def defended():
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 200)
    return REGroup(bundle.model, fit_small(bundle, x, y, per_class=30, k=3, batch_size=50))


def test_voters_scope_equals_all_scope(defended):
    x = sample_inputs(16, seed=9)
    fast = defended.predict(x)
    full = defended.predict(x, scope="all")
    assert len(fast.layers) == 3 and len(full.layers) == 5
    assert torch.equal(fast.borda, full.borda)
    assert torch.equal(fast.pos_ranks, full.pos_ranks[:, -3:])
    assert torch.equal(full.borda_at(3), fast.borda)


def test_prediction_views_are_consistent(defended):
    pred = defended.predict(sample_inputs(8, seed=4), scope="all")
    m = pred.num_classes
    # every layer's ranks are a permutation of 1..M
    ranks = torch.arange(1, m + 1, dtype=torch.int32).expand_as(pred.pos_ranks)
    assert torch.equal(pred.pos_ranks.sort(-1).values, ranks)
    idx, borda = pred.regroup_top(4)
    assert torch.equal(idx[:, 0], pred.regroup_labels)
    assert (borda[:, :-1] >= borda[:, 1:]).all()
    assert pred.borda.sum(1).tolist() == [pred.k * 2 * m * (m - 1) // 2] * 8
    pos_only = pred.borda_at(pred.k, Variant.POS)
    assert torch.equal(pos_only, aggregate_borda(pred.pos_ranks, pred.neg_ranks, pred.k, "pos"))
    assert pred.layer_labels().shape == (8, 5)
    sidx, probs = pred.softmax_top(2)
    assert torch.equal(sidx[:, 0], pred.logits.argmax(1)) and (probs[:, 0] >= probs[:, 1]).all()


def test_regroup_is_accurate_on_its_own_fit_distribution(defended):
    x, y = self_labelled(defended.model, 200, seed=77)
    pred = defended.predict(x)
    assert (pred.regroup_labels == y).float().mean() > 0.5  # 4 classes: chance is 0.25


def test_concurrent_predictions_equal_serial(defended):
    inputs = [sample_inputs(6, seed=s) for s in (11, 12)]
    serial = [defended.predict(x, scope="all") for x in inputs]
    out: dict[int, list] = {0: [], 1: []}
    barrier = threading.Barrier(2)

    def work(i):
        barrier.wait()
        for _ in range(20):
            out[i].append(defended.predict(inputs[i], scope="all"))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for i in (0, 1):
        assert len(out[i]) == 20
        for pred in out[i]:
            assert torch.equal(pred.pos_ranks, serial[i].pos_ranks)
            assert torch.equal(pred.neg_ranks, serial[i].neg_ranks)
            assert torch.equal(pred.borda, serial[i].borda)


def test_bad_k_nan_and_train_mode(defended):
    with pytest.raises(DataError, match="k"):
        defended.predict(sample_inputs(1), k=6)
    with pytest.raises(DataError, match="finite"):
        defended.predict(torch.full((1, 1, 8, 8), float("nan")))
    net = make_small().train()
    with pytest.raises(LayerError, match="eval mode"):
        REGroup(net, defended.classifiers)


def test_excluded_class_always_ranks_last():
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 200)
    keep = y != 1
    fitted = fit_small(bundle, x[keep], y[keep], per_class=None, k=2, on_empty="exclude")
    pred = REGroup(bundle.model, fitted).predict(sample_inputs(10, seed=3), scope="all")
    assert (pred.pos_ranks[..., 1] == 4).all() and (pred.neg_ranks[..., 1] == 4).all()


def test_select_k_is_the_run_of_top_layers_over_the_threshold():
    assert select_k([0.2, 0.8, 0.5, 0.9, 0.76]) == 2
    assert select_k([0.9, 0.9, 0.9]) == 3
    assert select_k([0.9, 0.1]) == 1  # the top layer always votes
    assert select_k([0.5, 0.6], threshold=0.55) == 1
    assert select_k([0.6, 0.6], threshold=0.55) == 2


def test_ties_are_reported_and_count_as_errors():
    from regroup_core.engine.layers import LayerInfo, LayerKind
    from regroup_core.engine.predictor import Prediction

    layer = LayerInfo("fc", LayerKind.FC, 3, 0, "fc")
    # one layer, pos voter ranks a>b>c, neg voter ranks b>a>c: a and b tie with 3 points each
    pos = torch.tensor([[[1, 2, 3]], [[1, 2, 3]]], dtype=torch.int32)
    neg = torch.tensor([[[2, 1, 3]], [[1, 2, 3]]], dtype=torch.int32)
    pred = Prediction(layers=(layer,), logits=torch.zeros(2, 3), pos_ranks=pos, neg_ranks=neg, k=1,
                      variant=Variant.BOTH)
    assert pred.borda.tolist() == [[3, 3, 0], [4, 2, 0]]
    assert pred.regroup_labels.tolist() == [0, 0] and pred.regroup_tied.tolist() == [True, False]
    assert pred.regroup_correct(torch.tensor([0, 0])).tolist() == [False, True]


@pytest.mark.parametrize(("sign", "value"), [("pos", float("nan")), ("neg", float("inf"))])
def test_a_broken_accumulator_is_named_by_its_layer(defended, sign, value):
    """One check over all voters' scores still names the layer whose responses were NaN or inf."""
    from regroup_core.engine.taps import capture

    acc = capture(defended.model, sample_inputs(3, seed=5), defended.layers)
    broken = defended.layers[2].name
    table = {"pos": dict(acc.pos), "neg": dict(acc.neg)}
    table[sign][broken] = table[sign][broken].clone()
    table[sign][broken][1, 0] = value
    with pytest.raises(DataError, match=f"finite responses at layer '{broken}'"):
        defended.rank_layers(table["pos"], table["neg"], defended.layers)
    ranks = defended.rank_layers(acc.pos, acc.neg, defended.layers)  # the untouched ones still rank
    assert ranks[0].shape == (3, len(defended.layers), 4)


def test_unused_rows_of_an_excluded_class_may_hold_anything():
    """A classifier file's rows for an excluded class are not validated; NaN there must neither break the
    vote nor be read as a broken input: the class still ranks last and the other ranks are unchanged."""
    import dataclasses

    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 200)
    keep = y != 1
    fitted = fit_small(bundle, x[keep], y[keep], per_class=None, k=2, on_empty="exclude")
    spoiled = {sign: {name: rows.clone().index_fill_(0, torch.tensor([1]), float("nan"))
                      for name, rows in table.items()} for sign, table in (("pos", fitted.pos), ("neg", fitted.neg))}
    inputs = sample_inputs(10, seed=3)
    clean = REGroup(bundle.model, fitted).predict(inputs, scope="all")
    odd = REGroup(bundle.model, dataclasses.replace(fitted, **spoiled)).predict(inputs, scope="all")
    assert torch.equal(clean.pos_ranks, odd.pos_ranks) and torch.equal(clean.neg_ranks, odd.neg_ranks)
    assert (odd.pos_ranks[..., 1] == 4).all()
