"""Projected time and memory of a full ImageNet fit and evaluation, from a short measured run.

:func:`measure` times a few batches of random images on this machine through three paths —
the plain forward pass, the fit's capture path (taps + PMFs + float64 sums of every class)
and :meth:`regroup_core.engine.predictor.REGroup.predict` (with full-size classifiers), interleaved
with the median per path — and the decoding + preprocessing of one ImageNet-sized JPEG per
worker. :func:`project` turns the rates into wall-clock times:

* fit: ``per_class × M / accuracy`` candidates (only correctly classified ones count; the
  class-interleaved draw reads roughly that many), each limited by the slower of the fit
  path and ``workers × decode rate``;
* clean evaluation of 10 000 / 50 000 validation images at the slower of predict and decode;
* attacks: a T-step gradient attack costs about T forward+backward passes (≈ 3 forwards
  each) per image before the REGroup predict, so ≈ ``1 + 3T × predict_time / forward_time``
  times a clean evaluation — noted as a multiple.

Memory does not grow with the data (the fit streams into fixed-size sums), so the measured
peak is the projection: peak RSS, CUDA max allocated, and the classifier size
``Σ dims × M × 2 × 8`` bytes.
"""

from __future__ import annotations

import io
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from ..engine import FitStatistics, GenerativeClassifiers, REGroup, capture
from ..sources import ModelBundle, open_image
from .precision import Precision, autocast

__all__ = ["Measurement", "classifier_bytes", "format_report", "measure", "project"]


@dataclass(frozen=True)
class Measurement:
    """Measured rates (images/s) and memory of this machine for one model and batch size."""

    model: str
    device: str
    batch_size: int
    batches: int
    amp: str
    forward_ips: float
    fit_ips: float
    predict_ips: float
    decode_ips: float
    classifier_bytes: int
    peak_rss_bytes: int
    cuda_max_allocated_bytes: int | None


def classifier_bytes(bundle: ModelBundle) -> int:
    """Size of the fitted classifiers (and of the fit's sums): Σ dims × M × 2 × 8 bytes."""
    return sum(layer.dim for layer in bundle.layers) * bundle.num_classes * 2 * 8


def _peak_rss() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kib if sys.platform == "darwin" else kib * 1024)


def _synthetic_classifiers(bundle: ModelBundle) -> GenerativeClassifiers:
    """Random full-size PMFs (timing does not depend on their values)."""
    g = torch.Generator().manual_seed(0)

    def table() -> dict[str, torch.Tensor]:
        return {layer.name: torch.softmax(torch.randn(bundle.num_classes, layer.dim, generator=g,
                                                      dtype=torch.float64), 1) for layer in bundle.layers}

    m = bundle.num_classes
    return GenerativeClassifiers(layers=bundle.layers, class_names=bundle.class_names, pos=table(), neg=table(),
                                 class_count=torch.ones(m, dtype=torch.int64),
                                 class_weight=torch.ones(m, dtype=torch.float64), delta=1e-20,
                                 model_id=bundle.name, fingerprint="synthetic", per_class=None,
                                 k=min(5, len(bundle.layers)))


