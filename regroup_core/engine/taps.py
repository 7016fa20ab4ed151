"""Taps: capture the positive and negative response accumulators of chosen layers.

For each tapped layer ℓ and channel i the paper's Algorithm 1 needs
``P = Σ max(0, φ)`` and ``N = Σ max(0, -φ)`` over the spatial positions of the
pre-activation φ. We reduce to (P, N) *inside* the forward hook:

* torchvision nets apply ``ReLU(inplace=True)`` (and, in a bottleneck, ``out += identity``)
  to the very tensor the hook sees, so a stored reference would later read post-ReLU values;
* a (B, D) pair is far smaller than a (B, D, H, W) map, so memory does not grow with depth.

Hooks are registered for one call and removed in ``finally``. Their state belongs to the call
and they ignore forward passes run by other threads, so several threads may capture from one
shared model at once without mixing results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DataError, LayerError
from .layers import LayerInfo, LayerKind

__all__ = ["WORKSPACE_ELEMENTS", "Accumulators", "capture", "reduce_accumulators"]

_HALF = (torch.float16, torch.bfloat16)

WORKSPACE_ELEMENTS = 1 << 18
"""Scratch size for the clamped chunks (1 MiB of float32). A chunk and its clamped copies then stay in a
core's cache, so each map is read from memory once; every chunk costs two clamps and two sums, each a
parallel op with a fixed cost (the threads fork and join). Measured with ``python -m
benchmarks.bench_engine_parts`` (ResNet-50, batch 16, 2 quiet cores), the exact sums cost 10-11 % of a forward
with 0.5-1 MiB, 13 % with 2-4 MiB and 21 % with 16 MiB; only on a heavily oversubscribed machine (load 10+)
did the fork-and-join cost of the 722 chunks per forward make 16 MiB (74 chunks) faster. The sums are the same
bits whatever the size (each row is reduced whole by one op; ``tests/engine/test_taps.py`` checks it)."""


@dataclass(frozen=True)
class Accumulators:
    """Positive and negative accumulators of each tapped layer, with the model's logits.

    ``pos[name]`` and ``neg[name]`` have shape (B, D_layer); ``logits`` has shape (B, M).
    """

    logits: torch.Tensor
    pos: dict[str, torch.Tensor]
    neg: dict[str, torch.Tensor]


def _chunked_parts(output: torch.Tensor, acc: torch.dtype, workspace: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``P = Σ max(0, φ)`` and ``N = Σ max(0, −φ)`` per (sample, channel).

    The maps are visited a few at a time: each chunk is read from memory once, its clamped
    copies go to the ``workspace`` (:data:`WORKSPACE_ELEMENTS`) and are summed from there, so the
    network-sized map is never copied and zeros stay exact zeros.
    """
    rows = output.reshape(output.shape[0] * output.shape[1], -1)  # a view for contiguous maps
    size = rows.shape[1]
    if workspace is None or workspace.numel() < size or workspace.dtype != output.dtype \
            or workspace.device != output.device:
        workspace = torch.empty(max(size, WORKSPACE_ELEMENTS), dtype=output.dtype, device=output.device)
    step = workspace.numel() // size
    n = rows.shape[0]
    pos, neg = (torch.empty(n, dtype=acc, device=output.device) for _ in range(2))
    # the chunk views come from three split calls, not from slicing per chunk: a ResNet-50 forward visits ~700
    # chunks, and the per-chunk slicing cost 0.4-1.5 % of a forward in paired runs
    full = workspace[:step * size].view(step, size)
    for chunk, p, q in zip(rows.split(step), pos.split(step), neg.split(step)):
        scratch = full if len(chunk) == step else full[:len(chunk)]
        torch.sum(torch.clamp_min(chunk, 0, out=scratch), 1, dtype=acc, out=p)
        torch.sum(torch.clamp_max(chunk, 0, out=scratch), 1, dtype=acc, out=q)
    return pos.view(output.shape[:2]), neg.neg_().view(output.shape[:2])


