"""Layer discovery on real torchvision architectures (random weights) and on odd models."""

from __future__ import annotations

import pytest
import torchvision.models as tvm
from torch import nn

from regroup_core.engine.layers import (
    LayerKind,
    discover_layers,
    layers_from_names,
    preset_layers,
    resnet_layers,
    vgg_layers,
)
from regroup_core.errors import LayerError


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("resnet18", 21), ("resnet34", 37), ("resnet50", 54),
                                           ("resnet101", 105), ("resnet152", 156)])
def test_resnet_presets_follow_the_paper(name, expected):
    net = getattr(tvm, name)(weights=None)
    layers = resnet_layers(net)
    assert len(layers) == expected
    convs = [layer for layer in layers if layer.kind is LayerKind.CONV]
    assert len(convs) == expected - 1
    assert sum("downsample" in layer.name for layer in layers) in (3, 4)
    assert layers[-1].name == "fc" and layers[-1].dim == 1000
    # each conv is tapped after its BatchNorm
    modules = dict(net.named_modules())
    assert all(isinstance(modules[layer.name], nn.BatchNorm2d) for layer in convs)
    assert [layer.depth for layer in layers] == list(range(expected))


def test_resnet50_layers_in_detail():
    net = tvm.resnet50(weights=None)
    layers = resnet_layers(net)
    assert len(layers) == 54
    assert sum(layer.kind is LayerKind.CONV for layer in layers) == 53
    assert sum("downsample" in layer.name for layer in layers) == 4
    assert [layer.name for layer in layers[:5]] == [
        "bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.0.bn3", "layer1.0.downsample.1"]
    assert [layer.name for layer in layers[-5:]] == [
        "layer4.1.bn3", "layer4.2.bn1", "layer4.2.bn2", "layer4.2.bn3", "fc"]
    assert layers[-2].dim == 2048 and layers[-2].source == "layer4.2.conv3"
    # the generic discovery finds the same layers in the same order
    assert discover_layers(net) == layers


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("vgg11", 11), ("vgg13", 13), ("vgg16", 16), ("vgg19", 19),
                                           ("vgg11_bn", 11), ("vgg16_bn", 16), ("vgg19_bn", 19)])
def test_vgg_presets_follow_the_paper(name, expected):
    net = getattr(tvm, name)(weights=None)
    layers = vgg_layers(net)
    assert len(layers) == expected
    assert [layer.kind for layer in layers[-3:]] == [LayerKind.FC] * 3
    assert [layer.dim for layer in layers[-3:]] == [4096, 4096, 1000]
    modules = dict(net.named_modules())
    want = nn.BatchNorm2d if name.endswith("_bn") else nn.Conv2d
    assert all(isinstance(modules[layer.name], want) for layer in layers[:-3])
    assert discover_layers(net) == layers


def test_vgg19_gives_16_convs_and_3_fc():
    layers = preset_layers(tvm.vgg19(weights=None))
    assert len(layers) == 19
    assert sum(layer.kind is LayerKind.CONV for layer in layers) == 16


def test_presets_refuse_other_architectures():
    with pytest.raises(LayerError, match="ResNet"):
        resnet_layers(tvm.vgg11(weights=None))
    with pytest.raises(LayerError, match="VGG"):
        vgg_layers(nn.Sequential(nn.Linear(2, 2)))


def test_untraceable_model_falls_back_to_registration_order():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
                x = x * 2
            return self.fc(self.bn(self.conv(x)).mean((2, 3)))

    layers = discover_layers(DataDependent())
    assert [(layer.name, layer.source) for layer in layers] == [("bn", "conv"), ("fc", "fc")]


def test_explicit_names_and_errors():
    net = tvm.resnet18(weights=None)
    layers = layers_from_names(net, ["layer4.1.bn2", "fc"])
    assert [(layer.name, layer.source, layer.dim) for layer in layers] == [
        ("layer4.1.bn2", "layer4.1.conv2", 512), ("fc", "fc", 1000)]
    with pytest.raises(LayerError, match="no_such"):
        layers_from_names(net, ["no_such"])
    with pytest.raises(LayerError, match="Conv, Linear, BatchNorm or LayerNorm"):
        layers_from_names(net, ["relu"])


def test_layer_json_round_trip():
    layer = discover_layers(nn.Sequential(nn.Conv2d(1, 3, 1), nn.Flatten(), nn.Linear(3, 2)))[0]
    from regroup_core.engine.layers import LayerInfo

    assert LayerInfo.from_json(layer.to_json()) == layer
