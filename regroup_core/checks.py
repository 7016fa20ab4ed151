"""Validation of user-given values at the boundary, shared by the CLI's parser and the app.

Each function takes the raw value (a string from the command line, a number from a widget)
and returns it converted, or raises :class:`~regroup_core.errors.ArgumentError` with an
"expected X, got Y" message naming the option. Nothing is coerced silently: an out-of-range
value is an error, never clamped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import ArgumentError, RegroupError

__all__ = ["device", "integer", "not_a_file", "number", "path_kind", "probability"]

_DEVICE = re.compile(r"^(auto|cpu|cuda)(:(\d+))?$")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value: object, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in [``lo``, ``hi``] (either bound optional)."""
    if isinstance(value, bool):
        raise ArgumentError(f"{name}: expected an integer, got {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            raise ArgumentError(f"{name}: expected an integer, got {_shown(value)}")
        value = int(text)
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ArgumentError(f"{name}: expected an integer, got {_shown(value)}")
        value = int(value)
    elif not isinstance(value, int):
        raise ArgumentError(f"{name}: expected an integer, got {_shown(value)}")
    _check_range(value, name, lo, hi, "an integer")
    return int(value)


def number(value: object, name: str, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False) -> float:
    """A finite number in [``lo``, ``hi``] (``(lo, hi]`` with ``lo_open``)."""
    try:
        x = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ArgumentError(f"{name}: expected a number, got {_shown(value)}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ArgumentError(f"{name}: expected a finite number, got {_shown(value)}")
    if lo_open and lo is not None and not x > lo:
        bound = f"<= {hi:g}" if hi is not None else ""
        raise ArgumentError(f"{name}: expected a number > {lo:g}{' and ' + bound if bound else ''}, got {x:g}")
    _check_range(x, name, None if lo_open else lo, hi, "a number")
    return x


def probability(value: object, name: str) -> float:
    """A fraction in (0, 1]."""
    return number(value, name, lo=0.0, hi=1.0, lo_open=True)


def _check_range(x: float, name: str, lo: float | None, hi: float | None, what: str) -> None:
    if lo is not None and hi is not None and not lo <= x <= hi:
        raise ArgumentError(f"{name}: expected {what} in [{lo:g}, {hi:g}], got {x:g}")
    if lo is not None and x < lo:
        raise ArgumentError(f"{name}: expected {what} >= {lo:g}, got {x:g}")
    if hi is not None and x > hi:
        raise ArgumentError(f"{name}: expected {what} <= {hi:g}, got {x:g}")


def device(value: object, name: str = "device") -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N`` → a device this machine has."""
    text = str(value).strip().lower() if isinstance(value, (str, torch.device)) else None
    match = _DEVICE.match(text or "")
    if match is None:
        raise ArgumentError(f"{name}: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {_shown(value)}")
    kind, index = match.group(1), match.group(3)
    if kind == "auto":
        if index is not None:
            raise ArgumentError(f"{name}: expected 'auto' without an index, got {_shown(value)}")
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cpu":
        if index not in (None, "0"):
            raise ArgumentError(f"{name}: expected 'cpu', got {_shown(value)}")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ArgumentError(f"{name}: expected a CUDA device, got none on this machine; use 'cpu' or 'auto'")
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise ArgumentError(f"{name}: expected a CUDA index below {count}, got {index}")
    return torch.device("cuda", int(index)) if index is not None else torch.device("cuda")


def path_kind(path: Path, error: type[RegroupError], what: str, shown: str | None = None,
              test: Callable[[Path], bool] = Path.is_file) -> bool:
    """``test(path)`` (default ``is_file``), where a path the file system refuses outright (a
    name too long, a NUL byte) is ``error`` "expected {what}, got an unusable path '...'" rather
    than an OSError or ValueError escaping to the user."""
    try:
        return test(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise error(f"expected {what}, got an unusable path '{(shown or str(path))[:200]}' ({reason})") from None


def not_a_file(path: Path) -> str:
    """What ``path`` is when it is not a regular file, in words: 'a directory', 'a named pipe (FIFO)',
    'a device', 'a socket' or 'no such file' (a FIFO must never be opened: reading it blocks)."""
    import stat

    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return "no such file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "no regular file"

