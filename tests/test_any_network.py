"""End to end, through the CLI's main() and the API: fit → predict → evaluate for an own
architecture from a spec file (trained here, on a generated folder), torchvision and timm
networks and a RobustBench architecture with random weights, and cifar10-resnet18 with its
real weights on foolbox's 20 CIFAR-10 samples. The pipeline, not accuracy claims."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from regroup_core import defend, fit, load_model
from regroup_core.cli import main
from regroup_core.errors import DataError
from regroup_core.sources.data import resolve_data

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_model"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _example_trainer():
    spec = importlib.util.spec_from_file_location("own_model_train", EXAMPLE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def own_model(tmp_path_factory) -> tuple[Path, Path]:
    """The example's spec, copied next to weights trained here on a small generated folder."""
    root = tmp_path_factory.mktemp("own")
    trainer = _example_trainer()
    trainer.make_shapes(root / "data" / "train", 40, seed=1)
    trainer.make_shapes(root / "data" / "test", 10, seed=2)
    model = root / "model"
    shutil.copytree(EXAMPLE, model, ignore=shutil.ignore_patterns("*.safetensors", "__pycache__"))
    accuracy = trainer.train(root / "data" / "train", model / "tiny_cnn.safetensors", epochs=15)
    assert accuracy > 0.5  # above chance (1/3): enough correctly classified images to fit on
    return model / "model.toml", root / "data"


