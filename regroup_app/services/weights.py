"""Weights and classifier files for the Model page: a path on the server checked before loading,
and what to do when torchvision's pretrained weights cannot be downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision.models as tvm

from regroup_core.checks import not_a_file, path_kind
from regroup_core.errors import ModelError, RegroupError
from regroup_core.sources.models import ModelKind, model_spec

from .data_roots import check_server_file

__all__ = ["WEIGHT_SUFFIXES", "check_server_path", "pretrained_help"]

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")


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


def pretrained_help(name: str, exc: ModelError) -> str:
    """A friendly message for a failed download of ``name``'s ImageNet weights, saying what to do
    in the app (not on the command line)."""
    if model_spec(name).kind is not ModelKind.TORCHVISION:
        return str(exc)
    url = tvm.get_model_weights(name).IMAGENET1K_V1.url
    cache = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return (f"The ImageNet weights of {name} are not in torchvision's cache and could not be downloaded "
            f"(this machine is probably offline). To continue: download {url} on a machine with network and "
            f"copy it to `{cache}` on this server, then choose {name} again; or pick **A weights file on the "
            "server** or **Upload a weights file** under Weights; or pick **Random** to explore the app without "
            "pretrained weights.")
