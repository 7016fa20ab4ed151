"""Fit and clean evaluation over data shards: one process or many (torchrun), same result.

**Fit (exact per-class cap across ranks).** The candidates come in one global order (for an
image folder: each class shuffled with the seed, dealt round-robin by class; see
:func:`regroup_core.data.imagefolder.interleaved_order`). The fit accepts the first
``per_class`` *correctly classified* candidates of each class in that order — the same rule
as :func:`regroup_core.fit.accumulate` — whatever the number of processes:

1. The run advances in *steps* of ``world_size × batch_size`` consecutive candidates; rank r
   decodes and runs the r-th block of ``batch_size`` of them (its slots).
2. After its forward pass each rank writes (present, correct, label) into its slots of a
   small int64 table; an all-reduce gives every rank the whole step's table.
3. Every rank applies the cap to that table in slot order (= global order) with the
   replicated global per-class counts, so all ranks take the same decisions; each adds only
   its own accepted samples to its local sums.
4. At the end the sums are all-reduced (:func:`regroup_core.distributed.all_reduce_stats`).

The result equals the one-process fit up to float64 summation order. Candidates of classes
that are already full are skipped before decoding: the step's composition is decided from
the per-class counts of a *fixed* number of steps earlier (the DataLoader prefetch depth),
so every rank composes the same steps. A full class only grows, so a skipped candidate could
never have been accepted: skipping saves reading, it never changes the result.

**Checkpoints.** With ``checkpoint=DIR`` every rank saves its sums, the global counts and the
schedule position every ``checkpoint_every`` steps (:mod:`regroup_core.checkpoint`); a
rerun with the same arguments resumes from the latest step all ranks hold.

**Clean evaluation.** :func:`evaluate_clean_distributed` gives each rank a contiguous block
of the data (:func:`regroup_core.distributed.shard_indices`, no padding) and gathers the
per-sample rows in rank order, so the table equals the one-process table row for row.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from tqdm.auto import tqdm

from .classifier import DELTA
from .datasets import resolve_data
from .distributed import all_reduce_stats, all_reduce_sum, context, gather_rows, shard_indices
from .errors import DataError, ImageError
from .fit import FitStatistics, _accept
from .precision import Precision, autocast
from .regroup import REGroup
from .taps import capture
from .voting import Variant
from .zoo import ModelBundle

__all__ = [
    "Candidates",
    "CleanTable",
    "ShardedFit",
    "evaluate_clean_distributed",
    "fit_candidates",
    "fit_sharded",
    "layer_accuracy_distributed",
    "shard_loader",
]


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidates:
    """Fit candidates: a dataset of ``(image, label)``, the order to draw them in, and (when
    known without decoding) every item's label, which lets full classes be skipped."""

    dataset: Dataset
    order: np.ndarray
    labels: np.ndarray | None
    description: str


def _known_labels(dataset: Dataset) -> np.ndarray | None:
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels, dtype=np.int64)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        return dataset.tensors[1].numpy().astype(np.int64)
    return None


def fit_candidates(data: str | os.PathLike[str] | Dataset, bundle: ModelBundle, *, seed: int = 0) -> Candidates:
    """The fit candidates of a spec or dataset.

    An ImageFolder directory or a ``path label`` file list is listed (no image decoded) and
    drawn class-interleaved with ``seed``; ``mnist:<split>`` and other datasets keep their
    own order (as :func:`regroup_core.api.fit` does).
    """
    if isinstance(data, Dataset):
        labels = _known_labels(data)
        return Candidates(data, np.arange(len(data)), labels, type(data).__name__)
    spec = str(data)
    if spec.startswith("mnist:"):
        dataset = resolve_data(spec, bundle)
        return Candidates(dataset, np.arange(len(dataset)), _known_labels(dataset), spec)
    from .data.imagefolder import image_files, interleaved_order

    files = image_files(spec, bundle.class_names, bundle.preprocess)
    return Candidates(files, interleaved_order(files.labels, seed), files.labels, f"{spec} (seed {seed})")


# ---------------------------------------------------------------------------------------------
# Step schedule
# ---------------------------------------------------------------------------------------------

