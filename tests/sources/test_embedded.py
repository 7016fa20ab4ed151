"""The shipped default: embedded models + fitted classifiers work together, offline."""

from __future__ import annotations

import pytest

import regroup_core as rc
from regroup_core.sources.mnist import mnist_split


@pytest.mark.parametrize("name", ["mnist-vgg", "mnist-resnet"])
def test_shipped_classifier_defends_shipped_model(name):
    bundle = rc.load_model(name)
    defended = rc.load_defended(bundle, f"regroup_core/assets/classifiers/{name}.safetensors")
    assert defended.classifiers.class_count.tolist() == [50] * 10
    x, y = mnist_split("test").tensors
    pred = defended.predict(x)
    softmax = float((pred.softmax_labels == y).float().mean())
    regroup = float((pred.regroup_labels == y).float().mean())
    assert softmax >= 0.975 and regroup >= 0.95
