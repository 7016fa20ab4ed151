"""Fitting: Eq. 1 exactly, the per-class cap, shard merging, empty classes."""

from __future__ import annotations

import pytest
import torch
from conftest import WEIGHT_RTOL, assert_pmfs_close, make_small, self_labelled

from regroup_core.classifier import to_pmf
from regroup_core.errors import DataError, EmptyClassError
from regroup_core.fit import FitStatistics, accumulate, fit_classifiers
from regroup_core.layers import discover_layers
from regroup_core.taps import capture

NAMES = ("a", "b", "c", "d")


def batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def test_mixture_is_lambda_weighted_mean_of_correct_samples():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 40)
    y_wrong = y.clone()
    y_wrong[:5] = (y[:5] + 1) % 4  # five misclassified samples must be ignored
    stats = accumulate(net, batches(x, y_wrong, 16), layers, 4, per_class=None)
    acc = capture(net, x, layers)
    probs = torch.softmax(acc.logits.double(), 1)
    for layer in layers:
        for cls in range(4):
            idx = [j for j in range(5, 40) if int(y[j]) == cls]
            lam = probs[idx, cls]
            expected = (lam.unsqueeze(1) * to_pmf(acc.pos[layer.name][idx])).sum(0) / lam.sum()
            if idx:
                mixture = stats.pos_sum[layer.name][cls] / stats.weight[cls]
                assert_pmfs_close(mixture, expected)  # batches of 16 vs one of 40: other kernels
                assert stats.count[cls] == len(idx)


def test_per_class_cap_takes_first_correct_samples_in_order():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 64)
    capped = accumulate(net, batches(x, y, 7), layers, 4, per_class=3)
    assert capped.count.max() <= 3
    # same as fitting on exactly the first three of each class
    first = [j for cls in range(4) for j in [i for i in range(64) if int(y[i]) == cls][:3]]
    first.sort()
    direct = accumulate(net, [(x[first], y[first])], layers, 4, per_class=None)
    for layer in layers:  # batches of 7 vs one batch: compare the mixtures (sums / weights)
        assert_pmfs_close(capped.pos_sum[layer.name] / capped.weight[:, None],
                          direct.pos_sum[layer.name] / direct.weight[:, None])
        assert_pmfs_close(capped.neg_sum[layer.name] / capped.weight[:, None],
                          direct.neg_sum[layer.name] / direct.weight[:, None])
    assert torch.allclose(capped.weight, direct.weight, rtol=WEIGHT_RTOL, atol=0)
    assert torch.equal(capped.count, direct.count)


def test_stops_reading_when_every_class_is_full():
    net = make_small()
    x, y = self_labelled(net, 64)
    seen = []

    def stream():
        for b in batches(x, y, 8):
            seen.append(1)
            yield b

    stats = accumulate(net, stream(), discover_layers(net), 4, per_class=1)
    assert stats.count.tolist() == [1, 1, 1, 1]
    first_full = max(min(i for i in range(64) if int(y[i]) == c) for c in range(4)) // 8 + 1
    assert len(seen) == first_full + 1 < 8  # the batch after the one that filled the last class


def test_shards_merge_to_one_shot_fit():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 60)
    whole = accumulate(net, batches(x, y, 10), layers, 4, per_class=None)
    a = accumulate(net, batches(x[:25], y[:25], 10), layers, 4, per_class=None)
    b = accumulate(net, batches(x[25:], y[25:], 10), layers, 4, per_class=None)
    merged = a.merge(b)
    for layer in layers:  # the 25/35 split makes other batches (5 and 10 images): other kernels
        assert_pmfs_close(merged.pos_sum[layer.name] / merged.weight[:, None],
                          whole.pos_sum[layer.name] / whole.weight[:, None])
        assert_pmfs_close(merged.neg_sum[layer.name] / merged.weight[:, None],
                          whole.neg_sum[layer.name] / whole.weight[:, None])
    assert torch.allclose(merged.weight, whole.weight, rtol=WEIGHT_RTOL, atol=0)
    assert torch.equal(merged.count, whole.count)
    # resuming a partial fit is the same as merging
    resumed = accumulate(net, batches(x[25:], y[25:], 10), layers, 4, per_class=None, stats=a)
    assert torch.equal(resumed.count, whole.count)
    with pytest.raises(DataError):
        a.merge(FitStatistics.empty(layers[:2], 4))


def test_empty_class_is_named_or_excluded():
    net = make_small()
    layers = discover_layers(net)
    x, y = self_labelled(net, 40)
    keep = y != 2
    with pytest.raises(EmptyClassError, match=r"class 2 \('c'\)"):
        fit_classifiers(net, batches(x[keep], y[keep], 16), layers, class_names=NAMES, model_id="small",
                        fingerprint="f", k=2)
    fitted = fit_classifiers(net, batches(x[keep], y[keep], 16), layers, class_names=NAMES, model_id="small",
                             fingerprint="f", k=2, on_empty="exclude")
    assert fitted.excluded == (2,)
    assert not any(torch.isnan(t).any() for t in fitted.pos.values())


def test_bad_labels_are_clear_errors():
    net = make_small()
    layers = discover_layers(net)
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(DataError, match=r"labels in \[0, 4\)"):
        accumulate(net, [(x, torch.tensor([0, 1, 2, 9]))], layers, 4)
    with pytest.raises(DataError, match="one label per image"):
        accumulate(net, [(x, torch.tensor([0, 1]))], layers, 4)
    with pytest.raises(DataError, match="per_class"):
        accumulate(net, [(x, torch.tensor([0, 1, 2, 3]))], layers, 4, per_class=0)
