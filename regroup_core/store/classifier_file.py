"""Classifier files: :func:`save_classifiers` (safetensors + JSON metadata, written atomically),
:func:`load_classifiers` (validated against a schema before any array is used; nothing is
unpickled) and :func:`check_compatible` (a file belongs to the model it is used with)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..checks import path_kind
from ..engine import GenerativeClassifiers, LayerInfo, LayerKind
from ..errors import ClassifierFileError
from .atomic import atomic_write, json_default

__all__ = ["CLASSIFIER_FORMAT", "CLASSIFIER_VERSION", "check_compatible", "load_classifiers", "save_classifiers"]

CLASSIFIER_FORMAT = "regroup-classifiers"
CLASSIFIER_VERSION = 1

MAX_METADATA_BYTES = 64 * 2**20
"""Largest accepted JSON metadata of a classifier file (1 000 ImageNet class names take ~20 KB)."""

MAX_METADATA_DEPTH = 16
"""Deepest accepted nesting of that JSON (the format itself uses 4 levels)."""


def save_classifiers(classifiers: GenerativeClassifiers, path: str | os.PathLike[str]) -> Path:
    """Write ``classifiers`` to ``path`` atomically.

    Layout: ``pos/<layer>`` and ``neg/<layer>`` (M, D) float64 mixtures, ``class_count`` (M,)
    int64 and ``class_weight`` (M,) float64 arrays, and the JSON metadata ``regroup``
    (format, version, model id, weights fingerprint, layers, class names, δ, per-class cap, k,
    excluded classes, class counts, free-form info).
    """
    tensors: dict[str, torch.Tensor] = {}
    for layer in classifiers.layers:
        tensors[f"pos/{layer.name}"] = classifiers.pos[layer.name].detach().cpu().contiguous()
        tensors[f"neg/{layer.name}"] = classifiers.neg[layer.name].detach().cpu().contiguous()
    tensors["class_count"] = classifiers.class_count.cpu().contiguous()
    tensors["class_weight"] = classifiers.class_weight.cpu().contiguous()
    meta = {
        "format": CLASSIFIER_FORMAT, "version": CLASSIFIER_VERSION, "model_id": classifiers.model_id,
        "fingerprint": classifiers.fingerprint, "layers": [layer.to_json() for layer in classifiers.layers],
        "num_classes": classifiers.num_classes, "class_names": list(classifiers.class_names),
        "delta": classifiers.delta, "per_class": classifiers.per_class, "k": classifiers.k,
        "excluded": list(classifiers.excluded), "class_counts": classifiers.class_count.tolist(),
        "info": classifiers.info,
    }
    text = json.dumps(meta, default=json_default, allow_nan=False)
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"regroup": text}))


class _Schema:
    """Checks of one file's metadata; every failure names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, expected: str, got: object) -> ClassifierFileError:
        shown = repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return ClassifierFileError(f"'{self.path}': field '{field}': expected {expected}, got {shown}")

    def obj(self, value: object, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, "a JSON object", type(value).__name__ if value is not None else None)
        return value

    def text(self, value: object, field: str, max_len: int = 10_000) -> str:
        if not isinstance(value, str) or len(value) > max_len:
            raise self.fail(field, f"a string of at most {max_len} characters", value)
        return value

    def integer(self, value: object, field: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(field, f"an integer in [{lo}, {hi}]", value)
        return value

    def number(self, value: object, field: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not lo <= value <= hi:
            raise self.fail(field, f"a finite number in [{lo:g}, {hi:g}]", value)
        return float(value)

    def array(self, value: object, field: str, max_len: int) -> list:
        if not isinstance(value, list) or len(value) > max_len:
            raise self.fail(field, f"a list of at most {max_len} entries", type(value).__name__)
        return value


def _json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside strings, without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _parse_metadata(raw: str, path: Path) -> dict:
    if len(raw) > MAX_METADATA_BYTES:
        raise ClassifierFileError(f"'{path}': expected metadata of at most {MAX_METADATA_BYTES // 2**20} MiB, "
                                  f"got {len(raw) / 2**20:.1f} MiB")
    if _json_depth(raw) > MAX_METADATA_DEPTH:
        raise ClassifierFileError(f"'{path}': expected metadata nested at most {MAX_METADATA_DEPTH} levels deep, "
                                  f"got deeper nesting")

    def refuse_constant(name: str) -> float:
        raise ClassifierFileError(f"'{path}': expected finite numbers in the metadata, got {name}")

    try:
        meta = json.loads(raw, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an integer of over 4300 digits
        raise ClassifierFileError(f"'{path}': expected JSON metadata, got malformed JSON ({str(exc)[:120]})") from None
    return _Schema(path).obj(meta, "(metadata)")


def _layers_from_meta(schema: _Schema, value: object) -> tuple[LayerInfo, ...]:
    layers = []
    for i, obj in enumerate(schema.array(value, "layers", 100_000)):
        field = f"layers[{i}]"
        obj = schema.obj(obj, field)
        kind = obj.get("kind")
        if kind not in {k.value for k in LayerKind}:
            raise schema.fail(f"{field}.kind", f"one of {[k.value for k in LayerKind]}", kind)
        name = schema.text(obj.get("name"), f"{field}.name", 1000)
        layers.append(LayerInfo(name=name, kind=LayerKind(kind), dim=schema.integer(obj.get("dim"), f"{field}.dim", 1,
                                                                                      10**8),
                                depth=schema.integer(obj.get("depth"), f"{field}.depth", 0, 10**6),
                                source=schema.text(obj.get("source", name), f"{field}.source", 1000)))
    if not layers:
        raise schema.fail("layers", "at least one layer", [])
    if len({layer.name for layer in layers}) != len(layers):
        raise schema.fail("layers", "distinct layer names", [layer.name for layer in layers][:5])
    return tuple(layers)


def _read(path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """The file's REGroup metadata (raw JSON) and arrays; an unreadable file is one clear error."""
    if not path_kind(path, ClassifierFileError, "a classifier file"):
        raise ClassifierFileError(f"expected a classifier file, got no file at '{path}'")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = (fh.metadata() or {}).get("regroup")
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - safe_open is not a dict
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ClassifierFileError(f"expected a REGroup classifier (.safetensors) at '{path}', "
                                  f"got an unreadable file ({first})") from None
    if raw_meta is None:
        raise ClassifierFileError(f"expected REGroup metadata in '{path}', got a safetensors file without it")
    return raw_meta, tensors


def _classes(schema: _Schema, meta: dict) -> tuple[tuple[str, ...], list[int]]:
    """The class names and the excluded class indices, checked."""
    class_names = tuple(schema.text(c, f"class_names[{i}]", 1000)
                        for i, c in enumerate(schema.array(meta.get("class_names"), "class_names", 10**6)))
    m = len(class_names)
    if m < 2:
        raise schema.fail("class_names", "at least 2 classes", list(class_names))
    if len(set(class_names)) != m:
        repeated = sorted({c for c in class_names if class_names.count(c) > 1})
        raise schema.fail("class_names", "distinct class names", repeated[:5])
    if "num_classes" in meta:
        schema.integer(meta["num_classes"], "num_classes", m, m)
    excluded = [schema.integer(y, f"excluded[{i}]", 0, m - 1)
                for i, y in enumerate(schema.array(meta.get("excluded", []), "excluded", m))]
    if len(set(excluded)) != len(excluded):
        raise schema.fail("excluded", "distinct class indices", excluded)
    if len(excluded) >= m:
        raise schema.fail("excluded", f"fewer than all {m} classes (an empty vote would predict class 0 for "
                          "everything)", excluded)
    return class_names, excluded


def _class_arrays(path: Path, tensors: dict[str, torch.Tensor], names: list[str],
                  m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-layer arrays are all there (and only they); ``class_count`` and ``class_weight`` checked."""
    missing = [key for n in names for key in (f"pos/{n}", f"neg/{n}") if key not in tensors]
    missing += [key for key in ("class_count", "class_weight") if key not in tensors]
    if missing:
        raise ClassifierFileError(f"'{path}': expected arrays {missing[:4]}, got none")
    expected = {f"{sign}/{n}" for n in names for sign in ("pos", "neg")} | {"class_count", "class_weight"}
    extra = sorted(set(tensors) - expected)
    if extra:
        raise ClassifierFileError(f"'{path}': expected only the arrays of its {len(names)} layers, class_count and "
                                  f"class_weight, got extra arrays {extra[:4]}")
    count, weight = tensors["class_count"], tensors["class_weight"]
    if count.dtype != torch.int64 or tuple(count.shape) != (m,) or bool((count < 0).any()):
        raise ClassifierFileError(f"'{path}': array 'class_count': expected ({m},) non-negative int64, got "
                                  f"{tuple(count.shape)} {count.dtype}")
    if weight.dtype != torch.float64 or tuple(weight.shape) != (m,) or not bool(torch.isfinite(weight).all()) \
            or bool((weight < 0).any()):
        raise ClassifierFileError(f"'{path}': array 'class_weight': expected ({m},) finite non-negative float64, "
                                  f"got {tuple(weight.shape)} {weight.dtype}")
    if bool(((weight > 0) != (count > 0)).any()):
        raise ClassifierFileError(f"'{path}': array 'class_weight': expected a positive weight exactly for the classes "
                                  f"with fitting samples, got {weight.tolist()[:10]}")
    return count, weight


def _check_counts(schema: _Schema, meta: dict, count: torch.Tensor, excluded: list[int]) -> None:
    """The metadata's counts and exclusions agree with the ``class_count`` array."""
    m = len(count)
    if "class_counts" in meta:
        counts = [schema.integer(c, f"class_counts[{i}]", 0, 2**62)
                  for i, c in enumerate(schema.array(meta["class_counts"], "class_counts", m))]
        if counts != count.tolist():
            raise schema.fail("class_counts", "the counts of the 'class_count' array", counts)
    empty = sorted(int(y) for y in (count == 0).nonzero().flatten().tolist())
    if sorted(excluded) != empty:
        raise schema.fail("excluded", f"exactly the classes without fitting samples {empty} (a class listed "
                          "here never wins a vote)", excluded)


def load_classifiers(path: str | os.PathLike[str]) -> GenerativeClassifiers:
    """Read and validate a classifier file. Every problem is a :class:`ClassifierFileError` that
    names the file and, for metadata, the field; nothing is unpickled."""
    path = Path(path)
    raw_meta, tensors = _read(path)
    schema = _Schema(path)
    meta = _parse_metadata(raw_meta, path)
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise schema.fail("format", f"'{CLASSIFIER_FORMAT}'", meta.get("format"))
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != CLASSIFIER_VERSION:
        raise schema.fail("version", str(CLASSIFIER_VERSION), meta.get("version"))
    layers = _layers_from_meta(schema, meta.get("layers"))
    class_names, excluded = _classes(schema, meta)
    k = schema.integer(meta.get("k"), "k", 1, len(layers))
    delta = schema.number(meta.get("delta"), "delta", 1e-300, 1e-3)
    per_class = meta.get("per_class")
    if per_class is not None:
        per_class = schema.integer(per_class, "per_class", 1, 10**9)
    info = schema.obj(meta.get("info", {}), "info")
    model_id = schema.text(meta.get("model_id"), "model_id", 1000)
    fingerprint = schema.text(meta.get("fingerprint"), "fingerprint", 1000)
    names = [layer.name for layer in layers]
    count, weight = _class_arrays(path, tensors, names, len(class_names))
    _check_counts(schema, meta, count, excluded)
    try:
        return GenerativeClassifiers(
            layers=layers, class_names=class_names, pos={n: tensors[f"pos/{n}"] for n in names},
            neg={n: tensors[f"neg/{n}"] for n in names}, class_count=count, class_weight=weight, delta=delta,
            model_id=model_id, fingerprint=fingerprint, per_class=per_class, k=k, excluded=tuple(excluded),
            info=dict(info))
    except ClassifierFileError as exc:
        raise ClassifierFileError(f"'{path}': {exc}") from None


def check_compatible(classifiers: GenerativeClassifiers, *, model_id: str, fingerprint: str,
                     layers: tuple[LayerInfo, ...], class_names: tuple[str, ...]) -> None:
    """Raise :class:`ClassifierFileError` unless ``classifiers`` were fitted on this model.

    A spec-file model is named by its spec's path, which changes when its folder is moved or shared;
    two spec models are the same model when their weights (the fingerprint), classes and layers are,
    wherever their folders lie."""
    if classifiers.model_id != model_id and not (_is_spec(classifiers.model_id) and _is_spec(model_id)):
        raise ClassifierFileError(f"expected a classifier fitted on model '{model_id}', "
                                  f"got one fitted on '{classifiers.model_id}'")
    if classifiers.fingerprint != fingerprint:
        raise ClassifierFileError(
            f"expected a classifier fitted on these '{model_id}' weights (fingerprint {fingerprint[:19]}), "
            f"got one fitted on other weights (fingerprint {classifiers.fingerprint[:19]}); refit it")
    if len(classifiers.class_names) != len(class_names):
        raise ClassifierFileError(f"expected {len(class_names)} classes, got {len(classifiers.class_names)}")
    if tuple(classifiers.class_names) != tuple(class_names):
        at = next(i for i, (a, b) in enumerate(zip(classifiers.class_names, class_names)) if a != b)
        raise ClassifierFileError(f"expected the class names of '{model_id}' (class {at}: {class_names[at]!r}), got "
                                  f"other names (class {at}: {classifiers.class_names[at]!r})")
    known = {layer.name: layer for layer in layers}
    for layer in classifiers.layers:
        if layer.name not in known:
            raise ClassifierFileError(f"expected layers of '{model_id}', got unknown layer '{layer.name}'")
        if known[layer.name].dim != layer.dim:
            raise ClassifierFileError(f"expected layer '{layer.name}' of dim {known[layer.name].dim}, "
                                      f"got dim {layer.dim}")
        if known[layer.name].kind != layer.kind:
            raise ClassifierFileError(f"expected layer '{layer.name}' of kind '{known[layer.name].kind.value}', "
                                      f"got '{layer.kind.value}'")
    if [layer.name for layer in classifiers.layers] != [layer.name for layer in layers]:
        raise ClassifierFileError(f"expected the {len(layers)} tapped layers of '{model_id}' in network order, got "
                                  f"{len(classifiers.layers)} layers"
                                  f"{'' if len(classifiers.layers) != len(layers) else ' in another order'}; refit it")


def _is_spec(model_id: str) -> bool:
    return model_id.startswith("spec:")
