"""run_attack on a tiny model: shapes, bounds, targeted success, foolbox quirks, determinism."""

from __future__ import annotations

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import get_preset, random_targets, run_attack
from regroup_core.errors import DataError

# Few steps: these check the wrappers, not the attacks' strength.
FAST = {
    "pgd": {"steps": 3}, "pgd-l2": {"steps": 3}, "deepfool": {"steps": 5}, "cw": {"steps": 5, "binary_search_steps": 2},
    "ead": {"steps": 5, "binary_search_steps": 2}, "pgd-targeted": {"steps": 3, "epsilon_ladder_255": (16.0, 76.5)},
    "cw-targeted": {"steps": 5, "binary_search_steps": 2},
    "pgd-hc": {"steps": 3, "epsilon_ladder_255": (76.5,)},
    "pgd-hc-targeted": {"steps": 3, "epsilon_ladder_255": (76.5,)}, "boundary": {"steps": 5},
    "hopskipjump": {"steps": 1, "initial_gradient_eval_steps": 5, "max_gradient_eval_steps": 5},
    "spatial": {"num_translations": 2, "num_rotations": 2}, "spsa": {"steps": 2, "samples": 4, "epsilon_255": 60.0},
    "apgd-ce": {"steps": 3, "epsilon_255": 60.0}, "apgd-t": {"steps": 3, "epsilon_255": 60.0, "target_classes": 1},
    "square": {"queries": 5, "epsilon_255": 60.0}, "trust-region": {"steps": 5}, "fmn": {"steps": 5},
    "fmn-l2": {"steps": 5},
}


@pytest.mark.parametrize("attack", sorted(FAST))
def test_transfer_attack_shapes_bounds_and_settings(attack):
    bundle, _ = tiny()
    x, y = tiny_batch(4)
    r = run_attack(bundle, x, y, attack, **FAST[attack])
    assert r.adversarial.shape == x.shape and r.adversarial.dtype == torch.float32
    assert r.adversarial.min() >= 0 and r.adversarial.max() <= 1
    assert r.success.shape == (4,) and r.success.dtype == torch.bool
    assert r.settings["attack"] == attack and r.settings["threat"] == "transfer" and r.elapsed >= 0
    preset = get_preset(attack)
    eps = r.settings["epsilon"]
    if eps is not None and preset.norm == "linf" and not preset.params.get("epsilon_ladder_255"):
        assert (r.adversarial - x).abs().max() <= eps + 1e-5
    # success is judged on the attacked (softmax) model
    with torch.no_grad():
        pred = bundle.model(r.adversarial).argmax(1)
    expected = pred == r.targets if preset.targeted else pred != y
    if preset.min_confidence is None:
        assert torch.equal(r.success, expected)
    else:
        assert not (r.success & ~expected).any()


@pytest.mark.parametrize("attack", ["pgd-targeted", "cw-targeted"])
def test_targeted_success_means_predicted_target(attack):
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    options = {**FAST[attack], "steps": 30, "stepsize": 0.1} if attack == "cw-targeted" else FAST[attack]
    r = run_attack(bundle, x, y, attack, seed=3, **options)
    assert r.targets is not None and (r.targets != y).all()
    assert torch.equal(r.targets, random_targets(y, 4, 3))
    with torch.no_grad():
        pred = bundle.model(r.adversarial).argmax(1)
    assert torch.equal(r.success, pred == r.targets)
    assert r.success.any()


def test_cw_blank_image_failures_are_returned_as_the_input():
    # foolbox's C&W returns an all-black image where it finds nothing; we return the input instead
    bundle, _ = tiny()
    x, y = tiny_batch(6)
    r = run_attack(bundle, x, y, "cw-targeted", steps=1, binary_search_steps=1, seed=3)
    assert not (r.adversarial.flatten(1) == 0).all(1).any()
    assert torch.equal(r.adversarial[~r.success], x[~r.success])


def test_out_of_bounds_inputs_are_our_error_not_foolbox_assertion():
    bundle, _ = tiny()
    x, y = tiny_batch(2)
    with pytest.raises(DataError, match=r"expected pixel values in \[0.0, 1.0\]"):
        run_attack(bundle, x * 3, y, "pgd", steps=1)
    with pytest.raises(DataError, match="labels in"):
        run_attack(bundle, x, torch.tensor([0, 9]), "pgd", steps=1)


