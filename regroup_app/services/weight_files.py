"""Weights files for the Model page: a path on the server checked before loading, and what to do
when pretrained weights cannot be downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from regroup_core.checks import not_a_file, path_kind
from regroup_core.errors import ModelError, RegroupError
from regroup_core.sources.zoo import weights_download
from regroup_core.sources.zoo.download import Download, hub_file

from .data_roots import check_server_file

__all__ = ["HUB_SUFFIXES", "WEIGHT_SUFFIXES", "check_server_path", "is_hub_file", "offline_message",
           "pretrained_help"]

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")
HUB_SUFFIXES = WEIGHT_SUFFIXES


def check_server_path(text: str, *, suffixes: tuple[str, ...] = WEIGHT_SUFFIXES, what: str = "weights file") -> str:
    """An existing, readable file on the server with one of ``suffixes`` (a one-line RegroupError
    otherwise). ``~`` is expanded."""
    raw = text.strip().strip('"').strip("'")
    if not raw:
        raise RegroupError(f"expected the path of a {what} on the server, got an empty field")
    path = check_server_file(raw, what)  # under the data roots (or assets, cache) before anything else
    if not path_kind(path, RegroupError, f"a {what}", raw, test=Path.exists):
        raise RegroupError(f"expected a {what} at '{raw}', got no such file on the server")
    if not path.is_file():
        raise RegroupError(f"expected a {what} at '{raw}', got {not_a_file(path)}")
    if path.suffix.lower() not in suffixes:
        raise RegroupError(f"expected a {what} ending in {', '.join(suffixes)}, got '{path.name}'")
    if not os.access(path, os.R_OK):
        raise RegroupError(f"expected a readable {what} at '{raw}', got one the app may not read")
    return str(path.resolve())


def pretrained_help(name: str, weights: str | None, exc: ModelError) -> str:
    """The one message of pretrained weights that could not be fetched: what failed and what to do
    in the app (where to put the file, or which other weights to choose), not the CLI's flags."""
    try:
        download = weights_download(name, weights)
    except RegroupError:
        download = None
    if download is None:
        return str(exc)
    return offline_message(download, exc)


def offline_message(download: Download, exc: BaseException) -> str:
    """See :func:`pretrained_help`; for a torchvision file: its name, address and torch's hub folder."""
    damaged = "damaged download" in str(exc)
    what = "arrived damaged" if damaged else "could not be downloaded (this machine seems to be offline)"
    alternatives = ("choose **A weights file on the server**, **Upload a weights file** or **Random** under "
                    "Weights.")
    target = hub_file(download.url)
    if target.suffix not in HUB_SUFFIXES:  # timm / RobustBench fetch through their own packages and caches
        return f"{download.what} {what}. To continue, {alternatives}"
    return (f"{download.what} ({download.size_text}) {what}. To continue: copy `{target.name}` from "
            f"{download.url} into torch's hub folder `{_home(target.parent)}` on the server and press Download "
            f"again; or {alternatives}")


def is_hub_file(download: Download) -> bool:
    """Whether the app fetches ``download`` itself (a torchvision file), with progress."""
    return hub_file(download.url).suffix in HUB_SUFFIXES


def _home(path: Path) -> str:
    home = Path.home()
    return f"~/{path.relative_to(home)}" if home in path.parents else str(path)
