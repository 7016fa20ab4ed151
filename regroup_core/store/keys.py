"""Keys and places: :func:`cache_key` (SHA-256 of canonical JSON), :func:`tensor_digest`,
:func:`classifier_digest`, and :func:`default_cache_dir` (the one cache of the CLI, scripts and app)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..engine import GenerativeClassifiers
from .atomic import json_default

__all__ = ["cache_key", "classifier_digest", "default_cache_dir", "tensor_digest"]


def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a canonical JSON of ``payload`` (sorted keys, compact)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=json_default)
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


def default_cache_dir() -> Path:
    """``$REGROUP_CACHE``, else ``$XDG_CACHE_HOME/regroup-explorer``, else ``~/.cache/regroup-explorer``."""
    if os.environ.get("REGROUP_CACHE"):
        return Path(os.environ["REGROUP_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "regroup-explorer"
