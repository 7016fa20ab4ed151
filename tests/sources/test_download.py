"""Weights downloads into torch's hub cache: size known first, progress, hash check, one offline message.
The network is never touched: ``urllib.request.urlopen`` is replaced at the boundary."""

from __future__ import annotations

import hashlib
import io
import urllib.error

import pytest

from regroup_core.errors import ModelError
from regroup_core.sources import download as dl


class _Response(io.BytesIO):
    def __init__(self, data: bytes, length: bool = True) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))} if length else {}


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_torchvision_size_is_known_before_any_download(hub):
    file = dl.torchvision_weights_file("resnet50")
    assert file.name == "resnet50-0676ba61.pth" and file.path.parent == hub
    assert file.size_bytes == 97_781_000 and file.size_text == "98 MB" and not file.cached
    assert dl.torchvision_weights_file("mobilenet_v3_small", "DEFAULT").name.startswith("mobilenet_v3_small-")
    with pytest.raises(ModelError, match="expected weights in .*IMAGENET1K_V1"):
        dl.torchvision_weights_file("resnet50", "IMAGENET9K")
    with pytest.raises(ModelError, match="torchvision classification model"):
        dl.torchvision_weights_file("no_such_net")


def test_download_streams_with_progress_into_the_hub_cache(hub, monkeypatch):
    data = b"w" * (2 * dl.CHUNK + 5)
    prefix = hashlib.sha256(data).hexdigest()[:8]
    file = dl.hub_file(f"https://example.org/models/net-{prefix}.pth")
    seen: list[tuple[int, int | None]] = []
    urls: list[str] = []
    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: urls.append(url) or _Response(data))
    assert dl.download(file, callback=lambda done, total: seen.append((done, total))) == hub / file.name
    assert (hub / file.name).read_bytes() == data
    assert seen == [(dl.CHUNK, len(data)), (2 * dl.CHUNK, len(data)), (len(data), len(data))]
    assert list(hub.iterdir()) == [hub / file.name]  # no partial file left behind
    dl.download(file)  # cached: not fetched again
    assert len(urls) == 1


def test_a_damaged_download_never_takes_the_final_name(hub, monkeypatch):
    file = dl.hub_file("https://example.org/models/net-0123abcd.pth", size_bytes=3)
    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: _Response(b"bad", length=False))
    with pytest.raises(ModelError, match="SHA-256 starting with 0123abcd"):
        dl.download(file)
    assert not hub.exists() or list(hub.iterdir()) == []


def test_offline_is_one_message_saying_where_to_put_the_file(hub, monkeypatch):
    file = dl.torchvision_weights_file("resnet50")

    def offline(url, timeout):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    with pytest.raises(ModelError) as info:
        dl.download(file)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "resnet50-0676ba61.pth (98 MB)" in message and "download.pytorch.org" in message
    assert "name resolution" in message and str(hub) in message and "random weights" in message
    assert not hub.exists() or list(hub.iterdir()) == []
