"""One model reference, parsed once: the text a user types after ``--model`` (or picks in the app).

Forms (``str(ModelReference.parse(text))`` gives the canonical text back, and parsing that
gives an equal reference):

* ``mnist-vgg``, ``mnist-resnet``, ``cifar10-resnet18`` — embedded networks, offline;
* ``resnet18`` … ``resnet152``, ``vgg11`` … ``vgg19_bn`` — the paper's torchvision ResNets and
  VGGs (aliases kept from earlier versions: ImageNet V1 weights by default);
* ``torchvision:NAME`` — any torchvision classification model
  (``torchvision.models.list_models(module=torchvision.models)``);
* ``timm:NAME`` — any timm model (``timm.list_models()``);
* ``robustbench:DATASET:THREAT:NAME`` — a RobustBench model-zoo entry, e.g.
  ``robustbench:cifar10:Linf:Standard``;
* ``spec:PATH`` or a path ending in ``.toml`` — a model spec file (:mod:`.specfile`).

Parsing checks the form and, for the zoo forms, that the name exists (which imports the zoo's
package, never downloads); it never reads weights nor runs code named in a spec file.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError

__all__ = ["EMBEDDED_NAMES", "PAPER_ALIASES", "RefKind", "ModelReference"]

EMBEDDED_NAMES = ("mnist-vgg", "mnist-resnet", "cifar10-resnet18")
"""Networks whose weights ship with the installed packages (offline)."""

PAPER_ALIASES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg11", "vgg11_bn", "vgg13",
                 "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
"""Plain torchvision names accepted since the first version: the paper's ResNets and VGGs."""

_FORMS = ("a model name (" + ", ".join(EMBEDDED_NAMES) + ", resnet50, vgg19...) or reference (torchvision:NAME, "
          "timm:NAME, robustbench:DATASET:THREAT:NAME, a model.toml spec file)")


class RefKind(str, enum.Enum):
    """Where a referenced model comes from."""

    EMBEDDED = "embedded"
    TORCHVISION = "torchvision"
    TIMM = "timm"
    ROBUSTBENCH = "robustbench"
    SPEC = "spec"


@dataclass(frozen=True)
class ModelReference:
    """A parsed ``--model`` value.

    Attributes:
        kind: :class:`RefKind`.
        name: the embedded name, the torchvision/timm/RobustBench model name, or the spec file's
            absolute path.
        dataset, threat: RobustBench's dataset (``cifar10``, ``cifar100``, ``imagenet``) and threat
            model (``Linf``, ``L2``, ``corruptions``...); empty for other kinds.
        alias: a bare paper name (``resnet50``) rather than ``torchvision:resnet50``: same
            network, ImageNet V1 weights by default, printed without the prefix.
    """

    kind: RefKind
    name: str
    dataset: str = ""
    threat: str = ""
    alias: bool = False

    @classmethod
    def parse(cls, text: str | os.PathLike[str] | ModelReference) -> ModelReference:
        """The reference ``text`` names (a clear :class:`ModelError` otherwise)."""
        if isinstance(text, ModelReference):
            return text
        raw = os.fspath(text).strip() if isinstance(text, (str, os.PathLike)) else None
        if not raw:
            raise ModelError(f"expected {_FORMS}, got {text!r}")
        if raw in EMBEDDED_NAMES:
            return cls(RefKind.EMBEDDED, raw)
        if raw in PAPER_ALIASES:
            return cls(RefKind.TORCHVISION, raw, alias=True)
        scheme, colon, rest = raw.partition(":")
        if colon and scheme == "torchvision":
            return cls(RefKind.TORCHVISION, _known(rest, torchvision_names(), "torchvision classification model"))
        if colon and scheme == "timm":
            return cls(RefKind.TIMM, _known(rest, timm_names(), "timm model"))
        if colon and scheme == "robustbench":
            return _robustbench(cls, raw, rest)
        if colon and scheme == "spec":
            return cls(RefKind.SPEC, _spec_path(rest))
        if raw.endswith(".toml"):
            return cls(RefKind.SPEC, _spec_path(raw))
        hint = f" (did you mean torchvision:{raw}?)" if not colon and raw in torchvision_names() else ""
        raise ModelError(f"expected {_FORMS}, got '{raw[:200]}'{hint}")

    def __str__(self) -> str:
        if self.kind is RefKind.EMBEDDED or self.alias:
            return self.name
        if self.kind is RefKind.ROBUSTBENCH:
            return f"robustbench:{self.dataset}:{self.threat}:{self.name}"
        return f"{self.kind.value}:{self.name}"

    @property
    def runs_code(self) -> bool:
        """Whether loading may run code that is not part of an installed package (a spec file's
        factory): the app loads such references only from its operator's spec folder."""
        return self.kind is RefKind.SPEC


def _known(name: str, names: frozenset[str], what: str) -> str:
    if name not in names:
        close = sorted(n for n in names if name and name.lower()[:4] in n.lower())[:5]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ModelError(f"expected a {what} name, got '{name[:100]}'{hint}")
    return name


def _spec_path(text: str) -> str:
    if not text.strip():
        raise ModelError("expected the path of a model spec file (model.toml) after 'spec:', got ''")
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        path = path / "model.toml"
    return str(path.resolve())


def _robustbench(cls: type[ModelReference], raw: str, rest: str) -> ModelReference:
    parts = rest.split(":")
    if len(parts) != 3 or not all(parts):
        raise ModelError(f"expected robustbench:DATASET:THREAT:NAME (e.g. robustbench:cifar10:Linf:Standard), "
                         f"got '{raw[:200]}'")
    dataset, threat, name = parts
    zoo = robustbench_names()
    if dataset not in {d for d, _ in zoo}:
        raise ModelError(f"expected a RobustBench dataset in {sorted({d for d, _ in zoo})}, got '{dataset}'")
    if (dataset, threat) not in zoo:
        raise ModelError(f"expected a RobustBench threat model for {dataset} in "
                         f"{sorted(t for d, t in zoo if d == dataset)}, got '{threat}'")
    _known(name, zoo[(dataset, threat)], f"RobustBench {dataset} {threat} model")
    return cls(RefKind.ROBUSTBENCH, name, dataset=dataset, threat=threat)


@lru_cache(maxsize=1)
def torchvision_names() -> frozenset[str]:
    """Every torchvision classification model (not detection, segmentation, video...)."""
    import torchvision.models as tvm

    return frozenset(tvm.list_models(module=tvm))


@lru_cache(maxsize=1)
def timm_names() -> frozenset[str]:
    import timm

    return frozenset(timm.list_models())


@lru_cache(maxsize=1)
def robustbench_names() -> dict[tuple[str, str], frozenset[str]]:
    """``(dataset, threat) → model names`` of RobustBench's zoo (offline: the zoo's own tables)."""
    from .zoo.robustbench_ import model_dicts

    return {(ds.value, tm.value): frozenset(entries) for ds, by_threat in model_dicts().items()
            for tm, entries in by_threat.items()}
