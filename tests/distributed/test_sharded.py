"""Sharded fit and clean evaluation in one process: equal to the engine, resumable, AMP-close."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import WEIGHT_RTOL, assert_pmfs_close
from tiny import CLASSES, tiny_bundle, write_folder

from regroup_core import sharded
from regroup_core.checkpoint import common_step
from regroup_core.classifier import to_pmf
from regroup_core.errors import DataError
from regroup_core.fit import accumulate
from regroup_core.regroup import REGroup
from regroup_core.sharded import Candidates, evaluate_clean_distributed, fit_candidates, fit_sharded
from regroup_core.taps import capture, reduce_accumulators
from regroup_core.zoo import load_model


def _engine_fit(bundle, candidates, per_class):
    """The engine's accumulate over the same candidates in the same order (all decoded)."""
    order = candidates.order
    data = [candidates.dataset[int(i)] for i in order]
    x = torch.stack([d[0] for d in data])
    y = torch.tensor([d[1] for d in data])
    return accumulate(bundle.model, [(x[i:i + 5], y[i:i + 5]) for i in range(0, len(x), 5)], bundle.layers,
                      len(CLASSES), per_class=per_class)


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
    run = fit_sharded(bundle, candidates, per_class=per_class, batch_size=4)
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
    whole = fit_sharded(bundle, candidates, per_class=6, batch_size=3)
    calls = []
    real_capture = sharded.capture

    def dying_capture(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the run is killed during its fifth step
        return real_capture(*args, **kwargs)

    monkeypatch.setattr(sharded, "capture", dying_capture)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        fit_sharded(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt, checkpoint_every=2)
    files = sorted(p.name for p in ckpt.iterdir())
    assert files == ["fit-rank0-of-1-step000000004.safetensors"]  # older step deleted, no temp file left
    monkeypatch.setattr(sharded, "capture", real_capture)
    resumed = fit_sharded(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt, checkpoint_every=2)
    _assert_same(resumed.stats, whole.stats)
    assert resumed.images_read == whole.images_read - 4 * 3  # the first four steps were not redone
    # partial runs (max_steps) chain to the same result too
    ckpt2 = tmp_path / "ckpt2"
    part = fit_sharded(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt2, max_steps=3)
    assert not part.complete and part.steps == 3
    rest = fit_sharded(bundle, candidates, per_class=6, batch_size=3, checkpoint=ckpt2)
    _assert_same(rest.stats, whole.stats)


def test_checkpoints_of_another_run_are_refused(tmp_path):
    write_folder(tmp_path / "data", n=30, seed=4)
    bundle = tiny_bundle()
    ckpt = tmp_path / "ckpt"
    fit_sharded(bundle, fit_candidates(tmp_path / "data", bundle), per_class=2, batch_size=4, checkpoint=ckpt)
    with pytest.raises(DataError, match="another --checkpoint directory"):
        fit_sharded(bundle, fit_candidates(tmp_path / "data", bundle), per_class=3, batch_size=4, checkpoint=ckpt)
    assert common_step(tmp_path / "empty", rank=0, world_size=1, key="x") == 0


def test_workers_and_prefetch_give_the_same_fit(tmp_path):
    write_folder(tmp_path, n=48, seed=6)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle, seed=1)
    plain = fit_sharded(bundle, candidates, per_class=4, batch_size=2)
    workers = fit_sharded(bundle, candidates, per_class=4, batch_size=2, workers=2)
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
    ref = fit_sharded(bundle, candidates, per_class=None, batch_size=8).stats
    low = fit_sharded(bundle, candidates, per_class=None, batch_size=8, amp="bf16").stats
    assert low.weight.dtype == low.pos_sum["bn1"].dtype == torch.float64
    # the tiny net's last layer is calibrated by a large cancelling bias (see conftest), which
    # bf16 cannot represent; its hidden layers are what AMP must keep close
    for name in ("bn1", "bn2", "conv3", "fc1"):
        for table_a, table_b in ((ref.pos_sum, low.pos_sum), (ref.neg_sum, low.neg_sum)):
            a = table_a[name] / ref.weight.unsqueeze(1)
            b = table_b[name] / low.weight.unsqueeze(1)
            assert (a - b).abs().sum(1).max() < 0.05
    with pytest.raises(DataError, match="fp16"):
        fit_sharded(bundle, candidates, per_class=None, batch_size=8, amp="fp16")


