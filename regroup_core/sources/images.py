"""Reading user images safely: one clear error per bad file, never a traceback.

Handles what real uploads contain: EXIF rotation, grayscale, RGBA/LA (composited on
white), palette, 16-bit and float images, and refuses decompression bombs and files that
are not images at all.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..checks import integer, not_a_file, path_kind
from ..errors import ImageError

__all__ = ["MAX_BYTES", "MAX_PIXELS", "max_pixels", "open_image", "rgba_from_bytes", "rgba_from_data_url"]

MAX_PIXELS = 30_000_000
"""Default largest accepted image, in pixels (a 30-megapixel camera photo passes; ImageNet's
photos are far smaller). Checked from the file's header before anything is decoded, so a tiny
file declaring a huge image (a decompression bomb) costs nothing. ``REGROUP_MAX_IMAGE_PIXELS``
overrides it."""

MAX_BYTES = 25 * 1024 * 1024
"""Largest accepted file size."""


def max_pixels() -> int:
    """The pixel limit in force: ``REGROUP_MAX_IMAGE_PIXELS`` or :data:`MAX_PIXELS`."""
    raw = os.environ.get("REGROUP_MAX_IMAGE_PIXELS")
    if raw is None:
        return MAX_PIXELS
    return integer(raw, "REGROUP_MAX_IMAGE_PIXELS", lo=1)


def _to_8bit(img: Image.Image, label: str) -> Image.Image:
    """16-bit and float images → 8-bit 'L', scaled by their own range (no clipping to white)."""
    arr = np.array(img, dtype=np.float32)  # a writable copy
    if not np.isfinite(arr).all():
        raise ImageError(f"{label}: expected finite pixel values, got NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return Image.fromarray(np.zeros(arr.shape, dtype=np.uint8), mode="L")
    arr -= lo
    arr *= 255.0 / (hi - lo)
    return Image.fromarray(np.round(arr).astype(np.uint8), mode="L")


def _read_bytes(source: str | os.PathLike[str] | bytes, label: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            if not path_kind(path, ImageError, "an image file", label):
                raise ImageError(f"{label}: expected an image file, got {not_a_file(path)}")
            if path.stat().st_size > MAX_BYTES:
                raise ImageError(f"{label}: expected at most {MAX_BYTES // 2**20} MiB, got "
                                 f"{path.stat().st_size / 2**20:.1f} MiB")
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{label}: expected a readable image file, got {type(exc).__name__}: "
                             f"{exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ImageError(f"{label}: expected at most {MAX_BYTES // 2**20} MiB, got {len(data) / 2**20:.1f} MiB")
    return data


def _decode(data: bytes, label: str, limit: int) -> Image.Image:
    """Decode ``data`` after checking its header against the pixel ``limit``: every image the project
    reads (a file, an upload, a canvas, a link's drawing) goes through here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # reads the header only
            if img.width * img.height > limit:
                raise ImageError(f"{label}: expected at most {limit:,} pixels (REGROUP_MAX_IMAGE_PIXELS), got "
                                 f"{img.width}x{img.height} = {img.width * img.height:,} (refused before decoding)")
            img.load()
            return ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{label}: refused as a possible decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: expected an image (PNG, JPEG, ...), got an unrecognised file") from None
    except MemoryError:
        raise ImageError(f"{label}: expected an image that fits in memory, got one too large to decode") from None
    except Exception as exc:  # noqa: BLE001 - a crafted or damaged file can make any decoder step fail
        raise ImageError(f"{label}: expected a readable image, got a damaged file "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None


def open_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Image.Image:
    """Open an image file (path or raw bytes) as an upright 8-bit 'RGB' or 'L' PIL image.

    Raises:
        ImageError: naming the file, for anything that is not an acceptable image.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    limit = max_pixels()  # a bad REGROUP_MAX_IMAGE_PIXELS is its own error, not a "damaged file"
    img = _decode(_read_bytes(source, label), label, limit)
    try:
        return _upright_8bit(img, label)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unusual pixel mode PIL cannot convert
        raise ImageError(f"{label}: expected an RGB or grayscale image, got mode {img.mode!r} that cannot be "
                         f"converted ({type(exc).__name__})") from None


def rgba_from_data_url(text: object, name: str = "the canvas") -> np.ndarray:
    """(H, W, 4) uint8 pixels of a ``data:image/...;base64,...`` URL (a drawing canvas's value), through
    the same size and pixel limits as any file, with transparency kept (a canvas's background may be
    transparent).

    Raises:
        ImageError: for anything else (not text, not base64, not an image, too large).
    """
    if not isinstance(text, str):
        raise ImageError(f"{name}: expected an image as a data URL, got {type(text).__name__}")
    if len(text) > 2 * MAX_BYTES:
        raise ImageError(f"{name}: expected at most {MAX_BYTES // 2**20} MiB, got {len(text) / 2**20:.1f} MiB of text")
    head, sep, encoded = text.partition(";base64,")
    if not sep or not head.startswith("data:image/"):
        raise ImageError(f"{name}: expected an image as a data URL (data:image/png;base64,...), got other text")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{name}: expected base64 image data, got other characters") from None
    return rgba_from_bytes(data, name)


def rgba_from_bytes(data: object, name: str = "the canvas") -> np.ndarray:
    """(H, W, 4) uint8 pixels of encoded image bytes, through the same size and pixel limits as any
    file, transparency kept (:func:`rgba_from_data_url` without the URL)."""
    if not isinstance(data, bytes):
        raise ImageError(f"{name}: expected image bytes, got {type(data).__name__}")
    img = _decode(_read_bytes(data, name), name, max_pixels())
    try:
        return np.asarray(img.convert("RGBA"))
    except Exception as exc:  # noqa: BLE001 - an unusual pixel mode PIL cannot convert
        raise ImageError(f"{name}: expected an RGB or grayscale image, got mode {img.mode!r} ({type(exc).__name__})"
                         ) from None


def _upright_8bit(img: Image.Image, label: str) -> Image.Image:
    if img.mode.startswith(("I", "F")):  # 16/32-bit integer and float images
        return _to_8bit(img, label)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")
