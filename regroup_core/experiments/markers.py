"""Generated sections of a Markdown file: the text between a ``<!-- name:begin -->`` and a
``<!-- name:end -->`` marker is replaced, nothing else is touched (the README's results sections are
regenerated this way by ``scripts/readme_results.py`` and ``scripts/ladder_results.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError

__all__ = ["markers", "replace_marked"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_marked(path: Path, name: str, lines: Sequence[str]) -> None:
    """Write ``lines`` (without the markers) between section ``name``'s markers in ``path``, markers kept."""
    begin, end = markers(name)
    text = Path(path).read_text()
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        raise DataError(f"expected the markers {begin} and {end} (in that order) in {path}, got none")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    Path(path).write_text(head + "\n".join([begin, *lines, end]) + tail)
