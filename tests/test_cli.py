"""CLI: JSON shapes, fit output, and one-line errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from regroup_core.cli import main
from regroup_core.sources.mnist import mnist_split
from regroup_core.store import load_classifiers

SHIPPED = "regroup_core/assets/classifiers/mnist-vgg.safetensors"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_layers_json(capsys):
    code, out, _ = run(capsys, "layers", "--model", "mnist-resnet", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 16
    assert all(set(r) == {"name", "kind", "dim"} for r in rows)
    assert rows[-1] == {"name": "fc", "kind": "fc", "dim": 10}


@pytest.mark.slow
def test_layers_json_resnet50(capsys):
    code, out, _ = run(capsys, "layers", "--model", "resnet50", "--weights", "random", "--json")
    assert code == 0 and len(json.loads(out)) == 54


def test_fit_writes_a_classifier(capsys, tmp_path):
    out_file = tmp_path / "c.safetensors"
    code, out, _ = run(capsys, "fit", "--model", "mnist-vgg", "--out", str(out_file), "--per-class", "5")
    assert code == 0 and "wrote" in out
    fitted = load_classifiers(out_file)
    assert fitted.class_count.tolist() == [5] * 10 and "k_selection" in fitted.info


def digit_png(tmp_path, i):
    x, _ = mnist_split("test")[i]
    path = tmp_path / f"digit{i}.png"
    Image.fromarray((x[0].numpy() * 255).astype("uint8")).save(path)
    return path


def test_predict_json_shape_and_bad_image(capsys, tmp_path):
    good = [digit_png(tmp_path, i) for i in (0, 150)]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code, out, err = run(capsys, "predict", "--model", "mnist-vgg", "--classifier", SHIPPED, "--json",
                         str(good[0]), str(bad), str(good[1]))
    assert code != 0
    assert err.strip().count("\n") == 0 and "bad.png" in err and "Traceback" not in err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == [str(good[0]), str(good[1])]
    for r in rows:
        assert set(r) == {"image", "softmax_top5", "regroup_top5", "k", "borda", "layers"}
        assert len(r["softmax_top5"]) == 5 and len(r["regroup_top5"]) == 5 and len(r["borda"]) == 10
        assert r["k"] == 3 and len(r["layers"]) == 8
        assert all(sorted(layer["pos_ranks"]) == list(range(1, 11)) for layer in r["layers"])
        assert r["regroup_top5"][0][1] == max(r["borda"])


def test_predict_defaults_to_the_classifier_shipped_for_the_model(capsys, tmp_path):
    image = str(digit_png(tmp_path, 7))
    code, default, _ = run(capsys, "predict", "--model", "mnist-vgg", "--json", image)
    assert code == 0
    assert (0, default, "") == run(capsys, "predict", "--model", "mnist-vgg", "--classifier", SHIPPED, "--json", image)
    code, resnet, _ = run(capsys, "predict", "--model", "mnist-resnet", "--json", image)
    assert code == 0 and len(json.loads(resnet)[0]["layers"]) == 16  # mnist-resnet's own file, not mnist-vgg's


@pytest.mark.parametrize(("argv", "reason"), [
    (["--model", "resnet50"], "none ships for model 'resnet50'"),
    (["--model", "mnist-vgg", "--weights", "random"], "with --weights"),
])
def test_predict_without_a_classifier_where_none_applies(capsys, tmp_path, argv, reason):
    code, out, err = run(capsys, "predict", *argv, str(digit_png(tmp_path, 0)))
    assert (code, out) == (2, "")
    assert err == f"error: --classifier: expected a fitted classifier file ({reason}), got none\n"


def test_mismatched_classifier_is_one_line_error(capsys, tmp_path):
    image = digit_png(tmp_path, 3)
    code, out, err = run(capsys, "predict", "--model", "mnist-resnet", "--classifier", SHIPPED, str(image))
    assert code == 2 and err.startswith(f"error: '{SHIPPED}': expected a classifier fitted on model 'mnist-resnet'")
    assert "Traceback" not in err


def test_unknown_model_is_one_line_error(capsys):
    code, _, err = run(capsys, "layers", "--model", "nope")
    assert code == 2 and err.startswith("error: argument --model: expected a model name")


def test_unwritable_output_is_one_line_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the output directory should be
    code, _, err = run(capsys, "fit", "--model", "mnist-vgg", "--per-class", "1", "--k", "1",
                       "--out", str(blocker / "c.safetensors"))
    # refused before loading anything, not after the fit (which may take hours): stderr is that one line
    assert code == 2 and err.strip().startswith("error: --out: expected a path under a directory") and \
        "\n" not in err.strip() and str(blocker) in err
