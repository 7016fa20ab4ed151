"""Atomic writes: write to a temporary sibling, fsync, rename. A write killed half-way leaves no
partial file, and its orphaned temporary file is removed by the next write to the same folder.
Also :func:`write_json` and the JSON encoder every store uses (:func:`json_default`)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


__all__ = ["atomic_write", "json_default", "write_json"]

_TMP_SUFFIX = ".tmp"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
"""Temporary names carry host and pid, so a sweep never touches another machine's live write
into a shared folder (torchrun across hosts)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or cannot tell: leave its file alone
    return True


def _sweep_orphans(folder: Path) -> None:
    """Remove temporary files of this host's writes whose process died
    (``.<name>.<pid>-<host>.<random>.tmp``)."""
    try:
        candidates = list(folder.glob(f".*-{_HOST}.*{_TMP_SUFFIX}"))
    except OSError:
        return
    for tmp in candidates:
        parts = tmp.name.rsplit(".", 3)  # ['.<name>', '<pid>-<host>', '<random>', 'tmp']
        pid, _, host = parts[1].partition("-") if len(parts) == 4 else ("", "", "")
        if host == _HOST and pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see a partial file.

    The temporary file carries this process's id; any orphan left by a killed writer in the
    same folder is deleted first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_orphans(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-{_HOST}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=1, sort_keys=True, default=json_default)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def json_default(obj: Any) -> Any:
    """JSON for what the stores write: numpy/torch scalars, sets and tuples, enums, else the text."""
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), (str, int)):  # enums
        return obj.value
    return str(obj)
