"""Zoo adapters: metadata without downloads, and every download mocked at its boundary
(torchvision's file fetch, timm's create_model, RobustBench's load_model, CIFAR-10's archive)."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from conftest import small_bundle
from torch import nn

from regroup_core.errors import DataError, ModelError
from regroup_core.sources import describe, load_model, weights_download
from regroup_core.sources.data import resolve_data
from regroup_core.sources.zoo import download as dl


def test_torchvision_metadata_without_download():
    spec = describe("torchvision:efficientnet_b0")
    assert spec.weights == "IMAGENET1K_V1" and spec.input_shape == (3, 224, 224) and spec.resize == 256
    assert spec.interpolation == "bicubic" and spec.num_classes == 1000 and spec.sample_set == "imagenet"
    assert "IMAGENET1K_V1" in spec.weights_choices and "random" in spec.weights_choices
    assert describe("resnet50").weights == "IMAGENET1K_V1"            # the paper's weights for the alias
    assert describe("torchvision:resnet50").weights == "IMAGENET1K_V2"  # torchvision's DEFAULT otherwise
    assert describe("torchvision:vit_h_14").input_shape == (3, 518, 518)
    assert describe("torchvision:vit_h_14", "random").input_shape == (3, 224, 224)  # the architecture without weights
    with pytest.raises(ModelError, match="expected weights of resnet50 in"):
        describe("resnet50", "IMAGENET1K_V9")


def test_download_size_is_known_before_downloading():
    d = weights_download("resnet50")
    assert d is not None and d.size_bytes == pytest.approx(98e6 * 1.0462, rel=0.02) and d.size_text == "103 MB"
    assert not d.cached and "resnet50-0676ba61.pth" in d.url
    assert weights_download("resnet50", "random") is None and weights_download("mnist-vgg") is None


class _Response(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def _state_bytes(net: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


def test_torchvision_download_reports_progress_and_checks_the_hash(tmp_path, monkeypatch):
    import torchvision.models as tvm

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    net = tvm.squeezenet1_1(weights=None)
    data = _state_bytes(net)
    url = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1.url  # squeezenet1_1-b8a52dc0.pth
    seen = []
    monkeypatch.setattr(dl, "open_url", lambda u: _Response(data))
    # the real hash does not match our stand-in bytes: refused, nothing kept
    with pytest.raises(ModelError, match="a damaged download"):
        load_model("torchvision:squeezenet1_1", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(data), len(data))
    assert not list((tmp_path / "hub" / "checkpoints").iterdir())
    # a file named with its true hash prefix is accepted, built with torchvision's own builder
    digest = hashlib.sha256(data).hexdigest()[:8]
    monkeypatch.setattr(type(tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1), "url", property(
        lambda self: url.replace("b8a52dc0", digest)))
    bundle = load_model("torchvision:squeezenet1_1")
    assert bundle.weights == "IMAGENET1K_V1" and weights_download("torchvision:squeezenet1_1").cached
    assert torch.equal(bundle.model.net.features[0].weight, net.features[0].weight)


def test_torchvision_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url):
        raise OSError("Name or service not known")

    monkeypatch.setattr(dl, "open_url", offline)
    with pytest.raises(ModelError, match=r"expected to download torchvision resnet18 IMAGENET1K_V1 weights "
                                         r"\(47 MB\).*--weights FILE.*--weights random") as info:
        load_model("resnet18")
    assert "\n" not in str(info.value)


def test_timm_pretrained_goes_through_timm_and_offline_is_clear(monkeypatch):
    from regroup_core.sources.zoo import timm_

    calls = []
    real = timm_.create

    def fake(name, pretrained):
        calls.append(pretrained)
        if pretrained:
            raise OSError("offline")
        return real(name, False)

    monkeypatch.setattr(timm_, "create", fake)
    with pytest.raises(ModelError, match="timm's pretrained weights for convnext_atto.*--weights random"):
        load_model("timm:convnext_atto")
    assert calls == [True]
    spec = describe("timm:convnext_atto")
    assert spec.interpolation == "bicubic" and spec.resize == 256
    assert spec.class_names[0] == "tench" and len(set(spec.class_names)) == 1000
    assert weights_download("timm:convnext_atto").size_bytes is None


def test_robustbench_weights_go_through_its_loader(monkeypatch):
    from regroup_core.sources.zoo import robustbench_

    asked = []
    monkeypatch.setattr(robustbench_, "download", lambda d, t, n: (asked.append((d, t, n)), nn.Identity())[1])
    net, label = robustbench_.build("cifar10", "Linf", "Standard", None)
    assert asked == [("cifar10", "Linf", "Standard")] and label == "pretrained" and isinstance(net, nn.Identity)

    def offline(d, t, n):
        raise OSError("offline")

    monkeypatch.setattr(robustbench_, "download", offline)
    with pytest.raises(ModelError, match="expected RobustBench's weights for Standard"):
        load_model("robustbench:cifar10:Linf:Standard")


def test_cifar10_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    from regroup_core.sources import cifar10

    monkeypatch.setenv("REGROUP_CIFAR10", str(tmp_path / "c10"))

    def offline(folder):
        raise OSError("offline")

    monkeypatch.setattr(cifar10, "fetch_archive", offline)
    bundle = load_model("cifar10-resnet18")
    expected = r"expected CIFAR-10 in '.*c10' .*170 MB.*REGROUP_CIFAR10=FOLDER.*--data"
    with pytest.raises(DataError, match=expected) as info:
        resolve_data("cifar10:test", bundle)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="expected a model with CIFAR-10's 10 classes"):
        resolve_data("cifar10:test", small_bundle())
    with pytest.raises(DataError, match="expected a model with 1000 classes for 'foolbox:imagenet'"):
        resolve_data("foolbox:imagenet", bundle)


def test_cifar10_reads_torchvision_files(tmp_path, monkeypatch):
    """A fake archive written in CIFAR-10's format: torchvision reads it once its MD5 check is mocked."""
    import pickle

    import numpy as np
    from torchvision.datasets import CIFAR10

    from regroup_core.sources import cifar10
    from regroup_core.sources.zoo.cifar10_resnet18 import CIFAR10_CLASSES

    folder = tmp_path / "c10"
    batches = folder / "cifar-10-batches-py"

    def fetch(target):
        batches.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
            with open(batches / name, "wb") as fh:
                pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}, fh)
        with open(batches / "batches.meta", "wb") as fh:
            pickle.dump({"label_names": list(CIFAR10_CLASSES)}, fh)

    monkeypatch.setenv("REGROUP_CIFAR10", str(folder))
    monkeypatch.setattr(cifar10, "fetch_archive", fetch)
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: True)
    bundle = load_model("cifar10-resnet18")
    data = resolve_data("cifar10:test", bundle)
    x, y = data[1]
    assert len(data) == 4 and x.shape == (3, 32, 32) and y == 1 and list(data.labels) == [0, 1, 2, 3]
    assert len(resolve_data("cifar10:train", bundle)) == 20


def test_cifar_sized_pictures_are_read_pixel_for_pixel():
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = load_model("cifar10-resnet18").preprocess(Image.fromarray(pixels))
    assert torch.equal((x * 255).round().to(torch.uint8), torch.from_numpy(pixels).permute(2, 0, 1))  # no resampling
    assert load_model("cifar10-resnet18").preprocess(Image.fromarray(pixels).resize((64, 48))).shape == (3, 32, 32)
