"""Fit throughput vs plain inference throughput (images/s), ResNet-50 with random weights.

    python -m benchmarks.bench_fit_throughput --batch-size 16 --batches 3 --json

Times, on random 224×224 images, the plain forward pass (inference mode), the fit's path
(taps on all 54 layers → PMFs → float64 per-class sums; every image accepted, the worst case)
and the REGroup predict (k = 5 voters, full-size 1000-class classifiers) on the CPU and, when
present, on CUDA (also with bf16 autocast there), interleaved, median per path; then
``fit_statistics`` (the fit's one loop) end to end on in-memory images (its scheduling and acceptance included). The
last line is JSON with ``--json``.
Weights do not change the timing, so no download is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from regroup_core.run.estimate import measure
from regroup_core.run.fit import Candidates, fit_statistics
from regroup_core.sources.models import load_model


def end_to_end_ips(bundle, batch_size: int, batches: int) -> float:
    """Images/s of :func:`fit_statistics` itself (schedule, acceptance, sums) on in-memory random
    images labelled with the model's own predictions (all accepted, no per-class cap)."""
    import time

    from torch.utils.data import TensorDataset

    n = batch_size * batches
    x = torch.rand(n, *bundle.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        y = torch.cat([bundle.model(x[i:i + batch_size].to(bundle.device)).argmax(1).cpu()
                       for i in range(0, n, batch_size)])
    data = TensorDataset(x, y)
    fit_statistics(bundle, Candidates(data, torch.arange(batch_size).numpy(), y.numpy(), "warm-up"),
                per_class=None, batch_size=batch_size)
    start = time.perf_counter()
    fit_statistics(bundle, Candidates(data, torch.arange(n).numpy(), y.numpy(), "random"), per_class=None,
                batch_size=batch_size)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per path after one warm-up")
    parser.add_argument("--devices", default="auto", help="comma list of cpu,cuda (auto: cpu and cuda if present)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = parser.parse_args()
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.devices == "auto" \
        else args.devices.split(",")
    rows = []
    for device in devices:
        bundle = load_model(args.model, "random", device=device)
        for amp in (["off", "bf16"] if device == "cuda" else ["off"]):
            m = measure(bundle, batch_size=args.batch_size, batches=args.batches, amp=amp)
            row = {"device": device, "amp": amp, "forward_ips": round(m.forward_ips, 2),
                   "fit_ips": round(m.fit_ips, 2), "predict_ips": round(m.predict_ips, 2),
                   "fit_over_forward": round(m.fit_ips / m.forward_ips, 3),
                   "fit_loop_ips": round(end_to_end_ips(bundle, args.batch_size, args.batches), 2)
                   if amp == "off" else None,
                   "peak_rss_mib": round(m.peak_rss_bytes / 2**20, 1),
                   "cuda_max_allocated_mib": None if m.cuda_max_allocated_bytes is None
                   else round(m.cuda_max_allocated_bytes / 2**20, 1)}
            rows.append(row)
            print(f"{args.model} {device} amp={amp} batch={args.batch_size}: forward {row['forward_ips']} img/s, "
                  f"fit {row['fit_ips']} img/s ({row['fit_over_forward']:.2f}x), predict {row['predict_ips']} img/s, "
                  f"fit loop end to end {row['fit_loop_ips']} img/s")
        del bundle
    if args.json:
        print(json.dumps({"benchmark": "fit_throughput", "model": args.model, "batch_size": args.batch_size,
                          "batches": args.batches, "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "cpu": platform.processor() or platform.machine(), "load_avg": os.getloadavg(),
                          "results": rows}))


if __name__ == "__main__":
    main()
