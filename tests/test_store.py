"""Classifier files: round trip, mismatch errors, malformed and malicious files, atomic writes."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import fit_small, make_small, self_labelled, small_bundle
from safetensors.torch import save_file

from regroup_core.engine.layers import LayerKind, discover_layers
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


def test_compatibility_needs_the_models_own_layers_in_order_and_class_names(fitted):
    net = make_small()
    ok = dict(model_id="small", fingerprint=weights_fingerprint(net), layers=discover_layers(net),
              class_names=tuple("abcd"))
    first = fitted.layers[0]
    other_kind = LayerKind.FC if first.kind is LayerKind.CONV else LayerKind.CONV
    cases = {
        "other layer count": (replace(fitted, layers=fitted.layers[1:], k=1), "tapped layers of 'small'"),
        "layers reordered": (replace(fitted, layers=fitted.layers[::-1]), "in another order"),
        "layer kind": (replace(fitted, layers=(replace(first, kind=other_kind), *fitted.layers[1:])),
                       f"of kind '{first.kind.value}'"),
        "class names": (replace(fitted, class_names=tuple("abce")), "class 3: 'd'"),
    }
    for name, (classifiers, expected) in cases.items():
        with pytest.raises(ClassifierFileError, match=expected):
            check_compatible(classifiers, **ok)


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

    monkeypatch.setattr("regroup_core.store.classifier_file.save_file", crash)
    with pytest.raises(OSError):
        save_classifiers(replace(fitted, k=1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temp file left behind


def _rewrite(fitted, tmp_path, name, edit=None, raw=None, tensors_edit=None):
    """A copy of a good classifier file with its metadata JSON edited (or replaced by ``raw``)."""
    good = save_classifiers(fitted, tmp_path / "good.safetensors")
    from safetensors import safe_open

    with safe_open(str(good), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta = json.loads(fh.metadata()["regroup"])
    if edit is not None:
        edit(meta)
    if tensors_edit is not None:
        tensors_edit(tensors)
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors, str(path), metadata={"regroup": raw if raw is not None else json.dumps(meta)})
    return path


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


MALFORMED = {
    "metadata is an array": (dict(raw="[1, 2]"), r"field '\(metadata\)'"),
    "metadata is null": (dict(raw="null"), r"field '\(metadata\)'"),
    "metadata is not JSON": (dict(raw="{'k': 1"), "malformed JSON"),
    "k infinite": (dict(raw='{"format": "regroup-classifiers", "version": 1, "k": Infinity}'), "finite numbers"),
    "k huge": (dict(edit=_set("k", 10**400)), "field 'k'"),
    "k float": (dict(edit=_set("k", 2.0)), "field 'k'"),
    "k zero": (dict(edit=_set("k", 0)), "field 'k'"),
    "k above layers": (dict(edit=_set("k", 99)), "field 'k'"),
    "delta negative": (dict(edit=_set("delta", -1e-20)), "field 'delta'"),
    "per_class huge": (dict(edit=_set("per_class", 10**30)), "field 'per_class'"),
    "class_counts huge": (dict(edit=_set("class_counts", [10**30] * 4)), r"field 'class_counts\[0\]'"),
    "class_counts disagree": (dict(edit=_set("class_counts", [1, 1, 1, 1])), "field 'class_counts'"),
    "excluded negative": (dict(edit=_set("excluded", [-1])), r"field 'excluded\[0\]'"),
    "excluded out of range": (dict(edit=_set("excluded", [4])), r"field 'excluded\[0\]'"),
    "excluded not a list": (dict(edit=_set("excluded", 3)), "field 'excluded'"),
    "excluded every class": (dict(edit=_set("excluded", [0, 1, 2, 3])), "fewer than all 4 classes"),
    "excluded a fitted class": (dict(edit=_set("excluded", [2])), "without fitting samples"),
    "excluded twice": (dict(edit=_set("excluded", [1, 1])), "distinct"),
    "class names not strings": (dict(edit=_set("class_names", [1, 2, 3, 4])), r"field 'class_names\[0\]'"),
    "one class": (dict(edit=_set("class_names", ["a"])), "at least 2 classes"),
    "layers not a list": (dict(edit=_set("layers", {"a": 1})), "field 'layers'"),
    "layer kind unknown": (dict(edit=lambda m: m["layers"][0].__setitem__("kind", "rnn")), r"field 'layers\[0\].kind'"),
    "layer dim text": (dict(edit=lambda m: m["layers"][0].__setitem__("dim", "six")), r"field 'layers\[0\].dim'"),
    "layer entry null": (dict(edit=lambda m: m["layers"].__setitem__(0, None)), r"field 'layers\[0\]'"),
    "info not an object": (dict(edit=_set("info", [1])), "field 'info'"),
    "deeply nested info": (dict(deep=True), "nested at most"),
    "model id not text": (dict(edit=_set("model_id", {"x": 1})), "field 'model_id'"),
    "class_count float": (dict(tensors_edit=lambda t: t.__setitem__("class_count", t["class_count"].double())),
                          "array 'class_count'"),
    "class_weight NaN": (dict(tensors_edit=lambda t: t["class_weight"].__setitem__(0, float("nan"))),
                         "array 'class_weight'"),
    # found by the bad-input audit: Python refuses to parse integers of over 4300 digits (ValueError)
    "k of 5000 digits": (dict(digits="k"), "malformed JSON"),
    "info number of 5000 digits": (dict(digits="info"), "malformed JSON"),
    "version float": (dict(edit=_set("version", 1.0)), "field 'version'"),
    "class_counts floats": (dict(edit=_set("class_counts", [30.0, 30.0, 30.0, 30.0])), r"field 'class_counts\[0\]'"),
    "class names repeated": (dict(edit=_set("class_names", ["a", "b", "a", "c"])), "distinct class names"),
    "extra array": (dict(tensors_edit=lambda t: t.__setitem__("junk", torch.zeros(3))), "extra arrays"),
    "class_weight zero for a fitted class": (dict(tensors_edit=lambda t: t["class_weight"].zero_()),
                                             "positive weight exactly for the classes with fitting samples"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_metadata_is_refused_naming_the_file_and_field(fitted, tmp_path, case):
    kwargs, expected = dict(MALFORMED[case][0]), MALFORMED[case][1]
    if kwargs.pop("deep", False):  # 5 000 nested arrays: Python's json would recurse past its limit
        meta = json.loads(load_meta(save_classifiers(fitted, tmp_path / "g.safetensors")))
        kwargs = {"raw": json.dumps({**meta, "info": "X"}).replace('"X"', "[" * 5000 + "]" * 5000)}
    digits = kwargs.pop("digits", None)
    if digits:
        meta = json.loads(load_meta(save_classifiers(fitted, tmp_path / "g.safetensors")))
        raw = json.dumps({**meta, "k": "K", "info": {"x": "X"}}).replace('"K"', "2" if digits != "k" else "9" * 5000)
        kwargs = {"raw": raw.replace('"X"', "1" * 5000 if digits == "info" else "1")}
    path = _rewrite(fitted, tmp_path, case.replace(" ", "-"), **kwargs)
    with pytest.raises(ClassifierFileError, match=expected) as err:
        load_classifiers(path)
    assert str(path) in str(err.value)


def test_killed_writer_leaves_no_temp_file_behind(tmp_path):
    import subprocess
    import sys
    import time

    script = ("import sys, time\nfrom regroup_core.store import atomic_write\n"
              "def slow(tmp):\n    open(tmp, 'w').write('partial')\n"
              "    print('writing', flush=True)\n    time.sleep(60)\n"
              "atomic_write(sys.argv[1], slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "c.safetensors")], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()  # SIGKILL: no finally, no cleanup in the writer
    proc.wait()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp") and not (tmp_path / "c.safetensors").exists()
    time.sleep(0.1)
    save_classifiers_path = tmp_path / "other.safetensors"
    from regroup_core.store import atomic_write

    atomic_write(save_classifiers_path, lambda tmp: Path(tmp).write_text("done"))  # the next write sweeps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.safetensors"]
