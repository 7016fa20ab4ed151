"""A digit drawn with the mouse, turned into an MNIST-like 28 × 28 image.

MNIST digits are white ink on black, size-normalised to fit a 20 × 20 box (aspect ratio kept,
anti-aliased) and centred by their centre of mass in a 28 × 28 frame (LeCun et al.). A drawing
on a large canvas goes through the same steps, so the embedded models see what they were trained on.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import ImageError

__all__ = ["INK_THRESHOLD", "digit_from_canvas", "ink"]

INK_THRESHOLD = 0.1
"""Pixels darker than this (on [0, 1]) are background."""


def ink(rgba: np.ndarray) -> np.ndarray:
    """(H, W) ink intensity in [0, 1] of a canvas image (H, W, 4) uint8: white strokes on a dark or
    transparent background (the brightness of a pixel times its opacity)."""
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(f"expected a canvas image of shape (H, W, 4), got {arr.shape}")
    rgb = arr[..., :3].astype(np.float32) / 255.0
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    alpha = arr[..., 3].astype(np.float32) / 255.0 if arr.shape[2] == 4 else 1.0
    return np.clip(lum * alpha, 0.0, 1.0)


def digit_from_canvas(rgba: np.ndarray, *, size: int = 28, box: int = 20) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the drawing cropped to its ink, scaled to fit ``box`` and
    centred by its centre of mass.

    Raises:
        ImageError: the canvas holds no ink.
    """
    level = ink(rgba)
    rows, cols = np.nonzero(level > INK_THRESHOLD)
    if rows.size == 0:
        raise ImageError("expected a drawing, got an empty canvas: draw a digit first")
    crop = level[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8), mode="L")
                       .resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    small = np.clip(small, 0.0, 1.0)
    out = np.zeros((size, size), dtype=np.float32)
    total = float(small.sum())
    if total > 0:
        cy = float((small.sum(1) * np.arange(nh)).sum() / total)
        cx = float((small.sum(0) * np.arange(nw)).sum() / total)
    else:  # pragma: no cover - a non-empty crop keeps some ink after resizing
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    top = int(round((size - 1) / 2 - cy))
    left = int(round((size - 1) / 2 - cx))
    top = min(max(top, 0), size - nh)
    left = min(max(left, 0), size - nw)
    out[top:top + nh, left:left + nw] = small
    return out
