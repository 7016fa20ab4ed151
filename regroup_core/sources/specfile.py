"""Model spec files (``model.toml``): the user's own network described in a few keys.

    factory = "tiny_cnn:build"          # or: model = "torchvision:resnet18" / "timm:..."
    arguments = { num_classes = 3 }     # keyword arguments of the factory (optional)
    weights = "tiny_cnn.safetensors"    # or a .pth state dict (weights_only=True); optional
    classes = "classes.txt"             # one name per line, or an inline list
    input_size = [3, 32, 32]
    mean = [0.5, 0.5, 0.5]              # optional: normalisation inside the model
    std = [0.25, 0.25, 0.25]
    layers = ["features.0", "fc"]       # optional: tap these modules (names in your network)

Every key is checked when the file is read (:func:`read_spec_file`), which never runs code:
the factory runs in :func:`build_from_spec`, from the CLI/API, or in the app only for spec
files in the operator's folder (:data:`MODEL_SPECS_ENV`, :func:`spec_files_in`). Relative
paths are relative to the spec file. The full format is in docs/model-spec.md.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import math
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..checks import path_kind
from ..errors import ModelError, one_line
from .statedict import seeded_build, state_from_file

__all__ = ["MODEL_SPECS_ENV", "SPEC_KEYS", "ModelFile", "build_from_spec", "read_spec_file", "spec_files_in"]

MODEL_SPECS_ENV = "REGROUP_MODEL_SPECS"
"""Environment variable naming the operator's folder of spec files that the app may load."""

SPEC_KEYS = ("name", "description", "factory", "model", "arguments", "weights", "classes", "input_size", "mean",
             "std", "resize", "layers", "fit_data", "selection_data", "test_data", "epsilon_255")


@dataclass(frozen=True)
class ModelFile:
    """A validated model spec file (nothing imported, nothing loaded yet)."""

    path: Path
    name: str
    description: str = ""
    factory: str | None = None
    model: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    classes: tuple[str, ...] | None = None
    input_size: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None
    layers: tuple[str, ...] | None = None
    fit_data: str | None = None
    selection_data: str | None = None
    test_data: str | None = None
    epsilon_255: float | None = None


class _Keys:
    """Typed access to the spec's table, each error naming the file and the key."""

    def __init__(self, path: Path, table: dict[str, Any]) -> None:
        self.path, self.table = path, table

    def fail(self, key: str, expected: str, got: object) -> ModelError:
        shown = got if isinstance(got, str) else repr(got)
        return ModelError(f"{self.path.name}: key '{key}': expected {expected}, got {str(shown)[:120]}")

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(key, "a non-empty string", value)
        return value.strip() if value is not None else None

    def path_value(self, key: str) -> Path | None:
        value = self.text(key)
        if value is None:
            return None
        path = (self.path.parent / value).resolve() if not os.path.isabs(value) else Path(value)
        if not path_kind(path, ModelError, f"{self.path.name}: key '{key}'") or not path.is_file():
            raise self.fail(key, f"a file (relative to {self.path.name})", f"no file at '{value}'")
        return path

    def numbers(self, key: str, count: int | None, integer: bool, positive: bool) -> tuple[Any, ...] | None:
        value = self.table.get(key)
        if value is None:
            return None
        kind = "integers" if integer else "numbers"
        ok = isinstance(value, list) and (count is None or len(value) == count) and all(
            isinstance(v, int) if integer else isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in value) and all(not isinstance(v, bool) and math.isfinite(v) for v in value)
        if not ok or (positive and any(v <= 0 for v in value)):
            size = f"{count} " if count is not None else ""
            raise self.fail(key, f"a list of {size}{'positive ' if positive else ''}{kind}", value)
        return tuple(value)

    def data(self, key: str) -> str | None:
        """A data spec: a path relative to the spec file when it names one, else as written."""
        value = self.text(key)
        if value is None:
            return None
        candidate = self.path.parent / value
        return str(candidate.resolve()) if not os.path.isabs(value) and candidate.exists() else value


def _load_toml(path: Path) -> dict[str, Any]:
    if not path_kind(path, ModelError, "a model spec file") or not path.is_file():
        raise ModelError(f"expected a model spec file (model.toml), got no file at '{path}'")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"expected a TOML model spec in '{path.name}', got {one_line(exc, 160)}") from None


