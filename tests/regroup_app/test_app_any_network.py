"""Any network in the app, end to end (issue #16): the Model, Attack lab and Layer ranks pages for
cifar10-resnet18 with its real weights, torchvision's mobilenet_v3_small with random weights in
exploring mode, and an own-architecture network from the operator's spec folder; spec paths typed
or linked from outside that folder are refused; a pretrained download shows its size and progress
(the network is replaced at its boundary, ``regroup_core.sources.zoo.download.open_url``)."""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import pytest
import torch

from regroup_app.ui.model_picker import RANDOM
from apptest_helpers import assert_clean, charts, start
from spec_model import CLASSES, write_folder, write_spec_model

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit notes from timm's import

MOBILENET = "torchvision:mobilenet_v3_small"


@pytest.fixture()
def private(tmp_path, monkeypatch):
    """A fresh cache and torch hub folder, no data roots or spec folder configured, no config file."""
    monkeypatch.setenv("REGROUP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("REGROUP_APP_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("REGROUP_DATA_ROOTS", raising=False)
    monkeypatch.delenv("REGROUP_MODEL_SPECS", raising=False)
    return tmp_path


def _choose(at, family: str, reference: str) -> None:
    at.selectbox(key="model-family").set_value(family).run()
    at.selectbox(key=f"model-name-{family}").set_value(reference).run()


def _fit(at, *, data: str | None = None, k: int = 2, exclude: bool = False) -> None:
    at.radio(key="classifier-source").set_value("Fit now").run()
    if data is not None:
        at.text_input(key="fit-data").set_value(data).run()
    at.text_input(key="fit-selection").set_value("").run()
    at.number_input(key="fit-k").set_value(k).run()
    if exclude:
        at.checkbox(key="fit-exclude").check().run()
    at.button(key="fit-button").click().run()


def _text(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "success", "error")
                    for e in at.get(kind))


def _charts_text(at) -> str:
    return " ".join(chart.proto.spec for chart in at.get("plotly_chart"))


def _exploring_marked(at) -> bool:
    return any("not the paper's rule" in w.value for w in at.warning)


def _attack_and_ranks(at, shape: tuple[int, int, int]) -> None:
    """The Attack lab runs its default attack (PGD, transfer) on the current image; Layer ranks draws."""
    at.switch_page("app_pages/attack_lab.py").run()
    assert_clean(at)
    at.button(key="attack-run").click().run()
    assert_clean(at)
    assert at.session_state["last_attack"].adversarial.shape == shape
    assert charts(at) == 4  # softmax/REGroup top-5, clean and adversarial
    assert any(m.value.startswith("**pgd** (transfer") for m in at.markdown)
    at.switch_page("app_pages/layer_ranks.py").run()
    assert_clean(at)
    assert charts(at) >= 2  # the rank heat map and the Borda build-up


def test_cifar10_resnet18_with_its_real_weights_end_to_end(private):
    at = start("model")
    _choose(at, "Embedded", "cifar10-resnet18")
    assert_clean(at)
    choice = at.session_state["model_choice"]
    assert choice.name == "cifar10-resnet18" and choice.weights is None
    assert "10 classes" in _text(at) and "(3, 32, 32)" in _text(at)
    at.radio(key="classifier-source").set_value("Fit now").run()
    assert at.text_input(key="fit-data").value == "foolbox:cifar10"  # offline: foolbox's 20 CIFAR-10 photos
    assert at.radio(key="fit-rule").index == 0  # real weights: the paper's rule
    _fit(at, k=3, exclude=True)  # the 20 samples hold 8 of the 10 classes
    assert_clean(at)
    assert "classifiers-" in at.session_state["model_choice"].classifier and not _exploring_marked(at)
    assert any(c.value.startswith("2 of 10 classes had no fitting image (bird, deer)") for c in at.caption)
    at.switch_page("app_pages/attack_lab.py").run()
    assert_clean(at)
    eps = [s for s in at.slider if s.key.startswith("eps-")]
    assert eps and eps[0].value == 8.0  # the model's own budget (8/255 for CIFAR-10), not MNIST's 32
    assert "3: cat" in _charts_text(at)  # foolbox's first CIFAR-10 sample, named by the model's classes
    _attack_and_ranks(at, (3, 32, 32))


