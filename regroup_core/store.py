"""Everything REGroup Explorer writes to disk, in one place and one format: safetensors for
arrays, JSON for metadata, no pickle, atomic writes.

* :func:`atomic_write` — write to a temporary sibling, fsync, rename; a write killed half-way
  leaves no partial file, and its orphaned temporary file is removed by the next write to the
  same folder.
* Keys: :func:`cache_key` (SHA-256 of canonical JSON), :func:`tensor_digest`,
  :func:`classifier_digest`.
* Classifier files: :func:`save_classifiers`, :func:`load_classifiers` (validated against a
  schema before any array is used), :func:`check_compatible`.
* :class:`AdversarialCache` — adversarial examples shared by the CLI, the scripts and the app,
  under :func:`default_cache_dir` unless told otherwise.
* :class:`ResultStore` — JSON results of experiments (the app's tables and curves).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .checks import path_kind
from .engine import GenerativeClassifiers, LayerInfo, LayerKind
from .errors import ClassifierFileError, ConfigError, one_line

__all__ = [
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_VERSION",
    "AdversarialCache",
    "CacheEntry",
    "ResultStore",
    "atomic_write",
    "cache_key",
    "check_compatible",
    "classifier_digest",
    "default_cache_dir",
    "usable_folder",
    "load_classifiers",
    "save_classifiers",
    "tensor_digest",
    "write_json",
]

# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------

_TMP_SUFFIX = ".tmp"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
"""Temporary names carry host and pid, so a sweep never touches another machine's live write
into a shared folder (torchrun across hosts)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or cannot tell: leave its file alone
    return True


def _sweep_orphans(folder: Path) -> None:
    """Remove temporary files of this host's writes whose process died
    (``.<name>.<pid>-<host>.<random>.tmp``)."""
    try:
        candidates = list(folder.glob(f".*-{_HOST}.*{_TMP_SUFFIX}"))
    except OSError:
        return
    for tmp in candidates:
        parts = tmp.name.rsplit(".", 3)  # ['.<name>', '<pid>-<host>', '<random>', 'tmp']
        pid, _, host = parts[1].partition("-") if len(parts) == 4 else ("", "", "")
        if host == _HOST and pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see a partial file.

    The temporary file carries this process's id; any orphan left by a killed writer in the
    same folder is deleted first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_orphans(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-{_HOST}.", suffix=_TMP_SUFFIX, dir=path.parent)
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


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=1, sort_keys=True, default=_json_default)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), (str, int)):  # enums
        return obj.value
    return str(obj)


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------

