"""Layer discovery on real architectures with random weights: depthwise/grouped convs, norms
after convs (BatchNorm, LayerNorm2d), squeeze-excitation gates left out, classifiers not called
'fc', and in-place activations of any kind (Hardswish, SiLU, ReLU6, ReLU) never corrupt a tap."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from regroup_core.engine import capture, discover_layers
from regroup_core.engine.layers import LayerKind


def _torchvision(name: str) -> nn.Module:
    import torchvision.models as tvm

    torch.manual_seed(0)
    return tvm.get_model(name, weights=None).eval()


def _timm(name: str) -> nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False).eval()


def _wide_resnet() -> nn.Module:
    from regroup_core.sources.zoo.robustbench_ import architecture

    torch.manual_seed(0)
    return architecture("cifar10", "Linf", "Standard").eval()


class OwnNet(nn.Module):
    """Our own: grouped conv, in-place ReLU6 and SiLU, a functional in-place ReLU between a conv
    and a BatchNorm (so the BN must not be tapped), a classifier called 'logits'."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6(inplace=True)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.after = nn.BatchNorm2d(8)
        self.silu = nn.SiLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem_bn(self.stem(x)))
        x = self.grouped(x)
        torch.relu_(x)  # in place, between the conv and its norm: the conv is the pre-activation
        x = self.silu(self.after(x))
        return self.logits(self.pool(x).flatten(1))


CASES = {
    "mobilenet_v3_small": (lambda: _torchvision("mobilenet_v3_small"), 224),
    "efficientnet_b0": (lambda: _torchvision("efficientnet_b0"), 96),
    "densenet121": (lambda: _torchvision("densenet121"), 64),
    "regnet_y_400mf": (lambda: _torchvision("regnet_y_400mf"), 64),
    "convnext_atto": (lambda: _timm("convnext_atto"), 64),
    "wide_resnet_28_10": (_wide_resnet, 32),
    "own": (OwnNet, 16),
}


def _no_inplace(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if getattr(module, "inplace", False):
            module.inplace = False
    return twin


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    build, size = CASES[request.param]
    model = build()
    return request.param, model, torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_every_layer_fires_once_and_in_place_activations_do_not_corrupt_taps(case):
    name, model, x = case
    layers = discover_layers(model, x[:1])
    acc = capture(model, x, layers)
    ref = capture(_no_inplace(model), x, layers)  # the same network with every activation out of place
    assert torch.equal(acc.logits, ref.logits)
    for layer in layers:
        assert acc.pos[layer.name].shape == (2, layer.dim)
        torch.testing.assert_close(acc.pos[layer.name], ref.pos[layer.name])
        torch.testing.assert_close(acc.neg[layer.name], ref.neg[layer.name])
    assert layers[-1].kind is LayerKind.FC and layers[-1].dim == acc.logits.shape[1]


def test_the_rule_on_each_architecture(case):
    name, model, x = case
    layers = discover_layers(model, x[:1])
    names = [t.name for t in layers]
    modules = dict(model.named_modules())
    convs = [t for t in layers if t.kind is LayerKind.CONV]
    assert any(getattr(modules[t.source], "groups", 1) > 1 for t in convs) or name == "wide_resnet_28_10" \
        or name == "densenet121", "depthwise/grouped convs are voters"
    assert not any(".se." in n or "block.2.fc" in n or "se_layer" in n for n in names), "SE gates are left out"
    if name == "mobilenet_v3_small":
        assert names[-2:] == ["classifier.0", "classifier.3"] and len(layers) == 36
        assert modules[layers[0].name].__class__ is nn.BatchNorm2d  # conv then BN: tapped at the BN
    if name == "regnet_y_400mf":
        assert not any(n.endswith(("fc1", "fc2")) for n in names) and names[-1] == "fc"
    if name == "convnext_atto":  # depthwise conv normalised by timm's LayerNorm2d: tapped there
        assert "stages.0.blocks.0.norm" in names and layers[names.index("stages.0.blocks.0.norm")].source == \
            "stages.0.blocks.0.conv_dw"
    if name == "densenet121":
        assert len(layers) == 121 and names[0] == "features.norm0"
    if name == "own":
        assert [(t.name, t.source) for t in layers] == [("stem_bn", "stem"), ("grouped", "grouped"),
                                                        ("logits", "logits")]
