"""Generated bad inputs through the CLI's ``main()`` and the load functions: every one ends in
a clear error — exit code ≠ 0 and one line on stderr for the CLI, a RegroupError for the
library — never a traceback, never a silent acceptance."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from regroup_core.cli import main
from regroup_core.errors import ClassifierFileError, DataError, ImageError, ModelError, RegroupError
from regroup_core.sources import load_model, open_image, resolve_data
from regroup_core.store import load_classifiers

CLASSIFIER = "regroup_core/assets/classifiers/mnist-vgg.safetensors"
PROBE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# command → the arguments that make it valid apart from the option under test
BASE = {
    "fit": ["fit", "--model", "mnist-vgg", "--out", "/nonexistent-dir/never-written.safetensors"],
    "predict": ["predict", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "digit.png"],
    "evaluate": ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--out", "/nonexistent-dir/out"],
    "estimate": ["estimate", "--model", "mnist-vgg"],
}


def _integer(lo, hi=None):
    def valid(text: str) -> bool:
        try:
            value = int(text.strip())
        except ValueError:
            return False
        return value >= lo and (hi is None or value <= hi)
    return valid


def _number(lo, hi, lo_open=True):
    def valid(text: str) -> bool:
        try:
            value = float(text)
        except ValueError:
            return False
        return math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi
    return valid


# (command, option, what a valid value is)
OPTIONS = [
    ("fit", "--per-class", _integer(1)), ("fit", "--k", _integer(1)), ("fit", "--threshold", _number(0, 1)),
    ("fit", "--batch-size", _integer(1, 1 << 16)), ("fit", "--workers", _integer(0, 256)),
    ("fit", "--checkpoint-every", _integer(1)), ("fit", "--seed", _integer(0, 2**63 - 1)),
    ("predict", "--k", _integer(1)),
    ("evaluate", "--n", _integer(1, 10_000_000)), ("evaluate", "--seed", _integer(0, 2**63 - 1)),
    ("evaluate", "--steps", _integer(1, 1_000_000)), ("evaluate", "--epsilon", _number(0, 255)),
    ("evaluate", "--chunk-size", _integer(1, 1_000_000)),
    ("estimate", "--batch-size", _integer(1, 1 << 16)), ("estimate", "--batches", _integer(1, 10_000)),
    ("estimate", "--per-class", _integer(1)), ("estimate", "--accuracy", _number(0, 1)),
    ("estimate", "--workers", _integer(1, 1024)), ("estimate", "--processes", _integer(1, 1 << 20)),
]

BAD_TEXT = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "1e999", "0x10", "1_000", "one", "--", "1,5", "½",
                     "0", "-1", "1.5", "2.0", "3e2", "\x00", "9" * 40]),
    st.text(max_size=12),
)


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, (argv, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("command,option,valid", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS])
@PROBE
@given(value=BAD_TEXT)
def test_every_numeric_option_refuses_bad_values_in_one_line(capsys, command, option, valid, value):
    assume(not valid(value))
    line = _one_line_error(capsys, [*BASE[command], f"{option}={value}"])
    assert option in line


@PROBE
@given(device=st.one_of(st.text(max_size=10), st.sampled_from(["gpu", "cuda:x", "cuda:-1", "meta", "mps", "xla",
                                                                 "auto:0", "cpu:3", "CUDA:99", "cuda:999"])))
def test_odd_device_strings_are_refused(capsys, device):
    assume(device.strip().lower() not in ("auto", "cpu", "cpu:0"))
    line = _one_line_error(capsys, ["layers", "--model", "mnist-vgg", "--device", device])
    assert "--device" in line or "device" in line


def test_semantic_ranges_beyond_the_parser_are_one_line_errors(capsys, tmp_path):
    out = str(tmp_path / "c.safetensors")
    # fit and predict word an out-of-range --k alike, naming the option and the layer count
    assert "--k: expected 1..8" in _one_line_error(capsys, ["fit", "--model", "mnist-vgg", "--out", out, "--k",
                                                            "1000"])
    image = tmp_path / "d.png"
    from PIL import Image

    Image.new("L", (28, 28)).save(image)
    line = _one_line_error(capsys, ["predict", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--k", "1000",
                                    str(image)])
    assert "--k" in line
    assert not (tmp_path / "c.safetensors").exists()


@PROBE
@given(data=st.binary(max_size=2048))
def test_random_bytes_are_never_a_classifier_an_image_or_weights(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / "x.safetensors"
    path.write_bytes(data)
    with pytest.raises(ClassifierFileError):
        load_classifiers(path)
    with pytest.raises(ModelError):
        load_model("mnist-vgg", weights=path)
    (folder / "x.pth").write_bytes(data)
    with pytest.raises(ModelError):
        load_model("mnist-vgg", weights=folder / "x.pth")
    try:
        open_image(data, name="upload.bin")
    except ImageError as exc:
        assert "upload.bin" in str(exc)


@PROBE
@given(lines=st.lists(st.text(max_size=30), max_size=6))
def test_file_lists_with_arbitrary_lines_are_read_or_refused_clearly(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("list")
    listing = folder / "list.txt"
    listing.write_text("\n".join(line.replace("\r", " ") for line in lines), encoding="utf-8")
    try:
        data = resolve_data(str(listing), load_model("mnist-vgg"))
    except DataError:
        return
    assert len(data) >= 1  # accepted only with at least one 'path label' line


def test_predict_names_each_unreadable_image_in_one_line(capsys, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    line = _one_line_error(capsys, ["predict", "--model", "mnist-vgg", "--classifier", CLASSIFIER, str(bad)])
    assert "broken.png" in line


def test_errors_are_regroup_errors():
    assert issubclass(ClassifierFileError, RegroupError) and issubclass(ImageError, RegroupError)


def test_terminal_escapes_and_line_breaks_never_reach_stderr(capsys, tmp_path):
    evil = tmp_path / "evil\x1b[31mred\x1b]0;title\x07\nx.png"
    evil.write_bytes(b"not an image")
    for argv in (["predict", "--model", "mnist-vgg", "--classifier", CLASSIFIER, str(evil)],
                 ["layers", "--model", "mnist-vgg", "\x1b[31mextra\x1b[0m"],      # argparse's own messages
                 ["layers", "--model", "mnist-vgg", "a\nb"],
                 ["layers", "--model", "\x1b]8;;http://x\x07mnist\x1bc"]):          # OSC and ESC c
        line = _one_line_error(capsys, argv)
        assert "\x1b" not in line and "\x07" not in line, line


def test_output_and_data_paths_are_refused_before_any_work(capsys, tmp_path, monkeypatch):
    """A path that could only fail at the end (after an hours-long fit or attack run) fails first."""
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    out = str(tmp_path / "c.safetensors")
    fit = ["fit", "--model", "mnist-vgg", "--per-class", "1", "--k", "1"]
    evaluate = ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--n", "1"]
    cases = {
        "--out": [*fit, "--out", str(tmp_path)],
        "--out ": [*fit, "--out", ""],
        "--checkpoint": [*fit, "--out", out, "--checkpoint", str(a_file)],
        "--data": [*fit, "--out", out, "--data", ""],
        "--selection": [*fit[:-2], "--out", out, "--selection", " "],
        "--cache": [*evaluate, "--out", str(tmp_path / "ev"), "--cache", str(a_file)],
        "--out  ": [*evaluate, "--out", str(a_file)],
        "--out   ": [*fit, "--out", str(tmp_path / ("a" * 5000 + ".safetensors"))],  # name too long
    }
    for option, argv in cases.items():
        main(argv)
        err = capsys.readouterr().err
        assert "fit:" not in err and err.count("\n") == 1, (option, err)  # no progress bar: nothing ran
        assert err.startswith("error: ") and option.strip() in err, (option, err)
    assert not (tmp_path / "c.safetensors").exists()
    monkeypatch.setenv("REGROUP_CACHE", str(a_file))  # the shared cache would lie under a file
    line = _one_line_error(capsys, [*evaluate, "--out", str(tmp_path / "ev")])
    assert "REGROUP_CACHE" in line and str(a_file) in line


def test_a_bad_selection_fails_before_the_fit(capsys, tmp_path):
    line = _one_line_error(capsys, ["fit", "--model", "mnist-vgg", "--per-class", "1", "--out",
                                    str(tmp_path / "c.safetensors"), "--selection", str(tmp_path / "nope")])
    assert "nope" in line
    assert "fit:" not in capsys.readouterr().err


def test_errors_about_a_classifier_or_fit_data_name_them(capsys, tmp_path):
    from PIL import Image

    image = tmp_path / "d.png"
    Image.new("L", (28, 28)).save(image)
    other = "regroup_core/assets/classifiers/mnist-resnet.safetensors"
    line = _one_line_error(capsys, ["predict", "--model", "mnist-vgg", "--classifier", other, str(image)])
    assert other in line and "fitted on 'mnist-resnet'" in line
    line = _one_line_error(capsys, ["predict", "--model", "mnist-vgg", "--weights", "random", "--classifier",
                                    CLASSIFIER, str(image)])
    assert CLASSIFIER in line and "other weights" in line
    one_class = tmp_path / "data" / "3"
    one_class.mkdir(parents=True)
    Image.new("L", (28, 28)).save(one_class / "a.png")
    assert main(["fit", "--model", "mnist-vgg", "--per-class", "1", "--k", "1", "--out",
                 str(tmp_path / "c.safetensors"), "--data", str(tmp_path / "data")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the fit's progress bar
    assert line.startswith("error: fit data '") and str(tmp_path / "data") in line and "--on-empty exclude" in line
    line = _one_line_error(capsys, ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--out",
                                    str(tmp_path / "ev"), "--attacks", "pgd,nope"])
    assert line.startswith("error: --attacks: expected an attack among")


def test_more_images_than_the_test_set_holds_is_a_warning_not_silence():
    from regroup_core.experiments import select_correct

    with pytest.warns(UserWarning, match="expected 100000 correctly classified test images.*got only"):
        test = select_correct(load_model("mnist-vgg"), "mnist:test", 100_000)
    assert 0 < len(test.labels) < 100_000
