"""Where the app may read from the server's disk: fit data, weights and classifier files only
under configured data roots (weights and classifiers also from the shipped assets and the cache).

A browser user types a folder or file list on the Model page; without this check they could
point the server at any directory (``/``). Roots come from ``REGROUP_DATA_ROOTS`` (paths
separated by ``os.pathsep``) or ``data_roots`` in the ``[regroup]`` section of the app's config
file, read at every use (:mod:`~regroup_app.services.operator_settings`): a root added while the
app runs counts at once. Built-in data (``mnist:train``, ``foolbox:imagenet``, ``cifar10:test``…)
needs no root: the browser names no path.
Paths are resolved (``..`` and symlinks followed) before the check, and so is every file of a
folder that is a symlink and every entry of a file list.
"""

from __future__ import annotations

from pathlib import Path

from regroup_core.errors import DataError, one_line
from regroup_core.sources import ASSETS_DIR, ImageFiles
from regroup_core.store import default_cache_dir

from .operator_settings import data_roots
from .operator_settings import resolved_path as _resolved

__all__ = ["BUILTIN_SCHEMES", "ENV", "check_data_spec", "check_files", "check_server_file", "configured_roots",
           "is_builtin"]

ENV = "REGROUP_DATA_ROOTS"

BUILTIN_SCHEMES = ("mnist", "foolbox", "cifar10")
"""Data specs the library resolves without a path from the browser."""


def configured_roots() -> list[Path]:
    """The data roots in force (resolved), possibly none: read now, not at import."""
    return data_roots()


def is_builtin(spec: str) -> bool:
    scheme, colon, _ = spec.strip().partition(":")
    return bool(colon) and scheme in BUILTIN_SCHEMES


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _refusal(what: str, shown: str, roots: list[Path]) -> DataError:
    if not roots:
        return DataError(f"{what}: the app reads folders and file lists only under configured data roots, and "
                         f"none is configured; got '{shown}'. Set {ENV}=/path/to/data or data_roots in the "
                         "[regroup] section of the app's config file (read at once, no restart needed), or use "
                         "built-in data such as mnist:train or foolbox:imagenet")
    listed = ", ".join(f"'{r}'" for r in roots)
    return DataError(f"{what}: expected a folder or file list under the data roots ({listed}), got '{shown}'")


def check_data_spec(text: str, what: str = "fit data") -> str:
    """``text`` (stripped) when it names built-in data or a path under a data root; else a
    :class:`DataError` that says which roots are allowed and how to configure them."""
    spec = text.strip()
    if not spec:
        raise DataError(f"{what}: expected built-in data (mnist:train, foolbox:imagenet…) or a folder / file list, "
                        "got nothing")
    if is_builtin(spec):
        return spec
    roots = configured_roots()
    if not roots or not _inside(_resolved(spec, what), roots):
        raise _refusal(what, spec, roots)
    return spec


def check_files(files: ImageFiles, what: str = "fit data") -> None:
    """Refuse a dataset whose files (list entries, symlinked files) lie outside the data roots."""
    roots = configured_roots()
    for i in range(len(files)):
        path = files.path(i)
        if path.is_symlink() or not _inside(path.resolve(), roots):
            real = path.resolve()
            if not _inside(real, roots):
                raise _refusal(what, f"{path} → {real}" if real != path else str(path), roots)


def check_server_file(text: str, what: str) -> Path:
    """The resolved path of a file a browser user named (a weights or classifier file), when it
    lies under a data root, the shipped assets or the app's cache; else a :class:`DataError`.
    Checked before the file's existence is looked at, so nothing is revealed about other paths."""
    path = _resolved(text, what)
    allowed = configured_roots() + [Path(ASSETS_DIR).resolve(), default_cache_dir().expanduser().resolve()]
    if not _inside(path, allowed):
        roots = configured_roots()
        where = ", ".join(f"'{r}'" for r in roots) if roots else f"none configured: set {ENV}"
        raise DataError(f"{what}: the app reads files on the server only under the data roots ({where}) or its "
                        f"assets, got '{text}'")
    return path
