"""``python -m regroup_core layers --model torchvision:NAME --weights random --json`` completes for
every torchvision classification model: one process, looping over the models through main()
(about 12 minutes on 2 busy CPU cores; the largest, ViT-H/14 and RegNetY-128GF, dominate)."""

from __future__ import annotations

import gc
import json

import pytest

from regroup_core.cli import main
from regroup_core.sources.references import torchvision_names


@pytest.mark.slow
def test_layers_for_every_torchvision_classification_model(capsys):
    failures, counts = {}, {}
    for name in sorted(torchvision_names()):
        code = main(["layers", "--model", f"torchvision:{name}", "--weights", "random", "--json", "--device", "cpu"])
        out, err = capsys.readouterr()
        if code != 0:
            failures[name] = err.strip()
            continue
        rows = json.loads(out)
        counts[name] = len(rows)
        if not rows or rows[-1]["dim"] != 1000:  # a Linear, or SqueezeNet's final 1000-channel conv
            failures[name] = f"last voter {rows[-1] if rows else None}, expected the 1000-way classifier"
        gc.collect()
    assert not failures, failures
    assert counts["resnet50"] == 54 and counts["vgg19"] == 19  # the paper's presets
    assert len(counts) == len(torchvision_names()) >= 80
