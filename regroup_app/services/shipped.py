"""Results that ship with the app (``regroup_core/assets/app-results/<model>.json``), so the Ablations and
Benchmark pages show real numbers on a first visit, offline, before anything is run.

They are made by ``python scripts/ship_app_results.py`` with the pages' default settings, and
matched on everything a result depends on: the experiment, its settings, the model's weights
fingerprint and the classifier's digest (never a file path) — a result of other weights or
another classifier file is never shown as this one's.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from regroup_core import ModelBundle, REGroup
from regroup_core.sources.assets import asset_path
from regroup_core.store import cache_key, classifier_digest

__all__ = ["MADE_BY", "entry_key", "shipped_dir", "shipped_result"]

MADE_BY = "python scripts/ship_app_results.py"


def shipped_dir() -> Path:
    return asset_path("app-results")


def entry_key(kind: str, params: dict, bundle: ModelBundle, defended: REGroup) -> str:
    """What a result depends on, as one key (the page's params without its session-local paths)."""
    stable = {k: v for k, v in params.items() if k not in ("model", "fingerprint", "backend")}
    return cache_key({"kind": kind, "params": stable, "model": bundle.name, "fingerprint": bundle.fingerprint,
                      "classifier": classifier_digest(defended.classifiers)})


@lru_cache(maxsize=8)
def _entries(path: str, mtime: float) -> dict[str, object]:
    record = json.loads(Path(path).read_text())
    return {e["key"]: e["result"] for e in record.get("entries", [])}


def shipped_result(kind: str, params: dict, bundle: ModelBundle, defended: REGroup) -> Any:
    """The shipped result of experiment ``kind`` with ``params`` for this model and classifier, or None."""
    path = shipped_dir() / f"{bundle.name}.json"
    if not path.is_file():
        return None
    try:
        entries = _entries(str(path), path.stat().st_mtime)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged file is as good as none: the page offers to compute
    return entries.get(entry_key(kind, params, bundle, defended))
