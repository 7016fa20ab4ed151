"""regroup_core.analysis.tsne on the tiny test network."""

from __future__ import annotations

import numpy as np
import pytest

from regroup_core.analysis.tsne import embed, layer_pmfs
from regroup_core.errors import DataError
from conftest import assert_pmfs_close, sample_inputs


def test_layer_pmfs_variants_are_pmfs(small_net, small_layers):
    x = sample_inputs(10)
    layer = small_layers[0]
    pos = layer_pmfs(small_net, x, layer, variant="pos", batch_size=3)
    both = layer_pmfs(small_net, x, layer, variant="pos+neg")  # one batch of 10: other float32 kernels
    assert pos.shape == (10, layer.dim) and both.shape == (10, 2 * layer.dim)
    np.testing.assert_allclose(pos.sum(1), 1.0)
    assert_pmfs_close(both[:, :layer.dim], pos)
    np.testing.assert_allclose(both[:, layer.dim:].sum(1), 1.0)


def test_embed_is_deterministic_and_caps_perplexity():
    g = np.random.default_rng(0)
    feats = np.concatenate([g.normal(0, 0.1, (6, 5)), g.normal(5, 0.1, (6, 5))])
    a = embed(feats, perplexity=30, max_iter=250, seed=1)  # 30 > n: capped, no sklearn error
    b = embed(feats, perplexity=30, max_iter=250, seed=1)
    assert a.shape == (12, 2)
    np.testing.assert_array_equal(a, b)
    # the two well separated groups stay apart
    d_within = np.linalg.norm(a[:6].mean(0) - a[0])
    d_between = np.linalg.norm(a[:6].mean(0) - a[6:].mean(0))
    assert d_between > 2 * d_within


def test_embed_rejects_too_few_points_and_nan():
    with pytest.raises(DataError):
        embed(np.zeros((3, 4)))
    bad = np.ones((6, 2))
    bad[0, 0] = np.nan
    with pytest.raises(DataError):
        embed(bad)


def test_placed_points_join_the_clean_embedding_without_moving_it():
    from regroup_core.analysis.tsne import variant_features

    g = np.random.default_rng(0)
    clean = np.concatenate([g.normal(0, 0.1, (10, 6)), g.normal(5, 0.1, (10, 6))])
    near_second = g.normal(5, 0.1, (3, 6))
    alone = embed(clean, seed=2, max_iter=250)
    both = embed(clean, placed=near_second, seed=2, max_iter=250)
    assert both.shape == (23, 2)
    np.testing.assert_array_equal(both[:20], alone)  # the clean map is the same with or without placed points
    to_first = np.linalg.norm(both[20:] - both[:10].mean(0), axis=1)
    to_second = np.linalg.norm(both[20:] - both[10:20].mean(0), axis=1)
    assert (to_second < to_first).all()  # placed next to the clean points they resemble
    pmfs = np.arange(12.0).reshape(2, 6)
    assert variant_features(pmfs, "pos").shape == (2, 3) and variant_features(pmfs, "neg")[0, 0] == 3.0
    with pytest.raises(DataError):
        embed(clean, placed=np.zeros((2, 5)))