def reduce_accumulators(output: torch.Tensor, differentiable: bool = False,
                        workspace: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce a pre-activation of shape (B, D, *spatial) or (B, D) to (P, N), each (B, D).

    Fast path (no autograd): the clamps are applied chunk by chunk into a ``workspace`` and summed
    from there, so the result is exact (no ``(Σ|φ| ± Σφ)/2``
    cancellation, dead channels give exactly 0) while the network-sized map is read from memory
    once and never copied. Two full-size clamps would cost ~35 % of a ResNet-50 forward for
    all 53 conv layers; this costs about a quarter of that (``benchmarks/bench_inference.py``).

    Differentiable path: ``relu(φ)`` and ``relu(-φ)`` save their own outputs for backward,
    never φ itself, so the in-place ReLU that follows in the network cannot corrupt autograd.
    """
    if output.dim() < 2:
        raise LayerError(f"expected a layer output of shape (B, D, ...), got {tuple(output.shape)}")
    if output.dim() == 2:  # fully connected: one scalar per neuron, nothing to accumulate
        if differentiable:  # relu saves its output, clamp its input (which an in-place ReLU overwrites)
            return torch.relu(output), torch.relu(-output)
        return output.clamp(min=0), (-output).clamp(min=0)
    dims = tuple(range(2, output.dim()))
    # Under mixed precision (autocast) the map is fp16/bf16: sum it in float32 so a 56×56
    # reduction does not round to 8–11 mantissa bits (and without a float32 copy of the map).
    acc = torch.float32 if output.dtype in _HALF else output.dtype
    if differentiable:
        return torch.relu(output).sum(dims, dtype=acc), torch.relu(-output).sum(dims, dtype=acc)
    if output.device.type != "cpu":  # GPUs: bandwidth is plentiful, kernel launches are not
        return output.clamp(min=0).sum(dims, dtype=acc), output.clamp(max=0).sum(dims, dtype=acc).neg_()
    return _chunked_parts(output, acc, workspace)


class _Recorder:
    """Hook state of one capture call, owned by the thread that started it."""

    def __init__(self, differentiable: bool) -> None:
        self.owner = threading.get_ident()
        self.differentiable = differentiable
        self.pos: dict[str, torch.Tensor] = {}
        self.neg: dict[str, torch.Tensor] = {}
        self.workspace: torch.Tensor | None = None  # scratch for |φ|, owned by this call

    def hook_for(self, name: str, channels_last: bool = False
                 ) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if threading.get_ident() != self.owner:
                return  # another thread's forward pass through the shared model
            if name in self.pos:
                raise LayerError(f"expected tapped module '{name}' to run once per forward pass, "
                                 "got a second call (a reused module cannot be a REGroup voter)")
            if not isinstance(output, torch.Tensor):
                raise LayerError(f"expected module '{name}' to return a tensor, got {type(output).__name__}")
            if channels_last and output.dim() > 2:  # a Linear on (B, ..., C): its C outputs are the voters
                output = output.movedim(-1, 1)
            if self.workspace is None or self.workspace.device != output.device \
                    or self.workspace.dtype != output.dtype:
                self.workspace = torch.empty(WORKSPACE_ELEMENTS, dtype=output.dtype, device=output.device)
            pos, neg = reduce_accumulators(output, self.differentiable, self.workspace)
            # accumulators are at least float32, also for fp16/bf16 fully connected outputs
            self.pos[name], self.neg[name] = (pos.float(), neg.float()) if pos.dtype in _HALF else (pos, neg)
        return hook


def capture(model: nn.Module, x: torch.Tensor, layers: Sequence[LayerInfo], *,
            differentiable: bool = False) -> Accumulators:
    """Run ``model(x)`` once and return its logits with the accumulators of ``layers``.

    Without ``differentiable`` the pass runs under ``torch.inference_mode``; with it, the
    returned tensors keep their autograd graph (for adaptive attacks).
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise DataError(f"expected an input batch tensor of shape (B, ...), got {getattr(x, 'shape', type(x))}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise DataError("expected finite input values, got NaN or inf")
    modules = dict(model.named_modules())
    recorder = _Recorder(differentiable)
    handles = []
    try:
        for layer in layers:
            if layer.name not in modules:
                raise LayerError(f"expected a module named '{layer.name}' in {type(model).__name__}, got none")
            handles.append(modules[layer.name].register_forward_hook(
                recorder.hook_for(layer.name, channels_last=layer.kind is LayerKind.FC)))
        if differentiable:
            logits = model(x)
        else:
            with torch.inference_mode():
                logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [layer.name for layer in layers if layer.name not in recorder.pos]
    if missing:
        raise LayerError(f"expected every tapped layer to run, got no output from {missing}")
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = getattr(logits, "shape", type(logits))
        raise LayerError(f"expected the model to return logits of shape (B, M), got {got}")
    return Accumulators(logits=logits, pos=recorder.pos, neg=recorder.neg)
