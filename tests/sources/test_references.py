"""Model references: parsed once, canonical text round-trips, clear one-line errors."""

from __future__ import annotations

import pytest

from regroup_core.errors import ModelError
from regroup_core.sources.references import EMBEDDED_NAMES, PAPER_ALIASES, ModelReference, RefKind


@pytest.mark.parametrize("text, kind, name", [
    ("mnist-vgg", RefKind.EMBEDDED, "mnist-vgg"),
    ("cifar10-resnet18", RefKind.EMBEDDED, "cifar10-resnet18"),
    ("resnet50", RefKind.TORCHVISION, "resnet50"),
    ("torchvision:mobilenet_v3_small", RefKind.TORCHVISION, "mobilenet_v3_small"),
    ("torchvision:resnet50", RefKind.TORCHVISION, "resnet50"),
    ("timm:convnext_atto", RefKind.TIMM, "convnext_atto"),
    ("robustbench:cifar10:Linf:Standard", RefKind.ROBUSTBENCH, "Standard"),
])
def test_parse_and_round_trip(text, kind, name):
    ref = ModelReference.parse(text)
    assert (ref.kind, ref.name) == (kind, name)
    assert str(ref) == text
    assert ModelReference.parse(str(ref)) == ref
    assert ModelReference.parse(ref) is ref


def test_paper_alias_and_prefixed_name_are_distinct_references():
    alias, full = ModelReference.parse("resnet50"), ModelReference.parse("torchvision:resnet50")
    assert alias.alias and not full.alias and alias != full  # different default weights (V1 vs DEFAULT)


def test_spec_paths(tmp_path):
    spec = tmp_path / "model.toml"
    spec.write_text("")
    for text in (str(spec), f"spec:{spec}", f"spec:{tmp_path}"):
        ref = ModelReference.parse(text)
        assert ref.kind is RefKind.SPEC and ref.name == str(spec.resolve()) and ref.runs_code
        assert ModelReference.parse(str(ref)) == ref
    assert not ModelReference.parse("mnist-vgg").runs_code


@pytest.mark.parametrize("text, message", [
    ("", "expected a model name"),
    ("nope", "expected a model name"),
    ("alexnet", "did you mean torchvision:alexnet"),
    ("torchvision:nope", "expected a torchvision classification model name, got 'nope'"),
    ("torchvision:fasterrcnn_resnet50_fpn", "expected a torchvision classification model name"),
    ("timm:not_a_model", "expected a timm model name"),
    ("robustbench:cifar10:Linf", "expected robustbench:DATASET:THREAT:NAME"),
    ("robustbench:svhn:Linf:Standard", "expected a RobustBench dataset"),
    ("robustbench:cifar10:L7:Standard", "expected a RobustBench threat model"),
    ("robustbench:cifar10:Linf:Nobody2099", "expected a RobustBench cifar10 Linf model name"),
    ("spec:", "expected the path of a model spec file"),
])
def test_bad_references_are_one_line_errors(text, message):
    with pytest.raises(ModelError, match=message) as info:
        ModelReference.parse(text)
    assert "\n" not in str(info.value)


def test_every_short_name_parses():
    for name in (*EMBEDDED_NAMES, *PAPER_ALIASES):
        assert str(ModelReference.parse(name)) == name
