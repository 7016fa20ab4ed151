"""Progress reporting shared by every long loop: a tqdm bar on the terminal and/or a callback
(the app's progress bars), with one signature everywhere; and the *steps* of one long call (the adaptive
plan's runs) for whoever listens (:func:`listen_steps`), without threading a callback through every layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm.auto import tqdm

__all__ = ["Progress", "Reporter", "listen_steps", "report_step"]

Progress = Callable[[int, int, str], None]
"""``callback(done, total, message)``, called as work advances (``total`` may be 0 when unknown)."""


class Reporter:
    """Advance a tqdm bar (when ``bar``) and call ``callback`` (when given) together.

    Args:
        total: units of work (None when unknown).
        desc: what is being done (the bar's label and the callback's message).
        bar: show a terminal progress bar.
        callback: a :data:`Progress` callback.
        initial: units already done (a resumed run).
    """

    def __init__(self, total: int | None, desc: str, *, bar: bool = False, callback: Progress | None = None,
                 unit: str = "it", initial: int = 0) -> None:
        self.total, self.desc, self.callback, self.done = total, desc, callback, initial
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not bar)

    def update(self, n: int = 1, **postfix: object) -> None:
        self.done += n
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix(**postfix)
        if self.callback is not None:
            extra = ", ".join(f"{k} {v}" for k, v in postfix.items())
            self.callback(self.done, self.total or 0, f"{self.desc}{' (' + extra + ')' if extra else ''}")

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_STEP_LISTENER: ContextVar[Progress | None] = ContextVar("regroup_step_listener", default=None)
"""Who hears :func:`report_step` in this thread/context (a context variable: each app session's
script thread has its own, so one session never sees another's steps)."""


@contextmanager
def listen_steps(callback: Progress) -> Iterator[None]:
    """Within the block, :func:`report_step` calls ``callback(done, total, message)`` (this context only)."""
    token = _STEP_LISTENER.set(callback)
    try:
        yield
    finally:
        _STEP_LISTENER.reset(token)


def report_step(done: int, total: int, message: str) -> None:
    """Say which step of a long call is under way (nothing happens when nobody listens)."""
    listener = _STEP_LISTENER.get()
    if listener is not None:
        listener(done, total, message)
