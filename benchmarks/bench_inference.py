"""REGroup inference and fit cost relative to a plain forward pass.

ResNet-50 (random weights), batch 16, same process, same input, CPU by default:

* ``ratio_k5``  = time(REGroup predict, k = 5, only the 5 voting layers tapped) / time(plain forward)
* ``ratio_all`` = time(REGroup predict, all 54 layers ranked) / time(plain forward)
* ``fit_ratio`` = fit throughput (images/s through the streaming fit of ``--fit-batches`` batches, steady
  state: the fixed-size statistics are allocated by a warm-up batch) / plain inference throughput

Timings interleave the four measurements (plain, k = 5, all layers, fit) over several rounds. Each
ratio is the median over rounds of that round's own ratio (each measurement against the plain forward
pass run seconds before it), so the load of other tenants of a shared machine, which drifts over seconds
to minutes, cancels in each pair; the ratios of the medians are reported too (``*_of_medians``).
The classifiers are synthetic (random PMFs of the right shapes: ImageNet's M = 1000): speed does not
depend on their values.
Fit memory: resident set size after fitting n and 3n images (statistics are fixed-size sums).

Usage: python -m benchmarks.bench_inference [--rounds 9] [--batch 16] [--device cpu] [--workspace N] --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from regroup_core.engine import GenerativeClassifiers, REGroup, taps
from regroup_core.run.fit import Candidates, fit_statistics
from regroup_core.sources.models import load_model


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def synthetic_classifiers(bundle, seed: int = 0) -> GenerativeClassifiers:
    g = torch.Generator().manual_seed(seed)
    m = bundle.num_classes

    def pmfs(d: int) -> torch.Tensor:
        a = torch.rand(m, d, generator=g, dtype=torch.float64) + 1e-3
        return a / a.sum(1, keepdim=True)

    return GenerativeClassifiers(
        layers=bundle.layers, class_names=bundle.class_names,
        pos={layer.name: pmfs(layer.dim) for layer in bundle.layers},
        neg={layer.name: pmfs(layer.dim) for layer in bundle.layers},
        class_count=torch.full((m,), 50), class_weight=torch.full((m,), 50.0, dtype=torch.float64),
        delta=1e-20, model_id=bundle.name, fingerprint=bundle.fingerprint, per_class=50, k=5)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--fit-batches", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workspace", type=int, default=None,
                        help="scratch elements of the hooks' chunked sums (default: taps.WORKSPACE_ELEMENTS)")
    args = parser.parse_args()
    if args.workspace is not None:  # compare sizes: the sums are the same bits, only the speed differs
        taps.WORKSPACE_ELEMENTS = args.workspace

    torch.manual_seed(0)
    bundle = load_model(args.model, weights="random", device=args.device)
    model = bundle.model
    x = torch.rand(args.batch, *bundle.input_shape, device=bundle.device)
    defended = REGroup(model, synthetic_classifiers(bundle))
    sync = torch.cuda.synchronize if bundle.device.type == "cuda" else (lambda: None)

    def plain():
        with torch.inference_mode():
            model(x)
        sync()

    def k5():
        defended.predict(x, k=5)
        sync()

    def every_layer():
        defended.predict(x, k=len(bundle.layers), scope="all")
        sync()

    with torch.inference_mode():
        labels = model(x).argmax(1).cpu()  # self-labelled: every sample is accepted by the fit

    def candidates(batches: int) -> Candidates:  # the batch repeated: the fit's own loop over a dataset
        data = TensorDataset(x.cpu().repeat(batches, 1, 1, 1), labels.repeat(batches))
        return Candidates(data, np.arange(len(data)), data.tensors[1].numpy(), "benchmark")

    def fit(batches: int, stats=None):
        return fit_statistics(bundle, candidates(batches), per_class=None, batch_size=args.batch, stats=stats).stats

    # Steady-state fit: the statistics (Σ dims × M × 2 float64, 441 MB for ResNet-50/ImageNet) are
    # allocated and touched once per fit, so they are created by a warm-up batch, not timed.
    stats = fit(1)
    rss_before = rss_mb()
    fit(args.fit_batches, stats)
    rss_small = rss_mb()

    def fit_rounds():
        fit(args.fit_batches, stats)

    for fn in (plain, k5, every_layer):  # warm-up (allocator, kernels)
        fn()
    times: dict[str, list[float]] = {"plain": [], "k5": [], "all": [], "fit": []}
    for _ in range(args.rounds):  # interleaved: a slow drift of the machine hits all four alike
        times["plain"].append(timed(plain))
        times["k5"].append(timed(k5))
        times["all"].append(timed(every_layer))
        times["fit"].append(timed(fit_rounds))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    paired = {"ratio_k5": [k / p for k, p in zip(times["k5"], times["plain"])],
              "ratio_all": [a / p for a, p in zip(times["all"], times["plain"])],
              "fit_ratio": [p * args.fit_batches / f for f, p in zip(times["fit"], times["plain"])]}
    fit_time = med["fit"]
    fit(3 * args.fit_batches, stats)
    rss_large = rss_mb()
    plain_throughput = args.batch / med["plain"]
    fit_throughput = args.batch * args.fit_batches / fit_time

    result = {
        "model": args.model, "device": str(bundle.device), "batch": args.batch, "rounds": args.rounds,
        "threads": torch.get_num_threads(), "layers": len(bundle.layers), "workspace": taps.WORKSPACE_ELEMENTS,
        "plain_s": round(med["plain"], 4), "regroup_k5_s": round(med["k5"], 4), "regroup_all_s": round(med["all"], 4),
        "plain_images_per_s": round(plain_throughput, 2), "fit_images_per_s": round(fit_throughput, 2),
        "fit_rss_mb": {"before": round(rss_before), f"after_{args.fit_batches * args.batch}_images": round(rss_small),
                       f"after_{3 * args.fit_batches * args.batch}_images": round(rss_large)},
        "ratio_k5_of_medians": round(med["k5"] / med["plain"], 3),
        "ratio_all_of_medians": round(med["all"] / med["plain"], 3),
        "fit_ratio_of_medians": round(fit_throughput / plain_throughput, 3),
        "per_round": {name: [round(r, 3) for r in ratios] for name, ratios in paired.items()},
        **{name: round(statistics.median(ratios), 3) for name, ratios in paired.items()},
    }
    if args.json:
        print(json.dumps(result))  # details, then the ratios alone as the last line
        print(json.dumps({k: result[k] for k in ("ratio_k5", "ratio_all", "fit_ratio")}), flush=True)
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