def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a canonical JSON of ``payload`` (sorted keys, compact)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 (first 32 hex digits) of a tensor's dtype, shape and bytes: an image's identity."""
    t = t.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def classifier_digest(classifiers: GenerativeClassifiers) -> str:
    """SHA-256 of the classifier arrays, δ, k and exclusions (keys results that depend on them)."""
    c = classifiers
    digest = hashlib.sha256(f"{c.model_id}|{c.fingerprint}|{c.delta}|{c.k}|{c.excluded}".encode())
    for table in (c.pos, c.neg):
        for name in sorted(table):
            digest.update(name.encode())
            digest.update(table[name].detach().cpu().contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()


_PSEUDO_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


def default_cache_dir() -> Path:
    """``$REGROUP_CACHE``, else ``$XDG_CACHE_HOME/regroup-explorer``, else ``~/.cache/regroup-explorer``.

    Raises:
        ConfigError: one line naming the setting, when it points under a regular file, into /proc,
            /sys or /dev, or at an unknown ``~user``.
    """
    if os.environ.get("REGROUP_CACHE"):
        return usable_folder(os.environ["REGROUP_CACHE"], "REGROUP_CACHE")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "regroup-explorer"


def usable_folder(text: str, setting: str) -> Path:
    """``text`` as a folder path the project may create and write (it need not exist yet)."""
    shown = text[:200]
    try:
        path = Path(text).expanduser().absolute()
        for parent in (path, *path.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"{setting}: expected a folder, got '{shown}' under the file '{parent}'")
                break
        resolved = path.resolve()
    except ConfigError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # an unknown ~user, a NUL byte, a name too long
        raise ConfigError(f"{setting}: expected a usable folder path, got '{shown}' ({one_line(exc, 120)})") from None
    if any(resolved == p or p in resolved.parents for p in _PSEUDO_FILE_SYSTEMS):
        raise ConfigError(f"{setting}: expected a folder on a real file system, got '{shown}' (under /proc, /sys "
                          "or /dev)")
    return path


# ---------------------------------------------------------------------------------------------
# Classifier files
# ---------------------------------------------------------------------------------------------

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
    text = json.dumps(meta, default=_json_default, allow_nan=False)
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


def load_classifiers(path: str | os.PathLike[str]) -> GenerativeClassifiers:
    """Read and validate a classifier file. Every problem is a :class:`ClassifierFileError` that
    names the file and, for metadata, the field; nothing is unpickled."""
    path = Path(path)
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
    schema = _Schema(path)
    meta = _parse_metadata(raw_meta, path)
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise schema.fail("format", f"'{CLASSIFIER_FORMAT}'", meta.get("format"))
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != CLASSIFIER_VERSION:
        raise schema.fail("version", str(CLASSIFIER_VERSION), meta.get("version"))
    layers = _layers_from_meta(schema, meta.get("layers"))
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
    k = schema.integer(meta.get("k"), "k", 1, len(layers))
    delta = schema.number(meta.get("delta"), "delta", 1e-300, 1e-3)
    per_class = meta.get("per_class")
    if per_class is not None:
        per_class = schema.integer(per_class, "per_class", 1, 10**9)
    excluded = [schema.integer(y, f"excluded[{i}]", 0, m - 1)
                for i, y in enumerate(schema.array(meta.get("excluded", []), "excluded", m))]
    if len(set(excluded)) != len(excluded):
        raise schema.fail("excluded", "distinct class indices", excluded)
    if len(excluded) >= m:
        raise schema.fail("excluded", f"fewer than all {m} classes (an empty vote would predict class 0 for "
                          "everything)", excluded)
    info = schema.obj(meta.get("info", {}), "info")
    model_id = schema.text(meta.get("model_id"), "model_id", 1000)
    fingerprint = schema.text(meta.get("fingerprint"), "fingerprint", 1000)

    names = [layer.name for layer in layers]
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
    if "class_counts" in meta:
        counts = [schema.integer(c, f"class_counts[{i}]", 0, 2**62)
                  for i, c in enumerate(schema.array(meta["class_counts"], "class_counts", m))]
        if counts != count.tolist():
            raise schema.fail("class_counts", "the counts of the 'class_count' array", counts)
    empty = sorted(int(y) for y in (count == 0).nonzero().flatten().tolist())
    if sorted(excluded) != empty:
        raise schema.fail("excluded", f"exactly the classes without fitting samples {empty} (a class listed "
                          "here never wins a vote)", excluded)
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


# ---------------------------------------------------------------------------------------------
# Adversarial cache
# ---------------------------------------------------------------------------------------------

ADVERSARIAL_FORMAT = "regroup-adversarial/3"


@dataclass(frozen=True)
class CacheEntry:
    """One cached chunk: its arrays (``adversarial``, ``success``...) and JSON metadata (which
    holds ``image_digests``, one per row)."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def row(self, digest: str) -> int | None:
        """The row of the image with this digest, if the chunk holds it."""
        digests = self.meta.get("image_digests", [])
        return digests.index(digest) if digest in digests else None


