"""Fit statistics: Eq. 1 exactly, the acceptance rule, merging, empty classes."""

from __future__ import annotations

import pytest
import torch
from conftest import WEIGHT_RTOL, assert_pmfs_close, make_small, self_labelled

from regroup_core.engine.classifier import to_pmf
from regroup_core.engine.layers import discover_layers
from regroup_core.engine.stats import FitStatistics, accept_mask, true_class_weights
from regroup_core.engine.taps import capture
from regroup_core.errors import DataError, EmptyClassError

NAMES = ("a", "b", "c", "d")


def _observe(stats: FitStatistics, net, x, y, per_class=None) -> None:
    """One step of the fit on one batch: capture → (correct, λ) → acceptance → sums."""
    acc = capture(net, x, stats.layers)
    correct, weights = true_class_weights(acc.logits, y)
    keep = accept_mask(correct, y, stats.count, per_class)
    idx = keep.nonzero().squeeze(1)
    stats.add({n: t[idx] for n, t in acc.pos.items()}, {n: t[idx] for n, t in acc.neg.items()}, y[idx], weights[idx])


def test_mixture_is_lambda_weighted_mean_of_correct_samples():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 40)
    y_wrong = y.clone()
    y_wrong[:5] = (y[:5] + 1) % 4  # five misclassified samples must be ignored
    stats = FitStatistics.empty(layers, 4)
    _observe(stats, net, x, y_wrong)
    acc = capture(net, x, layers)
    probs = torch.softmax(acc.logits.double(), 1)
    for layer in layers:
        for cls in range(4):
            idx = [j for j in range(5, 40) if int(y[j]) == cls]
            if idx:
                lam = probs[idx, cls]
                expected = (lam.unsqueeze(1) * to_pmf(acc.pos[layer.name][idx])).sum(0) / lam.sum()
                mixture = stats.pos_sum[layer.name][cls] / stats.weight[cls]
                assert torch.allclose(mixture, expected, atol=1e-12)  # same batch: the same float32 outputs
                assert stats.count[cls] == len(idx)


def test_accept_mask_takes_the_first_correct_samples_of_each_class_in_order():
    labels = torch.tensor([0, 1, 0, 0, 1, 2, 0])
    correct = torch.tensor([True, True, False, True, True, True, True])
    count = torch.tensor([1, 0, 0])  # class 0 already holds one sample
    keep = accept_mask(correct, labels, count, per_class=2)
    # class 0: index 0 (2nd sample), not index 2 (wrong), not index 3 (over the cap); class 1: both; class 2: one
    assert keep.tolist() == [True, True, False, False, True, True, False]
    assert torch.equal(accept_mask(correct, labels, count, per_class=None), correct)


def test_true_class_weights_are_softmax_probabilities_of_the_label():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    correct, weights = true_class_weights(logits, torch.tensor([0, 0]))
    assert correct.tolist() == [True, False]
    expected = torch.softmax(logits.double(), 1)[:, 0]
    assert torch.allclose(weights, expected, rtol=0, atol=1e-15) and weights.dtype == torch.float64


def test_shards_merge_to_the_one_shot_statistics():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 60)
    whole = FitStatistics.empty(layers, 4)
    _observe(whole, net, x, y)
    a, b = FitStatistics.empty(layers, 4), FitStatistics.empty(layers, 4)
    _observe(a, net, x[:25], y[:25])
    _observe(b, net, x[25:], y[25:])
    merged = a.merge(b)
    for layer in layers:  # 25/35 batches vs one of 60: other float32 kernels (see conftest.PMF_ATOL)
        assert_pmfs_close(merged.pos_sum[layer.name] / merged.weight[:, None],
                          whole.pos_sum[layer.name] / whole.weight[:, None])
        assert_pmfs_close(merged.neg_sum[layer.name] / merged.weight[:, None],
                          whole.neg_sum[layer.name] / whole.weight[:, None])
    assert torch.allclose(merged.weight, whole.weight, rtol=WEIGHT_RTOL, atol=0)
    assert torch.equal(merged.count, whole.count)
    with pytest.raises(DataError):
        a.merge(FitStatistics.empty(layers[:2], 4))


def test_empty_class_is_named_or_excluded():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 40)
    keep = y != 2
    stats = FitStatistics.empty(layers, 4)
    _observe(stats, net, x[keep], y[keep])
    with pytest.raises(EmptyClassError, match=r"class 2 \('c'\)"):
        stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2)
    fitted = stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2,
                                  on_empty="exclude")
    assert fitted.excluded == (2,)
    assert not any(torch.isnan(t).any() for t in fitted.pos.values())
    with pytest.raises(DataError, match="4 class names"):
        stats.to_classifiers(class_names=NAMES[:3], model_id="small", fingerprint="f", per_class=None, k=2)


def test_exploring_rule_accepts_wrongly_classified_samples_and_paper_rule_does_not():
    labels = torch.tensor([0, 0, 1, 1, 1])
    correct = torch.tensor([True, False, False, True, False])
    count = torch.zeros(2, dtype=torch.int64)
    assert accept_mask(correct, labels, count, None).tolist() == [True, False, False, True, False]
    assert accept_mask(correct, labels, count, None, "exploring").tolist() == [True] * 5
    assert accept_mask(correct, labels, count, 2, "exploring").tolist() == [True, True, True, True, False]


def test_no_accepted_sample_at_all_says_what_to_do_instead_of_a_field_dump():
    net = make_small()
    stats = FitStatistics.empty(discover_layers(net), 4)
    for on_empty in ("error", "exclude"):  # excluding every class would predict class 0 for everything
        with pytest.raises(EmptyClassError, match="random weights never do.*exploring mode") as info:
            stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2,
                                 on_empty=on_empty)
        assert "excluded" not in str(info.value) and "[0, 1" not in str(info.value)
    with pytest.raises(EmptyClassError, match="labelled fitting sample"):
        stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2,
                             rule="exploring")
    with pytest.raises(DataError, match="fit rule"):
        stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2,
                             rule="all")


def test_classifiers_record_the_rule_that_built_them():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 40)
    stats = FitStatistics.empty(layers, 4)
    _observe(stats, net, x, y)
    for rule in ("paper", "exploring"):
        fitted = stats.to_classifiers(class_names=NAMES, model_id="small", fingerprint="f", per_class=None, k=2,
                                      rule=rule)
        assert fitted.info["rule"] == rule and fitted.rule == rule
