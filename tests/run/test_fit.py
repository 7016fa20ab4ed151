"""The fit loop in one process: equal to the engine, resumable, AMP-close, one result for every front end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import WEIGHT_RTOL, assert_pmfs_close, fit_stats, self_labelled, small_bundle
from tiny_folder import CLASSES, tiny_bundle, write_folder
from torch.utils.data import TensorDataset

from regroup_core.engine.classifier import to_pmf
from regroup_core.engine.stats import FitStatistics, accept_mask, true_class_weights
from regroup_core.engine.taps import capture, reduce_accumulators
from regroup_core.errors import DataError, EmptyClassError
from regroup_core.run import fit as run_fit
from regroup_core.run.checkpoint import common_step
from regroup_core.run.fit import Candidates, fit_candidates, fit_statistics
from regroup_core.sources.models import load_model


def _engine_fit(bundle, candidates, per_class):
    """The engine's statistics over the same candidates in the same order, all in one batch."""
    data = [candidates.dataset[int(i)] for i in candidates.order]
    x = torch.stack([d[0] for d in data])
    y = torch.tensor([d[1] for d in data])
    stats = FitStatistics.empty(bundle.layers, len(CLASSES))
    acc = capture(bundle.model, x, bundle.layers)
    correct, weights = true_class_weights(acc.logits, y)
    idx = accept_mask(correct, y, stats.count, per_class).nonzero().squeeze(1)
    stats.add({n: t[idx] for n, t in acc.pos.items()}, {n: t[idx] for n, t in acc.neg.items()}, y[idx], weights[idx])
    return stats


def _assert_same(a, b):
    """Same samples and weights; mixtures equal up to float32 kernel differences between batch
    sizes (see conftest.PMF_ATOL)."""
    assert torch.equal(a.count, b.count)
    assert torch.allclose(a.weight, b.weight, rtol=WEIGHT_RTOL, atol=0)
    w = a.weight.clamp_min(1e-300)[:, None]
    for name in a.pos_sum:
        assert_pmfs_close(a.pos_sum[name] / w, b.pos_sum[name] / w)
        assert_pmfs_close(a.neg_sum[name] / w, b.neg_sum[name] / w)


@pytest.mark.parametrize("per_class", [3, None])
def test_sharded_fit_equals_engine_fit_on_same_order(tmp_path, per_class):
    write_folder(tmp_path, n=60, seed=2)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle, seed=5)
    run = fit_statistics(bundle, candidates, per_class=per_class, batch_size=4)
    expected = _engine_fit(bundle, candidates, per_class)
    _assert_same(run.stats, expected)
    assert run.complete
    if per_class is not None:
        assert run.stats.count.tolist() == [3, 3, 3, 3]
        assert run.images_read < 60


def test_killed_fit_resumes_to_the_same_statistics(tmp_path, monkeypatch):
    write_folder(tmp_path / "data", n=60, seed=3)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path / "data", bundle, seed=0)
    whole = fit_statistics(bundle, candidates, per_class=6, batch_size=3)
    calls = []
    real_capture = run_fit.capture

    def dying_capture(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the run is killed during its fifth step
        return real_capture(*args, **kwargs)

    monkeypatch.setattr(run_fit, "capture", dying_capture)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        fit_statistics(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt, checkpoint_every=2)
    files = sorted(p.name for p in ckpt.iterdir())
    assert files == ["fit-rank0-of-1-step000000004.safetensors"]  # older step deleted, no temp file left
    monkeypatch.setattr(run_fit, "capture", real_capture)
    resumed = fit_statistics(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt, checkpoint_every=2)
    _assert_same(resumed.stats, whole.stats)
    assert resumed.images_read == whole.images_read - 4 * 3  # the first four steps were not redone
    # partial runs (max_steps) chain to the same result too
    ckpt2 = tmp_path / "ckpt2"
    part = fit_statistics(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt2, max_steps=3)
    assert not part.complete and part.steps == 3
    rest = fit_statistics(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt2)
    _assert_same(rest.stats, whole.stats)


def test_checkpoints_of_another_run_are_refused(tmp_path):
    write_folder(tmp_path / "data", n=30, seed=4)
    bundle = tiny_bundle()
    ckpt = tmp_path / "ckpt"
    fit_statistics(bundle, fit_candidates(tmp_path / "data", bundle), per_class=2, batch_size=4, checkpoint=ckpt)
    with pytest.raises(DataError, match="another --checkpoint directory"):
        fit_statistics(bundle, fit_candidates(tmp_path / "data", bundle), per_class=3, batch_size=4, checkpoint=ckpt)
    assert common_step(tmp_path / "empty", rank=0, world_size=1, key="x") == 0


def test_workers_and_prefetch_give_the_same_fit(tmp_path):
    write_folder(tmp_path, n=48, seed=6)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle, seed=1)
    plain = fit_statistics(bundle, candidates, per_class=4, batch_size=2)
    workers = fit_statistics(bundle, candidates, per_class=4, batch_size=2, workers=2)
    _assert_same(plain.stats, workers.stats)


def test_bf16_layer_outputs_are_reduced_in_float32():
    out = (torch.randn(4, 16, 56, 56, generator=torch.Generator().manual_seed(0)) + 0.3).bfloat16()
    exact = out.float().sum((2, 3))  # the same bf16 values, summed in float32
    pos, neg = reduce_accumulators(out)
    assert pos.dtype == neg.dtype == torch.float32
    ours = ((pos - neg) - exact).abs().max()
    naive = (out.sum((2, 3)).float() - exact).abs().max()  # what a bf16 reduction would give
    assert ours < 1e-3 * exact.abs().max() and ours * 100 < naive


