"""The fit's one data loop, for one process or many (torchrun), with the same result.

:func:`fit` is what the Python API (:func:`regroup_core.fit`), the CLI's ``fit`` and the app
call: it streams candidates into :class:`~regroup_core.engine.stats.FitStatistics`
(:func:`fit_statistics`), turns them into classifiers and chooses k on held-out data
(:func:`regroup_core.run.evaluate.layer_accuracy`). The same data therefore gives the same
classifier through every front end.

**Order.** The candidates come in one global order (:func:`fit_candidates`): an image folder
or file list is drawn class-interleaved (each class shuffled with the seed, dealt round-robin
by class; :func:`regroup_core.sources.data.interleaved_order`), ``mnist:<split>`` and any other
dataset in their own order. The fit accepts the first ``per_class`` *correctly classified*
candidates of each class in that order (:func:`regroup_core.engine.stats.accept_mask`),
whatever the number of processes:

1. The run advances in *steps* of ``world_size × batch_size`` consecutive candidates; rank r
   decodes and runs the r-th block of ``batch_size`` of them (its slots).
2. After its forward pass each rank writes (present, correct, label) into its slots of a
   small int64 table; an all-reduce gives every rank the whole step's table.
3. Every rank applies the cap to that table in slot order (= global order) with the
   replicated global per-class counts, so all ranks take the same decisions; each adds only
   its own accepted samples to its local sums.
4. At the end the sums are all-reduced (:func:`regroup_core.run.dist.all_reduce_stats`).

The result equals the one-process fit up to float64 summation order. Candidates of classes
that are already full are skipped before decoding: the step's composition is decided from
the per-class counts of a *fixed* number of steps earlier (the DataLoader prefetch depth),
so every rank composes the same steps. A full class only grows, so a skipped candidate could
never have been accepted: skipping saves reading, it never changes the result.

**Checkpoints.** With ``checkpoint=DIR`` every rank saves its sums, the global counts and the
schedule position every ``checkpoint_every`` steps (:mod:`regroup_core.run.checkpoint`); a
rerun with the same arguments resumes from the latest step all ranks hold.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..engine import (
    DEFAULT_K,
    FitStatistics,
    GenerativeClassifiers,
    REGroup,
    accept_mask,
    capture,
    select_k,
    true_class_weights,
)
from ..errors import DataError, EmptyClassError, ImageError
from ..sources import Data, ImageFiles, ModelBundle, interleaved_order, known_labels, resolve_data
from .checkpoint import common_step, load_checkpoint, run_key, save_checkpoint
from .dist import all_reduce_stats, all_reduce_sum, context
from .evaluate import layer_accuracy
from .options import FitOptions
from .precision import Precision, autocast, check_amp
from .progress import Reporter

__all__ = ["Candidates", "FitOptions", "FitResult", "FitRun", "fit", "fit_candidates", "fit_statistics"]


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


def fit_candidates(data: Data, bundle: ModelBundle, *, seed: int = 0) -> Candidates:
    """The fit candidates of a data spec or dataset.

    An ImageFolder directory or a ``path label`` file list is listed (no image decoded) and
    drawn class-interleaved with ``seed``; ``mnist:<split>`` and other datasets keep their
    own order.
    """
    if isinstance(data, Dataset):
        return Candidates(data, np.arange(len(data)), known_labels(data), type(data).__name__)
    spec = os.fspath(data)
    dataset = resolve_data(spec, bundle)
    if not isinstance(dataset, ImageFiles):
        return Candidates(dataset, np.arange(len(dataset)), known_labels(dataset), spec)
    return Candidates(dataset, interleaved_order(dataset.labels, seed), dataset.labels, f"{spec} (seed {seed})")


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

    def __getitem__(self, item: tuple[int, int]) -> tuple[Any, int, int, str | None]:
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
class FitRun:
    """Result of :func:`fit_statistics`: the all-reduced statistics and what the run did (steps
    done, images decoded and run, unreadable files skipped, candidates listed)."""

    stats: FitStatistics
    steps: int
    images_read: int
    unreadable: int
    candidates: int
    complete: bool


class _FitLoop:
    """One fit run over a process's shard: the state the steps share (sums, global per-class counts,
    the schedule, checkpoints) and the steps themselves (see the module doc)."""

    def __init__(self, bundle: ModelBundle, candidates: Candidates, options: FitOptions,
                 stats: FitStatistics | None) -> None:
        ctx = context()
        self.bundle, self.candidates, self.options = bundle, candidates, options
        self.rank, self.world = ctx.rank, ctx.world_size
        self.span = self.world * options.batch_size
        m, labels = bundle.num_classes, candidates.labels
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= m):
            raise DataError(f"expected labels in [0, {m}), got {labels.min()}..{labels.max()}")
        if stats is not None and (stats.layers != tuple(bundle.layers) or stats.num_classes != m
                                  or stats.delta != options.delta):
            raise DataError("expected statistics of this model's layers, classes and delta to continue, got others")
        self.stats = FitStatistics.empty(bundle.layers, m, options.delta) if stats is None else stats
        self.global_count = self.stats.count.clone()
        self.key = run_key(fingerprint=bundle.fingerprint, layers=bundle.layers, order=candidates.order,
                           labels=labels, num_candidates=len(candidates.order), per_class=options.per_class,
                           batch_size=options.batch_size, world_size=self.world, delta=options.delta)
        self.start_step, start_cursor = 0, 0
        if options.checkpoint is not None:
            self.start_step = common_step(options.checkpoint, rank=self.rank, world_size=self.world, key=self.key)
            if self.start_step:
                self.stats, self.global_count, start_cursor = load_checkpoint(
                    options.checkpoint, rank=self.rank, world_size=self.world, step=self.start_step, empty=self.stats)
        lag = 2 * options.workers if options.workers > 0 else 0  # DataLoader prefetch depth (2 × workers)
        self.schedule = _Schedule(candidates.order, labels, rank=self.rank, world=self.world,
                                  batch=options.batch_size, lag=lag, start_step=self.start_step,
                                  start_cursor=start_cursor, start_full=self.full_mask())
        self.step, self.saved_at, self.read, self.unreadable = self.start_step, self.start_step, 0, 0

    def full_mask(self) -> np.ndarray | None:
        """Which classes are full (None when there is no cap or labels are not known in advance)."""
        if self.options.per_class is None or self.candidates.labels is None:
            return None
        return (self.global_count >= self.options.per_class).numpy().copy()

    def all_full(self) -> bool:
        return self.options.per_class is not None and bool((self.global_count >= self.options.per_class).all())

    def save(self) -> None:
        """A checkpoint of this step (once per step)."""
        if self.options.checkpoint is not None and self.saved_at != self.step:
            save_checkpoint(self.options.checkpoint, rank=self.rank, world_size=self.world, step=self.step,
                            key=self.key, stats=self.stats, global_count=self.global_count,
                            cursor=self.schedule.cursor_after[self.step])
            self.saved_at = self.step

    def run_step(self, batch: _Batch) -> None:
        """One step: this rank's forward pass, the shared acceptance table, the sums, the counts."""
        m, device = self.bundle.num_classes, self.bundle.device
        table = torch.zeros(self.span, 3, dtype=torch.int64)  # per slot: present, correct, label
        for message in batch.errors:
            self.unreadable += 1
            warnings.warn(f"skipped an unreadable fit candidate: {message}", stacklevel=1)
        if batch.images is not None:
            images, batch_labels, slots = batch.images, batch.labels, batch.slots
            if batch_labels.min() < 0 or batch_labels.max() >= m:
                raise DataError(f"expected labels in [0, {m}), got {batch_labels.min()}..{batch_labels.max()}")
            with autocast(device, self.options.amp):
                acc = capture(self.bundle.model, images.to(device, non_blocking=True), self.bundle.layers)
            correct, weights = true_class_weights(acc.logits, batch_labels)
            table[slots, 0] = 1
            table[slots, 1] = correct.long()
            table[slots, 2] = batch_labels
            self.read += len(slots)
        table = all_reduce_sum(table)
        keep = accept_mask(table[:, 1].bool(), table[:, 2], self.global_count, self.options.per_class)
        if batch.images is not None:
            mine = keep[slots]
            if mine.any():
                idx = mine.nonzero().squeeze(1)
                dev_idx = idx.to(device)
                self.stats.add({n: t[dev_idx] for n, t in acc.pos.items()}, {n: t[dev_idx] for n, t in acc.neg.items()},
                               batch_labels[idx], weights[idx])
        self.global_count += torch.bincount(table[keep, 2], minlength=m)
        self.step += 1
        self.schedule.record(self.step, self.full_mask())

    def run(self, max_steps: int | None) -> FitRun:
        options = self.options
        loader = DataLoader(_Slotted(self.candidates.dataset), batch_sampler=self.schedule,
                            num_workers=options.workers, collate_fn=_collate,
                            pin_memory=self.bundle.device.type == "cuda",
                            prefetch_factor=2 if options.workers > 0 else None)
        total_steps = -(-len(self.candidates.order) // self.span)
        bar = Reporter(total_steps, f"fit ({self.world} proc)" if self.world > 1 else "fit", bar=options.progress,
                       callback=options.callback, unit="step", initial=self.start_step)
        iterator = iter(loader)
        while not self.all_full() and (max_steps is None or self.step < max_steps):
            batch = next(iterator, None)
            if batch is None:
                break
            self.run_step(batch)
            bar.update(1, accepted=int(self.global_count.sum()))
            if options.checkpoint is not None and (self.step - self.start_step) % options.checkpoint_every == 0:
                self.save()
        bar.close()
        complete = max_steps is None or self.step < max_steps or self.all_full()
        self.save()
        reduced = all_reduce_stats(self.stats)
        images_read, skipped = all_reduce_sum(torch.tensor([self.read, self.unreadable], dtype=torch.int64)).tolist()
        return FitRun(stats=reduced, steps=self.step, images_read=images_read, unreadable=skipped,
                      candidates=len(self.candidates.order), complete=complete)


def fit_statistics(bundle: ModelBundle, candidates: Candidates, options: FitOptions | None = None, *,
                   max_steps: int | None = None, stats: FitStatistics | None = None, **changes: Any) -> FitRun:
    """Fit statistics of ``bundle`` over ``candidates`` on this process's shard (see module doc).

    ``options`` (a :class:`~regroup_core.run.options.FitOptions`; keyword ``changes`` such as
    ``per_class=6`` are applied to it) says how: its per-class cap, batch size, workers, precision,
    checkpoints, δ and progress. Collective when run under torchrun: every rank calls it with the
    same arguments and gets the same (all-reduced) statistics. ``max_steps`` stops after that many
    steps in total (a partial, resumable fit: ``complete`` is False). ``stats`` continues an earlier
    fit of the same layers in place (its counts count towards the cap).
    """
    return _FitLoop(bundle, candidates, FitOptions.of(options, **changes), stats).run(max_steps)


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` made: the classifiers (k chosen) and the run that fitted them."""

    classifiers: GenerativeClassifiers
    run: FitRun
    candidates: Candidates


def fit(bundle: ModelBundle, data: Data, options: FitOptions | None = None, **changes: Any) -> FitResult:
    """Fit the layer-wise generative classifiers of ``bundle`` on ``data`` and choose k.

    ``options`` (:class:`~regroup_core.run.options.FitOptions`, with keyword ``changes`` applied)
    is handed whole to the loop. k is, in order: the given ``k``; else the paper's rule on
    ``selection`` data (the number of highest layers whose own accuracy reaches ``threshold`` on
    correctly classified samples, :func:`~regroup_core.engine.predictor.select_k`); else
    :data:`~regroup_core.engine.predictor.DEFAULT_K` (capped at the number of layers).
    Collective under torchrun (every rank calls it and gets the same classifiers).
    """
    options = FitOptions.of(options, **changes)
    k, selection = options.k, options.selection
    if k is not None and not 1 <= k <= len(bundle.layers):
        raise DataError(f"expected 1 <= k <= {len(bundle.layers)} (the number of tapped layers), got {k}")
    check_amp(bundle.device, options.amp)
    candidates = fit_candidates(data, bundle, seed=options.seed)
    held_out = resolve_data(selection, bundle) if k is None and selection is not None else None  # before the fit
    run = fit_statistics(bundle, candidates, options)
    info: dict[str, object] = {"fit_data": candidates.description, "processes": context().world_size,
                               "images_read": run.images_read, "unreadable": run.unreadable,
                               "candidates": run.candidates, "amp": Precision(options.amp or "off").value}
    try:
        classifiers = run.stats.to_classifiers(class_names=bundle.class_names, model_id=bundle.name,
                                               fingerprint=bundle.fingerprint, per_class=options.per_class,
                                               k=k or min(DEFAULT_K, len(bundle.layers)), on_empty=options.on_empty,
                                               info=info)
    except EmptyClassError as exc:
        raise EmptyClassError(f"fit data '{candidates.description}': {exc}") from None
    if held_out is not None:
        classifiers = _choose_k(bundle, classifiers, held_out, options)
    return FitResult(classifiers=classifiers, run=run, candidates=candidates)


def _choose_k(bundle: ModelBundle, classifiers: GenerativeClassifiers, held_out: Dataset,
              options: FitOptions) -> GenerativeClassifiers:
    """The paper's rule: k from each layer's own accuracy on the held-out data."""
    accuracy, n = layer_accuracy(REGroup(bundle.model, classifiers), held_out, bundle, batch_size=options.batch_size,
                                 workers=options.workers, amp=options.amp, progress=options.progress,
                                 callback=options.callback)
    selection = options.selection
    description = selection if isinstance(selection, str) else type(selection).__name__
    return classifiers.with_k(select_k(accuracy, options.threshold), k_selection={
        "data": str(description), "threshold": options.threshold, "samples": n,
        "layer_accuracy": [round(float(a), 6) for a in accuracy]})
