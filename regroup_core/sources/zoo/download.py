"""Downloading a pretrained weights file with its size shown and progress reported.

The one place where the library opens a network connection for torchvision weights (timm and
RobustBench download through their own packages): tests replace :func:`open_url` at this
boundary. A file lands in torch hub's own checkpoint folder (shared with torchvision), written
to a temporary name and renamed once its SHA-256 prefix (in torchvision's file names) matches.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ...errors import ModelError, one_line

__all__ = ["Download", "DownloadProgress", "fetch", "hub_file", "open_url"]

DownloadProgress = Callable[[int, int | None], None]
"""``progress(done_bytes, total_bytes)`` (total None when the server does not say)."""

_HASH = re.compile(r"-([a-f0-9]{8,})\.")


@dataclass(frozen=True)
class Download:
    """A weights file a model reference needs from the network.

    Attributes:
        what: a short human description (``torchvision resnet50 IMAGENET1K_V2``).
        url: where it comes from (empty where a package downloads it its own way).
        size_bytes: its size when known beforehand (torchvision's metadata), else None.
        cached: already on this machine (no download will happen).
    """

    what: str
    url: str
    size_bytes: int | None
    cached: bool

    @property
    def size_text(self) -> str:
        return "size unknown" if self.size_bytes is None else f"{self.size_bytes / 1e6:.0f} MB"


def hub_file(url: str) -> Path:
    """Where torch hub (and so torchvision) keeps the file of ``url``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def open_url(url: str):  # noqa: ANN201 - a file-like HTTP response
    """The network boundary (tests monkeypatch this)."""
    from urllib.request import Request, urlopen

    # https URLs from torchvision's metadata only
    return urlopen(Request(url, headers={"User-Agent": "regroup-explorer"}), timeout=30)  # noqa: S310


def fetch(download: Download, progress: DownloadProgress | None = None) -> Path:
    """The file of ``download`` in torch hub's cache, downloaded first when missing."""
    target = hub_file(download.url)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, done = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out, open_url(download.url) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and str(length).isdigit() else download.size_bytes
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        expected = _HASH.search(target.name)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise ModelError(f"expected {download.what} with SHA-256 {expected.group(1)}…, got a file with "
                             f"{digest.hexdigest()[:len(expected.group(1))]}… (a damaged download): try again")
        os.replace(tmp, target)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - no network, a proxy, a full disk...
        raise ModelError(f"expected to download {download.what} ({download.size_text}) from {download.url}, "
                         f"got {type(exc).__name__}: {one_line(exc, 160)}; offline, pass a local weights file "
                         "(--weights FILE) or --weights random") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
