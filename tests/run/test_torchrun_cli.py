"""``torchrun --nproc_per_node 2 -m regroup_core fit`` writes the one-process classifier."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_pmfs_close
from PIL import Image

import regroup_core
from regroup_core.cli import main
from regroup_core.sources.mnist import MNIST_CLASS_NAMES
from regroup_core.sources.models import load_model
from regroup_core.store import load_classifiers

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digits_folder(root: Path, n: int = 60) -> None:
    """Random 28×28 PNGs filed under the embedded model's own prediction (+ a few wrong ones)."""
    bundle = load_model("mnist-vgg", device="cpu")
    rng = np.random.default_rng(0)
    pixels = (rng.random((n, 28, 28)) ** 3 * 255).astype(np.uint8)
    x = torch.stack([bundle.preprocess(Image.fromarray(p, mode="L")) for p in pixels])
    with torch.no_grad():
        labels = bundle.model(x).argmax(1).tolist()
    for i, label in enumerate(labels):
        label = (label + 1) % 10 if i % 5 == 0 else label
        folder = root / MNIST_CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i], mode="L").save(folder / f"{i:03d}.png")
    for name in MNIST_CLASS_NAMES:
        (root / name).mkdir(exist_ok=True)


def test_one_folder_fits_into_one_classifier_through_the_cli_the_api_and_torchrun(tmp_path):
    data = tmp_path / "digits"
    _digits_folder(data)
    args = ["fit", "--model", "mnist-vgg", "--device", "cpu", "--data", str(data), "--per-class", "2",
            "--k", "3", "--on-empty", "exclude", "--batch-size", "4", "--seed", "3"]
    assert main(args + ["--out", str(tmp_path / "one.safetensors")]) == 0
    # the Python API (what the app calls) on the same folder: the very same arrays
    api = regroup_core.fit(load_model("mnist-vgg", device="cpu"), data, per_class=2, k=3, on_empty="exclude",
                           batch_size=4, seed=3)
    cli = load_classifiers(tmp_path / "one.safetensors")
    assert torch.equal(api.class_count, cli.class_count) and api.excluded == cli.excluded
    for name in cli.pos:
        assert torch.equal(api.pos[name], cli.pos[name]) and torch.equal(api.neg[name], cli.neg[name])
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "regroup_core", *args,
           "--out", str(tmp_path / "two.safetensors"), "--checkpoint", str(tmp_path / "ckpt")]
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports
    one, two = load_classifiers(tmp_path / "one.safetensors"), load_classifiers(tmp_path / "two.safetensors")
    assert torch.equal(one.class_count, two.class_count) and one.excluded == two.excluded
    for name in one.pos:
        assert_pmfs_close(one.pos[name], two.pos[name])  # two ranks run other batch sizes
        assert_pmfs_close(one.neg[name], two.neg[name])
    assert two.info["processes"] == 2 and one.info["processes"] == 1
    assert len(list((tmp_path / "ckpt").iterdir())) == 2  # one checkpoint per rank


@pytest.mark.slow  # three interpreters and an attack: ~25 s on 2 shared cores
def test_torchrun_evaluate_equals_single_process_evaluate(tmp_path):
    classifier = str(REPO / "regroup_core" / "assets" / "classifiers" / "mnist-vgg.safetensors")
    args = ["evaluate", "--model", "mnist-vgg", "--device", "cpu", "--classifier", classifier, "--attacks", "pgd",
            "--threat", "transfer", "--num-images", "4", "--steps", "2", "--chunk-size", "1", "--seed", "1", "--json"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "regroup_core", *args,
           "--out", str(tmp_path / "two"), "--cache", str(tmp_path / "shared-cache")]  # not the one-process run's
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    # every chunk was attacked by its owner rank (rank 0: chunks 0 and 2), so rank 0 assembled
    # the suite from the cache
    assert two["rows"][0]["settings"]["cache"] == {"hits": 4, "misses": 0}
    assert two["settings"]["cache_misses"] == 2 and one["settings"]["cache_misses"] == 4
    assert one["clean"] == two["clean"]
    keys = ("attack", "threat", "n_success", "softmax_top1", "regroup_top1", "regroup_top5", "regroup_robust",
            "median_l2", "median_linf")
    assert [{k: r.get(k) for k in keys} for r in one["rows"]] == [{k: r.get(k) for k in keys} for r in two["rows"]]
    assert len(list((tmp_path / "shared-cache").rglob("*.json"))) == 4  # one entry per chunk
