"""Errors raised by regroup_core.

Every error a user can cause (a bad file, a wrong shape, a mismatched classifier) is a
:class:`RegroupError` with a message of the form "expected X, got Y" that the CLI and the
app show as one line, never as a traceback.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -~]?)"
                     r"|\x9b[0-?]*[ -/]*[@-~]")
"""Terminal escape sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks), DCS/APC/PM,
two-character ones (``ESC c`` resets the terminal) and a lone ESC."""

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
"""Control characters that are not line breaks (those are joined by :func:`one_line`)."""


def plain(text: str) -> str:
    """``text`` without terminal escape sequences; other control characters shown as ``\\xNN``
    (a file name or metadata field with colour codes cannot colour, move or retitle a terminal)."""
    text = _ESCAPE.sub("", text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class RegroupError(Exception):
    """Base class of every user-facing error of regroup_core. Its text never holds terminal
    escape sequences or control characters, whatever file name or field it quotes."""

    def __str__(self) -> str:
        return plain(super().__str__())


class LayerError(RegroupError):
    """A tap cannot be placed or did not fire as expected."""


class EmptyClassError(RegroupError):
    """A class has no correctly classified fitting sample, so its classifier is undefined."""


class ClassifierFileError(RegroupError):
    """A classifier file is unreadable, malformed or fitted for another model."""


class ImageError(RegroupError):
    """An image cannot be read or is not acceptable (not an image, a decompression bomb...)."""


class ModelError(RegroupError):
    """A model name, weights file or architecture is unknown or unusable."""


class DataError(RegroupError):
    """A data specification or batch is malformed (wrong shape, labels out of range, NaN...)."""


class ConfigError(RegroupError):
    """A setting (an environment variable such as ``REGROUP_CACHE``) names something unusable."""


class ArgumentError(RegroupError):
    """A command-line option or an app input is out of range or malformed."""


def one_line(message: object, limit: int = 500) -> str:
    """``message`` (an exception or text) as one plain line: terminal colour codes (torch adds
    some) removed, line breaks joined, at most ``limit`` characters."""
    text = plain(str(message))
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if not line and isinstance(message, BaseException):
        line = type(message).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"
