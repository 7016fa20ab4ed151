"""Classifier files: round trip, mismatch errors, malformed and malicious files, atomic writes."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import pytest
import torch
from conftest import fit_small, make_small, self_labelled, small_bundle
from safetensors.torch import save_file

from regroup_core.engine.layers import discover_layers
from regroup_core.errors import ClassifierFileError
from regroup_core.sources.models import weights_fingerprint
from regroup_core.store import (
    check_compatible,
    load_classifiers,
    save_classifiers,
)


@pytest.fixture(scope="module")
def fitted():
    bundle = small_bundle()
    x, y = self_labelled(bundle.model, 120)
    return fit_small(bundle, x, y, per_class=20, k=2, batch_size=120)


def test_round_trip_is_exact(fitted, tmp_path):
    path = save_classifiers(fitted, tmp_path / "c.safetensors")
    back = load_classifiers(path)
    assert back.layers == fitted.layers and back.class_names == fitted.class_names
    assert back.k == 2 and back.per_class == 20 and back.delta == fitted.delta
    assert back.fingerprint == fitted.fingerprint and back.model_id == "small"
    for name in fitted.layer_names:
        assert torch.equal(back.pos[name], fitted.pos[name]) and torch.equal(back.neg[name], fitted.neg[name])
    assert torch.equal(back.class_count, fitted.class_count)
    # the layout is the documented one: pos/<layer>, neg/<layer> of shape (M, D) + JSON metadata
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        keys = set(fh.keys())
        meta = json.loads(fh.metadata()["regroup"])
    assert {f"pos/{n}" for n in fitted.layer_names} <= keys and {f"neg/{n}" for n in fitted.layer_names} <= keys
    assert meta["class_counts"] == fitted.class_count.tolist() and meta["layers"][0]["name"] == "bn1"


def test_mismatches_are_clear(fitted):
    net = make_small()
    ok = dict(model_id="small", fingerprint=weights_fingerprint(net), layers=discover_layers(net),
              class_names=tuple("abcd"))
    check_compatible(fitted, **ok)
    with pytest.raises(ClassifierFileError, match="fitted on 'small'"):
        check_compatible(fitted, **{**ok, "model_id": "other"})
    with pytest.raises(ClassifierFileError, match="other weights"):
        check_compatible(fitted, **{**ok, "fingerprint": weights_fingerprint(make_small(seed=1))})
    with pytest.raises(ClassifierFileError, match="5 classes"):
        check_compatible(fitted, **{**ok, "class_names": tuple("abcde")})
    with pytest.raises(ClassifierFileError, match="unknown layer"):
        check_compatible(fitted, **{**ok, "layers": ok["layers"][1:]})


def test_garbage_truncated_and_pickle_files_are_refused(fitted, tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not a safetensors file" * 10)
    good = save_classifiers(fitted, tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Evil()))
    for path in (garbage, truncated, evil, tmp_path / "missing.safetensors", tmp_path):
        with pytest.raises(ClassifierFileError, match="expected"):
            load_classifiers(path)
    assert not (tmp_path / "PWNED").exists()


def test_structurally_wrong_files_are_refused(fitted, tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(ClassifierFileError, match="metadata"):
        load_classifiers(plain)
    # NaN inside a mixture
    tensors = {f"pos/{n}": t.clone() for n, t in fitted.pos.items()}
    tensors |= {f"neg/{n}": t for n, t in fitted.neg.items()}
    tensors["pos/bn1"][0, 0] = float("nan")
    tensors["class_count"], tensors["class_weight"] = fitted.class_count, fitted.class_weight
    meta = json.loads(load_meta(save_classifiers(fitted, tmp_path / "ok.safetensors")))
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata={"regroup": json.dumps(meta)})
    with pytest.raises(ClassifierFileError, match="NaN"):
        load_classifiers(bad)
    # wrong shape for the declared layer dim
    meta["layers"][0]["dim"] = 99
    wrong = tmp_path / "wrong.safetensors"
    save_file({k: v for k, v in tensors.items() if k != "pos/bn1"} | {"pos/bn1": fitted.pos["bn1"]}, str(wrong),
              metadata={"regroup": json.dumps(meta)})
    with pytest.raises(ClassifierFileError, match="shape"):
        load_classifiers(wrong)
    meta["format"] = "something-else"
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={"regroup": json.dumps(meta)})
    with pytest.raises(ClassifierFileError, match="format"):
        load_classifiers(other)


def load_meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return fh.metadata()["regroup"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(fitted, tmp_path, monkeypatch):
    path = save_classifiers(fitted, tmp_path / "c.safetensors")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("regroup_core.store.save_file", crash)
    with pytest.raises(OSError):
        save_classifiers(replace(fitted, k=1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temp file left behind