def test_quirks_are_refused_clearly():
    bundle, defended = tiny()
    x, y = tiny_batch(2)
    with pytest.raises(DataError, match="ignores or picks targets itself"):
        run_attack(bundle, x, y, "deepfool", targets=(y + 1) % 4)
    with pytest.raises(DataError, match="'-targeted' preset"):
        run_attack(bundle, x, y, "pgd", targets=(y + 1) % 4)
    with pytest.raises(DataError, match="takes none"):
        run_attack(bundle, x, y, "spatial", epsilon_255=4)
    with pytest.raises(DataError, match="differ from its true label"):
        run_attack(bundle, x, y, "pgd-targeted", targets=y)
    with pytest.raises(DataError, match="fits the 'blackbox' threat model"):
        run_attack(bundle, x, y, "pgd", threat="blackbox", defended=defended)
    with pytest.raises(DataError, match="defended="):
        run_attack(bundle, x, y, "pgd", threat="adaptive")
    with pytest.raises(DataError, match="expected parameters among"):
        run_attack(bundle, x, y, "pgd", stepsize=0.1)
    with pytest.raises(ValueError):
        run_attack(bundle, x, y, "pgd", threat="whitebox")


def test_seeded_runs_are_deterministic():
    bundle, _ = tiny()
    x, y = tiny_batch(4)
    a = run_attack(bundle, x, y, "pgd", steps=2, seed=5)
    b = run_attack(bundle, x, y, "pgd", steps=2, seed=5)
    c = run_attack(bundle, x, y, "pgd", steps=2, seed=6)
    assert torch.equal(a.adversarial, b.adversarial)
    assert not torch.equal(a.adversarial, c.adversarial)  # random start differs


@pytest.mark.parametrize("attack,threat", [("boundary", "blackbox"), ("spsa", "blackbox"), ("square", "blackbox"),
                                           ("pgd", "adaptive"), ("deepfool", "adaptive"), ("apgd-ce", "adaptive"),
                                           ("apgd-t", "adaptive"), ("trust-region", "adaptive"), ("fmn", "adaptive")])
def test_threat_models_judge_success_on_the_attacked_classifier(attack, threat):
    bundle, defended = tiny()
    x, y = tiny_batch(6)
    r = run_attack(bundle, x, y, attack, threat=threat, defended=defended, **FAST[attack])
    assert r.settings["threat"] == threat and "classifier_hash" in r.settings
    assert torch.isfinite(r.adversarial).all()
    # the exact REGroup is what was attacked (a tie counts as fooled)
    assert torch.equal(r.success, ~defended.predict(r.adversarial).regroup_correct(y))
    if threat == "adaptive":
        assert r.settings["surrogate"] == "soft-borda" and "per voter and image" in r.settings["temperature_rule"]


def test_images_already_fooled_are_returned_unchanged():
    bundle, defended = tiny()
    x, y = tiny_batch(8)
    wrong = defended.predict(x).regroup_labels != y
    assert wrong.any()  # the tiny REGroup misses some of the softmax-correct images
    r = run_attack(bundle, x, y, "boundary", threat="blackbox", defended=defended, steps=3)
    assert torch.equal(r.adversarial[wrong], x[wrong])
    assert r.success[wrong].all()


def test_adv_lib_attacks_run_on_the_float64_surrogate_of_a_real_model():
    # adv-lib's Trust Region keeps float32 radii: float64 surrogate scores once broke it on mnist-resnet
    from regroup_core import load_defended, load_model
    from regroup_core.sources.mnist import mnist_split

    bundle = load_model("mnist-resnet", device="cpu")
    defended = load_defended(bundle, "regroup_core/assets/classifiers/mnist-resnet.safetensors")
    x, y = mnist_split("test").tensors
    for attack, options in (("trust-region", {"steps": 3, "c": 3}), ("fmn", {"steps": 3})):
        r = run_attack(bundle, x[:3], y[:3], attack, threat="adaptive", defended=defended, **options)
        assert r.adversarial.dtype == torch.float32 and torch.isfinite(r.adversarial).all()
        assert torch.equal(r.success, ~defended.predict(r.adversarial).regroup_correct(y[:3]))