def _timed(fns: list, batches: int, device: torch.device) -> list[float]:
    """Median seconds per call of each of ``fns`` after one warm-up call each.

    The paths are interleaved (one call of each per round) so that load from other processes
    on a shared machine slows them alike and their ratio stays meaningful.
    """
    def one(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for fn in fns:
        one(fn)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(batches):
        for i, fn in enumerate(fns):
            times[i].append(one(fn))
    return [float(np.median(t)) for t in times]


def _decode_rate(bundle: ModelBundle, samples: int = 8) -> float:
    """Images/s of one worker decoding + preprocessing a 500×375 JPEG (ImageNet's typical size)."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    bundle.preprocess(open_image(data))
    start = time.perf_counter()
    for _ in range(samples):
        bundle.preprocess(open_image(data))
    return samples / (time.perf_counter() - start)


def measure(bundle: ModelBundle, *, batch_size: int = 32, batches: int = 3,
            amp: Precision | str | None = None) -> Measurement:
    """Time the forward, fit and predict paths on random images (see module doc)."""
    device = bundle.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    x = torch.rand(batch_size, *bundle.input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    model = bundle.model

    def forward() -> None:
        with torch.inference_mode(), autocast(device, amp):
            model(x)

    stats = FitStatistics.empty(bundle.layers, bundle.num_classes)

    def fit_step() -> None:  # what the fit does per batch, every sample accepted (the worst case)
        with autocast(device, amp):
            acc = capture(model, x, bundle.layers)
        probs = torch.softmax(acc.logits.to(torch.float64), 1).cpu()
        labels = probs.argmax(1)
        stats.add(acc.pos, acc.neg, labels, probs[torch.arange(len(labels)), labels])

    defended = REGroup(model, _synthetic_classifiers(bundle))

    def predict() -> None:
        with autocast(device, amp):
            defended.predict(x)

    forward_s, fit_s, predict_s = _timed([forward, fit_step, predict], batches, device)
    cuda_peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return Measurement(model=bundle.name, device=str(device), batch_size=batch_size, batches=batches,
                       amp=str(Precision(amp or "off").value), forward_ips=batch_size / forward_s,
                       fit_ips=batch_size / fit_s, predict_ips=batch_size / predict_s,
                       decode_ips=_decode_rate(bundle), classifier_bytes=classifier_bytes(bundle),
                       peak_rss_bytes=_peak_rss(), cuda_max_allocated_bytes=cuda_peak)


def project(m: Measurement, *, num_classes: int, per_class: int = 50, accuracy: float = 1.0, workers: int = 8,
            processes: int = 1, eval_sizes: tuple[int, ...] = (10_000, 50_000),
            attack_steps: tuple[int, ...] = (10, 40)) -> dict[str, object]:
    """Projected seconds of a full fit and of clean evaluations (see module doc)."""
    if not 0 < accuracy <= 1:
        raise ValueError(f"expected 0 < accuracy <= 1, got {accuracy}")
    loading = m.decode_ips * max(workers, 1)
    fit_rate = min(m.fit_ips, loading) * processes
    predict_rate = min(m.predict_ips, loading) * processes
    candidates = int(np.ceil(per_class * num_classes / accuracy))
    return {
        "measured": asdict(m),
        "assumptions": {"per_class": per_class, "num_classes": num_classes, "accuracy": accuracy,
                        "workers_per_process": workers, "processes": processes},
        "fit": {"candidates": candidates, "seconds": candidates / fit_rate,
                "bound_by": "data loading" if loading < m.fit_ips else "model"},
        "evaluate_clean": {str(n): {"seconds": n / predict_rate} for n in eval_sizes},
        "attack_multiple": {f"{t}-step": 1 + 3 * t * m.predict_ips / m.forward_ips for t in attack_steps},
        "memory": {"classifier_bytes": m.classifier_bytes, "peak_rss_bytes": m.peak_rss_bytes,
                   "cuda_max_allocated_bytes": m.cuda_max_allocated_bytes},
    }


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def format_report(p: dict[str, object]) -> str:
    m, a, fit = p["measured"], p["assumptions"], p["fit"]
    lines = [
        (f"model {m['model']} on {m['device']}, batch {m['batch_size']} x {m['batches']} timed batches, "
         f"amp {m['amp']}"),
        (f"measured: forward {m['forward_ips']:.1f} img/s, fit path {m['fit_ips']:.1f} img/s, REGroup predict "
         f"{m['predict_ips']:.1f} img/s, JPEG decode+preprocess {m['decode_ips']:.1f} img/s/worker"),
        (f"fit of {a['per_class']} x {a['num_classes']} classes at accuracy {a['accuracy']:.3f}: "
         f"~{fit['candidates']} candidates, {_duration(fit['seconds'])} with {a['processes']} process(es) x "
         f"{a['workers_per_process']} workers (bound by {fit['bound_by']})"),
    ]
    for n, row in p["evaluate_clean"].items():
        lines.append(f"clean evaluation of {int(n):,} images: {_duration(row['seconds'])}")
    multiples = ", ".join(f"{k} attack ≈ {v:.0f}x" for k, v in p["attack_multiple"].items())
    lines.append(f"attacks (gradient steps against the base model, then REGroup): {multiples} the clean time")
    mem = p["memory"]
    lines.append(f"memory: classifiers {_size(mem['classifier_bytes'])} (Σ dims x M x 2 x 8 B; the fit's sums "
                 f"are the same size), peak RSS {_size(mem['peak_rss_bytes'])}, CUDA max allocated "
                 f"{_size(mem['cuda_max_allocated_bytes'])} (constant in the number of images)")
    return "\n".join(lines)
