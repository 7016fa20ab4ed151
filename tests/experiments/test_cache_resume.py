"""Adversarial cache: hit/miss, no pickle, and resuming an interrupted run."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.experiments import AdversarialCache, cached_attack
from regroup_core.experiments import suite as suite_module


def test_cache_hit_returns_the_same_result(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    cache = AdversarialCache(tmp_path)
    first = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=2)
    assert (cache.hits, cache.misses) == (0, 2) and first.settings["cache"] == {"hits": 0, "misses": 2}
    second = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=2)
    assert (cache.hits, cache.misses) == (2, 2)
    assert torch.equal(first.adversarial, second.adversarial) and torch.equal(first.success, second.success)
    # other settings or other images are other entries
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=3)
    cached_attack(bundle, x, y, "pgd", ids=[10, 11, 12, 13, 14, 15], cache=cache, chunk_size=3, steps=2)
    assert cache.misses == 6 and len(cache) == 6
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".json"] * 6 + [".safetensors"] * 6  # no pickle, no temp files left
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["settings"]["attack"] == "pgd" and meta["settings"]["model_fingerprint"] == bundle.fingerprint


def test_targets_are_drawn_once_for_all_chunks(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    r = cached_attack(bundle, x, y, "pgd-targeted", cache=AdversarialCache(tmp_path), chunk_size=2, seed=4,
                      steps=2, epsilon_ladder_255=(76.5,))
    from regroup_core.attacks import random_targets
    assert torch.equal(r.targets, random_targets(y, 4, 4))


def test_interrupted_run_resumes_without_losing_finished_chunks(tmp_path, monkeypatch):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    reference = cached_attack(bundle, x, y, "pgd", chunk_size=2, steps=2)  # no cache, uninterrupted
    real = suite_module.run_attack
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third chunk
        return real(*args, **kwargs)

    monkeypatch.setattr(suite_module, "run_attack", flaky)
    cache = AdversarialCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=2)
    assert len(cache) == 2
    monkeypatch.setattr(suite_module, "run_attack", real)
    resumed = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=2)
    assert resumed.settings["cache"] == {"hits": 2, "misses": 1}
    assert torch.equal(resumed.adversarial, reference.adversarial)


def test_damaged_entry_is_a_miss(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(2)
    cache = AdversarialCache(tmp_path)
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=1)
    next(tmp_path.glob("*.safetensors")).write_bytes(b"garbage")
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=1)
    assert cache.hits == 0 and cache.misses == 2
