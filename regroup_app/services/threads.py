"""Torch threads of the app's work: a cap for interactive work, and every core for long calls.

torch's thread count belongs to the whole process (``torch.set_num_threads`` from any thread changes
it for all, measured here), and browser sessions are threads of one process. So the count is
arbitrated here, under one lock: :func:`all_cores` raises it while at least one long call (a fit, a
benchmark table) runs and puts the app's cap back when the last one ends, whatever order the
sessions' calls end in; :func:`configure_threads`, run at the start of every page run, applies the
cap only while no long call runs (it never cuts another session's fit short).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch

from regroup_core.checks import integer

__all__ = ["all_cores", "configure_threads", "interactive_cap"]

_LOCK = threading.Lock()
_LONG_CALLS = 0  # long calls running now, in any session


def interactive_cap() -> int:
    """At most half the CPU cores (``REGROUP_APP_THREADS`` overrides).

    Why: the embedded models are tiny, and on a busy machine torch's worker threads wait for
    each other — measured here (2 cores, other load): PGD on one MNIST image 0.14 s with one
    thread against 6–17 s with two. Half the cores also leaves room for concurrent sessions.
    """
    raw = os.environ.get("REGROUP_APP_THREADS")
    default = max(1, (os.cpu_count() or 2) // 2)
    return default if raw is None else integer(raw, "REGROUP_APP_THREADS", lo=1, hi=4096)


def configure_threads() -> int:
    """Apply the interactive cap (unless a long call runs); returns the cap."""
    threads = interactive_cap()
    with _LOCK:
        if _LONG_CALLS == 0 and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def all_cores() -> Iterator[int]:
    """Every core while the body runs (and while any other session's long call runs); the
    interactive cap again once the last long call ends. Yields the thread count used."""
    global _LONG_CALLS
    threads = max(1, os.cpu_count() or 1)
    with _LOCK:
        _LONG_CALLS += 1
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        with _LOCK:
            _LONG_CALLS -= 1
            if _LONG_CALLS == 0:
                torch.set_num_threads(interactive_cap())
