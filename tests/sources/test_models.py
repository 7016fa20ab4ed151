"""Model loading: embedded defaults, torchvision families, safe weights files, fingerprints."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from regroup_core.errors import ArgumentError, DataError, ModelError
from regroup_core.sources.models import load_model, resolve_device, weights_fingerprint


def test_embedded_default_is_offline_and_ready():
    bundle = load_model("mnist-vgg")
    assert bundle.weights == "embedded" and not bundle.model.training
    assert bundle.class_names == tuple(str(i) for i in range(10))
    assert [layer.name for layer in bundle.layers][-1] == "classifier.6" and len(bundle.layers) == 8
    x = bundle.preprocess(Image.new("L", (40, 40), color=255))
    assert x.shape == (1, 28, 28) and float(x.max()) <= 1.0
    assert float(x.mean()) == 0.0  # white paper is inverted to MNIST's black background
    assert bundle.model(x.unsqueeze(0)).shape == (1, 10)


def test_torchvision_bundle_with_random_weights():
    bundle = load_model("resnet18", weights="random", device="cpu")
    assert len(bundle.layers) == 21 and bundle.layers[-1].name == "net.fc"
    assert len(bundle.class_names) == 1000 and bundle.class_names[0] == "tench"
    x = bundle.preprocess(Image.new("RGB", (300, 200), color=(255, 0, 0)))
    assert x.shape == (3, 224, 224) and abs(float(x[0].mean()) - 1.0) < 1e-6


def test_weights_file_round_trip_and_fingerprint(tmp_path):
    bundle = load_model("mnist-resnet")
    st = tmp_path / "w.safetensors"
    save_file(bundle.model.state_dict(), str(st))
    pth = tmp_path / "w.pth"
    torch.save(bundle.model.state_dict(), pth)
    for path in (st, pth):
        again = load_model("mnist-resnet", weights=path)
        assert again.fingerprint == bundle.fingerprint
    assert load_model("mnist-resnet", weights="random").fingerprint != bundle.fingerprint


def test_malicious_or_mismatched_weights_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as fh:
        pickle.dump({"conv.weight": Evil()}, fh)
    torch.save({"conv.weight": Evil()}, tmp_path / "evil2.pth")
    for path in (evil, tmp_path / "evil2.pth"):
        with pytest.raises(ModelError, match="nothing was unpickled|unreadable file"):
            load_model("mnist-vgg", weights=path)
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()  # the payload never ran
    other = tmp_path / "other.safetensors"
    save_file(load_model("mnist-resnet").model.state_dict(), str(other))
    with pytest.raises(ModelError, match="mismatch"):
        load_model("mnist-vgg", weights=other)
    with pytest.raises(ModelError, match="no file"):
        load_model("mnist-vgg", weights=tmp_path / "nope.pth")


def test_unknown_model_and_device():
    with pytest.raises(ModelError, match="expected a model name"):
        load_model("alexnet")
    if not torch.cuda.is_available():
        with pytest.raises(ArgumentError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(ArgumentError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("gpu please")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_check_batch():
    bundle = load_model("mnist-vgg")
    bundle.check_batch(torch.rand(2, 1, 28, 28))
    with pytest.raises(DataError, match=r"shape \(B, 1, 28, 28\)"):
        bundle.check_batch(torch.rand(2, 3, 28, 28))
    with pytest.raises(DataError, match="finite"):
        bundle.check_batch(torch.full((1, 1, 28, 28), float("nan")))
    with pytest.raises(DataError, match=r"\[0.0, 1.0\]"):
        bundle.check_batch(torch.full((1, 1, 28, 28), 2.0))


def test_fingerprint_sees_buffers_and_values():
    net = torch.nn.BatchNorm2d(3)
    before = weights_fingerprint(net)
    net.running_mean += 1
    assert weights_fingerprint(net) != before


def _vgg_state_as(tmp_path, dtype):
    from safetensors.torch import load_file

    from regroup_core.sources.models import ASSETS_DIR

    state = load_file(str(ASSETS_DIR / "models" / "mnist-vgg.safetensors"))
    path = tmp_path / "w.safetensors"
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, str(path))
    return path


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_and_double_precision_checkpoints_load_as_float32(tmp_path, dtype):
    bundle = load_model("mnist-vgg", weights=_vgg_state_as(tmp_path, dtype))
    reference = load_model("mnist-vgg")
    for (name, mine), theirs in zip(bundle.model.state_dict().items(), reference.model.state_dict().values()):
        assert mine.dtype == theirs.dtype, name
        # the file's precision is all that differs: float16 keeps 11 significant bits
        if mine.is_floating_point():
            torch.testing.assert_close(mine, theirs, rtol=2 ** -8, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_weights_of_another_kind_are_refused_not_cast(tmp_path, dtype):
    with pytest.raises(ModelError, match=f"dtype {dtype}.*torch.float32 tensor belongs"):
        load_model("mnist-vgg", weights=_vgg_state_as(tmp_path, dtype))


def test_empty_and_unusable_weights_paths_are_refused(tmp_path):
    for weights in ("", " "):
        with pytest.raises(ModelError, match="expected 'random', a named weights set or the path"):
            load_model("mnist-vgg", weights=weights)
    with pytest.raises(ModelError, match="unusable path"):
        load_model("mnist-vgg", weights=tmp_path / ("a" * 5000 + ".pth"))


def test_random_weights_are_the_same_in_every_process_and_leave_the_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = load_model("mnist-vgg", weights="random")
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG stream is untouched
    assert load_model("mnist-vgg", weights="random").fingerprint == first.fingerprint
    assert load_model("resnet18", weights="random").fingerprint == load_model("resnet18", weights="random").fingerprint


def test_random_bytes_as_weights_are_not_called_python_objects(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ModelError, match="not a PyTorch state dict") as info:
        load_model("mnist-vgg", weights=junk)
    assert "holding Python objects" not in str(info.value) and "weights_only=False" not in str(info.value)


def test_random_weights_built_in_threads_are_all_the_same_network():
    """Eight sessions asking for random weights at once, while another thread draws from the
    seeded global generator: every build is the serial one (one lock for the global RNG)."""
    from concurrent.futures import ThreadPoolExecutor

    from regroup_core.rng import global_rng

    def draw_elsewhere(_):
        with global_rng(99):
            return torch.rand(1000).sum().item()

    expected = load_model("mnist-vgg", weights="random").fingerprint
    with ThreadPoolExecutor(max_workers=8) as pool:
        builds = [pool.submit(load_model, "mnist-vgg", weights="random") for _ in range(8)]
        draws = list(pool.map(draw_elsewhere, range(8)))
    assert {b.result().fingerprint for b in builds} == {expected}
    assert len(set(draws)) == 1  # the other thread's seeded draws were not disturbed either