def test_mobilenet_with_random_weights_in_exploring_mode_end_to_end(private):
    at = start("model")
    _choose(at, "torchvision", MOBILENET)
    assert_clean(at)
    assert at.session_state["model_choice"].name == "mnist-vgg"  # nothing loaded until the weights are here
    assert "10 MB" in " ".join(i.value for i in at.info)  # the download's size (torchvision's metadata), not fetched
    at.radio(key=f"weights-{MOBILENET}").set_value(RANDOM).run()
    assert_clean(at)
    assert at.session_state["model_choice"].name == MOBILENET and at.session_state["model_choice"].weights == "random"
    at.radio(key="classifier-source").set_value("Fit now").run()
    assert at.text_input(key="fit-data").value == "foolbox:imagenet"
    assert at.radio(key="fit-rule-random").value.startswith("Exploring")  # random weights: the rule that works
    _fit(at, k=3)
    assert_clean(at)
    assert _exploring_marked(at)
    _attack_and_ranks(at, (3, 224, 224))
    for page in ("tour", "attack_lab", "draw", "layer_ranks", "ablations", "tsne", "classroom", "benchmark"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception and _exploring_marked(at), page  # on every page, not only where it was chosen


def test_random_weights_with_the_papers_rule_is_one_clear_message(private):
    at = start("model")
    _choose(at, "torchvision", MOBILENET)
    at.radio(key=f"weights-{MOBILENET}").set_value(RANDOM).run()
    at.radio(key="classifier-source").set_value("Fit now").run()
    at.radio(key="fit-rule-random").set_value(at.radio(key="fit-rule-random").options[0]).run()
    _fit(at, k=3, exclude=True)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "classifies none of the fitting images correctly" in errors[0]
    assert "excluded" not in errors[0] and "field" not in errors[0] and "cache" not in errors[0].lower()
    assert not at.exception and not at.success and not any("Fitted" in str(s.label) for s in at.get("expandable"))


def test_own_architecture_from_the_operators_spec_folder_end_to_end(private, monkeypatch):
    spec = write_spec_model(private / "specs" / "colours")
    data = write_folder(private / "data" / "colours")
    monkeypatch.setenv("REGROUP_MODEL_SPECS", str(private / "specs"))
    at = start("model")
    _choose(at, "Spec files", f"spec:{spec}")
    assert_clean(at)
    assert at.session_state["model_choice"].name == f"spec:{spec}"
    assert "3 classes" in _text(at)
    _fit(at, data=str(data), k=2)
    assert any("data roots" in e.value for e in at.error)  # no data root configured yet...
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(private / "data"))  # ...the operator adds one: no restart
    at.button(key="fit-button").click().run()
    assert_clean(at)
    assert "classifiers-" in (at.session_state["model_choice"].classifier or "")
    at.switch_page("app_pages/attack_lab.py").run()
    at.radio(key="image-from").set_value("Upload").run()
    png = io.BytesIO()
    from spec_model import colour_images

    from PIL import Image

    Image.fromarray(colour_images(1, seed=9)[0][0]).save(png, "PNG")
    at.file_uploader(key="image-upload").set_value(("red.png", png.getvalue(), "image/png")).run()
    at.selectbox(key="upload-label").set_value(0).run()
    assert_clean(at)
    assert f"0: {CLASSES[0]}" in _charts_text(at)
    _attack_and_ranks(at, (3, 16, 16))


def _evil_spec(folder: Path) -> Path:
    """A spec whose factory module would leave a mark when imported."""
    folder.mkdir(parents=True)
    marker = folder / "RAN"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                    "from torch import nn\n\ndef build():\n    return nn.Linear(2, 2)\n")
    (folder / "model.toml").write_text('factory = "evil:build"\nclasses = ["a", "b"]\ninput_size = [1, 1, 2]\n')
    return marker


