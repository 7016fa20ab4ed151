"""Reading user images: modes, EXIF rotation, and refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from regroup_core.errors import ImageError, RegroupError
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


def _declared_png(width: int, height: int, bit_depth: int = 16) -> bytes:
    """A small, valid PNG of a huge all-zero grayscale image (zlib shrinks the zero rows to KBs)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + width * bit_depth // 8)
    pixels = zlib.compressobj(9)
    body = b"".join(pixels.compress(row) for _ in range(height)) + pixels.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_pixel_limit_is_checked_from_the_header_before_decoding(monkeypatch):
    bomb = _declared_png(6300, 6300)  # 39.7 MP of 16-bit grey in ~80 KB
    assert len(bomb) < 200_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    with pytest.raises(ImageError, match=r"bomb.png: expected at most 30,000,000 pixels .* 6300x6300"):
        open_image(bomb, name="bomb.png")
    assert not decoded  # refused from the header
    monkeypatch.setenv("REGROUP_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageError, match="at most 100 pixels"):
        open_image(encode(Image.new("L", (20, 20))), name="small.png")
    monkeypatch.setenv("REGROUP_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(RegroupError, match="REGROUP_MAX_IMAGE_PIXELS"):
        open_image(encode(Image.new("L", (20, 20))), name="small.png")


def test_nan_and_inf_pixels_are_refused_with_the_file_name(tmp_path):
    for bad in (np.nan, np.inf):
        arr = np.ones((4, 4), dtype=np.float32)
        arr[1, 2] = bad
        path = tmp_path / f"float-{bad}.tif"
        Image.fromarray(arr, mode="F").save(path)
        with pytest.raises(ImageError, match=rf"float-{bad}.tif: expected finite pixel values"):
            open_image(path)
    ok = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 2.0]], dtype=np.float32), mode="F").save(ok)
    assert np.asarray(open_image(ok)).tolist() == [[0, 64], [128, 255]]


def test_a_bad_pixel_limit_setting_is_named_not_blamed_on_the_image(monkeypatch):
    monkeypatch.setenv("REGROUP_MAX_IMAGE_PIXELS", "abc")
    with pytest.raises(RegroupError, match="REGROUP_MAX_IMAGE_PIXELS: expected an integer") as err:
        open_image(encode(Image.new("L", (4, 4))), name="fine.png")
    assert "damaged" not in str(err.value)


def test_an_extreme_aspect_ratio_is_refused_before_resizing():
    from regroup_core.sources.models import imagenet_preprocess

    strip = open_image(encode(Image.new("L", (20_000, 1), 255)))  # 20 000 px: within the pixel limit
    with pytest.raises(ImageError, match="aspect ratio 20000:1"):  # resized it would be 256 x 5 120 000
        imagenet_preprocess()(strip)
    assert imagenet_preprocess()(Image.new("RGB", (300, 200))).shape == (3, 224, 224)


def test_escape_codes_and_odd_paths_in_a_file_name_stay_out_of_the_message(tmp_path):
    evil = tmp_path / "evil\x1b[31mred\x1b]0;title\x07.png"
    evil.write_bytes(b"not an image")
    with pytest.raises(ImageError) as err:
        open_image(evil)
    assert "\x1b" not in str(err.value) and "\x07" not in str(err.value) and "red" in str(err.value)
    with pytest.raises(ImageError, match="unusable path"):
        open_image(tmp_path / ("a" * 5000 + ".png"))  # a name too long for the file system


def test_a_canvas_data_url_goes_through_the_same_pixel_limit_before_decoding():
    import base64
    import time

    from regroup_core.sources.images import rgba_from_data_url

    ok = rgba_from_data_url("data:image/png;base64," + base64.b64encode(encode(Image.new("RGBA", (9, 7)))).decode())
    assert ok.shape == (7, 9, 4) and ok.dtype == np.uint8
    bomb = "data:image/png;base64," + base64.b64encode(_declared_png(9000, 9000, bit_depth=8)).decode()
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"the canvas: expected at most 30,000,000 pixels .*9000x9000.*before deco"):
        rgba_from_data_url(bomb)
    assert time.perf_counter() - start < 1.0
    for crafted, why in [(None, "got NoneType"), (b"\x80pickle", "got bytes"), ("hello", "other text"),
                         ("http://example.com/x.png", "other text"), ("data:image/png;base64,!!notbase64!!",
                                                                     "other characters"),
                         ("data:image/png;base64," + base64.b64encode(b"plain text").decode(), "unrecognised")]:
        with pytest.raises(ImageError, match=why):
            rgba_from_data_url(crafted)


def test_a_fifo_is_named_a_fifo_never_opened(tmp_path):
    import os

    fifo = tmp_path / "weights.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"got a named pipe \(FIFO\)"):
        open_image(fifo)
