"""The estimate command: measured rates → projected fit/evaluation time and memory."""

from __future__ import annotations

import json

import pytest
from tiny_folder import tiny_bundle

from regroup_core.cli import main
from regroup_core.run.estimate import Measurement, classifier_bytes, measure, project
from regroup_core.sources.models import model_spec


def _m(**kw) -> Measurement:
    base = {"model": "x", "device": "cpu", "batch_size": 8, "batches": 2, "amp": "off", "forward_ips": 100.0,
            "fit_ips": 80.0, "predict_ips": 50.0, "decode_ips": 10.0, "classifier_bytes": 1000,
            "peak_rss_bytes": 2000, "cuda_max_allocated_bytes": None}
    return Measurement(**(base | kw))


def test_projection_arithmetic():
    p = project(_m(), num_classes=1000, per_class=50, accuracy=0.5, workers=4, processes=2)
    assert p["fit"]["candidates"] == 100_000
    assert p["fit"]["bound_by"] == "data loading"  # 4 workers x 10 img/s < 80 img/s
    assert p["fit"]["seconds"] == pytest.approx(100_000 / (40 * 2))
    assert p["evaluate_clean"]["10000"]["seconds"] == pytest.approx(10_000 / (40 * 2))
    fast = project(_m(decode_ips=1000.0), num_classes=1000, accuracy=1.0, workers=8)
    assert fast["fit"]["bound_by"] == "model" and fast["fit"]["seconds"] == pytest.approx(50_000 / 80)
    assert fast["evaluate_clean"]["50000"]["seconds"] == pytest.approx(50_000 / 50)
    assert fast["attack_multiple"]["10-step"] == pytest.approx(1 + 30 * 50 / 100)
    with pytest.raises(ValueError):
        project(_m(), num_classes=10, accuracy=0.0)


def test_measure_on_tiny_model_and_classifier_size():
    bundle = tiny_bundle()
    m = measure(bundle, batch_size=4, batches=1)
    assert m.forward_ips > 0 and m.fit_ips > 0 and m.predict_ips > 0 and m.decode_ips > 0
    assert m.classifier_bytes == classifier_bytes(bundle) == (6 + 6 + 8 + 12 + 4) * 4 * 2 * 8
    assert m.peak_rss_bytes > 10 * 2**20 and m.cuda_max_allocated_bytes is None
    assert model_spec("resnet50").top1 == pytest.approx(0.7613)
    assert model_spec("mnist-vgg").top1 == pytest.approx(0.99)  # regroup_core/assets/models/mnist-vgg.json


def test_estimate_cli_json(capsys):
    assert main(["estimate", "--model", "mnist-vgg", "--device", "cpu", "--batch-size", "4", "--batches", "1",
                 "--accuracy", "0.9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["assumptions"]["num_classes"] == 10 and out["fit"]["candidates"] == 556
    assert out["memory"]["classifier_bytes"] > 0
