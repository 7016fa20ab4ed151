"""Model spec files: every key validated with a clear error, no code run when reading, paths
relative to the file, the factory importable from the spec's folder, weights loaded safely."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from regroup_core.errors import ModelError
from regroup_core.sources import load_model
from regroup_core.sources.specfile import read_spec_file, spec_files_in
from regroup_core.sources.zoo import describe

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_model"

FACTORY = '''
from torch import nn

RAN = []

def build(num_classes=3, width=4):
    RAN.append(1)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
'''


def write_spec(folder: Path, body: str, *, module: str = "mynet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(FACTORY)
    (folder / "classes.txt").write_text("red\ngreen\nblue\n")
    spec = folder / "model.toml"
    spec.write_text(body)
    return spec


BASE = f'factory = "mynet:build"\nclasses = "classes.txt"\ninput_size = [3, 8, 8]\n'


def test_reading_runs_no_code_and_resolves_paths(tmp_path):
    spec = write_spec(tmp_path / "m", BASE + 'mean = [0.5, 0.5, 0.5]\nstd = [0.2, 0.2, 0.2]\nfit_data = "train"\n')
    (tmp_path / "m" / "train").mkdir()
    info = read_spec_file(spec)
    assert info.factory == "mynet:build" and info.classes == ("red", "green", "blue")
    assert info.input_size == (3, 8, 8) and info.fit_data == str((tmp_path / "m" / "train").resolve())
    assert "mynet" not in __import__("sys").modules  # nothing imported by reading
    meta = describe(str(spec))
    assert meta.class_names == ("red", "green", "blue") and meta.mean == (0.5, 0.5, 0.5)


def test_factory_weights_and_layers(tmp_path):
    spec = write_spec(tmp_path / "m", BASE + 'arguments = { width = 5 }\nweights = "w.safetensors"\n'
                      'layers = ["0", "5"]\n')
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.BatchNorm2d(5), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 3))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "m" / "w.safetensors"))
    bundle = load_model(spec)
    assert [t.name for t in bundle.layers] == ["0", "5"] and bundle.weights == "spec"
    assert torch.equal(bundle.model.state_dict()["0.weight"], net.state_dict()["0.weight"])
    assert bundle.class_names == ("red", "green", "blue") and bundle.input_shape == (3, 8, 8)
    discovered = load_model(spec, layers=None, weights="random")
    assert discovered.weights == "random"


def test_discovered_layers_take_the_norm_after_a_conv(tmp_path):
    spec = write_spec(tmp_path / "m", BASE + 'mean = [0.5, 0.5, 0.5]\nstd = [0.2, 0.2, 0.2]\n')
    bundle = load_model(spec)
    assert [(t.name, t.source) for t in bundle.layers] == [("net.1", "net.0"), ("net.5", "net.5")]


@pytest.mark.parametrize("body, message", [
    ("", "exactly one of 'factory'"),
    ('factory = "mynet:build"\nmodel = "torchvision:resnet18"\n', "got both"),
    ('factory = "mynet"\nclasses = "classes.txt"\ninput_size = [3, 8, 8]\n',
     "key 'factory': expected 'package.module:function'"),
    ('factory = "mynet:build"\ninput_size = [3, 8, 8]\n', "expected 'input_size' and 'classes' with a 'factory'"),
    (BASE + "colour = 1\n", "unknown key 'colour'"),
    (BASE.replace("[3, 8, 8]", "[3, 8]"), "key 'input_size': expected a list of 3 positive integers"),
    (BASE.replace("[3, 8, 8]", "[3, 0, 8]"), "key 'input_size': expected a list of 3 positive integers"),
    (BASE + "mean = [0.5, 0.5]\nstd = [1, 1]\n", "key 'mean': expected a list of 3 numbers"),
    (BASE + "mean = [0.5, 0.5, 0.5]\nstd = [1, 0, 1]\n", "key 'std': expected a list of 3 positive numbers"),
    (BASE + "mean = [0.5, 0.5, 0.5]\n", "both 'mean' and 'std'"),
    (BASE + 'weights = "missing.pth"\n', "key 'weights': expected a file"),
    (BASE.replace('"classes.txt"', '"nope.txt"'), "key 'classes': expected a file"),
    (BASE.replace('"classes.txt"', '["a"]'), "key 'classes': expected at least 2 classes"),
    (BASE.replace('"classes.txt"', '["a", "a"]'), "key 'classes': expected distinct class names"),
    (BASE + "layers = []\n", "key 'layers': expected a non-empty list"),
    (BASE + "resize = -1\n", "key 'resize': expected a positive integer"),
    (BASE + "epsilon_255 = 300\n", "key 'epsilon_255': expected a number in"),
    (BASE + "arguments = 3\n", "key 'arguments': expected a table"),
    ('model = "spec:other.toml"\n', "key 'model': expected a zoo model"),
    ("factory = [\n", "expected a TOML model spec"),
])
def test_every_key_is_validated(tmp_path, body, message):
    spec = write_spec(tmp_path / "m", body)
    with pytest.raises(ModelError, match=message) as info:
        read_spec_file(spec)
    assert "\n" not in str(info.value) and "model.toml" in str(info.value)


@pytest.mark.parametrize("body, message", [
    (BASE.replace("mynet:build", "absent_module:build"), "expected an importable module 'absent_module'"),
    (BASE.replace("mynet:build", "mynet:nothing"), "expected a function 'nothing'"),
    (BASE + "arguments = { bogus = 1 }\n", "expected factory mynet:build to build a network, got TypeError"),
    (BASE.replace("[3, 8, 8]", "[1, 8, 8]"), "expected 'spec:.*' to take inputs of shape"),
    (BASE.replace('"classes.txt"', '["a", "b"]'), "expected 'spec:.*' to return 2 logits"),
])
def test_load_errors_are_one_line(tmp_path, body, message):
    spec = write_spec(tmp_path / "m", body, module="mynet")
    with pytest.raises(ModelError, match=message):
        load_model(spec)


def test_pickled_weights_are_refused(tmp_path):
    spec = write_spec(tmp_path / "m", BASE + 'weights = "w.pth"\n')
    torch.save({"0.weight": object()}, tmp_path / "m" / "w.pth")  # a pickle with a Python object
    with pytest.raises(ModelError, match="nothing was unpickled"):
        load_model(spec)


def test_model_key_reuses_a_zoo_architecture(tmp_path):
    spec = write_spec(tmp_path / "m", 'model = "cifar10-resnet18"\n')
    bundle = load_model(spec)
    assert bundle.input_shape == (3, 32, 32) and bundle.class_names[0] == "airplane"
    assert bundle.name == f"spec:{spec.resolve()}" and bundle.spec.test_data == "cifar10:test"


def test_spec_files_in_an_operator_folder(tmp_path):
    assert spec_files_in(None) == () and spec_files_in(tmp_path / "absent") == ()
    write_spec(tmp_path / "a", BASE)
    shutil.copy(tmp_path / "a" / "model.toml", tmp_path / "b.toml")
    (tmp_path / "notes.txt").write_text("x")
    assert spec_files_in(tmp_path) == tuple(sorted([(tmp_path / "a" / "model.toml").resolve(),
                                                    (tmp_path / "b.toml").resolve()]))


def test_the_shipped_example_reads():
    info = read_spec_file(EXAMPLE / "model.toml")
    assert info.factory == "tiny_cnn:build" and info.classes == ("circle", "square", "triangle")
    assert info.weights == (EXAMPLE / "tiny_cnn.safetensors").resolve()


def test_the_shipped_example_loads_with_its_checkpoint():
    bundle = load_model(EXAMPLE / "model.toml")
    assert [t.name for t in bundle.layers] == ["net.features.1", "net.features.4", "net.features.6", "net.head"]
    assert bundle.weights == "spec" and bundle.spec.demo_epsilon_255 == 8.0
