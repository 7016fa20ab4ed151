"""PyTorch's own distributed runtime, the few pieces REGroup needs.

Run any command on N processes with ``torchrun --nproc_per_node N -m regroup_core ...``:
torchrun sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` and
:func:`init_from_env` joins the process group (gloo on CPU, nccl on CUDA, one GPU per local
rank). Without those variables everything runs as a world of one and no group is created,
so every helper here is also correct (and free) in a single process.

Collectives move only tensors (never pickled objects): :func:`all_reduce_stats` sums fit
statistics, :func:`gather_rows` concatenates per-rank result rows of different lengths.

Every collective has a timeout (``REGROUP_DIST_TIMEOUT_S``, default 1 800 s): a rank that dies
or hangs makes the others fail with a clear error instead of waiting forever.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..engine import FitStatistics
from ..errors import DataError
from ..sources import resolve_device

__all__ = ["DistContext", "all_reduce_stats", "all_reduce_sum", "barrier", "context", "env_world_size",
           "gather_rows", "init_from_env", "is_main_process", "min_over_ranks", "rank_owns", "shard_indices",
           "shutdown", "timeout"]


def timeout() -> datetime.timedelta:
    """The collectives' timeout: ``REGROUP_DIST_TIMEOUT_S`` seconds (default 1 800)."""
    raw = os.environ.get("REGROUP_DIST_TIMEOUT_S", "1800")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise DataError(f"expected REGROUP_DIST_TIMEOUT_S to be a positive number of seconds, got {raw!r}")
    return datetime.timedelta(seconds=seconds)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    """``WORLD_SIZE`` as set by torchrun (1 when absent)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise DataError(f"expected an integer WORLD_SIZE, got {os.environ['WORLD_SIZE']!r}") from None


def init_from_env(device: str | torch.device = "auto") -> DistContext:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    ``device="auto"`` uses CUDA when present. With CUDA each process takes GPU ``LOCAL_RANK``
    and the backend is nccl; on CPU it is gloo. Idempotent: a second call returns the context
    of the group already joined.
    """
    world = env_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                timeout=timeout())
    return context(dev)


def context(device: str | torch.device | None = None) -> DistContext:
    """The current rank and world size (1 process when no group was joined)."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return DistContext(rank=rank, world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")), device=dev)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the one that writes files and prints."""
    return not _active() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every rank (at most :func:`timeout`; then a clear error)."""
    if _active():
        try:
            dist.barrier()
        except RuntimeError as exc:
            raise DataError(f"expected every process to reach the barrier within {timeout()} (set "
                            f"REGROUP_DIST_TIMEOUT_S to wait longer), got: {str(exc).splitlines()[0][:200]}") from None


def shutdown() -> None:
    """Leave the process group (if one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n: int, rank: int | None = None, world_size: int | None = None) -> range:
    """This rank's contiguous block of ``range(n)``; sizes differ by at most one, no padding.

    Blocks in rank order concatenate to ``range(n)``, so per-rank results gathered in rank
    order are in global order (see :func:`gather_rows`).
    """
    if rank is None or world_size is None:
        ctx = context()
        rank, world_size = ctx.rank, ctx.world_size
    if not 0 <= rank < world_size:
        raise DataError(f"expected 0 <= rank < {world_size}, got {rank}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def rank_owns(item: int, rank: int | None = None, world_size: int | None = None) -> bool:
    """Round-robin ownership of work units (chunks of a cached suite...): ``item % world == rank``.

    For work whose units are looked up by content in a shared cache: every rank computes the
    units it owns, a barrier follows, then rank 0 assembles the whole from the cache.
    """
    if rank is None or world_size is None:
        ctx = context()
        rank, world_size = ctx.rank, ctx.world_size
    return item % world_size == rank


def _comm_device() -> torch.device:
    """nccl moves CUDA tensors only; gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over all ranks (a new tensor on ``tensor``'s device)."""
    if not _active():
        return tensor.clone()
    buf = tensor.to(_comm_device()).contiguous().clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(tensor.device)


def min_over_ranks(value: int) -> int:
    """The smallest ``value`` over all ranks (``value`` itself in one process)."""
    if not _active():
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def all_reduce_stats(stats: FitStatistics) -> FitStatistics:
    """The fit statistics of every rank summed (identical on all ranks); ``stats`` is unchanged.

    Sums are exact merges (see :class:`regroup_core.engine.stats.FitStatistics`); float64 sums
    differ from a one-process fit only by summation order.
    """
    if not _active():
        return stats
    reduced = [all_reduce_sum(t) for t in stats.tensors()]
    n = len(stats.layers)
    names = [layer.name for layer in stats.layers]
    return FitStatistics(layers=stats.layers, num_classes=stats.num_classes, delta=stats.delta,
                         pos_sum=dict(zip(names, reduced[:n])), neg_sum=dict(zip(names, reduced[n:2 * n])),
                         weight=reduced[2 * n], count=reduced[2 * n + 1])


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``rows`` (shapes (n_r, ...), n_r may differ) in rank order.

    Every rank gets the whole table. Rows are padded to the longest shard for the
    collective and trimmed afterwards (no duplicates).
    """
    if not _active():
        return rows
    device = _comm_device()
    local = rows.to(device).contiguous()
    world = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.int64, device=device))
    longest = int(max(int(s) for s in sizes))
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=device)
    padded[:local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(s)] for p, s in zip(parts, sizes)]).to(rows.device)
