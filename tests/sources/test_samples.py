"""``foolbox:<set>`` data specs: foolbox's labelled samples, read with the model's preprocessing."""

from __future__ import annotations

import pytest
import torch

from regroup_core.errors import DataError
from regroup_core.sources import ImageFiles, load_model, resolve_data


def test_foolbox_samples_are_labelled_images_in_the_models_own_input_space():
    bundle = load_model("mnist-vgg")
    data = resolve_data("foolbox:mnist", bundle)
    assert isinstance(data, ImageFiles) and len(data) == 20
    assert data.labels.tolist()[:4] == [7, 2, 1, 0]  # foolbox's order: mnist_00_7, mnist_01_2, ...
    x, y = data[0]
    assert x.shape == (1, 28, 28) and y == 7 and 0 <= float(x.min()) and float(x.max()) <= 1
    with torch.no_grad():
        predicted = bundle.model(torch.stack([data[i][0] for i in range(20)])).argmax(1)
    assert int((predicted == torch.from_numpy(data.labels)).sum()) >= 18  # real digits, a trained network


def test_foolbox_sets_of_another_class_count_or_unknown_names_are_clear_errors():
    bundle = load_model("mnist-vgg")
    with pytest.raises(DataError, match="1000 classes for 'foolbox:imagenet', got mnist-vgg with 10 classes"):
        resolve_data("foolbox:imagenet", bundle)
    with pytest.raises(DataError, match=r"expected one of \['foolbox:imagenet'"):
        resolve_data("foolbox:svhn", bundle)
