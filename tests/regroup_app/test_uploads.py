"""regroup_app.services.uploads: size limit, empty files, real image check, odd-but-valid images accepted."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from regroup_app.services.uploads import conversion_note, read_image_upload
from regroup_core.errors import ImageError


@dataclass
class FakeUpload:  # the part of Streamlit's UploadedFile we use
    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def getvalue(self) -> bytes:
        return self.data


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_oversized_and_empty_uploads_are_refused_by_name():
    with pytest.raises(ImageError, match="big.png: expected at most 1 MB"):
        read_image_upload(FakeUpload("big.png", b"\0" * (2**20 + 1)), max_mb=1)
    with pytest.raises(ImageError, match="empty.png: expected a non-empty file"):
        read_image_upload(FakeUpload("empty.png", b""))


def test_non_image_is_a_friendly_image_error():
    with pytest.raises(ImageError, match="notes.png: expected an image"):
        read_image_upload(FakeUpload("notes.png", b"hello, not a picture"))


def test_palette_16bit_and_rgba_images_are_accepted():
    pal = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P")
    deep = Image.fromarray((np.arange(64).reshape(8, 8) * 1000).astype(np.uint16))
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    for name, img in (("pal.png", pal), ("deep.png", deep), ("rgba.png", rgba)):
        out = read_image_upload(FakeUpload(name, _png(img)))
        assert out.mode in ("L", "RGB") and out.size == (8, 8)
    assert read_image_upload(FakeUpload("rgba.png", _png(rgba))).getpixel((0, 0)) == (255, 255, 255)  # on white


def test_escape_codes_in_an_upload_name_never_reach_the_message():
    with pytest.raises(ImageError) as err:
        read_image_upload(FakeUpload("\x1b[31mred\x1b]0;t\x07.png", b"garbage"))
    assert "red" in str(err.value) and "\x1b" not in str(err.value) and "\x07" not in str(err.value)


def test_conversion_note_says_how_an_upload_is_changed():
    wide = Image.new("RGB", (500, 300))
    note = conversion_note(wide, (1, 28, 28), crops=False)
    assert "500 × 300 to 28 × 28 (aspect ratio not kept)" in note and "greyscale" in note
    assert "centre-cropped" in conversion_note(wide, (3, 224, 224), crops=True)
    assert conversion_note(Image.new("L", (28, 28)), (1, 28, 28), crops=False) is None
    assert "(" not in conversion_note(Image.new("L", (56, 56)), (1, 28, 28), crops=False)  # same shape, only scaled