@pytest.mark.slow
def test_bf16_autocast_resnet_accumulators_stay_close_to_fp32():
    bundle = load_model("resnet18", weights="random", device="cpu")
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ref = capture(bundle.model, x, bundle.layers)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = capture(bundle.model, x, bundle.layers)
    for name in ref.pos:
        for a, b in ((ref.pos[name], low.pos[name]), (ref.neg[name], low.neg[name])):
            assert (to_pmf(a) - to_pmf(b)).abs().sum(1).max() < 0.02  # L1 distance of the PMFs


def test_amp_fit_close_to_fp32_fit(tmp_path):
    write_folder(tmp_path, n=40, seed=7, wrong=0.0)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle)
    ref = fit_statistics(bundle, candidates, per_class=None, batch_size=8).stats
    low = fit_statistics(bundle, candidates, per_class=None, batch_size=8, amp="bf16").stats
    assert low.weight.dtype == low.pos_sum["bn1"].dtype == torch.float64
    # the tiny net's last layer is calibrated by a large cancelling bias (see conftest), which
    # bf16 cannot represent; its hidden layers are what AMP must keep close
    for name in ("bn1", "bn2", "conv3", "fc1"):
        for table_a, table_b in ((ref.pos_sum, low.pos_sum), (ref.neg_sum, low.neg_sum)):
            a = table_a[name] / ref.weight.unsqueeze(1)
            b = table_b[name] / low.weight.unsqueeze(1)
            assert (a - b).abs().sum(1).max() < 0.05
    with pytest.raises(DataError, match="fp16"):
        fit_statistics(bundle, candidates, per_class=None, batch_size=8, amp="fp16")


def test_unreadable_candidate_is_skipped_and_counted(tmp_path):
    write_folder(tmp_path, n=40, seed=10)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle, seed=2)
    bad = int(candidates.order[1])  # read in the first step
    candidates.dataset.path(bad).write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped an unreadable fit candidate"):
        run = fit_statistics(bundle, candidates, per_class=None, batch_size=4)
    assert run.unreadable == 1 and run.images_read == 39
    rest = Candidates(candidates.dataset, np.array([i for i in candidates.order if i != bad]), candidates.labels, "")
    _assert_same(run.stats, _engine_fit(bundle, rest, None))




def test_per_class_cap_takes_the_first_correct_samples_in_order():
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 64)
    capped = fit_stats(bundle, x, y, per_class=3, batch_size=7)
    assert capped.count.max() <= 3
    first = sorted(j for cls in range(4) for j in [i for i in range(64) if int(y[i]) == cls][:3])
    direct = fit_stats(bundle, x[first], y[first], per_class=None, batch_size=64)
    for layer in bundle.layers:  # batches of 7 vs one batch: compare the mixtures
        assert_pmfs_close(capped.pos_sum[layer.name] / capped.weight[:, None],
                          direct.pos_sum[layer.name] / direct.weight[:, None])
    assert torch.equal(capped.count, direct.count)


def test_stops_reading_when_every_class_is_full(monkeypatch):
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 64)
    calls = []
    real = run_fit.capture
    monkeypatch.setattr(run_fit, "capture", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    stats = fit_stats(bundle, x, y, per_class=1, batch_size=8)
    assert stats.count.tolist() == [1, 1, 1, 1]
    first_full = max(min(i for i in range(64) if int(y[i]) == c) for c in range(4)) // 8 + 1
    assert len(calls) <= first_full < 8  # no forward pass after the step that filled the last class


def test_continuing_statistics_counts_towards_the_cap():
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 60)
    first = fit_stats(bundle, x[:30], y[:30], per_class=None)
    before = first.count.clone()
    both = fit_stats(bundle, x[30:], y[30:], per_class=None, stats=first)
    assert both is first and torch.equal(both.count, before + torch.bincount(y[30:], minlength=4))


def test_bad_labels_and_options_are_clear_errors():
    bundle = small_bundle()
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(DataError, match=r"labels in \[0, 4\)"):
        fit_stats(bundle, x, torch.tensor([0, 1, 2, 9]))
    with pytest.raises(DataError, match="per_class"):
        fit_stats(bundle, x, torch.tensor([0, 1, 2, 3]), per_class=0)
    with pytest.raises(DataError, match="batch_size"):
        fit_stats(bundle, x, torch.tensor([0, 1, 2, 3]), batch_size=0)
    with pytest.raises(DataError, match=r"1 <= k <= 5"):
        run_fit.fit(bundle, TensorDataset(x, torch.tensor([0, 1, 2, 3])), k=6)


def test_exploring_fit_takes_every_labelled_sample_and_records_its_rule(tmp_path):
    from regroup_core.store import load_classifiers, save_classifiers

    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 40)
    wrong = (y + 1) % 4  # every label wrong: the paper's rule accepts nothing
    data = TensorDataset(x, wrong)
    with pytest.raises(EmptyClassError, match="classifies none of the fitting images correctly"):
        run_fit.fit(bundle, data, k=2)
    result = run_fit.fit(bundle, data, k=2, per_class=None, rule="exploring")
    assert torch.equal(result.classifiers.class_count, torch.bincount(wrong, minlength=4))
    save_classifiers(result.classifiers, tmp_path / "c.safetensors")
    assert load_classifiers(tmp_path / "c.safetensors").info["rule"] == "exploring"
    chosen = run_fit.fit(bundle, data, per_class=None, rule="exploring", selection=data)  # k on every sample
    assert chosen.classifiers.info["k_selection"]["samples"] == 40
    with pytest.raises(DataError, match="fit rule"):
        run_fit.fit(bundle, data, rule="everything")
