"""Per-shard checkpoints of a sharded fit: statistics + progress, safetensors, atomic.

Each rank writes ``fit-rank{r}-of-{W}-step{s:09d}.safetensors`` holding its own statistic
sums, the replicated global per-class counts, and JSON metadata (step, schedule cursor, run
key). A rank
deletes its older file only after every rank has written the new one (a barrier), so after a
kill at any point every rank still holds the step :func:`common_step` agrees on.

The run key hashes everything the schedule depends on (model weights, layers, data order,
per-class cap, batch size, world size, δ): checkpoints of another run are refused, never
silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..engine import FitStatistics, LayerInfo
from ..errors import DataError
from ..store import atomic_write, cache_key
from .dist import barrier, min_over_ranks

__all__ = ["common_step", "load_checkpoint", "run_key", "save_checkpoint"]

FORMAT = "regroup-fit-checkpoint"
_NAME = re.compile(r"fit-rank(\d+)-of-(\d+)-step(\d+)\.safetensors$")


def run_key(*, fingerprint: str, layers: Sequence[LayerInfo], order: np.ndarray, labels: np.ndarray | None,
            num_candidates: int, per_class: int | None, batch_size: int, world_size: int, delta: float,
            rule: str = "paper") -> str:
    """A digest of everything the fit's schedule and result depend on (the paper's rule adds
    nothing, so checkpoints written before the exploring rule existed still resume)."""
    arrays = hashlib.sha256(np.ascontiguousarray(order, dtype=np.int64).tobytes())
    if labels is not None:
        arrays.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return cache_key({"fingerprint": fingerprint, "layers": [layer.name for layer in layers], "n": num_candidates,
                      "per_class": per_class, "batch_size": batch_size, "world_size": world_size, "delta": delta,
                      "order_and_labels": arrays.hexdigest(), **({"rule": rule} if rule != "paper" else {})})


def _path(directory: Path, rank: int, world: int, step: int) -> Path:
    return directory / f"fit-rank{rank}-of-{world}-step{step:09d}.safetensors"


def _mine(directory: Path, rank: int, world: int) -> dict[int, Path]:
    found = {}
    for p in directory.glob(f"fit-rank{rank}-of-{world}-step*.safetensors"):
        m = _NAME.search(p.name)
        if m:
            found[int(m.group(3))] = p
    return found


def save_checkpoint(directory: str | Path, *, rank: int, world_size: int, step: int, key: str,
                    stats: FitStatistics, global_count: torch.Tensor, cursor: int) -> Path:
    """Write this rank's state after ``step`` completed steps, then drop its older files.

    Collective: every rank must call it at the same step.
    """
    directory = Path(directory)
    tensors = {f"pos/{n}": t.contiguous() for n, t in stats.pos_sum.items()}
    tensors |= {f"neg/{n}": t.contiguous() for n, t in stats.neg_sum.items()}
    tensors |= {"weight": stats.weight.contiguous(), "count": stats.count.contiguous(),
                "global_count": global_count.contiguous()}
    meta = {"regroup": json.dumps({"format": FORMAT, "step": step, "rank": rank, "world_size": world_size,
                                   "key": key, "cursor": int(cursor)})}
    path = atomic_write(_path(directory, rank, world_size, step),
                        lambda tmp: save_file(tensors, tmp, metadata=meta))
    barrier()  # every rank now holds `step`: older files are no longer needed by anyone
    for old_step, old in _mine(directory, rank, world_size).items():
        if old_step < step:
            old.unlink(missing_ok=True)
    return path


def common_step(directory: str | Path, *, rank: int, world_size: int, key: str) -> int:
    """The latest step every rank has a checkpoint of (0 = start afresh). Collective.

    Refuses a directory holding checkpoints of another run (other model, data or options).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    mine = _mine(directory, rank, world_size)
    for step, path in mine.items():
        if _meta(path)["key"] != key:
            raise DataError(f"expected checkpoints of this run in '{directory}', got '{path.name}' from a run "
                            f"with other model, data or options; use another --checkpoint directory")
    others = [p.name for p in directory.glob("fit-rank*.safetensors") if f"-of-{world_size}-" not in p.name]
    if others:
        raise DataError(f"expected checkpoints for {world_size} processes in '{directory}', got "
                        f"{others[0]}; resume with the same number of processes")
    latest = max(mine, default=0)
    # the smallest "latest" over ranks is held by every rank (see module doc)
    step = min_over_ranks(latest)
    if step and step not in mine:
        raise DataError(f"expected this rank's checkpoint of step {step} in '{directory}', got steps "
                        f"{sorted(mine)}")
    return step


def _meta(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("regroup", "{}"))
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a user-facing data error
        raise DataError(f"expected a readable fit checkpoint, got '{path}' ({type(exc).__name__})") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"expected a fit checkpoint ('{FORMAT}') at '{path}', got {meta.get('format')!r}")
    return meta


def load_checkpoint(directory: str | Path, *, rank: int, world_size: int, step: int,
                    empty: FitStatistics) -> tuple[FitStatistics, torch.Tensor, int]:
    """This rank's statistics, the global per-class counts and the schedule's cursor (position
    in the candidate order) saved after ``step`` steps."""
    path = _path(Path(directory), rank, world_size, step)
    cursor = int(_meta(path)["cursor"])
    with safe_open(str(path), framework="pt") as fh:
        t = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open is not a dict
    names = [layer.name for layer in empty.layers]
    try:
        stats = FitStatistics(layers=empty.layers, num_classes=empty.num_classes, delta=empty.delta,
                              pos_sum={n: t[f"pos/{n}"] for n in names}, neg_sum={n: t[f"neg/{n}"] for n in names},
                              weight=t["weight"], count=t["count"])
    except KeyError as exc:
        raise DataError(f"expected array {exc} in checkpoint '{path}', got none") from None
    return stats, t["global_count"], cursor