def test_clean_evaluation_table_matches_direct_predictions(tmp_path):
    write_folder(tmp_path, n=30, seed=8)
    bundle = tiny_bundle()
    stats = fit_sharded(bundle, fit_candidates(tmp_path, bundle), per_class=None, batch_size=8).stats
    classifiers = stats.to_classifiers(class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                                       per_class=None, k=2, on_empty="exclude")
    defended = REGroup(bundle.model, classifiers)
    table = evaluate_clean_distributed(bundle, defended, str(tmp_path), batch_size=7)
    from regroup_core.datasets import resolve_data

    data = resolve_data(str(tmp_path), bundle)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.tensor([data[i][1] for i in range(len(data))])
    pred = defended.predict(x)
    assert table.index.tolist() == list(range(30)) and torch.equal(table.label, y)
    assert torch.equal(table.softmax_top, pred.softmax_top(4)[0])
    assert torch.equal(table.regroup_top[:, 0], pred.regroup_labels)
    acc = table.accuracy()
    assert acc["softmax_top1"] == pytest.approx(float((pred.softmax_labels == y).float().mean()))
    assert acc["regroup_top5"] == 1.0  # 4 classes: top-5 always hits
    path = table.write_csv(tmp_path / "out" / "table.csv", CLASSES)
    lines = path.read_text().splitlines()
    assert len(lines) == 31 and lines[0].startswith("index,label,softmax_top1")
    assert np.isfinite(table.softmax_prob.numpy()).all()


def test_unreadable_candidate_is_skipped_and_counted(tmp_path):
    write_folder(tmp_path, n=40, seed=10)
    bundle = tiny_bundle()
    candidates = fit_candidates(tmp_path, bundle, seed=2)
    bad = int(candidates.order[1])  # read in the first step
    candidates.dataset.path(bad).write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped an unreadable fit candidate"):
        run = fit_sharded(bundle, candidates, per_class=None, batch_size=4)
    assert run.unreadable == 1 and run.images_read == 39
    rest = Candidates(candidates.dataset, np.array([i for i in candidates.order if i != bad]), candidates.labels, "")
    _assert_same(run.stats, _engine_fit(bundle, rest, None))


def _fitted_on_folder(root):
    """The tiny bundle and its REGroup fitted (uncapped) on every image of an ImageFolder."""
    bundle = tiny_bundle()
    stats = fit_sharded(bundle, fit_candidates(root, bundle), per_class=None, batch_size=8).stats
    classifiers = stats.to_classifiers(class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                                       per_class=None, k=2, on_empty="exclude")
    return bundle, REGroup(bundle.model, classifiers)


def test_killed_clean_evaluation_resumes_to_the_same_table(tmp_path, monkeypatch):
    write_folder(tmp_path / "data", n=30, seed=12)
    bundle, defended = _fitted_on_folder(tmp_path / "data")
    whole = evaluate_clean_distributed(bundle, defended, str(tmp_path / "data"), batch_size=4)
    calls = []
    real_predict = REGroup.predict

    def dying_predict(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_predict(self, *args, **kwargs)

    monkeypatch.setattr(REGroup, "predict", dying_predict)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        evaluate_clean_distributed(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt,
                                   checkpoint_every=2)
    calls.clear()
    monkeypatch.setattr(REGroup, "predict", lambda self, *a, **kw: calls.append(1) or real_predict(self, *a, **kw))
    resumed = evaluate_clean_distributed(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt)
    assert len(calls) == 6  # 8 rows saved after two batches; the other 22 rows are 6 batches
    for name in ("index", "label", "softmax_top", "softmax_prob", "regroup_top", "regroup_borda"):
        assert torch.equal(getattr(resumed, name), getattr(whole, name)), name
    with pytest.raises(DataError, match="another run"):
        evaluate_clean_distributed(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt, k=1)


def test_layer_accuracy_for_k_selection_matches_engine(tmp_path):
    from regroup_core.regroup import per_layer_accuracy
    from regroup_core.sharded import layer_accuracy_distributed

    write_folder(tmp_path / "data", n=40, seed=13)
    bundle, defended = _fitted_on_folder(tmp_path / "data")
    ours, n = layer_accuracy_distributed(defended, str(tmp_path / "data"), bundle, batch_size=6)
    from regroup_core.datasets import make_loader, resolve_data

    engine, n_engine = per_layer_accuracy(defended, make_loader(resolve_data(str(tmp_path / "data"), bundle),
                                                                batch_size=6))
    assert n == n_engine > 0 and np.allclose(ours, engine)


def test_shard_helpers_cover_everything_once():
    from regroup_core.distributed import rank_owns, shard_indices

    for n, world in ((0, 3), (7, 2), (10, 4), (3, 5)):
        blocks = [shard_indices(n, r, world) for r in range(world)]
        assert [i for b in blocks for i in b] == list(range(n))
        assert max(len(b) for b in blocks) - min(len(b) for b in blocks) <= 1
        owners = [[r for r in range(world) if rank_owns(i, r, world)] for i in range(n)]
        assert all(len(o) == 1 for o in owners)
    with pytest.raises(DataError):
        shard_indices(5, 2, 2)