def _classes(keys: _Keys) -> tuple[str, ...] | None:
    value = keys.table.get("classes")
    if value is None:
        return None
    if isinstance(value, list):
        names = value
    else:
        file = keys.path_value("classes")
        assert file is not None
        names = [ln.strip() for ln in file.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise keys.fail("classes", "a classes.txt file (one name per line) or a list of names", value)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise keys.fail("classes", "distinct class names", f"'{dup}' twice")
    if len(names) < 2:
        raise keys.fail("classes", "at least 2 classes", f"{len(names)}")
    return tuple(n.strip() for n in names)


def _source(keys: _Keys) -> tuple[str | None, str | None]:
    factory, model = keys.text("factory"), keys.text("model")
    if (factory is None) == (model is None):
        raise ModelError(f"{keys.path.name}: expected exactly one of 'factory' (package.module:function) or "
                         f"'model' (torchvision:NAME, timm:NAME...), got {'both' if factory else 'neither'}")
    if factory is not None:
        module, colon, function = factory.partition(":")
        if not colon or not all(p.isidentifier() for p in module.split(".")) or not function.isidentifier():
            raise keys.fail("factory", "'package.module:function'", factory)
    if model is not None and (model.startswith("spec:") or model.endswith(".toml")):
        raise keys.fail("model", "a zoo model (torchvision:NAME, timm:NAME, robustbench:..., an embedded name)",
                        model)
    return factory, model


def read_spec_file(path: str | os.PathLike[str]) -> ModelFile:
    """The validated contents of a spec file (a clear :class:`ModelError` for any bad key)."""
    path = Path(path).expanduser().resolve()
    table = _load_toml(path)
    unknown = sorted(set(table) - set(SPEC_KEYS))
    if unknown:
        raise ModelError(f"{path.name}: expected keys among {list(SPEC_KEYS)}, got unknown key '{unknown[0]}'")
    keys = _Keys(path, table)
    factory, model = _source(keys)
    arguments = table.get("arguments", {})
    if not isinstance(arguments, dict):
        raise keys.fail("arguments", "a table of keyword arguments for the factory", arguments)
    input_size = keys.numbers("input_size", 3, integer=True, positive=True)
    classes = _classes(keys)
    if factory is not None and (input_size is None or classes is None):
        raise ModelError(f"{path.name}: expected 'input_size' and 'classes' with a 'factory', got "
                         f"{'neither' if input_size is None and classes is None else 'only one'}")
    channels = input_size[0] if input_size else None
    mean, std = keys.numbers("mean", channels, False, False), keys.numbers("std", channels, False, True)
    if (mean is None) != (std is None):
        raise ModelError(f"{path.name}: expected both 'mean' and 'std' or neither, got only "
                         f"{'mean' if mean is not None else 'std'}")
    resize = table.get("resize")
    if resize is not None and (not isinstance(resize, int) or isinstance(resize, bool) or resize <= 0):
        raise keys.fail("resize", "a positive integer (short side before the centre crop)", resize)
    layers = table.get("layers")
    if layers is not None and (not isinstance(layers, list) or not layers
                               or not all(isinstance(n, str) and n.strip() for n in layers)):
        raise keys.fail("layers", "a non-empty list of module names", layers)
    eps = table.get("epsilon_255")
    if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 255):
        raise keys.fail("epsilon_255", "a number in (0, 255]", eps)
    return ModelFile(path=path, name=keys.text("name") or path.parent.name, description=keys.text("description") or "",
                     factory=factory, model=model, arguments=dict(arguments), weights=keys.path_value("weights"),
                     classes=classes, input_size=input_size,  # type: ignore[arg-type]
                     mean=mean, std=std, resize=resize,
                     layers=tuple(layers) if layers else None, fit_data=keys.data("fit_data"),
                     selection_data=keys.data("selection_data"), test_data=keys.data("test_data"),
                     epsilon_255=float(eps) if eps is not None else None)


def _import_from(folder: Path, module_name: str) -> Any:  # noqa: ANN401 - a module
    """``module_name`` with its top package found in ``folder`` first, then on the Python path
    (without editing ``sys.path``: the spec's folder is searched for that one name only)."""
    top = module_name.split(".")[0]
    found = importlib.machinery.PathFinder.find_spec(top, [str(folder)])
    loaded = sys.modules.get(top)
    if found is not None and (loaded is None or getattr(loaded, "__file__", None) != found.origin):
        module = importlib.util.module_from_spec(found)
        sys.modules[top] = module
        try:
            found.loader.exec_module(module)  # type: ignore[union-attr]
        except BaseException:
            sys.modules.pop(top, None)
            raise
    return importlib.import_module(module_name)


def _import_factory(spec: ModelFile) -> Any:  # noqa: ANN401 - the user's callable
    module_name, _, function = spec.factory.partition(":")  # type: ignore[union-attr]
    try:
        module = _import_from(spec.path.parent, module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module failed to import
        raise ModelError(f"{spec.path.name}: key 'factory': expected an importable module '{module_name}' (in "
                         f"{spec.path.parent.name}/ or on the Python path), got {type(exc).__name__}: "
                         f"{one_line(exc, 160)}") from None
    target = getattr(module, function, None)
    if not callable(target):
        raise ModelError(f"{spec.path.name}: key 'factory': expected a function '{function}' in module "
                         f"'{module_name}', got {'none' if target is None else type(target).__name__}")
    return target


def build_from_spec(spec: ModelFile, weights: str | None = None) -> tuple[nn.Module, str]:
    """Run the spec's factory (its code runs here) and load weights: ``weights`` overrides the
    spec's own; 'random' keeps the factory's initialisation (under the fixed seed)."""
    factory = _import_factory(spec)

    def make() -> nn.Module:
        try:
            net = factory(**spec.arguments)
        except Exception as exc:  # noqa: BLE001 - the user's factory failed
            raise ModelError(f"{spec.path.name}: expected factory {spec.factory} to build a network, got "
                             f"{type(exc).__name__}: {one_line(exc, 160)}") from None
        if not isinstance(net, nn.Module):
            raise ModelError(f"{spec.path.name}: expected factory {spec.factory} to return a torch.nn.Module, "
                             f"got {type(net).__name__}")
        return net

    net = seeded_build(make)
    file = weights if weights not in (None, "random") else (spec.weights if weights is None else None)
    if file is None:
        return net, "random" if weights == "random" or spec.weights is None else "spec"
    label = state_from_file(net, file)
    return net, "spec" if weights is None else label


def spec_files_in(folder: str | os.PathLike[str] | None) -> tuple[Path, ...]:
    """The spec files the operator offers in ``folder``: ``*.toml`` in it and ``*/model.toml``
    one level down, sorted. None or a missing folder offers none."""
    if folder is None or not str(folder).strip():
        return ()
    root = Path(folder).expanduser()
    if not root.is_dir():
        return ()
    found = [p for p in root.glob("*.toml") if p.is_file()] + [p for p in root.glob("*/model.toml") if p.is_file()]
    return tuple(sorted(p.resolve() for p in found))

