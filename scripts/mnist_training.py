"""Reproducible CPU training of the embedded MNIST models (not part of the library).

``train_mnist_model`` is what ``scripts/train_mnist.py`` runs and what the tests
(``tests/scripts/``) smoke-test.  Decisions only ever use the ``train`` split: the schedule is fixed
(no early stopping), ``selection`` and ``test`` are evaluated once at the end for
reporting.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset
from tqdm.auto import tqdm

from regroup_core.sources.mnist import build_mnist_model, mnist_split
from regroup_core.store import atomic_write

# Augmentation ranges: small enough that digits keep their identity (no flips).
_MAX_ROTATION_DEG = 10.0
_SCALE_RANGE = (0.9, 1.1)
_MAX_SHIFT_PX = 2.0


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch and force deterministic kernels, restoring the caller's state after."""
    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):  # don't clobber the caller's global RNG
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def random_affine(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-sample random rotation/scale/shift of a (N, 1, H, W) batch.

    Done in one batched ``grid_sample`` (torchvision's v2 RandomAffine draws one
    transform per call, i.e. per batch, and per-sample calls are slow on CPU).
    """
    n, _, h, w = x.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(_MAX_ROTATION_DEG)
    lo, hi = _SCALE_RANGE
    scale = lo + torch.rand(n, generator=generator) * (hi - lo)
    # grid coordinates span [-1, 1] over the image, so 1 px = 2 / size.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * _MAX_SHIFT_PX
    shift = shift * torch.tensor([2.0 / w, 2.0 / h])
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def evaluate_top1(model: nn.Module, dataset: TensorDataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on ``dataset``."""
    model.eval()
    correct = total = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return correct / total


def train_mnist_model(
    name: str,
    epochs: int = 20,
    seed: int = 0,
    *,
    batch_size: int = 64,
    max_lr: float = 3e-3,
    weight_decay: float = 1e-4,
    train_limit: int | None = None,
    evaluate: bool = True,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``name`` (``mnist-vgg`` / ``mnist-resnet``) on the ``train`` split.

    AdamW + one-cycle LR schedule, per-sample random affine augmentation, fixed
    number of epochs.  ``train_limit`` keeps only the first N training samples
    (for smoke tests).  Returns the model in eval mode and a metrics dict with
    top-1 accuracies on train (no augmentation) / selection / test.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    train_set: TensorDataset | Subset = mnist_split("train")
    if train_limit is not None:
        # The split is sorted by index (hence by class); take a strided subset to keep all classes.
        stride = max(1, len(train_set) // train_limit)
        train_set = Subset(train_set, range(0, len(train_set), stride)[:train_limit])

    start = time.perf_counter()
    with _deterministic(seed):
        model = build_mnist_model(name)
        loader = DataLoader(
            train_set,
            batch_size=batch_size,
            shuffle=True,
            num_workers=0,  # single process: bit-reproducible order
            generator=torch.Generator().manual_seed(seed),
        )
        aug_gen = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=len(loader)
        )
        bar = tqdm(range(epochs), desc=name, disable=not progress)
        for _ in bar:
            model.train()
            loss_sum, seen = 0.0, 0
            for x, y in loader:
                loss = F.cross_entropy(model(random_affine(x, aug_gen)), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
    model.eval()
    metrics: dict[str, Any] = {
        "model": name,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "max_lr": max_lr,
        "weight_decay": weight_decay,
        "train_samples": len(train_set),
        "final_train_loss": loss_sum / seen,
        "train_seconds": round(time.perf_counter() - start, 1),
        "torch_version": torch.__version__,
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    if evaluate:
        for split in ("train", "selection", "test"):
            metrics[f"{split}_top1"] = evaluate_top1(model, mnist_split(split))
    return model, metrics


def save_state_dict_atomic(
    state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str]
) -> Path:
    """Write ``state_dict`` as safetensors atomically (no partial files, no pickle)."""
    # Detach + contiguous copies: safetensors refuses shared/non-contiguous storage.
    tensors = {k: v.detach().contiguous().clone() for k, v in state_dict.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp))
