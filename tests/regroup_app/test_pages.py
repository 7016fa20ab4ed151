"""AppTest per page: the happy path on the embedded model, and a bad input that must end in a
friendly message (st.error / st.warning), never an exception element."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from regroup_app.state import shipped_classifier
from regroup_app.state import ModelChoice
from apptest_helpers import assert_clean, charts, rendered, start


@pytest.fixture(scope="session")
def digit_png() -> bytes:
    from PIL import Image

    from regroup_core.sources.mnist import mnist_split

    x, _ = mnist_split("test").tensors
    buf = io.BytesIO()
    Image.fromarray((x[0, 0].numpy() * 255).astype("uint8"), mode="L").save(buf, "PNG")
    return buf.getvalue()


def _missing_classifier() -> ModelChoice:
    return ModelChoice("mnist-vgg", None, "/nonexistent/classifiers.safetensors")


def _friendly(at, *words: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    text = rendered(" ".join(e.value for e in at.error)).lower()
    assert all(w.lower() in text for w in words), text


# ---- Model ------------------------------------------------------------------------------------

def test_model_page_shows_layers_and_k():
    at = start("model")
    assert_clean(at)
    assert at.title[0].value == "Model"
    assert any(m.label.startswith("k") and m.value == "3" for m in at.metric)
    assert charts(at) == 1  # per-layer accuracy
    assert len(at.dataframe[0].value) == 8  # mnist-vgg's 8 tapped layers


def test_model_page_rejects_a_bad_classifier_file():
    at = start("model")
    at.radio(key="classifier-source").set_value("Upload a classifier file").run()
    upload = ("bad.safetensors", b"not safetensors", "application/octet-stream")
    at.file_uploader(key="classifier-file-mnist-vgg").set_value(upload).run()
    _friendly(at, "bad")  # a ClassifierFileError naming the file, not a traceback
    error = rendered(" ".join(e.value for e in at.error))
    assert "'bad.safetensors'" in error and "upload-" not in error and " it" not in error  # reads properly


def test_model_page_rejects_a_mismatched_classifier_file():
    at = start("model")
    at.radio(key="classifier-source").set_value("Upload a classifier file").run()
    data = Path(shipped_classifier("mnist-resnet")).read_bytes()
    upload = ("resnet.safetensors", data, "application/octet-stream")
    at.file_uploader(key="classifier-file-mnist-vgg").set_value(upload).run()
    _friendly(at, "expected")
    assert at.session_state["model_choice"].classifier == shipped_classifier("mnist-vgg")  # unchanged
    at.selectbox(key="model-name-Embedded").set_value("mnist-resnet").run()  # the file was for mnist-resnet after all
    assert_clean(at)  # the upload made for mnist-vgg is not re-checked against mnist-resnet
    assert at.session_state["model_choice"] == ModelChoice("mnist-resnet", None, shipped_classifier("mnist-resnet"))
    at.selectbox(key="model-name-Embedded").set_value("mnist-vgg").run()
    assert not at.error or all("fitted on" not in e.value for e in at.error)


def test_sidebar_names_an_uploaded_classifier_as_uploaded():
    at = start("model")
    at.radio(key="classifier-source").set_value("Upload a classifier file").run()
    data = Path(shipped_classifier("mnist-vgg")).read_bytes()
    at.file_uploader(key="classifier-file-mnist-vgg").set_value(("my-vgg.safetensors", data,
                                                                 "application/octet-stream")).run()
    assert_clean(at)
    side = rendered(" ".join(m.value for m in at.sidebar.markdown))
    assert "**Classifiers:** my-vgg.safetensors" in side and "upload-" not in side


def test_model_page_switches_to_mnist_resnet():
    at = start("model")
    at.selectbox(key="model-name-Embedded").set_value("mnist-resnet").run()
    assert_clean(at)
    assert at.session_state["model_choice"] == ModelChoice("mnist-resnet", None, shipped_classifier("mnist-resnet"))


# ---- Attack lab -------------------------------------------------------------------------------

def test_attack_lab_upload_and_attack(digit_png):
    at = start("attack_lab")
    at.radio(key="image-from").set_value("Upload").run()
    at.file_uploader(key="image-upload").set_value(("seven.png", digit_png, "image/png")).run()
    at.selectbox(key="upload-label").set_value(7).run()
    at.button(key="attack-run").click().run()
    assert_clean(at)
    assert at.session_state["last_attack"].adversarial.shape == (1, 28, 28)
    assert charts(at) == 4  # softmax/REGroup top-5, clean and adversarial
    verdict = next(m.value for m in at.markdown if m.value.startswith("**pgd** (transfer"))
    assert "softmax: :" in verdict and "REGroup: :" in verdict  # the true class was given: badges per classifier


def test_attack_lab_non_image_upload_is_a_friendly_error():
    at = start("attack_lab")
    at.radio(key="image-from").set_value("Upload").run()
    at.file_uploader(key="image-upload").set_value(("notes.png", b"this is not an image", "image/png")).run()
    _friendly(at, "cannot be used", "notes.png")


# ---- Layer ranks ------------------------------------------------------------------------------

def test_layer_ranks_heatmap_and_buildup():
    at = start("layer_ranks")
    assert_clean(at)
    assert charts(at) == 2  # clean heatmap + Borda build-up


def test_layer_ranks_missing_classifier_file_is_friendly():
    at = start("layer_ranks", model_choice=_missing_classifier())
    _friendly(at, "nonexistent")


# ---- t-SNE ------------------------------------------------------------------------------------

def test_tsne_one_map_by_default_and_three_side_by_side():
    at = start("tsne")
    at.toggle(key="tsne-adv").set_value(False).run()  # keep the test light: clean points only
    assert_clean(at)
    assert charts(at) == 1
    at.radio(key="tsne-view").set_value("all three side by side (the paper's Fig. 5)").run()
    assert_clean(at)
    assert charts(at) == 1  # one figure, three maps, one shared legend
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {"xaxis", "xaxis2", "xaxis3"} <= set(spec["layout"])
    assert sum(1 for t in spec["data"] if t.get("showlegend") is not False) < len(spec["data"]) / 2


def test_tsne_needs_two_classes():
    at = start("tsne")
    at.toggle(key="tsne-adv").set_value(False).run()
    at.multiselect(key="tsne-classes").set_value([3]).run()
    assert not at.exception
    assert any("two classes" in w.value for w in at.warning)


# ---- Voting classroom -------------------------------------------------------------------------

def test_classroom_manipulating_one_voter():
    at = start("classroom")
    assert_clean(at)
    assert charts(at) == 3
    before = at.dataframe[1].value
    assert list(before["rule"]) == ["Borda (REGroup)", "Plurality (first choices)", "Copeland (Condorcet-consistent)"]
    assert len(at.metric) == 3


def test_classroom_mismatched_classifier_is_friendly():
    at = start("classroom", model_choice=ModelChoice("mnist-vgg", None, shipped_classifier("mnist-resnet")))
    _friendly(at, "expected")


# ---- Ablations --------------------------------------------------------------------------------

def test_ablations_voter_ablation_runs_and_is_stored():
    at = start("ablations")
    at.number_input(key="abl-n").set_value(3).run()
    at.button(key="run-variants").click().run()
    assert_clean(at)
    assert charts(at) == 1
    at.switch_page("app_pages/model.py").run()
    at.switch_page("app_pages/ablations.py").run()
    assert charts(at) == 1  # shown again from the stored result, without pressing Run
    assert any("Stored result" in c.value for c in at.caption)


def test_ablations_missing_classifier_file_is_friendly():
    at = start("ablations", model_choice=_missing_classifier())
    _friendly(at, "nonexistent")


# ---- Benchmark --------------------------------------------------------------------------------

def test_benchmark_table_and_downloads():
    at = start("benchmark")
    at.multiselect(key="bench-attacks").set_value(["pgd"]).run()
    at.number_input(key="bench-n").set_value(3).run()
    at.button(key="bench-run").click().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["attack"])[:2] == ["none (clean)", "pgd"] and list(table["#S / n"])[1].endswith("/3")
    assert list(table["threat"])[:2] == ["-", "transfer"] and list(table["budget"])[0] == "none (clean images)"
    ladder = [c for c in at.get("plotly_chart") if "as the attacker learns more" in c.proto.spec]  # once one ships
    assert charts(at) - len(ladder) == 1
    assert len(at.get("download_button")) == 3  # CSV, JSON, HTML report


def test_benchmark_attack_that_fits_no_threat_model_is_a_warning():
    at = start("benchmark")
    at.multiselect(key="bench-attacks").set_value(["pgd"]).run()
    at.multiselect(key="bench-threats").set_value(["blackbox"]).run()  # gradient attack, decision threat
    assert not at.exception and not at.error
    assert any("Choose at least one attack" in w.value for w in at.warning)


def test_model_page_fits_classifiers_with_progress():
    at = start("model")
    at.radio(key="classifier-source").set_value("Fit now").run()
    at.text_input(key="fit-selection").set_value("").run()
    at.number_input(key="fit-per-class").set_value(3).run()
    at.number_input(key="fit-k").set_value(2).run()
    at.button(key="fit-button").click().run()
    assert_clean(at)
    choice = at.session_state["model_choice"]
    assert choice.classifier.endswith(".safetensors") and "classifiers-mnist-vgg-" in choice.classifier
    assert any(m.label.startswith("k") and m.value == "2" for m in at.metric)
    assert any(m.label == "Fitting samples" and m.value == "30" for m in at.metric)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on our garbage bytes
def test_model_page_rejects_a_bad_weights_file():
    at = start("model")
    at.radio(key="weights-mnist-vgg").set_value("Upload a weights file").run()
    upload = ("w.pth", b"\x80\x04garbage", "application/octet-stream")
    at.file_uploader(key="weights-file-mnist-vgg").set_value(upload).run()
    _friendly(at, "expected a weights file")
    assert at.session_state["model_choice"].weights is None  # still the embedded weights


def _digit_folder(root: Path, classes=(0, 1), per_class: int = 4) -> Path:
    from PIL import Image

    from regroup_core.sources.mnist import mnist_split

    x, y = mnist_split("test").tensors
    for c in classes:
        (root / str(c)).mkdir(parents=True)
        for j in (y == c).nonzero().flatten()[:per_class].tolist():
            Image.fromarray((x[j, 0].numpy() * 255).astype("uint8"), mode="L").save(root / str(c) / f"{j}.png")
    return root


def test_model_page_partial_imagefolder_needs_exclude(tmp_path, monkeypatch):
    folder = _digit_folder(tmp_path / "digits")
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(tmp_path))
    at = start("model")
    at.radio(key="classifier-source").set_value("Fit now").run()
    at.text_input(key="fit-data").set_value(str(folder)).run()
    at.text_input(key="fit-selection").set_value("").run()
    at.number_input(key="fit-k").set_value(1).run()
    at.button(key="fit-button").click().run()
    _friendly(at, "expected at least one correctly classified fitting sample per class")
    error = " ".join(e.value for e in at.error)
    assert 'tick "Exclude classes without any correctly classified fitting sample"' in error  # the checkbox's name
    assert "on_empty" not in error
    assert not at.get("progress") and not at.get("expandable")  # no "Fitting…" box or progress bar left behind
    at.checkbox(key="fit-exclude").check().run()
    at.button(key="fit-button").click().run()
    assert_clean(at)
    assert "classifiers-mnist-vgg-" in at.session_state["model_choice"].classifier


def test_weights_and_classifier_paths_on_the_server(tmp_path, monkeypatch):
    at = start("model")
    at.radio(key="weights-mnist-vgg").set_value("A weights file on the server").run()
    at.text_input(key="weights-path-mnist-vgg").set_value("/etc/passwd").run()
    _friendly(at, "only under the data roots")  # refused before its existence is looked at
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(tmp_path))
    at.text_input(key="weights-path-mnist-vgg").set_value(str(tmp_path / "missing.pth")).run()
    _friendly(at, "no such file on the server")
    at.text_input(key="weights-path-mnist-vgg").set_value(str(tmp_path)).run()
    _friendly(at, "got a directory")
    weights = Path(__file__).resolve().parents[2] / "regroup_core" / "assets" / "models" / "mnist-vgg.safetensors"
    at.text_input(key="weights-path-mnist-vgg").set_value(str(weights)).run()
    assert_clean(at)
    choice = at.session_state["model_choice"]
    assert choice.weights == str(weights) and choice.classifier is None
    at.radio(key="classifier-source").set_value("A classifier file on the server").run()
    at.text_input(key="classifier-path").set_value(shipped_classifier("mnist-vgg")).run()
    assert_clean(at)
    assert at.session_state["model_choice"].classifier == shipped_classifier("mnist-vgg")
    assert any(m.label.startswith("k") and m.value == "3" for m in at.metric)


def test_offline_pretrained_weights_say_what_to_do(monkeypatch, tmp_path):
    import urllib.error

    from regroup_core.sources.zoo import download

    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(download, "open_url", offline)
    at = start("model")
    at.text_input(key="model-typed").set_value("resnet50").run()  # the paper's name, typed as on the command line
    assert any("103 MB" in i.value for i in at.info)  # the size, before anything is fetched
    next(b for b in at.button if b.key.startswith("download-")).click().run()
    assert not at.exception
    text = " ".join(rendered(e.value) for e in at.error)
    assert "could not be downloaded" in text and "A weights file on the server" in text and "Random" in text
    assert "resnet50-0676ba61.pth" in text and "hub folder" in text
    assert "--weights" not in text and "URLError" not in text
    assert at.session_state["model_choice"].name == "mnist-vgg"  # nothing switched
