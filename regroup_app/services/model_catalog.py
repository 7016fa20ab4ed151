"""The models the Model page offers, by family, and the one check every model reference passes in the app.

Families: the embedded networks (offline), every torchvision classification model, timm's models,
RobustBench's zoo and the operator's spec files. A reference typed on the page or carried by a link
is parsed by :class:`~regroup_core.sources.references.ModelReference` like on the command line; a
spec file (which names Python code) is accepted only from the operator's spec folder
(:func:`~regroup_app.services.operator_settings.check_spec_file`), checked before anything is read.
"""

from __future__ import annotations

from pathlib import Path

from regroup_core.errors import ModelError
from regroup_core.sources.references import (
    EMBEDDED_NAMES,
    ModelReference,
    RefKind,
    robustbench_names,
    timm_names,
    torchvision_names,
)

from . import operator_settings

__all__ = ["FAMILIES", "app_reference", "choices", "family_of", "shown_reference"]

FAMILIES = ("Embedded", "torchvision", "timm", "RobustBench", "Spec files")
"""The Model page's families, in the order offered."""

_KIND_FAMILY = {RefKind.EMBEDDED: "Embedded", RefKind.TORCHVISION: "torchvision", RefKind.TIMM: "timm",
                RefKind.ROBUSTBENCH: "RobustBench", RefKind.SPEC: "Spec files"}


def choices(family: str) -> tuple[str, ...]:
    """The reference texts offered in ``family`` (spec files: those in the operator's folder now)."""
    if family == "Embedded":
        return tuple(EMBEDDED_NAMES)
    if family == "torchvision":
        return tuple(f"torchvision:{n}" for n in sorted(torchvision_names()))
    if family == "timm":
        return tuple(f"timm:{n}" for n in sorted(timm_names()))
    if family == "RobustBench":
        return tuple(f"robustbench:{d}:{t}:{n}" for (d, t), names in sorted(robustbench_names().items())
                     for n in sorted(names))
    if family == "Spec files":
        return tuple(f"spec:{p}" for p in operator_settings.spec_files())
    raise ModelError(f"expected a model family in {list(FAMILIES)}, got '{family}'")


def app_reference(text: str) -> str:
    """The canonical text of the reference ``text`` names, when the app may load it: any zoo or
    embedded reference; a spec file only from the operator's spec folder. A :class:`ModelError`
    otherwise (the refusal of a spec path never reads the file)."""
    ref = ModelReference.parse(text)
    if ref.runs_code:
        operator_settings.check_spec_file(ref.name)
    return str(ref)


def family_of(text: str) -> str:
    """The family of an (accepted) reference text."""
    return _KIND_FAMILY[ModelReference.parse(text).kind]


def shown_reference(text: str) -> str:
    """How to name a reference on the page: a spec file by its place in the spec folder
    (``spec:mine/model.toml``), everything else as written."""
    if not text.startswith("spec:"):
        return text
    folder = operator_settings.spec_folder()
    path = Path(text.removeprefix("spec:"))
    if folder is not None and folder in path.parents:
        return f"spec:{path.relative_to(folder)}"
    return f"spec:{path.name}"
