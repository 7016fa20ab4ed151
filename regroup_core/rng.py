"""Seeded use of the *global* torch and NumPy generators, one caller at a time.

Some code we call draws from torch's and NumPy's global generators and takes no generator
argument: foolbox's and torchattacks' random starts, and torchvision's / torch.nn's weight
initialisation (``weights="random"``). :func:`global_rng` holds one process-wide lock while it
seeds them, runs the call and restores them, so concurrent threads (the app's browser sessions)
cannot interleave their draws and the caller's own generator state is left as it was. Our own
stochastic code takes a ``torch.Generator`` and never touches the global ones.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["global_rng"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def global_rng(seed: int) -> Iterator[None]:
    """Seed the global torch (CPU and current CUDA device) and NumPy generators with ``seed``
    under a process-wide lock for the duration of the block, then restore them."""
    with _LOCK:
        np_state = np.random.get_state()
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed) % 2**63)
            np.random.seed(int(seed) % 2**32)
            try:
                yield
            finally:
                np.random.set_state(np_state)