def test_a_spec_path_typed_or_linked_is_refused_unless_in_the_operator_folder(private, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from apptest_helpers import ENTRY

    marker = _evil_spec(private / "elsewhere")
    (private / "specs").mkdir()
    monkeypatch.setenv("REGROUP_MODEL_SPECS", str(private / "specs"))
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.query_params["model"] = f"spec:{private / 'elsewhere' / 'model.toml'}"
    at.run()
    assert not at.exception
    assert any("model=" in w.value and "cannot be used" in w.value for w in at.warning)
    assert at.session_state["model_choice"].name == "mnist-vgg"
    at.switch_page("app_pages/model.py").run()
    for typed in (f"spec:{private / 'elsewhere'}", str(private / "elsewhere" / "model.toml")):
        at.text_input(key="model-typed").set_value(typed).run()
        assert any("never runs code named by a typed or linked path" in e.value for e in at.error)
        assert str(private) not in " ".join(e.value for e in at.error)
    assert at.session_state["model_choice"].name == "mnist-vgg" and not marker.exists()


class _Response(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_a_pretrained_download_shows_its_size_and_progress_and_offline_says_what_to_do(private, monkeypatch):
    import hashlib

    import torchvision

    from regroup_app.ui import model_picker
    from regroup_core.sources.zoo import download as dl
    from regroup_core.sources.zoo import torchvision_ as tv

    buf = io.BytesIO()
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), buf)
    data = buf.getvalue()
    real = tv.download_for

    def served(name, choice):  # torchvision's entry, with a file name whose hash prefix fits our bytes
        d = real(name, choice)
        if d is None:
            return d
        url = d.url.rsplit("-", 1)[0] + f"-{hashlib.sha256(data).hexdigest()[:8]}.pth"
        return dl.Download(what=d.what, url=url, size_bytes=len(data), cached=dl.hub_file(url).is_file())

    monkeypatch.setattr(tv, "download_for", served)

    def offline(url):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(dl, "open_url", offline)
    at = start("model")
    _choose(at, "torchvision", MOBILENET)
    size = f"{len(data) / 1e6:.0f} MB"
    assert any(size in i.value for i in at.info)
    download = next(b for b in at.button if b.key.startswith("download-"))
    assert size in download.label
    download.click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "offline" in errors[0] and "hub folder" in errors[0] and "Random" in errors[0]
    assert "URLError" not in errors[0] and "Traceback" not in errors[0] and "--weights" not in errors[0]
    assert at.session_state["model_choice"].name == "mnist-vgg"  # nothing switched
    seen: list[tuple[int, int | None]] = []
    real_fetch = model_picker.fetch
    monkeypatch.setattr(dl, "open_url", lambda url: _Response(data))
    monkeypatch.setattr(model_picker, "fetch",
                        lambda d, progress: real_fetch(d, lambda done, total: (seen.append((done, total)),
                                                                               progress(done, total))))
    next(b for b in at.button if b.key.startswith("download-")).click().run()
    assert_clean(at)
    assert seen and seen[-1] == (len(data), len(data)) and len(seen) == -(-len(data) // (1 << 20))
    assert at.session_state["model_choice"].name == MOBILENET
    assert (private / "torch" / "hub" / "checkpoints").is_dir()


def test_a_typed_timm_convnext_with_random_weights_reaches_layer_ranks(private):
    at = start("model")
    at.text_input(key="model-typed").set_value("timm:convnext_atto").run()
    at.radio(key="weights-timm:convnext_atto").set_value(RANDOM).run()
    assert_clean(at)
    assert at.session_state["model_choice"].name == "timm:convnext_atto"
    at.radio(key="classifier-source").set_value("Fit now").run()
    _fit(at, k=3)  # exploring on foolbox:imagenet, the defaults for random weights
    assert_clean(at)
    assert _exploring_marked(at)
    at.switch_page("app_pages/layer_ranks.py").run()
    assert_clean(at)
    assert charts(at) >= 2 and _exploring_marked(at)