class AdversarialCache:
    """A directory of attack results: ``<run key>/<chunk key>.safetensors`` + ``.json``.

    The run key names everything an attack's result depends on except the images (model
    weights, classifier arrays when the attacker queries REGroup, attack and settings, threat
    model, seed); the chunk key names the images (their digests, in order) and targets. The
    CLI, ``scripts/`` and the app share one directory (:meth:`default`), so an image attacked
    by ``evaluate`` is found by the app (:meth:`find`) without recomputing. Counts hits and misses.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> AdversarialCache:
        """The shared cache: ``default_cache_dir() / "adversarial"``."""
        return cls(default_cache_dir() / "adversarial")

    def _paths(self, run_key: str, chunk_key: str) -> tuple[Path, Path]:
        folder = self.root / run_key[:40]
        return folder / f"{chunk_key[:40]}.safetensors", folder / f"{chunk_key[:40]}.json"

    def _read(self, tensors_path: Path, meta_path: Path) -> CacheEntry | None:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != ADVERSARIAL_FORMAT:
                return None
            return CacheEntry(load_file(str(tensors_path)), meta)
        except (OSError, ValueError, SafetensorError):  # missing or damaged: recomputed by the caller
            return None

    def get(self, run_key: str, chunk_key: str, digests: Sequence[str] | None = None) -> CacheEntry | None:
        """The chunk stored under ``chunk_key``; failing that, when ``digests`` are given, the same
        images' rows gathered from other chunks of the run (other chunk sizes, the app's single
        images). Counts one hit or one miss."""
        entry = self._read(*self._paths(run_key, chunk_key))
        if entry is None and digests is not None:
            entry = self._gather(run_key, list(digests))
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, run_key: str, chunk_key: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
        """Store a chunk (tensors first, the JSON sidecar last: an entry exists once its sidecar does).
        ``meta["image_digests"]`` lists the digest of every row's image."""
        tensors_path, meta_path = self._paths(run_key, chunk_key)
        atomic_write(tensors_path, lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, tmp))
        write_json(meta_path, {**meta, "format": ADVERSARIAL_FORMAT, "run_key": run_key, "chunk_key": chunk_key})

    def find(self, run_key: str, image_digest: str) -> tuple[CacheEntry, int] | None:
        """Any cached chunk of this run holding the image with ``image_digest``, and its row."""
        return self._locate(run_key, [image_digest])[0]

    def _locate(self, run_key: str, digests: list[str]) -> list[tuple[CacheEntry, int] | None]:
        """For each digest, a chunk of this run holding it and its row (each sidecar read once)."""
        found: list[tuple[CacheEntry, int] | None] = [None] * len(digests)
        folder = self.root / run_key[:40]
        if not folder.is_dir():
            return found
        wanted = {d: i for i, d in enumerate(digests)}
        for meta_path in sorted(folder.glob("*.json")):
            try:
                held = json.loads(meta_path.read_text(encoding="utf-8")).get("image_digests", [])
            except (OSError, ValueError):
                continue
            rows = {d: r for r, d in enumerate(held) if d in wanted and found[wanted[d]] is None}
            if rows:
                entry = self._read(meta_path.with_suffix(".safetensors"), meta_path)
                if entry is not None:
                    for d, r in rows.items():
                        found[wanted[d]] = (entry, r)
            if all(f is not None for f in found):
                break
        return found

    def _gather(self, run_key: str, digests: list[str]) -> CacheEntry | None:
        found = self._locate(run_key, digests)
        if not digests or any(f is None for f in found):
            return None
        keys = set.intersection(*(set(entry.tensors) for entry, _ in found))  # type: ignore[misc]
        tensors = {k: torch.stack([entry.tensors[k][row] for entry, row in found]) for k in keys}  # type: ignore[misc]
        first = found[0][0]  # type: ignore[index]
        return CacheEntry(tensors, {**first.meta, "image_digests": digests, "gathered": True,
                                    "elapsed": sum(float(e.meta.get("elapsed", 0.0)) / max(len(e.meta.get(
                                        "image_digests", [])), 1) for e, _ in found)})  # type: ignore[misc]

    def __len__(self) -> int:
        return len(list(self.root.glob("*/*.json"))) if self.root.exists() else 0


# ---------------------------------------------------------------------------------------------
# JSON results
# ---------------------------------------------------------------------------------------------

class ResultStore:
    """JSON results of experiments, one file per (kind, parameters), shared by sessions."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, kind: str, params: Mapping[str, Any]) -> Path:
        return self.root / f"{kind}-{cache_key({'kind': kind, **params})[:20]}.json"

    def get(self, kind: str, params: Mapping[str, Any]) -> Any | None:
        """The stored result, or None when absent or unreadable."""
        try:
            return json.loads(self.path(kind, params).read_text(encoding="utf-8"))["result"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, kind: str, params: Mapping[str, Any], result: Any) -> Any:
        """Store ``result`` and return it as read back (plain JSON types)."""
        payload = {"kind": kind, "params": dict(params), "result": result}
        text = json.dumps(payload, default=_json_default, allow_nan=True)
        atomic_write(self.path(kind, params), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return json.loads(text)["result"]
