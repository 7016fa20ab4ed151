"""regroup_core.analysis.drawing: a canvas drawing becomes an MNIST-like digit."""

from __future__ import annotations

import numpy as np
import pytest

from regroup_core.analysis.drawing import digit_from_canvas, ink
from regroup_core.errors import ImageError


def _canvas(h: int = 280, w: int = 280) -> np.ndarray:
    return np.zeros((h, w, 4), dtype=np.uint8) + np.array([0, 0, 0, 255], dtype=np.uint8)


def test_a_stroke_is_fitted_to_20_pixels_and_centred_by_mass():
    canvas = _canvas()
    canvas[40:240, 130:152, :3] = 255  # a white vertical bar: a "1"
    digit = digit_from_canvas(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert 0.0 <= digit.min() and digit.max() <= 1.0
    rows, cols = np.nonzero(digit > 0.1)
    assert rows.max() - rows.min() + 1 == 20  # the longer side fits the 20 × 20 box
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 1 and abs(cols.mean() - 13.5) <= 1


def test_off_centre_drawing_is_moved_to_the_centre():
    canvas = _canvas()
    canvas[10:60, 200:270, :3] = 255  # a blob in the top right corner
    digit = digit_from_canvas(canvas)
    ys, xs = np.nonzero(digit)
    w = digit[ys, xs]
    assert abs((ys * w).sum() / w.sum() - 13.5) <= 1 and abs((xs * w).sum() / w.sum() - 13.5) <= 1


def test_transparent_background_and_ink_levels():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent: no ink
    rgba[0, 0] = (255, 255, 255, 255)
    rgba[1, 1] = (255, 255, 255, 128)
    level = ink(rgba)
    assert level[0, 0] == pytest.approx(1.0) and level[1, 1] == pytest.approx(128 / 255, abs=1e-3) and level[2, 2] == 0


def test_empty_canvas_and_bad_shapes_are_image_errors():
    with pytest.raises(ImageError, match="empty canvas"):
        digit_from_canvas(_canvas(50, 50))
    with pytest.raises(ImageError, match=r"\(H, W, 4\)"):
        digit_from_canvas(np.zeros((5, 5)))