class _Slotted(Dataset):
    """``dataset[i]`` plus the slot it fills in its step: item ``(i, slot)`` → (image, label, slot, error).

    An unreadable image (:class:`ImageError`) comes back as ``image=None`` with its message:
    one damaged file among 1.28 M must not stop a fit (it is skipped and counted, the same on
    every run, so results stay deterministic).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        try:
            image, label = self.dataset[item[0]]
        except ImageError as exc:
            return None, -1, item[1], str(exc)
        return image, int(label), item[1], None


class _Batch(NamedTuple):
    images: torch.Tensor | None
    labels: torch.Tensor
    slots: torch.Tensor
    errors: list[str]


def _collate(items: list) -> _Batch:
    good = [it for it in items if it[0] is not None]
    errors = [it[3] for it in items if it[0] is None]
    if not good:  # this rank has nothing to run in this step but still joins its collectives
        return _Batch(None, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), errors)
    return _Batch(torch.stack([torch.as_tensor(x) for x, _, _, _ in good]),
                  torch.tensor([y for _, y, _, _ in good], dtype=torch.int64),
                  torch.tensor([s for _, _, s, _ in good], dtype=torch.int64), errors)


class _Schedule:
    """Composes the steps (iterated by the DataLoader in the main process).

    Step t holds the next ``world × batch`` candidates from the cursor, skipping those whose
    class was full in the snapshot ``full_after[t - lag]`` (``lag`` = prefetch depth), so the
    composition is the same on every rank whatever the timing.
    """

    def __init__(self, order: np.ndarray, labels: np.ndarray | None, *, rank: int, world: int, batch: int,
                 lag: int, start_step: int, start_cursor: int, start_full: np.ndarray | None) -> None:
        self.order, self.labels = order, labels
        self.rank, self.world, self.batch, self.lag = rank, world, batch, lag
        self.start_step, self.start_cursor = start_step, start_cursor
        self.full_after: dict[int, np.ndarray] = {} if start_full is None else {start_step: start_full}
        self.cursor_after: dict[int, int] = {start_step: start_cursor}

    def record(self, steps_done: int, full: np.ndarray | None) -> None:
        if full is not None:
            self.full_after[steps_done] = full
            self.full_after.pop(steps_done - self.lag - 2, None)

    def _snapshot(self, step: int) -> np.ndarray | None:
        if self.labels is None or not self.full_after:
            return None
        at = max(step - self.lag, self.start_step)
        if at not in self.full_after:
            raise RuntimeError(f"fit schedule: no class snapshot after step {at} for step {step} (lag {self.lag})")
        return self.full_after[at]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step, cursor, n = self.start_step, self.start_cursor, len(self.order)
        span = self.world * self.batch
        while cursor < n:
            full = self._snapshot(step)
            if full is None:
                picked = np.arange(cursor, min(cursor + span, n))
                cursor = picked[-1] + 1
            else:
                picked = np.empty(0, dtype=np.int64)
                while len(picked) < span and cursor < n:
                    chunk = np.arange(cursor, min(cursor + 4 * span, n))
                    open_ = chunk[~full[self.labels[self.order[chunk]]]]
                    need = span - len(picked)
                    if len(open_) > need:
                        picked = np.concatenate([picked, open_[:need]])
                        cursor = int(open_[need - 1]) + 1
                    else:
                        picked = np.concatenate([picked, open_])
                        cursor = int(chunk[-1]) + 1
                if not len(picked):
                    break  # every remaining candidate belongs to a full class
            step += 1
            self.cursor_after[step] = int(cursor)
            self.cursor_after.pop(step - self.lag - 2, None)
            mine = np.arange(self.rank * self.batch, min((self.rank + 1) * self.batch, len(picked)))
            yield [(int(self.order[picked[s]]), int(s)) for s in mine]


# ---------------------------------------------------------------------------------------------
# Fit
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShardedFit:
    """Result of :func:`fit_sharded`: the all-reduced statistics and what the run did (steps
    done, images decoded and run, unreadable files skipped, candidates listed)."""

    stats: FitStatistics
    steps: int
    images_read: int
    unreadable: int
    candidates: int
    complete: bool


def fit_sharded(bundle: ModelBundle, candidates: Candidates, *, per_class: int | None = 50,
                batch_size: int = 64, workers: int = 0, amp: Precision | str | None = None,
                checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 50,
                delta: float = DELTA, progress: bool = False, max_steps: int | None = None) -> ShardedFit:
    """Fit statistics of ``bundle`` over ``candidates`` on this process's shard (see module doc).

    Collective when run under torchrun: every rank calls it with the same arguments and gets
    the same (all-reduced) statistics. ``max_steps`` stops after that many steps in total
    (a partial, resumable fit: ``complete`` is False).
    """
    from .checkpoint import common_step, load_checkpoint, run_key, save_checkpoint

    if per_class is not None and per_class < 1:
        raise DataError(f"expected per_class >= 1 or None, got {per_class}")
    if batch_size < 1:
        raise DataError(f"expected batch_size >= 1, got {batch_size}")
    ctx = context()
    rank, world = ctx.rank, ctx.world_size
    model, layers, m = bundle.model, bundle.layers, bundle.num_classes
    device = bundle.device
    span = world * batch_size
    labels = candidates.labels
    if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= m):
        raise DataError(f"expected labels in [0, {m}), got {labels.min()}..{labels.max()}")

    stats = FitStatistics.empty(layers, m, delta)
    global_count = torch.zeros(m, dtype=torch.int64)
    start_step, start_cursor = 0, 0
    key = run_key(fingerprint=bundle.fingerprint, layers=layers, order=candidates.order, labels=labels,
                  num_candidates=len(candidates.order), per_class=per_class, batch_size=batch_size,
                  world_size=world, delta=delta)
    if checkpoint is not None:
        start_step = common_step(checkpoint, rank=rank, world_size=world, key=key)
        if start_step:
            stats, global_count, start_cursor = load_checkpoint(checkpoint, rank=rank, world_size=world,
                                                                step=start_step, empty=stats)

    def full_mask() -> np.ndarray | None:
        if per_class is None or labels is None:
            return None
        return (global_count >= per_class).numpy().copy()

    lag = 2 * workers if workers > 0 else 0  # DataLoader prefetch depth (prefetch_factor 2 × workers)
    schedule = _Schedule(candidates.order, labels, rank=rank, world=world, batch=batch_size, lag=lag,
                         start_step=start_step, start_cursor=start_cursor, start_full=full_mask())
    loader = DataLoader(_Slotted(candidates.dataset), batch_sampler=schedule, num_workers=workers,
                        collate_fn=_collate, pin_memory=device.type == "cuda",
                        prefetch_factor=2 if workers > 0 else None)
    step, read, unreadable, saved_at = start_step, 0, 0, start_step
    total_steps = -(-len(candidates.order) // span)
    bar = tqdm(total=total_steps, initial=start_step, desc=f"fit ({world} proc)" if world > 1 else "fit",
               unit="step", disable=not progress)

    def save() -> None:
        nonlocal saved_at
        if checkpoint is not None and saved_at != step:
            save_checkpoint(checkpoint, rank=rank, world_size=world, step=step, key=key, stats=stats,
                            global_count=global_count, cursor=schedule.cursor_after[step])
            saved_at = step

    def all_full() -> bool:
        return per_class is not None and bool((global_count >= per_class).all())

    iterator = iter(loader)
    while not all_full() and (max_steps is None or step < max_steps):
        try:
            batch = next(iterator)
        except StopIteration:
            break
        table = torch.zeros(span, 3, dtype=torch.int64)  # per slot: present, correct, label
        for message in batch.errors:
            unreadable += 1
            warnings.warn(f"skipped an unreadable fit candidate: {message}", stacklevel=1)
        if batch.images is not None:
            images, batch_labels, slots = batch.images, batch.labels, batch.slots
            if batch_labels.min() < 0 or batch_labels.max() >= m:
                raise DataError(f"expected labels in [0, {m}), got {batch_labels.min()}..{batch_labels.max()}")
            with autocast(device, amp):
                acc = capture(model, images.to(device, non_blocking=True), layers)
            probs = torch.softmax(acc.logits.to(torch.float64), dim=1).cpu()
            correct = probs.argmax(1) == batch_labels
            table[slots, 0] = 1
            table[slots, 1] = correct.long()
            table[slots, 2] = batch_labels
            read += len(slots)
        table = all_reduce_sum(table)
        keep = _accept(table[:, 1].bool(), table[:, 2], global_count, per_class)
        if batch.images is not None:
            mine = keep[slots]
            if mine.any():
                idx = mine.nonzero().squeeze(1)
                dev_idx = idx.to(device)
                stats.add({n: t[dev_idx] for n, t in acc.pos.items()}, {n: t[dev_idx] for n, t in acc.neg.items()},
                          batch_labels[idx], probs[idx, batch_labels[idx]])
        global_count += torch.bincount(table[keep, 2], minlength=m)
        step += 1
        schedule.record(step, full_mask())
        bar.update(1)
        bar.set_postfix(accepted=int(global_count.sum()))
        if checkpoint is not None and (step - start_step) % checkpoint_every == 0:
            save()
    bar.close()
    complete = max_steps is None or step < max_steps or all_full()
    save()
    reduced = all_reduce_stats(stats)
    images_read, skipped = all_reduce_sum(torch.tensor([read, unreadable], dtype=torch.int64)).tolist()
    return ShardedFit(stats=reduced, steps=step, images_read=images_read, unreadable=skipped,
                      candidates=len(candidates.order),
                      complete=complete)


# ---------------------------------------------------------------------------------------------
# Clean evaluation
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CleanTable:
    """Per-image clean predictions in data order, identical however many processes made it.

    ``softmax_top``/``regroup_top`` (N, n) class indices best first, ``softmax_prob`` (N, n)
    float64 probabilities, ``regroup_borda`` (N, n) int64 Borda counts, ``label`` (N,).
    """

    index: torch.Tensor
    label: torch.Tensor
    softmax_top: torch.Tensor
    softmax_prob: torch.Tensor
    regroup_top: torch.Tensor
    regroup_borda: torch.Tensor
    k: int

    def __len__(self) -> int:
        return int(self.index.numel())

    def accuracy(self) -> dict[str, float]:
        """Top-1 and top-5 accuracy of softmax and REGroup (fractions)."""
        y = self.label.unsqueeze(1)
        n = max(len(self), 1)
        out = {}
        for name, top in (("softmax", self.softmax_top), ("regroup", self.regroup_top)):
            out[f"{name}_top1"] = float((top[:, :1] == y).any(1).sum()) / n
            out[f"{name}_top5"] = float((top[:, :5] == y).any(1).sum()) / n
        return out

    def rows(self, class_names: Sequence[str] | None = None) -> list[dict[str, object]]:
        def name(c: int) -> object:
            return class_names[c] if class_names is not None else c

        return [{"index": int(self.index[i]), "label": name(int(self.label[i])),
                 "softmax_top1": name(int(self.softmax_top[i, 0])),
                 "softmax_p": round(float(self.softmax_prob[i, 0]), 6),
                 "regroup_top1": name(int(self.regroup_top[i, 0])), "regroup_borda": int(self.regroup_borda[i, 0]),
                 "softmax_top5": " ".join(str(name(int(c))) for c in self.softmax_top[i]),
                 "regroup_top5": " ".join(str(name(int(c))) for c in self.regroup_top[i])}
                for i in range(len(self))]

    def write_csv(self, path: str | os.PathLike[str], class_names: Sequence[str] | None = None) -> Path:
        from .persistence import atomic_write

        rows = self.rows(class_names)

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["index"])
                writer.writeheader()
                writer.writerows(rows)

        return atomic_write(path, write)


def shard_loader(data: str | os.PathLike[str] | Dataset, bundle: ModelBundle, *, batch_size: int = 64,
                 workers: int = 0, skip: int = 0) -> tuple[DataLoader, range]:
    """A DataLoader over this rank's contiguous shard of ``data`` (minus its first ``skip``
    items) and the shard's global indices. For per-rank loops (attacks...) whose rows are
    then gathered in global order with :func:`regroup_core.distributed.gather_rows`."""
    dataset = data if isinstance(data, Dataset) else resolve_data(str(data), bundle)
    shard = shard_indices(len(dataset))
    loader = DataLoader(Subset(dataset, list(shard[skip:])), batch_size=batch_size, shuffle=False,
                        num_workers=workers, pin_memory=bundle.device.type == "cuda")
    return loader, shard


_EVAL_COLUMNS = ("label", "softmax_top", "softmax_prob", "regroup_top", "regroup_borda")


def _eval_key(bundle: ModelBundle, defended: REGroup, n: int, **options: object) -> str:
    import hashlib
    import json

    c = defended.classifiers
    digest = hashlib.sha256(json.dumps({"fingerprint": bundle.fingerprint, "layers": list(c.layer_names), "n": n,
                                        **{k: str(v) for k, v in options.items()}}, sort_keys=True).encode())
    digest.update(c.class_count.numpy().tobytes() + c.class_weight.numpy().tobytes())
    return digest.hexdigest()


def _load_eval(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    import json

    from safetensors import safe_open

    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("regroup", "{}"))
        if meta.get("key") != key:
            raise DataError(f"expected an evaluation checkpoint of this run at '{path}', got one of another "
                            f"run (model, classifiers, data or options differ); use another checkpoint directory")
        return {name: fh.get_tensor(name) for name in _EVAL_COLUMNS}


def _save_eval(path: Path, key: str, columns: dict[str, torch.Tensor]) -> None:
    import json

    from safetensors.torch import save_file

    from .persistence import atomic_write

    meta = {"regroup": json.dumps({"format": "regroup-eval-checkpoint", "key": key,
                                   "rows": int(columns["label"].shape[0])})}
    atomic_write(path, lambda tmp: save_file({k: v.contiguous() for k, v in columns.items()}, tmp, metadata=meta))


def evaluate_clean_distributed(bundle: ModelBundle, defended: REGroup, data: str | os.PathLike[str] | Dataset, *,
                               k: int | None = None, variant: Variant | str = Variant.BOTH, top: int = 5,
                               batch_size: int = 64, workers: int = 0, amp: Precision | str | None = None,
                               checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 20,
                               progress: bool = False) -> CleanTable:
    """Softmax and REGroup top-``top`` predictions of every image of ``data`` (clean).

    Collective under torchrun (every rank calls it; each runs its contiguous shard; every
    rank returns the whole table, rows in data order). In a single process it is simply the
    whole evaluation. With ``checkpoint=DIR`` each rank saves its rows every
    ``checkpoint_every`` batches (``eval-rank{r}-of-{W}.safetensors``); the same call after a
    kill resumes after the saved rows.
    """
    variant = Variant(variant)
    used_k = defended.classifiers.k if k is None else int(k)
    n_top = min(top, bundle.num_classes)
    dataset = data if isinstance(data, Dataset) else resolve_data(str(data), bundle)
    ctx = context()
    dtypes = {"label": torch.int64, "softmax_top": torch.int64, "softmax_prob": torch.float64,
              "regroup_top": torch.int64, "regroup_borda": torch.int64}
    done = {name: torch.zeros((0,) if name == "label" else (0, n_top), dtype=dtypes[name]) for name in _EVAL_COLUMNS}
    path = key = None
    if checkpoint is not None:
        path = Path(checkpoint) / f"eval-rank{ctx.rank}-of-{ctx.world_size}.safetensors"
        key = _eval_key(bundle, defended, len(dataset), k=used_k, variant=variant.value, top=n_top,
                        amp=amp or "off", world=ctx.world_size, rank=ctx.rank)
        done = _load_eval(path, key) or done
    loader, shard = shard_loader(dataset, bundle, batch_size=batch_size, workers=workers,
                                 skip=int(done["label"].shape[0]))
    parts: dict[str, list[torch.Tensor]] = {name: [done[name]] for name in _EVAL_COLUMNS}
    for i, (images, labels) in enumerate(tqdm(loader, desc="evaluate", unit="batch", disable=not progress)):
        with autocast(bundle.device, amp):
            pred = defended.predict(images, k=used_k, variant=variant)
        st, sp = pred.softmax_top(n_top)
        rt, rb = pred.regroup_top(n_top)
        for name, t in zip(_EVAL_COLUMNS, (torch.as_tensor(labels), st, sp, rt, rb)):
            parts[name].append(t.cpu().to(dtypes[name]))
        if path is not None and (i + 1) % checkpoint_every == 0:
            _save_eval(path, key, {name: torch.cat(parts[name]) for name in _EVAL_COLUMNS})
    local = {name: torch.cat(parts[name]) for name in _EVAL_COLUMNS}
    if path is not None:
        _save_eval(path, key, local)
    return CleanTable(index=gather_rows(torch.tensor(list(shard), dtype=torch.int64)),
                      **{name: gather_rows(t) for name, t in local.items()}, k=used_k)


def layer_accuracy_distributed(defended: REGroup, data: str | os.PathLike[str] | Dataset, bundle: ModelBundle, *,
                               batch_size: int = 64, workers: int = 0, amp: Precision | str | None = None,
                               progress: bool = False) -> tuple[np.ndarray, int]:
    """:func:`regroup_core.regroup.per_layer_accuracy` (correct samples only) over all shards.

    Hits and counts are all-reduced, so no rank fails alone on a shard without a correct
    sample (which would leave the others waiting).
    """
    loader, _ = shard_loader(data, bundle, batch_size=batch_size, workers=workers)
    layers = len(defended.layers)
    hits = torch.zeros(layers + 1, dtype=torch.int64)
    for images, labels in tqdm(loader, desc="per-layer accuracy", disable=not progress):
        labels = torch.as_tensor(labels, dtype=torch.int64)
        with autocast(bundle.device, amp):
            pred = defended.predict(images, k=layers, scope="all")
        keep = pred.softmax_labels == labels
        hits[:layers] += (pred.layer_labels()[keep] == labels[keep].unsqueeze(1)).sum(0)
        hits[layers] += int(keep.sum())
    hits = all_reduce_sum(hits)
    n = int(hits[layers])
    if n == 0:
        raise DataError("expected at least one correctly classified held-out sample, got none")
    return (hits[:layers].double() / n).numpy(), n

