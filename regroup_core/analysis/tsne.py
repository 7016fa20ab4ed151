"""Accumulator PMFs of one layer and their 2-D t-SNE embedding (the paper's Fig. 5).

``variant`` picks the pos PMFs, the neg PMFs, or both concatenated (each half sums to one).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..engine import DELTA, LayerInfo, Variant, capture, to_pmf
from ..errors import DataError

__all__ = ["embed", "layer_pmfs"]


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


def embed(features: np.ndarray, *, perplexity: float = 30.0, max_iter: int = 500, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE embedding; the perplexity is capped below N as scikit-learn requires."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise DataError(f"expected at least 4 points of shape (N, D) for t-SNE, got {x.shape}")
    if not np.isfinite(x).all():
        raise DataError("expected finite features, got NaN or inf")
    perplexity = float(min(perplexity, (x.shape[0] - 1) / 3))  # sklearn: perplexity < n_samples
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=max(int(max_iter), 250), init="pca",
                learning_rate="auto", random_state=seed)
    # One BLAS/OpenMP thread: for a few hundred points threads only add contention (measured
    # 0.1 s single-threaded against 17 s with oversubscribed threads on a busy 2-core machine).
    with threadpool_limits(1):
        return tsne.fit_transform(x).astype(np.float32)
