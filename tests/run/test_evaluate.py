"""Evaluation loops in one process: clean tables equal to direct predictions, resumable;
per-layer accuracy; shard helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_folder import CLASSES, tiny_bundle, write_folder

from regroup_core.engine.predictor import REGroup
from regroup_core.errors import DataError
from regroup_core.run.evaluate import evaluate_clean, layer_accuracy
from regroup_core.run.fit import fit_candidates, fit_statistics


def test_clean_evaluation_table_matches_direct_predictions(tmp_path):
    write_folder(tmp_path, n=30, seed=8)
    bundle = tiny_bundle()
    stats = fit_statistics(bundle, fit_candidates(tmp_path, bundle), per_class=None, batch_size=8).stats
    classifiers = stats.to_classifiers(class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                                       per_class=None, k=2, on_empty="exclude")
    defended = REGroup(bundle.model, classifiers)
    table = evaluate_clean(bundle, defended, str(tmp_path), batch_size=7)
    from regroup_core.sources.data import resolve_data

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


def _fitted_on_folder(root):
    """The tiny bundle and its REGroup fitted (uncapped) on every image of an ImageFolder."""
    bundle = tiny_bundle()
    stats = fit_statistics(bundle, fit_candidates(root, bundle), per_class=None, batch_size=8).stats
    classifiers = stats.to_classifiers(class_names=CLASSES, model_id="small", fingerprint=bundle.fingerprint,
                                       per_class=None, k=2, on_empty="exclude")
    return bundle, REGroup(bundle.model, classifiers)


def test_killed_clean_evaluation_resumes_to_the_same_table(tmp_path, monkeypatch):
    write_folder(tmp_path / "data", n=30, seed=12)
    bundle, defended = _fitted_on_folder(tmp_path / "data")
    whole = evaluate_clean(bundle, defended, str(tmp_path / "data"), batch_size=4)
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
        evaluate_clean(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt,
                                   checkpoint_every=2)
    calls.clear()
    monkeypatch.setattr(REGroup, "predict", lambda self, *a, **kw: calls.append(1) or real_predict(self, *a, **kw))
    resumed = evaluate_clean(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt)
    assert len(calls) == 6  # 8 rows saved after two batches; the other 22 rows are 6 batches
    for name in ("index", "label", "softmax_top", "softmax_prob", "regroup_top", "regroup_borda"):
        assert torch.equal(getattr(resumed, name), getattr(whole, name)), name
    with pytest.raises(DataError, match="another run"):
        evaluate_clean(bundle, defended, str(tmp_path / "data"), batch_size=4, checkpoint=ckpt, k=1)


def test_layer_accuracy_counts_each_layers_own_vote_on_correct_samples(tmp_path):
    from regroup_core.sources.data import resolve_data

    write_folder(tmp_path / "data", n=40, seed=13)
    bundle, defended = _fitted_on_folder(tmp_path / "data")
    ours, n = layer_accuracy(defended, str(tmp_path / "data"), bundle, batch_size=6)
    data = resolve_data(str(tmp_path / "data"), bundle)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.tensor([data[i][1] for i in range(len(data))])
    pred = defended.predict(x, k=len(defended.layers), scope="all")
    keep = pred.softmax_labels == y
    expected = pred.layer_correct(y)[keep].double().mean(0).numpy()
    assert n == int(keep.sum()) > 0 and np.allclose(ours, expected)
    every, n_all = layer_accuracy(defended, str(tmp_path / "data"), bundle, only_correct=False, batch_size=40)
    assert n_all == 40 and np.allclose(every, pred.layer_correct(y).double().mean(0).numpy())


def test_layer_accuracy_counts_a_tie_at_the_top_of_a_layer_as_an_error(monkeypatch):
    """Layer 0's two voters put classes 0 and 1 level (Borda 5 : 5): the tie-break by class index would
    name the true class 0, but a tie is an error for the fit's k selection as for every other count."""
    from torch.utils.data import TensorDataset

    from regroup_core.engine.predictor import Prediction
    from regroup_core.engine.voting import Variant

    bundle = tiny_bundle()
    data = TensorDataset(torch.zeros(3, *bundle.input_shape), torch.zeros(3, dtype=torch.int64))
    tied = torch.tensor([[1, 2, 3, 4], [1, 2, 3, 4]], dtype=torch.int32)  # pos: layer 0 and layer 1
    neg = torch.tensor([[2, 1, 3, 4], [1, 2, 3, 4]], dtype=torch.int32)  # layer 0 tied, layer 1 outright 0

    def crafted(self, images, **kwargs):
        b = len(images)
        return Prediction(layers=self.layers[:2], logits=torch.tensor([[5.0, 0, 0, 0]]).repeat(b, 1),
                          pos_ranks=tied.repeat(b, 1, 1), neg_ranks=neg.repeat(b, 1, 1), k=2, variant=Variant.BOTH)

    monkeypatch.setattr(REGroup, "predict", crafted)
    fake = REGroup.__new__(REGroup)
    monkeypatch.setattr(REGroup, "layers", property(lambda self: bundle.layers[:2]))
    accuracy, n = layer_accuracy(fake, data, bundle, batch_size=2)
    assert n == 3 and accuracy.tolist() == [0.0, 1.0]


def test_shard_helpers_cover_everything_once():
    from regroup_core.run.dist import rank_owns, shard_indices

    for n, world in ((0, 3), (7, 2), (10, 4), (3, 5)):
        blocks = [shard_indices(n, r, world) for r in range(world)]
        assert [i for b in blocks for i in b] == list(range(n))
        assert max(len(b) for b in blocks) - min(len(b) for b in blocks) <= 1
        owners = [[r for r in range(world) if rank_owns(i, r, world)] for i in range(n)]
        assert all(len(o) == 1 for o in owners)
    with pytest.raises(DataError):
        shard_indices(5, 2, 2)
