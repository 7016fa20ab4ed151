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
from ..errors import ConfigError, one_line
from .atomic import json_default

__all__ = ["cache_key", "classifier_digest", "default_cache_dir", "tensor_digest", "usable_folder"]


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
