"""The shared adversarial cache: hits and misses, no pickle, resuming an interrupted run, and
per-image identity (other chunk sizes and single images find what a run stored)."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import random_targets
from regroup_core.experiments import cached_attack
from regroup_core.attacks import cached as cached_module
from regroup_core.store import AdversarialCache, tensor_digest


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_cache_hit_returns_the_same_result(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    cache = AdversarialCache(tmp_path)
    first = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=2)
    assert (cache.hits, cache.misses) == (0, 2) and first.settings["cache"] == {"hits": 0, "misses": 2}
    second = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=2)
    assert (cache.hits, cache.misses) == (2, 2)
    assert torch.equal(first.adversarial, second.adversarial) and torch.equal(first.success, second.success)
    # other settings are other entries; the same images in another order or under other ids are found
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=3)
    flipped = cached_attack(bundle, x.flip(0), y.flip(0), "pgd", cache=cache, chunk_size=3, steps=2)
    cached_attack(bundle, x, y, "pgd", ids=[10, 11, 12, 13, 14, 15], cache=cache, chunk_size=3, steps=2)
    assert (cache.hits, cache.misses) == (6, 4) and len(cache) == 4
    assert torch.equal(flipped.adversarial, first.adversarial.flip(0))
    other = tiny_batch(3, seed=99)
    cached_attack(bundle, *other, "pgd", cache=cache, chunk_size=3, steps=2)
    assert cache.misses == 5
    files = _files(tmp_path)
    assert {f.suffix for f in files} == {".json", ".safetensors"} and len(files) == 10  # no pickle, no temp files
    meta = json.loads((tmp_path / next(f for f in files if f.suffix == ".json")).read_text())
    assert meta["settings"]["attack"] == "pgd" and meta["settings"]["model_fingerprint"] == bundle.fingerprint
    assert len(meta["image_digests"]) == 3


def test_the_default_budget_spelled_out_is_the_same_entry(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(2)
    cache = AdversarialCache(tmp_path)
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2)
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=40, epsilon_255=4.0)  # the preset's own
    assert (cache.hits, cache.misses) == (1, 1)


def test_targets_depend_on_each_image_not_on_its_chunk(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    r = cached_attack(bundle, x, y, "pgd-targeted", cache=AdversarialCache(tmp_path), chunk_size=2, seed=4,
                      steps=2, epsilon_ladder_255=(76.5,))
    digests = [tensor_digest(img) for img in x]
    assert torch.equal(r.targets, random_targets(y, 4, 4, keys=digests))
    alone = cached_attack(bundle, x[3:4], y[3:4], "pgd-targeted", chunk_size=1, seed=4, steps=2,
                          epsilon_ladder_255=(76.5,))
    assert int(alone.targets[0]) == int(r.targets[3])


def test_rows_of_a_run_are_found_by_other_chunkings_and_single_images(tmp_path, monkeypatch):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    cache = AdversarialCache(tmp_path)
    whole = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=6, steps=2, seed=3)

    def never(*args, **kwargs):
        raise AssertionError("recomputed an image the cache holds")

    monkeypatch.setattr(cached_module, "run_attack", never)
    halves = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=3, steps=2, seed=3)
    single = cached_attack(bundle, x[4:5], y[4:5], "pgd", cache=cache, chunk_size=1, steps=2, seed=3)
    assert torch.equal(halves.adversarial, whole.adversarial) and torch.equal(halves.success, whole.success)
    assert torch.equal(single.adversarial[0], whole.adversarial[4])


def test_interrupted_run_resumes_without_losing_finished_chunks(tmp_path, monkeypatch):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    reference = cached_attack(bundle, x, y, "pgd", chunk_size=2, steps=2)  # no cache, uninterrupted
    real = cached_module.run_attack
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third chunk
        return real(*args, **kwargs)

    monkeypatch.setattr(cached_module, "run_attack", flaky)
    cache = AdversarialCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=2)
    assert len(cache) == 2
    monkeypatch.setattr(cached_module, "run_attack", real)
    resumed = cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=2)
    assert resumed.settings["cache"] == {"hits": 2, "misses": 1}
    assert torch.equal(resumed.adversarial, reference.adversarial)


def test_damaged_entry_is_a_miss(tmp_path):
    bundle, _ = tiny()
    x, y = tiny_batch(2)
    cache = AdversarialCache(tmp_path)
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=1)
    next(tmp_path.rglob("*.safetensors")).write_bytes(b"garbage")
    cached_attack(bundle, x, y, "pgd", cache=cache, chunk_size=2, steps=1)
    assert cache.hits == 0 and cache.misses == 2
