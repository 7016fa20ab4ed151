"""Reading user images: modes, EXIF rotation, and refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from regroup_core.errors import ImageError
from regroup_core.sources.images import open_image


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_modes_become_rgb_or_l():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent → white background
    assert open_image(encode(rgba)).getpixel((0, 0)) == (255, 255, 255)
    assert open_image(encode(Image.new("L", (4, 4), 7))).mode == "L"
    assert open_image(encode(Image.new("P", (4, 4)))).mode == "RGB"
    sixteen = Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16))
    got = open_image(encode(sixteen))
    assert got.mode == "L" and np.asarray(got).tolist() == [[0, 64], [128, 255]]
    assert open_image(encode(Image.new("CMYK", (3, 3)), "JPEG")).mode == "RGB"


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (6, 2), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° CW to view"
    got = open_image(encode(img, "JPEG", exif=exif))
    assert got.size == (2, 6)


def test_bad_files_name_the_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    with pytest.raises(ImageError, match="notes.png: expected an image"):
        open_image(text)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(encode(Image.new("RGB", (64, 64), (1, 2, 3)))[:60])
    with pytest.raises(ImageError, match="cut.png"):
        open_image(truncated)
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "missing.png")


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr("regroup_core.sources.images.MAX_PIXELS", 100)
    with pytest.raises(ImageError, match="decompression bomb"):
        open_image(encode(Image.new("L", (20, 20))), name="bomb.png")
