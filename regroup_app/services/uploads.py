"""Uploaded files: size limit and a real image check, with one friendly message per failure."""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from regroup_core.errors import ImageError, RegroupError
from regroup_core.sources.images import open_image

__all__ = ["IMAGE_MAX_MB", "MAX_UPLOAD_MB", "conversion_note", "read_bytes_upload", "read_image_upload"]

MAX_UPLOAD_MB = 1024
"""Largest accepted upload (weights and classifier files: ResNet-50 is 98 MB, VGG-19 548 MB); also
``server.maxUploadSize`` in streamlit_config.toml."""

IMAGE_MAX_MB = 25
"""Largest accepted image upload: an image to classify never needs more."""


class Upload(Protocol):  # what st.file_uploader returns (UploadedFile)
    name: str
    size: int

    def getvalue(self) -> bytes: ...


def read_bytes_upload(upload: Upload, *, max_mb: int = MAX_UPLOAD_MB) -> bytes:
    """The bytes of an upload, refusing empty and oversized files."""
    size = int(getattr(upload, "size", 0) or 0)
    if size > max_mb * 2**20:
        raise RegroupError(f"{upload.name}: expected at most {max_mb} MB, got {size / 2**20:.1f} MB")
    data = upload.getvalue()
    if not data:
        raise RegroupError(f"{upload.name}: expected a non-empty file, got 0 bytes")
    if len(data) > max_mb * 2**20:
        raise RegroupError(f"{upload.name}: expected at most {max_mb} MB, got {len(data) / 2**20:.1f} MB")
    return data


def read_image_upload(upload: Upload, *, max_mb: int = IMAGE_MAX_MB) -> Image.Image:
    """An upright 8-bit RGB/L image from an upload (EXIF, palette, 16-bit, alpha handled).

    Raises:
        ImageError: the file is too big, empty, not an image, damaged or a decompression bomb.
    """
    try:
        data = read_bytes_upload(upload, max_mb=max_mb)
    except RegroupError as exc:
        raise ImageError(str(exc)) from None
    return open_image(data, name=upload.name)


def conversion_note(img: Image.Image, input_shape: tuple[int, int, int], *, crops: bool | None) -> str | None:
    """One line saying how an uploaded image is changed before the network sees it (None: not at
    all). ``crops``: True where the model's preprocessing resizes the short side and centre-crops
    (ImageNet), False where it scales the whole image to the input size (MNIST), None: unknown."""
    channels, height, width = input_shape
    changes = []
    if img.size != (width, height):
        how = ("short side resized, centre-cropped" if crops else "" if crops is None else
               "aspect ratio not kept" if img.width * height != img.height * width else "")
        changes.append(f"scaled from {img.width} × {img.height} to {width} × {height}" + (f" ({how})" if how else ""))
    if channels == 1 and img.mode not in ("L", "1"):
        changes.append("converted to greyscale")
    if not changes:
        return None
    return f"Your image was {' and '.join(changes)} for the network: the picture below is what it sees."
