"""Pretrained weights into torch's hub cache, with their size known first and progress while they stream.

``torch.hub.load_state_dict_from_url`` (what torchvision's loaders call) prints a terminal bar
and nothing else: a front end cannot say how large a download is or how far it got. Here the
size comes from the weights' metadata before anything is fetched (torchvision records it), the
file streams in chunks with a callback, and it lands exactly where ``torch.hub`` looks
(``<torch.hub.get_dir()>/checkpoints/<file name>``), so the ordinary loader then finds it
offline. Offline, the error says which file to put where.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ModelError, one_line

__all__ = ["DownloadProgress", "HubFile", "download", "hub_file", "offline_advice", "torchvision_weights_file"]

DownloadProgress = Callable[[int, "int | None"], None]
"""``callback(bytes_done, bytes_total_or_None)`` after every chunk."""

CHUNK = 1 << 20
"""Bytes read per step (1 MiB): a progress update every few milliseconds on a fast line."""

_HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's own convention: name-<sha256 prefix>.ext


@dataclass(frozen=True)
class HubFile:
    """A weights file torch.hub fetches by URL: where it will live, how large it is (when known)."""

    url: str
    path: Path
    size_bytes: int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def cached(self) -> bool:
        return self.path.is_file()

    @property
    def size_text(self) -> str:
        return "size unknown" if self.size_bytes is None else f"{self.size_bytes / 1e6:.0f} MB"

    @property
    def host(self) -> str:
        return urlparse(self.url).netloc or self.url


def hub_file(url: str, size_bytes: int | None = None) -> HubFile:
    """The file ``url`` names in torch.hub's checkpoints folder (read at call time: ``TORCH_HOME``)."""
    import torch.hub

    name = os.path.basename(urlparse(url).path)
    if not name:
        raise ModelError(f"expected a URL naming a weights file, got '{url}'")
    return HubFile(url=url, path=Path(torch.hub.get_dir()) / "checkpoints" / name, size_bytes=size_bytes)


def torchvision_weights_file(model: str, weights: str = "IMAGENET1K_V1") -> HubFile:
    """The hub file of torchvision's ``model`` with the named weights (``DEFAULT``, ``IMAGENET1K_V2``…);
    its size comes from torchvision's metadata (``_file_size`` in MB), so nothing is fetched."""
    import torchvision.models as tvm

    try:
        enum_cls = tvm.get_model_weights(model)
    except (KeyError, ValueError):
        raise ModelError(f"expected a torchvision classification model, got '{model}'") from None
    try:
        entry = enum_cls[weights] if weights != "DEFAULT" else enum_cls.DEFAULT
    except KeyError:
        raise ModelError(f"expected weights in {[w.name for w in enum_cls]} or DEFAULT for {model}, "
                         f"got '{weights}'") from None
    size_mb = entry.meta.get("_file_size")
    return hub_file(entry.url, None if size_mb is None else int(round(float(size_mb) * 1e6)))


def offline_advice(file: HubFile) -> str:
    """What to do when ``file`` cannot be fetched: where to put it by hand, or what to choose instead."""
    return (f"put the file {file.name} ({file.size_text}, from {file.url}) into torch's hub folder "
            f"{_home_relative(file.path.parent)}, or use a weights file or random weights")


def _home_relative(path: Path) -> str:
    home = Path.home()
    return f"~/{path.relative_to(home)}" if home in path.parents else str(path)


def download(file: HubFile, *, callback: DownloadProgress | None = None, timeout: float = 30.0) -> Path:
    """Stream ``file.url`` into ``file.path`` (a no-op when it is there), checking torch.hub's hash
    prefix in the name; a partial file never takes the final name. Failures are one
    :class:`ModelError` that says what to do offline."""
    if file.cached:
        return file.path
    file.path.parent.mkdir(parents=True, exist_ok=True)
    partial = file.path.with_name(f".{file.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(file.url, timeout=timeout) as response, partial.open("wb") as out:
            total = _length(response) or file.size_bytes
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if callback is not None:
                    callback(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(f"expected to download {file.name} ({file.size_text}) from {file.host}, got "
                         f"{one_line(str(reason), 120)} (offline?): {offline_advice(file)}") from None
    _check_hash(partial, file, digest.hexdigest())
    os.replace(partial, file.path)  # atomic: a concurrent reader sees no file or the whole file
    return file.path


def _length(response) -> int | None:
    raw = response.headers.get("Content-Length") if getattr(response, "headers", None) is not None else None
    return int(raw) if raw and str(raw).isdigit() else None


def _check_hash(partial: Path, file: HubFile, hexdigest: str) -> None:
    match = _HASH_PREFIX.search(file.name)
    if match and match.group(1) and not hexdigest.startswith(match.group(1)):
        partial.unlink(missing_ok=True)
        raise ModelError(f"expected {file.name} to have a SHA-256 starting with {match.group(1)}, got "
                         f"{hexdigest[:len(match.group(1))]} (a damaged or interrupted download): try again")