def test_own_architecture_from_a_spec_file_cli(own_model, capsys, tmp_path):
    spec, data = own_model
    code, out, err = cli(capsys, "layers", "--model", spec, "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == ["net.features.1", "net.features.4", "net.features.6", "net.head"]
    out_file = tmp_path / "own.safetensors"
    code, out, err = cli(capsys, "fit", "--model", spec, "--data", data / "train", "--per-class", 8,
                         "--selection", data / "test", "--out", out_file)
    assert code == 0, err
    assert "4 layers, 3 classes" in out
    image = next((data / "test" / "square").glob("*.png"))
    code, out, err = cli(capsys, "predict", "--model", spec, "--classifier", out_file, "--json", image)
    assert code == 0, err
    row = json.loads(out)[0]
    assert row["softmax_top5"][0][0] in ("circle", "square", "triangle") and len(row["layers"]) == 4
    code, out, err = cli(capsys, "evaluate", "--model", spec, "--classifier", out_file, "--data", data / "test",
                         "--n", 6, "--steps", 3, "--attacks", "pgd", "--out", tmp_path / "eval", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["clean"]["n"] == 6 and payload["rows"][0]["attack"] == "pgd"
    # --layers: fit on two voters only; predict reads the classifier's own layers
    two = tmp_path / "two.safetensors"
    code, out, err = cli(capsys, "fit", "--model", spec, "--data", data / "train", "--per-class", 5, "--k", 2,
                         "--layers", "net.features.4,net.head", "--out", two)
    assert code == 0 and "2 layers" in out, err
    code, out, err = cli(capsys, "predict", "--model", spec, "--classifier", two, "--json", image)
    assert code == 0 and len(json.loads(out)[0]["layers"]) == 2, err


def test_own_architecture_from_a_spec_file_api(own_model):
    spec, data = own_model
    bundle = load_model(spec)
    classifiers = fit(bundle, str(data / "train"), per_class=5, k=3)
    defended = defend(bundle, classifiers)
    test = resolve_data(str(data / "test"), bundle)
    x = torch.stack([test[i][0] for i in range(4)])
    prediction = defended.predict(x)
    assert prediction.borda.shape == (4, 3) and bundle.weights == "spec"


def test_a_spec_classifier_follows_its_folder_when_moved(own_model, capsys, tmp_path):
    """The spec's path names the model, but a moved or shared folder is the same model (same weights)."""
    spec, data = own_model
    out_file = tmp_path / "own.safetensors"
    code, out, err = cli(capsys, "fit", "--model", spec, "--data", data / "train", "--per-class", 4, "--k", 2,
                         "--out", out_file)
    assert code == 0, err
    moved = tmp_path / "moved"
    shutil.copytree(spec.parent, moved)
    image = next((data / "test" / "circle").glob("*.png"))
    code, out, err = cli(capsys, "predict", "--model", moved / "model.toml", "--classifier", out_file, "--json", image)
    assert code == 0, err
    other = tmp_path / "other"  # same architecture, other weights: still refused, by the fingerprint
    shutil.copytree(spec.parent, other)
    weights = load_file(other / "tiny_cnn.safetensors")
    save_file({k: v + 0.5 if v.is_floating_point() else v for k, v in weights.items()}, other / "tiny_cnn.safetensors")
    code, out, err = cli(capsys, "predict", "--model", other / "model.toml", "--classifier", out_file, "--json", image)
    assert code != 0 and "other weights" in err


def test_a_folder_whose_names_are_not_the_model_classes_is_one_error(own_model, tmp_path):
    spec, _ = own_model
    for name in ("circle", "square", "hexagon"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (32, 32)).save(tmp_path / name / "a.png")
    with pytest.raises(DataError, match=r"named like the model's 3 classes .* 1 not a class name: 'hexagon'"):
        resolve_data(str(tmp_path), load_model(spec))


def _self_labelled_list(bundle, folder: Path, n: int) -> Path:
    """``n`` smooth random pictures labelled with the network's own top-1 (random weights
    classify no real picture correctly; the pipeline is what is tested here)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    c, h, w = bundle.input_shape
    lines = []
    for i in range(n):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR).save(folder / f"{i}.png")
    with torch.no_grad():
        x = torch.stack([bundle.preprocess(Image.open(folder / f"{i}.png")) for i in range(n)])
        labels = bundle.model(x).argmax(1).tolist()
    lines = [f"{i}.png {label}" for i, label in enumerate(labels)]
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder / "list.txt"


@pytest.mark.parametrize("reference, voters", [
    ("torchvision:mobilenet_v3_small", 36),
    ("timm:convnext_atto", 41),
    ("robustbench:cifar10:Linf:Standard", 29),
])
def test_zoo_models_with_random_weights_cli(reference, voters, capsys, tmp_path):
    bundle = load_model(reference, "random")
    assert len(bundle.layers) == voters
    data = _self_labelled_list(bundle, tmp_path / "imgs", 4)
    out_file = tmp_path / "c.safetensors"
    code, out, err = cli(capsys, "fit", "--model", reference, "--weights", "random", "--data", data,
                         "--on-empty", "exclude", "--per-class", 2, "--k", 3, "--out", out_file)
    assert code == 0, err
    assert f"{voters} layers, {bundle.num_classes} classes" in out
    code, out, err = cli(capsys, "predict", "--model", reference, "--weights", "random", "--classifier", out_file,
                         "--json", tmp_path / "imgs" / "0.png")
    assert code == 0, err
    assert json.loads(out)[0]["k"] == 3
    code, out, err = cli(capsys, "evaluate", "--model", reference, "--weights", "random", "--classifier", out_file,
                         "--data", data, "--n", 2, "--steps", 2, "--attacks", "pgd", "--out", tmp_path / "e", "--json")
    assert code == 0, err
    assert json.loads(out)["clean"]["n"] == 2


def test_cifar10_resnet18_real_weights_on_foolbox_samples(capsys, tmp_path):
    bundle = load_model("cifar10-resnet18")
    samples = resolve_data("foolbox:cifar10", bundle)
    x = torch.stack([samples[i][0] for i in range(len(samples))])
    with torch.no_grad():
        assert (bundle.model(x).argmax(1).numpy() == samples.labels).all()  # 20/20, as DESIGN.md says
    out_file = tmp_path / "c10.safetensors"
    code, out, err = cli(capsys, "fit", "--model", "cifar10-resnet18", "--data", "foolbox:cifar10",
                         "--on-empty", "exclude", "--per-class", 5, "--out", out_file)
    assert code == 0, err
    assert "21 layers, 10 classes, 20 samples" in out
    assert "excluded 2 class(es) without a fitting sample from every vote: 2 (bird), 4 (deer)" in out
    code, out, err = cli(capsys, "evaluate", "--model", "cifar10-resnet18", "--classifier", out_file, "--data",
                         "foolbox:cifar10", "--n", 3, "--steps", 3, "--epsilon", 8, "--attacks", "pgd",
                         "--out", tmp_path / "e", "--json")
    assert code == 0, err
    assert json.loads(out)["clean"]["softmax_top1"] == 100.0


def test_cifar10_default_data_offline_is_one_line(capsys, tmp_path, monkeypatch):
    from regroup_core.sources import cifar10

    monkeypatch.setenv("REGROUP_CIFAR10", str(tmp_path / "c10"))
    monkeypatch.setattr(cifar10, "fetch_archive", lambda folder: (_ for _ in ()).throw(OSError("offline")))
    code, _, err = cli(capsys, "fit", "--model", "cifar10-resnet18", "--out", tmp_path / "x.safetensors")
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "REGROUP_CIFAR10=FOLDER" in lines[0] and "170 MB" in err


def test_apgd_t_on_fewer_than_four_classes_is_one_clear_error(own_model, capsys, tmp_path):
    spec, data = own_model
    out_file = tmp_path / "own.safetensors"
    assert cli(capsys, "fit", "--model", spec, "--data", data / "train", "--per-class", 3, "--k", 2,
               "--out", out_file)[0] == 0
    code, _, err = cli(capsys, "evaluate", "--model", spec, "--classifier", out_file, "--data", data / "test",
                       "--n", 2, "--steps", 2, "--attacks", "apgd-t", "--out", tmp_path / "e")
    assert code == 2 and "apgd-t: expected a model with at least 4 classes" in err and "Traceback" not in err
