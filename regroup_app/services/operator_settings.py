"""The operator's settings for the app, read at every use (never at import): editing them takes
effect on the next page run, without restarting the app.

* **Data roots** — folders and file lists the Model page may fit on: ``REGROUP_DATA_ROOTS``
  (paths separated by ``os.pathsep``), else ``data_roots`` in the ``[regroup]`` section of the
  config file.
* **Spec folder** — the only place model spec files (``model.toml``) are loaded from in the app:
  a spec names Python code (its ``factory``), so the app runs it only when the operator put the
  file there, never because a browser typed or linked a path. ``REGROUP_MODEL_SPECS``, else
  ``model_specs`` in the ``[regroup]`` section.

The config file is ``REGROUP_APP_CONFIG`` (the launcher sets it to the file it started with),
else the checkout's ``streamlit_config.toml``. A variable that is set wins over the file.
"""

from __future__ import annotations

import os
from importlib import resources
import tomllib
from collections.abc import Mapping
from pathlib import Path

from regroup_core.errors import DataError, ModelError, one_line
from regroup_core.sources.specfile import MODEL_SPECS_ENV, spec_files_in

__all__ = ["CONFIG_ENV", "DATA_ROOTS_ENV", "SPEC_DIR_ENV", "config_path", "data_roots", "spec_files",
           "spec_folder", "check_spec_file"]

CONFIG_ENV = "REGROUP_APP_CONFIG"
DATA_ROOTS_ENV = "REGROUP_DATA_ROOTS"
SPEC_DIR_ENV = MODEL_SPECS_ENV
SECTION = "regroup"
DEFAULT_CONFIG = Path(str(resources.files("regroup_app") / "streamlit_config.toml"))
"""The packaged copy of streamlit_config.toml (a test keeps it equal to the checkout's)."""


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def _section() -> Mapping[str, object]:
    """The config file's ``[regroup]`` table; empty when the file is missing or unreadable (the
    launcher refuses a broken file at start; a later bad edit must not break every page)."""
    try:
        with config_path().open("rb") as fh:
            table = tomllib.load(fh).get(SECTION, {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return table if isinstance(table, Mapping) else {}


def _paths(raw: object) -> list[Path]:
    items = raw.split(os.pathsep) if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [resolved_path(str(p), DATA_ROOTS_ENV) for p in items if str(p).strip()]


def resolved_path(text: str, what: str) -> Path:
    """``text`` with ``~`` expanded and ``..``/symlinks resolved; a path the OS cannot take (a NUL
    byte, an unknown ``~user``, a name too long) is a :class:`DataError` of one line."""
    try:
        return Path(text).expanduser().resolve()
    except (ValueError, RuntimeError, OSError) as exc:
        raise DataError(f"{what}: expected a usable path, got {text[:200]!r} ({one_line(exc, 120)})") from None


def data_roots() -> list[Path]:
    """The data roots in force (resolved), possibly none."""
    raw = os.environ.get(DATA_ROOTS_ENV)
    return _paths(raw) if raw is not None else _paths(_section().get("data_roots", []))


def spec_folder() -> Path | None:
    """The operator's spec folder (resolved), or None when none is configured."""
    raw = os.environ.get(SPEC_DIR_ENV)
    if raw is None:
        value = _section().get("model_specs", "")
        raw = value if isinstance(value, str) else ""
    return resolved_path(raw, SPEC_DIR_ENV) if raw.strip() else None


def spec_files() -> list[Path]:
    """The spec files offered in the app: ``*.toml`` directly in the spec folder and
    ``*/model.toml`` one level down (:func:`~regroup_core.sources.specfile.spec_files_in`), without
    those that are links to files outside the folder."""
    folder = spec_folder()
    return [] if folder is None else [p for p in spec_files_in(folder) if _inside(p, folder)]


def _inside(path: Path, folder: Path) -> bool:
    return folder in path.parents


def check_spec_file(path: str | os.PathLike[str]) -> Path:
    """``path`` resolved, when it is one of :func:`spec_files`; else a :class:`ModelError` (checked
    before the file is read, so nothing of another path is revealed or run)."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        resolved = None
    folder = spec_folder()
    if folder is None:
        raise ModelError("the app loads model spec files only from the operator's spec folder, and none is "
                         f"configured (set {SPEC_DIR_ENV} or model_specs in the [regroup] section of the config "
                         "file); use the CLI or the Python API for other spec files")
    if resolved is None or resolved not in spec_files():
        raise ModelError("expected a model spec file from the operator's spec folder, got another path: the app "
                         "never runs code named by a typed or linked path")
    return resolved
