"""Evaluation loops over data, for one process or many (torchrun), with the same result.

* :func:`layer_accuracy` — each layer's own Borda vote on held-out data (the paper's rule for
  choosing k, and Figs. 4/6); hits and counts are all-reduced over ranks.
* :func:`evaluate_clean` — softmax and REGroup top-n of every image: each rank takes a
  contiguous block of the data (:func:`~regroup_core.run.dist.shard_indices`, no padding) and
  the rows are gathered in rank order, so the table equals the one-process table row for row.
* :func:`predict_all` — every layer's ranks for many images, batched (experiments, app).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Subset

from ..engine import Prediction, REGroup, Variant
from ..errors import DataError
from ..sources import Data, ModelBundle, resolve_data
from ..store import atomic_write, cache_key, classifier_digest
from .dist import all_reduce_sum, context, gather_rows, shard_indices
from .precision import Precision, autocast
from .progress import Progress, Reporter

__all__ = ["CleanTable", "evaluate_clean", "layer_accuracy", "predict_all", "shard_loader"]


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
        rows = self.rows(class_names)

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["index"])
                writer.writeheader()
                writer.writerows(rows)

        return atomic_write(path, write)


def shard_loader(data: Data, bundle: ModelBundle, *, batch_size: int = 64, workers: int = 0,
                 skip: int = 0) -> tuple[DataLoader, range]:
    """A DataLoader over this rank's contiguous shard of ``data`` (minus its first ``skip``
    items) and the shard's global indices. For per-rank loops whose rows are then gathered in
    global order with :func:`regroup_core.run.dist.gather_rows`."""
    dataset = resolve_data(data, bundle)
    shard = shard_indices(len(dataset))
    loader = DataLoader(Subset(dataset, list(shard[skip:])), batch_size=batch_size, shuffle=False,
                        num_workers=workers, pin_memory=bundle.device.type == "cuda")
    return loader, shard


_EVAL_COLUMNS = ("label", "softmax_top", "softmax_prob", "regroup_top", "regroup_borda")


def _eval_key(bundle: ModelBundle, defended: REGroup, n: int, **options: object) -> str:
    return cache_key({"fingerprint": bundle.fingerprint, "classifier": classifier_digest(defended.classifiers),
                      "n": n, **{k: str(v) for k, v in options.items()}})


def _load_eval(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("regroup", "{}"))
        if meta.get("key") != key:
            raise DataError(f"expected an evaluation checkpoint of this run at '{path}', got one of another "
                            f"run (model, classifiers, data or options differ); use another checkpoint directory")
        return {name: fh.get_tensor(name) for name in _EVAL_COLUMNS}


def _save_eval(path: Path, key: str, columns: dict[str, torch.Tensor]) -> None:
    meta = {"regroup": json.dumps({"format": "regroup-eval-checkpoint", "key": key,
                                   "rows": int(columns["label"].shape[0])})}
    atomic_write(path, lambda tmp: save_file({k: v.contiguous() for k, v in columns.items()}, tmp, metadata=meta))


def evaluate_clean(bundle: ModelBundle, defended: REGroup, data: Data, *, k: int | None = None,
                   variant: Variant | str = Variant.BOTH, top: int = 5, batch_size: int = 64, workers: int = 0,
                   amp: Precision | str | None = None, checkpoint: str | os.PathLike[str] | None = None,
                   checkpoint_every: int = 20, progress: bool = False, callback: Progress | None = None) -> CleanTable:
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
    dataset = resolve_data(data, bundle)
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
    bar = Reporter(len(loader), "evaluate", bar=progress, callback=callback, unit="batch")
    for i, (images, labels) in enumerate(loader):
        with autocast(bundle.device, amp):
            pred = defended.predict(images, k=used_k, variant=variant)
        bar.update(1)
        st, sp = pred.softmax_top(n_top)
        rt, rb = pred.regroup_top(n_top)
        for name, t in zip(_EVAL_COLUMNS, (torch.as_tensor(labels), st, sp, rt, rb)):
            parts[name].append(t.cpu().to(dtypes[name]))
        if path is not None and (i + 1) % checkpoint_every == 0:
            _save_eval(path, key, {name: torch.cat(parts[name]) for name in _EVAL_COLUMNS})
    bar.close()
    local = {name: torch.cat(parts[name]) for name in _EVAL_COLUMNS}
    if path is not None:
        _save_eval(path, key, local)
    return CleanTable(index=gather_rows(torch.tensor(list(shard), dtype=torch.int64)),
                      **{name: gather_rows(t) for name, t in local.items()}, k=used_k)


def layer_accuracy(defended: REGroup, data: Data, bundle: ModelBundle, *, only_correct: bool = True,
                   batch_size: int = 64, workers: int = 0, amp: Precision | str | None = None,
                   progress: bool = False, callback: Progress | None = None) -> tuple[np.ndarray, int]:
    """Top-1 accuracy of each layer's own Borda vote (argmax_y B^{ℓy}) on held-out ``data``; a tie at
    the top of a layer's count is an error (the project's counting everywhere).

    With ``only_correct`` (the paper's protocol) only samples the base model classifies
    correctly count. Returns (accuracies of shape (L,), number of samples counted). Collective
    under torchrun: each rank runs its shard; hits and counts are all-reduced, so no rank fails
    alone on a shard without a correct sample (which would leave the others waiting).
    """
    loader, _ = shard_loader(data, bundle, batch_size=batch_size, workers=workers)
    layers = len(defended.layers)
    hits = torch.zeros(layers + 1, dtype=torch.int64)
    with Reporter(len(loader), "per-layer accuracy", bar=progress, callback=callback, unit="batch") as bar:
        for images, labels in loader:
            labels = torch.as_tensor(labels, dtype=torch.int64)
            with autocast(bundle.device, amp):
                pred = defended.predict(images, k=layers, scope="all")
            keep = pred.softmax_labels == labels if only_correct else torch.ones_like(labels, dtype=torch.bool)
            hits[:layers] += pred.layer_correct(labels)[keep].sum(0)  # a tie is an error, as everywhere
            hits[layers] += int(keep.sum())
            bar.update(1)
    hits = all_reduce_sum(hits)
    n = int(hits[layers])
    if n == 0:
        raise DataError("expected at least one (correctly classified) held-out sample, got none")
    return (hits[:layers].double() / n).numpy(), n


def predict_all(defended: REGroup, images: torch.Tensor, batch_size: int = 256) -> Prediction:
    """REGroup's prediction of many images with every layer ranked (``scope="all"``), batched."""
    if len(images) == 0:
        raise DataError("expected at least one image, got none")
    parts = [defended.predict(images[i:i + batch_size], scope="all") for i in range(0, len(images), batch_size)]
    first = parts[0]
    return Prediction(layers=first.layers, logits=torch.cat([p.logits for p in parts]),
                      pos_ranks=torch.cat([p.pos_ranks for p in parts]),
                      neg_ranks=torch.cat([p.neg_ranks for p in parts]), k=first.k, variant=first.variant)
