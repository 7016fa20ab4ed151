"""Accumulator PMFs of one layer and their 2-D t-SNE embedding (the paper's Fig. 5).

``variant`` picks the pos PMFs, the neg PMFs, or both concatenated (each half sums to one).

:func:`embed` embeds clean points with openTSNE and, when given, *places* further points (the
adversarial versions) into that same embedding with openTSNE's ``transform``: the clean map does
not move when adversarial points are added, and an adversarial point lands next to the clean
points whose accumulators it resembles — which is exactly the question the view asks.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..engine import DELTA, LayerInfo, Variant, capture, to_pmf
from ..errors import DataError

__all__ = ["embed", "layer_pmfs", "variant_features"]


def layer_pmfs(model: nn.Module, images: torch.Tensor, layer: LayerInfo, *,
               variant: Variant | str = Variant.BOTH, batch_size: int = 256, delta: float = DELTA) -> np.ndarray:
    """(N, D) — or (N, 2D) for pos+neg — float64 PMFs of ``layer`` for a batch of images."""
    variant = Variant(variant)
    device = next(model.parameters()).device
    parts = []
    for start in range(0, images.shape[0], batch_size):
        acc = capture(model, images[start:start + batch_size].to(device), [layer])
        pos = to_pmf(acc.pos[layer.name].cpu(), delta)
        neg = to_pmf(acc.neg[layer.name].cpu(), delta)
        parts.append({Variant.POS: pos, Variant.NEG: neg, Variant.BOTH: torch.cat([pos, neg], 1)}[variant])
    if not parts:
        raise DataError("expected at least one image, got none")
    return torch.cat(parts).numpy()


def variant_features(pmfs: np.ndarray, variant: Variant | str) -> np.ndarray:
    """The pos half, the neg half or all of (N, 2D) pos+neg PMFs (as :func:`layer_pmfs` returns)."""
    variant = Variant(variant)
    pmfs = np.asarray(pmfs)
    if pmfs.ndim != 2 or pmfs.shape[1] % 2:
        raise DataError(f"expected (N, 2D) pos+neg PMFs, got shape {pmfs.shape}")
    d = pmfs.shape[1] // 2
    return {Variant.POS: pmfs[:, :d], Variant.NEG: pmfs[:, d:], Variant.BOTH: pmfs}[variant]


def _check(x: np.ndarray, what: str, min_rows: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < min_rows:
        raise DataError(f"expected at least {min_rows} {what} of shape (N, D) for t-SNE, got {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"expected finite {what}, got NaN or inf")
    return x


def embed(features: np.ndarray, *, placed: np.ndarray | None = None, perplexity: float = 30.0,
          max_iter: int = 500, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE embedding of ``features`` — or (N + P, 2) with ``placed`` (P, D) points put into
    it afterwards (openTSNE ``transform``). The perplexity is capped below N / 3."""
    from openTSNE import TSNE  # lazy: only the t-SNE page needs it, and it loads numba
    from threadpoolctl import threadpool_limits  # lazy: with openTSNE, whose BLAS threads it caps

    x = _check(features, "points", 4)
    extra = None if placed is None else _check(placed, "placed points", 0)
    if extra is not None and extra.shape[1] != x.shape[1]:
        raise DataError(f"expected placed points with {x.shape[1]} features, got {extra.shape[1]}")
    perplexity = float(max(1.0, min(perplexity, (x.shape[0] - 1) / 3)))
    iters = max(int(max_iter), 250)
    tsne = TSNE(n_components=2, perplexity=perplexity, n_iter=iters, early_exaggeration_iter=iters // 2,
                initialization="pca", neighbors="exact", negative_gradient_method="bh", n_jobs=1,
                random_state=seed, verbose=False)
    # One BLAS/OpenMP thread: for a few hundred points threads only add contention (measured
    # 0.1 s single-threaded against 17 s with oversubscribed threads on a busy 2-core machine).
    with threadpool_limits(1):
        embedding = tsne.fit(x)
        out = np.asarray(embedding, dtype=np.float32)
        if extra is not None and len(extra):
            k = int(min(25, x.shape[0] - 1))
            moved = embedding.transform(extra, perplexity=min(5.0, max(1.0, (k - 1) / 3)), k=k)
            out = np.concatenate([out, np.asarray(moved, dtype=np.float32)])
    return out
