"""The adversarial cache: attack results shared by the CLI, the scripts and the app, one
safetensors + JSON pair per chunk of images, under :func:`~regroup_core.store.keys.default_cache_dir`
unless told otherwise (the route into it is :func:`regroup_core.attacks.cached_attack`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import atomic_write, write_json
from .keys import default_cache_dir

__all__ = ["ADVERSARIAL_FORMAT", "AdversarialCache", "CacheEntry"]

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
