"""Saving and loading fitted classifiers — safetensors, no pickle, atomic writes.

File layout (one ``.safetensors`` file):

* ``pos/<layer>`` and ``neg/<layer>``: (M, D) float64 class-conditional mixtures;
* ``class_count`` (M,) int64 and ``class_weight`` (M,) float64: the fit's per-class totals
  (mixture × weight gives back the mergeable sums);
* metadata ``regroup`` = JSON with format/version, model id, layer list (name, kind, dim,
  depth, source), class names, δ, per-class cap, k, excluded classes, the model-weights
  fingerprint and free-form info (k-selection accuracies, data spec...).

safetensors never executes code on load, unlike pickle-based ``torch.save``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .classifier import GenerativeClassifiers
from .errors import ClassifierFileError
from .layers import LayerInfo

__all__ = ["FORMAT", "VERSION", "save_classifiers", "load_classifiers", "check_compatible", "atomic_write"]

FORMAT = "regroup-classifiers"
VERSION = 1


def atomic_write(path: str | os.PathLike[str], write) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_classifiers(classifiers: GenerativeClassifiers, path: str | os.PathLike[str]) -> Path:
    """Write ``classifiers`` to ``path`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for layer in classifiers.layers:
        tensors[f"pos/{layer.name}"] = classifiers.pos[layer.name].detach().cpu().contiguous()
        tensors[f"neg/{layer.name}"] = classifiers.neg[layer.name].detach().cpu().contiguous()
    tensors["class_count"] = classifiers.class_count.cpu().contiguous()
    tensors["class_weight"] = classifiers.class_weight.cpu().contiguous()
    meta = {
        "format": FORMAT, "version": VERSION, "model_id": classifiers.model_id,
        "fingerprint": classifiers.fingerprint, "layers": [layer.to_json() for layer in classifiers.layers],
        "num_classes": classifiers.num_classes, "class_names": list(classifiers.class_names),
        "delta": classifiers.delta, "per_class": classifiers.per_class, "k": classifiers.k,
        "excluded": list(classifiers.excluded), "class_counts": classifiers.class_count.tolist(),
        "info": classifiers.info,
    }
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"regroup": json.dumps(meta)}))


def load_classifiers(path: str | os.PathLike[str]) -> GenerativeClassifiers:
    """Read and validate a classifier file. Every problem is a :class:`ClassifierFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ClassifierFileError(f"expected a classifier file, got no file at '{path}'")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = (fh.metadata() or {}).get("regroup")
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ClassifierFileError(f"expected a REGroup classifier (.safetensors) at '{path}', "
                                  f"got an unreadable file ({str(exc).splitlines()[0][:120]})") from None
    if raw_meta is None:
        raise ClassifierFileError(f"expected REGroup metadata in '{path}', got a safetensors file without it")
    try:
        meta = json.loads(raw_meta)
        if meta.get("format") != FORMAT:
            raise ClassifierFileError(f"expected format '{FORMAT}' in '{path}', got {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise ClassifierFileError(f"expected format version {VERSION} in '{path}', got {meta.get('version')!r}")
        layers = tuple(LayerInfo.from_json(obj) for obj in meta["layers"])
        names = [layer.name for layer in layers]
        missing = [key for n in names for key in (f"pos/{n}", f"neg/{n}") if key not in tensors]
        missing += [key for key in ("class_count", "class_weight") if key not in tensors]
        if missing:
            raise ClassifierFileError(f"expected arrays {missing[:4]} in '{path}', got none")
        return GenerativeClassifiers(
            layers=layers, class_names=tuple(str(c) for c in meta["class_names"]),
            pos={n: tensors[f"pos/{n}"] for n in names}, neg={n: tensors[f"neg/{n}"] for n in names},
            class_count=tensors["class_count"], class_weight=tensors["class_weight"],
            delta=float(meta["delta"]), model_id=str(meta["model_id"]), fingerprint=str(meta["fingerprint"]),
            per_class=None if meta["per_class"] is None else int(meta["per_class"]), k=int(meta["k"]),
            excluded=tuple(int(y) for y in meta.get("excluded", [])), info=dict(meta.get("info", {})))
    except ClassifierFileError as exc:
        raise ClassifierFileError(f"{exc} (file '{path}')" if str(path) not in str(exc) else str(exc)) from None
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ClassifierFileError(f"expected valid REGroup metadata in '{path}', got a malformed "
                                  f"entry ({type(exc).__name__}: {exc})") from None


def check_compatible(classifiers: GenerativeClassifiers, *, model_id: str, fingerprint: str,
                     layers: tuple[LayerInfo, ...], class_names: tuple[str, ...]) -> None:
    """Raise :class:`ClassifierFileError` unless ``classifiers`` were fitted on this model."""
    if classifiers.model_id != model_id:
        raise ClassifierFileError(f"expected a classifier fitted on model '{model_id}', "
                                  f"got one fitted on '{classifiers.model_id}'")
    if classifiers.fingerprint != fingerprint:
        raise ClassifierFileError(
            f"expected a classifier fitted on these '{model_id}' weights (fingerprint {fingerprint[:19]}), "
            f"got one fitted on other weights (fingerprint {classifiers.fingerprint[:19]}); refit it")
    if len(classifiers.class_names) != len(class_names):
        raise ClassifierFileError(f"expected {len(class_names)} classes, got {len(classifiers.class_names)}")
    known = {layer.name: layer for layer in layers}
    for layer in classifiers.layers:
        if layer.name not in known:
            raise ClassifierFileError(f"expected layers of '{model_id}', got unknown layer '{layer.name}'")
        if known[layer.name].dim != layer.dim:
            raise ClassifierFileError(f"expected layer '{layer.name}' of dim {known[layer.name].dim}, "
                                      f"got dim {layer.dim}")
