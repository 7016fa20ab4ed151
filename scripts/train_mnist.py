#!/usr/bin/env python
"""Train the embedded MNIST default models and write them to ``regroup_core/assets/models``.

    python -m scripts.train_mnist [--model mnist-vgg|mnist-resnet|all] [--epochs N]
                                  [--seed S] [--out regroup_core/assets/models]

Writes ``<out>/<model>.safetensors`` (state_dict, no pickle) and ``<out>/<model>.json``
(accuracies, hyper-parameters, torch version, the exact command).  Both are
written atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

# Allow running from a checkout without installing the package.

from regroup_core.sources.mnist import MNIST_MODELS
from regroup_core.store import atomic_write
from scripts.mnist_training import save_state_dict_atomic, train_mnist_model


def _write_json_atomic(obj: dict, path: Path) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*MNIST_MODELS, "all"], default="all")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("regroup_core/assets/models"))
    args = parser.parse_args(argv)

    names = list(MNIST_MODELS) if args.model == "all" else [args.model]
    command = shlex.join(["python", *sys.argv])
    for name in names:
        model, metrics = train_mnist_model(name, epochs=args.epochs, seed=args.seed)
        weights = save_state_dict_atomic(model.state_dict(), args.out / f"{name}.safetensors")
        metrics["command"] = command
        metrics["weights_file"] = weights.name
        metrics["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        metrics["weights_bytes"] = weights.stat().st_size
        _write_json_atomic(metrics, args.out / f"{name}.json")
        print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
