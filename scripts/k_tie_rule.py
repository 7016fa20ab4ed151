"""The shipped classifiers' per-layer accuracy on their selection data, with a layer's tie counted the
old way (broken by class index) and the project's way (an error), and the k each gives.

    python -m scripts.k_tie_rule [--models mnist-vgg,mnist-resnet] [--data mnist:selection]

Prints one JSON object per model. Nothing is refitted or written: whether the shipped k changes is
the lead's decision.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import regroup_core
from regroup_core.engine.predictor import select_k
from regroup_core.run.evaluate import layer_accuracy
from regroup_core.sources.data import resolve_data
from regroup_core.sources.assets import shipped_classifier


def compare(name: str, data: str) -> dict:
    """Per-layer accuracies (tie by index, tie as error) and the k of each, for one shipped classifier."""
    bundle = regroup_core.load_model(name)
    defended = regroup_core.load_defended(bundle, shipped_classifier(name))
    tie_is_error, n = layer_accuracy(defended, data, bundle)
    x, y = resolve_data(data, bundle).tensors
    pred = defended.predict(x, k=len(defended.layers), scope="all")
    keep = pred.softmax_labels == y
    by_index = (pred.layer_labels()[keep] == y[keep].unsqueeze(1)).double().mean(0).numpy()
    return {"model": name, "data": data, "n": n, "shipped_k": defended.classifiers.k,
            "accuracy_tie_by_index": np.round(by_index, 4).tolist(), "k_tie_by_index": select_k(by_index),
            "accuracy_tie_is_error": np.round(tie_is_error, 4).tolist(), "k_tie_is_error": select_k(tie_is_error)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist-vgg,mnist-resnet")
    parser.add_argument("--data", default="mnist:selection")
    args = parser.parse_args()
    for name in args.models.split(","):
        print(json.dumps(compare(name, args.data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
