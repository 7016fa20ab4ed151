"""On-disk cache of adversarial examples, without pickle.

Each entry is a ``<key>.safetensors`` file (adversarial images, success mask, targets and
per-sample extras) plus a ``<key>.json`` sidecar with the settings, both written atomically.
The key is a SHA-256 of the model fingerprint, the classifier hash (for threat models that
query REGroup), the attack, its settings and the image ids, so a rerun, another page or an
interrupted suite finds the finished chunks and recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..attacks.runner import AttackResult
from ..persistence import atomic_write

__all__ = ["AdversarialCache", "cache_key"]


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 over a canonical JSON of ``payload`` (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class AdversarialCache:
    """A directory of cached :class:`AttackResult` chunks; counts its hits and misses."""

    root: Path
    hits: int = 0
    misses: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.safetensors", self.root / f"{key}.json"

    def get(self, key: str) -> AttackResult | None:
        tensors_path, meta_path = self._paths(key)
        if not (tensors_path.exists() and meta_path.exists()):
            self.misses += 1
            self.log.append(f"miss {key[:12]}")
            return None
        try:
            tensors = load_file(str(tensors_path))
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError, SafetensorError):  # a damaged entry is recomputed
            self.misses += 1
            self.log.append(f"miss {key[:12]} (unreadable)")
            return None
        self.hits += 1
        self.log.append(f"hit {key[:12]}")
        per_sample = {k.removeprefix("per_sample."): v for k, v in tensors.items() if k.startswith("per_sample.")}
        return AttackResult(adversarial=tensors["adversarial"], success=tensors["success"].bool(),
                            targets=tensors.get("targets"), settings=meta["settings"], elapsed=meta["elapsed"],
                            per_sample=per_sample)

    def put(self, key: str, result: AttackResult) -> None:
        tensors = {"adversarial": result.adversarial.contiguous(), "success": result.success.to(torch.uint8)}
        if result.targets is not None:
            tensors["targets"] = result.targets.contiguous()
        for k, v in result.per_sample.items():
            tensors[f"per_sample.{k}"] = v.contiguous()
        tensors_path, meta_path = self._paths(key)
        # tensors first, sidecar last: an entry counts only once its sidecar exists
        atomic_write(tensors_path, lambda tmp: save_file(tensors, tmp))
        meta = {"settings": result.settings, "elapsed": result.elapsed, "format": "regroup-adversarial-cache/1"}
        atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, default=str)))

    def __len__(self) -> int:
        return len(list(self.root.glob("*.json"))) if self.root.exists() else 0

    @classmethod
    def default(cls) -> AdversarialCache:
        """``$REGROUP_CACHE/adversarial`` or ``.cache/adversarial`` under the working directory."""
        return cls(Path(os.environ.get("REGROUP_CACHE", ".cache")) / "adversarial")
