"""JSON results of experiments (the app's tables and curves), keyed by their parameters."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write, json_default
from .keys import cache_key

__all__ = ["ResultStore"]


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
        text = json.dumps(payload, default=json_default, allow_nan=True)
        atomic_write(self.path(kind, params), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return json.loads(text)["result"]
