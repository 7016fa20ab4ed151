"""Results that ship with the app (``regroup_core/assets/app-results/<model>.json``), so the Ablations and
Benchmark pages show real numbers on a first visit, offline, before anything is run.

They are made by ``python scripts/ship_app_results.py`` with the pages' default settings, and
matched on everything a result depends on: the experiment, its settings, the model's weights
fingerprint and the classifier's digest (never a file path) — a result of other weights or
another classifier file is never shown as this one's. The attacker-knowledge ladder ships beside
them (``app-results/ladder.json``, made by ``python -m scripts.ladder_results``) and is matched the
same way (:func:`shipped_ladder`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from regroup_core import ModelBundle, REGroup
from regroup_core.errors import RegroupError, one_line
from regroup_core.experiments.ladder_file import LadderFile, ladder_for, read_ladder, shipped_ladder_path
from regroup_core.sources.assets import asset_path
from regroup_core.store import cache_key, classifier_digest

__all__ = ["LADDER_MADE_BY", "MADE_BY", "ShippedLadder", "entry_key", "shipped_dir", "shipped_ladder",
           "shipped_result"]

LADDER_MADE_BY = "python -m scripts.ladder_results"

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


@dataclass(frozen=True)
class ShippedLadder:
    """The shipped ladder rows of one model with its weights and classifier (empty when none ship), the file
    they came from, and why the file could not be used (None when it could, or when there is no file)."""

    rows: list[dict[str, Any]]
    source: LadderFile | None = None
    problem: str | None = None


@lru_cache(maxsize=4)
def _ladder_file(path: str, mtime: float) -> LadderFile:
    return read_ladder(Path(path))


def shipped_ladder(bundle: ModelBundle, defended: REGroup) -> ShippedLadder:
    """The shipped attacker-knowledge ladder of this model, weights and classifier (see the module doc)."""
    path = shipped_ladder_path()
    if not path.is_file():
        return ShippedLadder(rows=[])
    try:
        source = _ladder_file(str(path), path.stat().st_mtime)
    except (OSError, RegroupError) as exc:
        return ShippedLadder(rows=[], problem=one_line(exc))
    rows = ladder_for(source, bundle.name, bundle.fingerprint, classifier_digest(defended.classifiers))
    return ShippedLadder(rows=rows, source=source)
