"""Reading user images safely: one clear error per bad file, never a traceback.

Handles what real uploads contain: EXIF rotation, grayscale, RGBA/LA (composited on
white), palette, 16-bit and float images, and refuses decompression bombs and files that
are not images at all.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = ["MAX_PIXELS", "MAX_BYTES", "open_image"]

MAX_PIXELS = 40_000_000
"""Largest accepted image (pixels); bigger ones are refused as possible decompression bombs."""

MAX_BYTES = 25 * 1024 * 1024
"""Largest accepted file size."""


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float images → 8-bit 'L', scaled by their own range (no clipping to white)."""
    arr = np.asarray(img, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if not np.isfinite([lo, hi]).all():
        raise ImageError("expected finite pixel values, got NaN or inf")
    scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")


def open_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Image.Image:
    """Open an image file (path or raw bytes) as an upright 8-bit 'RGB' or 'L' PIL image.

    Raises:
        ImageError: naming the file, for anything that is not an acceptable image.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    try:
        if isinstance(source, bytes):
            data = source
        else:
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"{label}: expected an image file, got no such file")
            if path.stat().st_size > MAX_BYTES:
                raise ImageError(f"{label}: expected at most {MAX_BYTES // 2**20} MiB, got "
                                 f"{path.stat().st_size / 2**20:.1f} MiB")
            data = path.read_bytes()
        if len(data) > MAX_BYTES:
            raise ImageError(f"{label}: expected at most {MAX_BYTES // 2**20} MiB, got {len(data) / 2**20:.1f} MiB")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"{label}: expected at most {MAX_PIXELS:,} pixels, got "
                                 f"{img.width}x{img.height} (possible decompression bomb)")
            img.load()
            img = ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{label}: refused as a possible decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: expected an image (PNG, JPEG, ...), got an unrecognised file") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{label}: expected a readable image, got a damaged file ({exc})") from None
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")
