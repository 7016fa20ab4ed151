"""RobustBench's model zoo: architectures from its offline tables, weights through
``robustbench.utils.load_model`` (its own download) on a user's machine.

robustbench 1.1.1 imports ``autoattack`` (the GitHub module name) while the package index's
``pyautoattack`` installs the module ``pyautoattack``: registering the alias first makes the
import work; it also imports ``pkg_resources`` (setuptools < 81, pinned).
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import nn

from ...errors import ModelError, one_line
from ..statedict import seeded_build, state_from_file

__all__ = ["PRETRAINED", "architecture", "build", "model_dicts", "weights_dir"]

PRETRAINED = "pretrained"


def _import_zoo() -> Any:  # noqa: ANN401 - the robustbench.model_zoo module
    import pyautoattack

    sys.modules.setdefault("autoattack", pyautoattack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources' deprecation notice
        import robustbench.model_zoo as zoo
    return zoo


@lru_cache(maxsize=1)
def model_dicts() -> Any:  # noqa: ANN401 - {BenchmarkDataset: {ThreatModel: {name: entry}}}
    return _import_zoo().model_dicts


def _entry(dataset: str, threat: str, name: str) -> dict[str, Any]:
    _import_zoo()
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    return model_dicts()[BenchmarkDataset(dataset)][ThreatModel(threat)][name]


def architecture(dataset: str, threat: str, name: str) -> nn.Module:
    """The zoo entry's network with random initialisation (offline, nothing downloaded)."""
    return _entry(dataset, threat, name)["model"]()


def weights_dir() -> Path:
    """Where RobustBench's downloads go: ``$REGROUP_ROBUSTBENCH_DIR`` or ``~/.cache/robustbench``."""
    return Path(os.environ.get("REGROUP_ROBUSTBENCH_DIR", Path.home() / ".cache" / "robustbench"))


def download(dataset: str, threat: str, name: str) -> nn.Module:
    """The network boundary (tests monkeypatch this): RobustBench downloads and loads."""
    _import_zoo()
    from robustbench.utils import load_model

    return load_model(model_name=name, model_dir=str(weights_dir()), dataset=dataset, threat_model=threat)


def build(dataset: str, threat: str, name: str, weights: str | None) -> tuple[nn.Module, str]:
    """(network taking [0, 1] inputs, weights label) for None/'pretrained', 'random' or a file."""
    entry = _entry(dataset, threat, name)
    if weights == "random":
        return seeded_build(entry["model"]), "random"
    if weights in (None, PRETRAINED):
        try:
            return download(dataset, threat, name), PRETRAINED
        except Exception as exc:  # noqa: BLE001 - offline, a moved file, a refused pickle...
            raise ModelError(f"expected RobustBench's weights for {name} ({dataset}, {threat}) from "
                             f"'{weights_dir()}' or its download, got {type(exc).__name__}: {one_line(exc, 160)}; "
                             "offline, pass a local weights file (--weights FILE) or --weights random") from None
    net = entry["model"]()
    return net, state_from_file(net, weights)
