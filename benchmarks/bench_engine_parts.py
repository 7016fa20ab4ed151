"""Where REGroup's time goes, part by part (the README's Speed section cites it).

ResNet-50 (random weights), batch 16, CPU by default, synthetic classifiers (M = 1 000) as in
``bench_inference``; every part is timed in interleaved rounds and reported as a median, relative to
the plain forward pass of the same rounds:

* ``hooks_noop``: the forward pass with 54 hooks that do nothing (the hooks' own cost)
* ``read_once``: the forward pass with one sum per (sample, channel) of each tapped map, unclamped: the least
  an exact tap can do (each map read once, one reduction); the taps' cost above it is the clamped copies
* ``capture_<bytes>``: the forward pass with every layer's exact P and N, per scratch-buffer size
* ``kl_s``: PMFs and KL scores of the 108 voters (one float64 matrix product each), after a forward pass
  (so the class mixtures are read from memory, as in ``predict``)
* ``ranks_s`` / ``ranks_torch_s``: the voters' stable ranks, the library's path and torch's stable argsort
* ``fit_s`` / ``capture3_s``: the fit's own loop over 3 batches and 3 plain captures

Usage: python -m benchmarks.bench_engine_parts [--rounds 7] [--batch 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import TensorDataset

from benchmarks.bench_inference import synthetic_classifiers
from regroup_core.engine import REGroup, taps
from regroup_core.engine.classifier import to_pmf
from regroup_core.engine.voting import kl_divergences, stable_ranks
from regroup_core.run.fit import Candidates, fit_statistics
from regroup_core.sources.models import load_model

SIZES = (1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 22)  # scratch elements (float32: 256 KiB … 16 MiB)


def _torch_ranks(scores: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(scores, dim=-1, stable=True)
    positions = torch.arange(1, scores.shape[-1] + 1, dtype=torch.int32).expand_as(order)
    return torch.empty(order.shape, dtype=torch.int32).scatter_(-1, order, positions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    bundle = load_model(args.model, weights="random", device="cpu")
    model, layers = bundle.model, bundle.layers
    x = torch.rand(args.batch, *bundle.input_shape)
    defended = REGroup(model, synthetic_classifiers(bundle))
    modules = dict(model.named_modules())
    with torch.inference_mode():
        labels = model(x).argmax(1)
    data = TensorDataset(x.repeat(3, 1, 1, 1), labels.repeat(3))
    candidates = Candidates(data, np.arange(len(data)), data.tensors[1].numpy(), "benchmark")
    stats = fit_statistics(bundle, candidates, per_class=None, batch_size=args.batch).stats
    scores: list[torch.Tensor] = []

    def plain() -> None:
        with torch.inference_mode():
            model(x)

    def with_hooks(hook: Callable[..., None]) -> Callable[[], None]:
        def run() -> None:  # the plain pass with ``hook`` on every tapped layer
            handles = [modules[layer.name].register_forward_hook(hook) for layer in layers]
            plain()
            for handle in handles:
                handle.remove()
        return run

    def sum_each_map(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.reshape(output.shape[0] * output.shape[1], -1).sum(1)

    def capture_with(size: int) -> Callable[[], None]:
        def run() -> None:
            taps.WORKSPACE_ELEMENTS = size
            taps.capture(model, x, layers)
        return run

    def kl() -> None:  # after a forward pass: the mixtures come from memory, as in predict
        acc = taps.capture(model, x, layers)
        scores.clear()
        start = time.perf_counter()
        for sign, table in (("pos", acc.pos), ("neg", acc.neg)):
            for layer in layers:
                c, neg_entropy = defended._terms[sign][layer.name]  # noqa: SLF001 - the engine's own terms
                scores.append(kl_divergences(to_pmf(table[layer.name], defended.classifiers.delta), c, neg_entropy))
        kl.seconds = time.perf_counter() - start  # type: ignore[attr-defined]

    parts: dict[str, Callable[[], None]] = {"plain_s": plain, "hooks_noop_s": with_hooks(lambda *_: None),
                                           "read_once_s": with_hooks(sum_each_map)}
    parts |= {f"capture_{size * 4 // 1024}KiB_s": capture_with(size) for size in SIZES}
    parts |= {"fit_s": lambda: fit_statistics(bundle, candidates, per_class=None, batch_size=args.batch, stats=stats),
              "capture3_s": lambda: [taps.capture(model, x, layers) for _ in range(3)]}
    default_size = taps.WORKSPACE_ELEMENTS
    times: dict[str, list[float]] = {name: [] for name in [*parts, "kl_s", "ranks_s", "ranks_torch_s"]}
    for _ in range(args.rounds + 1):  # the first round warms up and is dropped
        for name, fn in parts.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        taps.WORKSPACE_ELEMENTS = default_size
        kl()
        times["kl_s"].append(kl.seconds)  # type: ignore[attr-defined]
        stacked = torch.stack(scores, dim=1)
        for name, rank in (("ranks_s", stable_ranks), ("ranks_torch_s", _torch_ranks)):
            start = time.perf_counter()
            rank(stacked)
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts[1:]) for name, ts in times.items()}
    result = {"model": args.model, "batch": args.batch, "rounds": args.rounds, "threads": torch.get_num_threads(),
              "default_workspace_KiB": default_size * 4 // 1024, **{k: round(v, 4) for k, v in med.items()},
              "ratios_to_plain": {k: round(v / med["plain_s"], 3) for k, v in med.items()
                                  if k.startswith(("hooks", "read_once", "capture_"))}}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
