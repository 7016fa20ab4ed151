"""One adversarial cache for the CLI and the app: an image that ``evaluate`` attacked is shown by
the Attack lab without recomputing (the README promises it)."""

from __future__ import annotations

import json

import pytest
import torch

from regroup_app.services.attacking import attack_image
from regroup_app.services.threads import configure_threads
from regroup_app.state import AttackChoice, ModelChoice, image_from_pil
from regroup_app.ui.widgets import to_pil
from regroup_core.attacks import cached as cached_module
from regroup_core.cli import main
from regroup_core.errors import ArgumentError
from regroup_core.sources.mnist import mnist_split
from apptest_helpers import assert_clean, start

CLASSIFIER = "regroup_core/assets/classifiers/mnist-vgg.safetensors"


def _never(*args, **kwargs):
    raise AssertionError("the app recomputed an attack that evaluate had cached")


def _evaluated_image(tmp_path, capsys) -> int:
    """Run ``evaluate`` (PGD, ε = 32, seed 0) on 2 test digits; the mnist:test index of the first."""
    argv = ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--attacks", "pgd", "--epsilon", "32",
            "--n", "2", "--seed", "0", "--out", str(tmp_path / "eval"), "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    from regroup_core import load_defended, load_model
    from regroup_core.experiments import select_correct

    bundle = load_model("mnist-vgg")
    test = select_correct(bundle, "mnist:test", 2, seed=0, defended=load_defended(bundle, CLASSIFIER))
    return int(test.ids[0])


def test_the_app_serves_an_attack_that_evaluate_cached(tmp_path, capsys, monkeypatch):
    index = _evaluated_image(tmp_path, capsys)
    x, y = mnist_split("test")[index]
    monkeypatch.setattr(cached_module, "run_attack", _never)
    result = attack_image(ModelChoice(), x.numpy(), int(y), AttackChoice("pgd", "transfer", 32.0, 40, None, 0))
    assert result.adversarial.shape == (1, 1, 28, 28)
    assert (result.adversarial[0] - x).abs().max() <= 32 / 255 + 1e-6
    entry = json.loads(next(p for p in (tmp_path / "regroup-cache" / "adversarial").rglob("*.json")).read_text())
    assert entry["image_ids"][0] == str(index) and entry["settings"]["epsilon_255"] == 32.0


def test_the_attack_lab_page_shows_it_instantly(tmp_path, capsys, monkeypatch):
    index = _evaluated_image(tmp_path, capsys)
    x, y = mnist_split("test")[index]
    image = image_from_pil(to_pil(x.numpy()), name=f"mnist:test:{index}", label=int(y), source="test")
    monkeypatch.setattr(cached_module, "run_attack", _never)
    at = start("attack_lab")
    at.session_state["current_image"] = image
    at.radio(key="image-from").set_value("Upload").run()  # keep the session's image, not a gallery pick
    at.slider(key="eps-pgd-mnist-vgg").set_value(32.0).run()
    at.button(key="attack-run").click().run()
    assert_clean(at)
    assert torch.is_tensor(torch.as_tensor(at.session_state["last_attack"].adversarial))
    assert at.session_state["last_attack"].settings["epsilon_255"] == 32.0


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "1e9"])
def test_a_bad_thread_count_setting_is_a_one_line_error(monkeypatch, raw):
    monkeypatch.setenv("REGROUP_APP_THREADS", raw)  # int() raised ValueError, set_num_threads(0) RuntimeError
    with pytest.raises(ArgumentError, match="REGROUP_APP_THREADS: expected an integer"):
        configure_threads()
