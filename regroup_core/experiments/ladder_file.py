"""The attacker-knowledge ladder as a file, checked on the way in (issue #19).

``scripts/ladder_results.py`` writes ``docs/results/ladder.json`` and the copy shipped as package data
(``regroup_core/assets/app-results/ladder.json``, found with :func:`~regroup_core.sources.assets.asset_path`),
which the app shows offline. The shipped copy also records, per model, the weights fingerprint and the
classifier's digest the rows were made with: a ladder is shown only for that model with those weights and
that classifier, never for another network or another classifier file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..sources.assets import asset_path
from .ladder import LADDER

__all__ = ["LadderFile", "SHIPPED_NAME", "check_rows", "ladder_command", "ladder_for", "read_ladder",
           "shipped_ladder_path"]

SHIPPED_NAME = "ladder.json"
"""The shipped copy's name in ``assets/app-results/``."""

_NUMBER = (int, float)
_FIELDS: dict[str, Any] = {"model": str, "epsilon_255": _NUMBER, "n": int, "rung": str, "knows": str,
                           "regroup_robust": _NUMBER, "regroup_robust_ci": list, "softmax_robust": _NUMBER,
                           "softmax_robust_ci": list, "regroup_attacks": list, "softmax_attacks": list,
                           "meaning": str}
_RUNGS = tuple(rung.name for rung in LADDER)
_ROUNDING = 0.05  # the rows' percentages and bounds are each rounded to 0.1


@dataclass(frozen=True)
class LadderFile:
    """A ladder file's rows (in ladder order per model and budget) and what made them."""

    rows: tuple[dict[str, Any], ...]
    command: str = ""
    seconds: float | None = None
    seconds_by_model: Mapping[str, float] = field(default_factory=dict)
    empty_cache_seconds: Mapping[str, float] = field(default_factory=dict)  # model → its cost from an empty cache
    models: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # model → fingerprint, classifier


def shipped_ladder_path() -> Path:
    return asset_path("app-results", SHIPPED_NAME)


def _check_row(i: int, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise DataError(f"expected ladder row {i} to be an object, got {type(row).__name__}")
    for name, kind in _FIELDS.items():
        value = row.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(f"expected ladder row {i} to have '{name}' of type {kind}, got {value!r:.60}")
    if row["rung"] not in _RUNGS:
        raise DataError(f"expected ladder row {i}'s rung among {list(_RUNGS)}, got {row['rung']!r:.60}")
    for side in ("regroup_robust", "softmax_robust"):
        lo_hi = row[f"{side}_ci"]
        values = [row[side], *lo_hi]
        if len(lo_hi) != 2 or not all(isinstance(v, _NUMBER) and 0 <= v <= 100 for v in values) \
                or not lo_hi[0] - _ROUNDING <= row[side] <= lo_hi[1] + _ROUNDING:
            raise DataError(f"expected ladder row {i}'s {side} in [0, 100] inside its interval, got "
                            f"{row[side]!r:.20} {lo_hi!r:.40}")
    return row


def check_rows(rows: Any) -> tuple[dict[str, Any], ...]:
    """``rows`` checked (every field of :func:`~regroup_core.experiments.ladder.ladder`'s rows, percentages
    inside their intervals, known rungs) and put in ladder order within each model and budget."""
    if not isinstance(rows, list) or not rows:
        raise DataError(f"expected a non-empty list of ladder rows, got {type(rows).__name__}")
    checked = [_check_row(i, row) for i, row in enumerate(rows)]
    return tuple(sorted(checked, key=lambda r: (r["model"], float(r["epsilon_255"]), _RUNGS.index(r["rung"]))))


def read_ladder(path: Path) -> LadderFile:
    """The ladder file at ``path``, checked (:class:`~regroup_core.errors.DataError` in one line if not)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"expected a readable ladder file (JSON) at {Path(path).name}, got {type(exc).__name__}") \
            from None
    if not isinstance(record, dict):
        raise DataError(f"expected a ladder file holding an object, got {type(record).__name__}")
    models = record.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise DataError("expected the ladder file's 'models' to map each model to its fingerprint and classifier")
    seconds = record.get("seconds")
    return LadderFile(rows=check_rows(record.get("rows")), command=str(record.get("command", "")),
                      seconds=float(seconds) if _is_seconds(seconds) else None,
                      seconds_by_model=_seconds(record.get("seconds_by_model")),
                      empty_cache_seconds=_seconds(record.get("empty_cache_seconds")), models=models)


def _seconds(value: Any) -> dict[str, float]:
    """model → seconds, keeping only well-formed entries (a cost is shown, never trusted to be there)."""
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if _is_seconds(v)}


def _is_seconds(value: Any) -> bool:
    """A finite, non-negative number (JSON may carry NaN, Infinity or true where a cost belongs)."""
    return isinstance(value, _NUMBER) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def ladder_for(ladder_file: LadderFile, model: str, fingerprint: str, classifier: str) -> list[dict[str, Any]]:
    """The rows of ``model`` when they were made with these weights (``fingerprint``) and this classifier
    (its digest, :func:`~regroup_core.store.classifier_digest`); else none."""
    made_with = ladder_file.models.get(model, {})
    if made_with.get("fingerprint") != fingerprint or made_with.get("classifier") != classifier:
        return []
    return [row for row in ladder_file.rows if row["model"] == model]


def ladder_command(model: str, classifier: str, epsilons_255: Sequence[float], n: int = 100) -> str:
    """The CLI command that makes the ladder of ``model`` with ``classifier`` (a path or the shipped one)."""
    eps = ",".join(f"{e:g}" for e in epsilons_255)
    return (f"OMP_NUM_THREADS=1 python -m regroup_core ladder --model {model} --classifier {classifier} "
            f"--epsilons {eps} --n {n} --json")
