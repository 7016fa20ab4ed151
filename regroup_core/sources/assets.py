"""The files that ship inside the package (``regroup_core/assets/``): the embedded models' weights
(``models/``), their fitted classifiers (``classifiers/``), the app's tour case (``tour/``) and its
first-visit results (``app-results/``).

They are package data, found with :mod:`importlib.resources`, so a checkout, ``pip install .`` and a
wheel all read the same files from wherever the package lies; ``REGROUP_ASSETS`` points the project
at another folder of the same layout instead (documented in the README).
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

__all__ = ["ASSETS_DIR", "asset_path", "shipped_classifier"]


def _packaged_assets() -> Path:
    # Wheels and checkouts install as plain folders, so the resource is a real path; a zipped
    # install (zipimport) would not be, and is refused in one line rather than read half-way.
    folder = resources.files("regroup_core").joinpath("assets")
    if not isinstance(folder, Path):
        raise RuntimeError(f"expected regroup_core installed as a folder (its assets are files), got {folder!r}")
    return folder


ASSETS_DIR: Path = Path(os.environ["REGROUP_ASSETS"]) if os.environ.get("REGROUP_ASSETS") else _packaged_assets()
"""Where shipped weights, classifier files, the tour case and results are read from (``REGROUP_ASSETS``
overrides the package's own folder; read once, at import)."""


def asset_path(*parts: str) -> Path:
    """A path inside :data:`ASSETS_DIR`: ``asset_path("classifiers", "mnist-vgg.safetensors")``."""
    return ASSETS_DIR.joinpath(*parts)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def shipped_classifier(name: str) -> Path | None:
    """The classifier file shipped for model ``name`` (fitted on its default weights), None when none ships."""
    if not _PLAIN_NAME.fullmatch(name):  # a reference such as 'timm:x' or a path: never a shipped file
        return None
    path = asset_path("classifiers", f"{name}.safetensors")
    return path if path.is_file() else None
