"""Which layers REGroup listens to: tap metadata and layer discovery.

REGroup reads the *pre-activation* response of each layer: the output of a Conv2d (or of the
BatchNorm that directly follows it) and of each Linear layer, before any ReLU. This module
decides, for a given network, which module outputs those are, in network order.

Three ways to choose:

* presets that follow the paper for torchvision ResNets (every conv incl. the downsample
  convs, each taken after its BatchNorm, + fc: 54 layers for ResNet-50) and VGGs (every conv,
  after its BatchNorm for the ``_bn`` variants, + the 3 fc layers: 19 for VGG-19);
* :func:`discover_layers` for any other model: every Conv2d/Linear, taking the BN output where
  a BN consumes the conv output directly (found with ``torch.fx``, or by module registration
  order when the model cannot be traced);
* :func:`layers_from_names` for an explicit list of module names.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.fx
from torch import nn
from torchvision.models import VGG, ResNet
from torchvision.models.resnet import BasicBlock, Bottleneck

from ..errors import LayerError

__all__ = [
    "LayerKind",
    "LayerInfo",
    "discover_layers",
    "layers_from_names",
    "resnet_layers",
    "vgg_layers",
    "preset_layers",
]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_NORM_TYPES = (*_BN_TYPES, nn.LayerNorm)


class LayerKind(str, enum.Enum):
    """Whether a tapped layer is convolutional (accumulated over space) or fully connected."""

    CONV = "conv"
    FC = "fc"


@dataclass(frozen=True)
class LayerInfo:
    """One tapped layer.

    Attributes:
        name: module path (relative to the model) whose output is the pre-activation;
            the BatchNorm after a conv when there is one.
        kind: conv or fc.
        dim: accumulator length D: output channels of a conv, output features of a Linear.
        depth: 0-based position in network order (the last layer has the highest depth).
        source: module path of the Conv/Linear that produced the response (equals ``name``
            when no BatchNorm follows).
    """

    name: str
    kind: LayerKind
    dim: int
    depth: int
    source: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind.value, "dim": self.dim,
                "depth": self.depth, "source": self.source}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> LayerInfo:
        return cls(name=str(obj["name"]), kind=LayerKind(obj["kind"]), dim=int(obj["dim"]),  # type: ignore[arg-type]
                   depth=int(obj["depth"]), source=str(obj.get("source", obj["name"])))  # type: ignore[arg-type]


def _kind_and_dim(module: nn.Module) -> tuple[LayerKind, int]:
    if isinstance(module, _CONV_TYPES):
        return LayerKind.CONV, int(module.out_channels)
    if isinstance(module, nn.Linear):
        return LayerKind.FC, int(module.out_features)
    raise LayerError(f"expected a Conv or Linear module, got {type(module).__name__}")


def _build(model: nn.Module, pairs: Sequence[tuple[str, str]]) -> tuple[LayerInfo, ...]:
    """Make LayerInfos from (source conv/linear name, tapped module name) pairs in order."""
    modules = dict(model.named_modules())
    infos = []
    for depth, (source, tapped) in enumerate(pairs):
        if source not in modules or tapped not in modules:
            missing = source if source not in modules else tapped
            raise LayerError(f"expected a module named '{missing}' in {type(model).__name__}, got none")
        kind, dim = _kind_and_dim(modules[source])
        tapped_module = modules[tapped]
        if isinstance(tapped_module, _BN_TYPES) and tapped_module.num_features != dim:
            raise LayerError(
                f"expected BatchNorm '{tapped}' with {dim} features after '{source}', "
                f"got {tapped_module.num_features}")
        infos.append(LayerInfo(name=tapped, kind=kind, dim=dim, depth=depth, source=source))
    if not infos:
        raise LayerError(f"expected at least one Conv/Linear layer in {type(model).__name__}, got none")
    return tuple(infos)


# ---------------------------------------------------------------------------------------------
# Presets (paper): torchvision ResNet and VGG
# ---------------------------------------------------------------------------------------------

def resnet_layers(model: nn.Module, prefix: str = "") -> tuple[LayerInfo, ...]:
    """Paper preset for torchvision-style ResNets (BasicBlock or Bottleneck).

    Order: stem conv (after bn1); per block conv1..convN each after its BN, then the block's
    downsample conv after its BN (the order in which they run); finally fc.
    ResNet-50 gives 1 + 16*3 + 4 + 1 = 54 layers.
    """
    root = model.get_submodule(prefix.rstrip(".")) if prefix else model
    for attr in ("conv1", "bn1", "layer1", "fc"):
        if not hasattr(root, attr):
            raise LayerError(f"expected a torchvision-style ResNet with '{attr}', got {type(root).__name__}")
    p = prefix
    pairs: list[tuple[str, str]] = [(f"{p}conv1", f"{p}bn1")]
    stage = 1
    while hasattr(root, f"layer{stage}"):
        for b, block in enumerate(getattr(root, f"layer{stage}")):
            base = f"{p}layer{stage}.{b}"
            n_convs = 3 if isinstance(block, Bottleneck) else 2
            if not isinstance(block, (BasicBlock, Bottleneck)) and not hasattr(block, "conv2"):
                raise LayerError(f"expected BasicBlock/Bottleneck at '{base}', got {type(block).__name__}")
            pairs += [(f"{base}.conv{i}", f"{base}.bn{i}") for i in range(1, n_convs + 1)]
            if getattr(block, "downsample", None) is not None:
                pairs.append((f"{base}.downsample.0", f"{base}.downsample.1"))
        stage += 1
    pairs.append((f"{p}fc", f"{p}fc"))
    return _build(model, pairs)


def vgg_layers(model: nn.Module, prefix: str = "") -> tuple[LayerInfo, ...]:
    """Paper preset for torchvision-style VGGs: every conv of ``features`` (after its BN in
    the ``_bn`` variants) and every Linear of ``classifier``. VGG-19 gives 16 + 3 = 19."""
    root = model.get_submodule(prefix.rstrip(".")) if prefix else model
    if not (hasattr(root, "features") and hasattr(root, "classifier")):
        raise LayerError(f"expected a torchvision-style VGG with 'features' and 'classifier', "
                         f"got {type(root).__name__}")
    pairs: list[tuple[str, str]] = []
    feats = list(root.features.named_children())
    for i, (name, module) in enumerate(feats):
        if isinstance(module, _CONV_TYPES):
            tapped = name
            if i + 1 < len(feats) and isinstance(feats[i + 1][1], _BN_TYPES):
                tapped = feats[i + 1][0]
            pairs.append((f"{prefix}features.{name}", f"{prefix}features.{tapped}"))
    for name, module in root.classifier.named_children():
        if isinstance(module, nn.Linear):
            pairs.append((f"{prefix}classifier.{name}", f"{prefix}classifier.{name}"))
    return _build(model, pairs)


def preset_layers(model: nn.Module, prefix: str = "", example: torch.Tensor | None = None
                  ) -> tuple[LayerInfo, ...]:
    """The paper preset matching ``model`` (ResNet or VGG family), else generic discovery
    (run on ``example`` when given, see :func:`discover_layers`)."""
    root = model.get_submodule(prefix.rstrip(".")) if prefix else model
    if isinstance(root, ResNet):
        return resnet_layers(model, prefix)
    if isinstance(root, VGG):
        return vgg_layers(model, prefix)
    return discover_layers(model, example)


# ---------------------------------------------------------------------------------------------
# Generic discovery and explicit names
# ---------------------------------------------------------------------------------------------

def _pairs_by_fx(model: nn.Module) -> list[tuple[str, str]]:
    """Trace the graph; a conv whose only consumer is a BatchNorm call is tapped at the BN."""
    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        module = modules.get(str(node.target))
        if not isinstance(module, (*_CONV_TYPES, nn.Linear)):
            continue
        tapped = str(node.target)
        users = list(node.users)
        if (isinstance(module, _CONV_TYPES) and len(users) == 1 and users[0].op == "call_module"
                and isinstance(modules.get(str(users[0].target)), _BN_TYPES)):
            tapped = str(users[0].target)
        pairs.append((str(node.target), tapped))
    return pairs


def _pairs_by_registration(model: nn.Module) -> list[tuple[str, str]]:
    """Fallback for untraceable models: a BatchNorm registered right after a conv follows it."""
    named = [(n, m) for n, m in model.named_modules() if n]
    pairs = []
    for i, (name, module) in enumerate(named):
        if not isinstance(module, (*_CONV_TYPES, nn.Linear)):
            continue
        tapped = name
        if (isinstance(module, _CONV_TYPES) and i + 1 < len(named)
                and isinstance(named[i + 1][1], _BN_TYPES)
                and named[i + 1][1].num_features == module.out_channels):
            tapped = named[i + 1][0]
        pairs.append((name, tapped))
    return pairs


def discover_layers(model: nn.Module, example: torch.Tensor | None = None) -> tuple[LayerInfo, ...]:
    """Every Conv/Linear of ``model`` in network order, tapped after a directly following norm.

    With ``example`` (one input batch) the network is run once and the rule of
    :func:`_pairs_by_run` applies (any architecture); without it ``torch.fx`` traces the graph,
    and a model that cannot be traced falls back to module registration order.
    """
    if example is not None:
        return _build(model, _pairs_by_run(model, example))
    try:
        pairs = _pairs_by_fx(model)
    except Exception:  # noqa: BLE001 - any tracing failure means: use the fallback
        pairs = _pairs_by_registration(model)
    return _build(model, pairs)


@dataclass
class _Run:
    """What one forward pass showed about each module (filled by :func:`_pairs_by_run`'s hooks)."""

    calls: dict[str, int]
    order: list[str]                            # Conv/Linear names in first-call order
    tapped: dict[str, str]                      # conv name → norm that directly normalises its output
    spatial_in: dict[str, int]                  # Conv/Linear name → positions in its input (H×W, tokens)
    same_shape: set[str]                        # modules whose 4-D output has their input's shape
    last: tuple[str, torch.Tensor, int] | None = None


def _record(run: _Run, name: str, module: nn.Module, inputs: tuple, output: object) -> None:
    run.calls[name] = run.calls.get(name, 0) + 1
    first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
    if (isinstance(output, torch.Tensor) and first is not None and output.dim() == 4
            and output.shape == first.shape and output.shape[2] * output.shape[3] > 1):
        run.same_shape.add(name)
    if any(True for _ in module.children()):
        return  # containers: shapes only; the pairing looks at leaf modules in call order
    if isinstance(module, _NORM_TYPES) and run.last is not None and first is not None:
        conv, out, version = run.last
        if first is out and out._version == version and isinstance(output, torch.Tensor) \
                and output.shape == out.shape:
            run.tapped.setdefault(conv, name)
    run.last = None
    if isinstance(module, (*_CONV_TYPES, nn.Linear)) and isinstance(output, torch.Tensor):
        if name not in run.spatial_in:
            run.order.append(name)
            spatial = first.shape[2:] if isinstance(module, _CONV_TYPES) else first.shape[1:-1]
            run.spatial_in[name] = int(torch.tensor(spatial).prod()) if len(spatial) else 1
        if isinstance(module, _CONV_TYPES):
            run.last = (name, output, output._version)


def _gating(name: str, run: _Run) -> bool:
    """A squeeze-excitation voter: a Conv/Linear on a pooled (1×1) input inside a module whose
    output has its input's shape (the block rescales its input channel by channel)."""
    if run.spatial_in[name] != 1:
        return False
    parts = name.split(".")
    return any(".".join(parts[:i]) in run.same_shape for i in range(1, len(parts)))


def _pairs_by_run(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(source, tapped) pairs seen in one forward pass of ``example``.

    The rule, for any architecture: every Conv (grouped and depthwise included) and Linear that
    runs exactly once per pass, in the order they first run; a conv is tapped at the BatchNorm or
    LayerNorm (timm's LayerNorm2d included) that runs next on its very output, unchanged
    (no in-place activation in between, same shape: a norm over a permuted view is not taken),
    else at the conv itself. Left out: modules that never run (an auxiliary head in eval mode,
    attention projections called functionally), modules run more than once (shared), and
    squeeze-excitation gates (:func:`_gating`). A Linear on (B, ..., C) inputs (ConvNeXt's
    channels-last MLPs, transformer tokens) is a voter over its C outputs.
    """
    run = _Run(calls={}, order=[], tapped={}, spatial_in={}, same_shape=set())
    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: _record(run, name, m, i, o)))
        with torch.no_grad():  # not inference_mode: in-place version counters must be kept
            model(example)
    except Exception as exc:  # noqa: BLE001 - the model refused the example input
        raise LayerError(f"expected {type(model).__name__} to run on an input of shape {tuple(example.shape)} "
                         f"to find its layers, got {type(exc).__name__}: {str(exc)[:160]}") from None
    finally:
        for handle in handles:
            handle.remove()
    return [(n, run.tapped.get(n, n)) for n in run.order if run.calls.get(n) == 1 and not _gating(n, run)]


def layers_from_names(model: nn.Module, names: Sequence[str]) -> tuple[LayerInfo, ...]:
    """Tap exactly the given module names, in the given order.

    A name may be a Conv/Linear or a BatchNorm; for a BatchNorm the conv it normalises is taken
    as the source (the conv registered right before it with matching channels).
    """
    modules = dict(model.named_modules())
    ordered = [n for n in modules if n]
    pairs = []
    for name in names:
        if name not in modules:
            raise LayerError(f"expected a module named '{name}' in {type(model).__name__}, got none")
        module = modules[name]
        if isinstance(module, (*_CONV_TYPES, nn.Linear)):
            pairs.append((name, name))
        elif isinstance(module, _NORM_TYPES):
            idx = ordered.index(name)
            width = module.num_features if isinstance(module, _BN_TYPES) else module.normalized_shape[-1]
            prev = [n for n in ordered[:idx] if isinstance(modules[n], _CONV_TYPES)
                    and modules[n].out_channels == width]
            if not prev:
                raise LayerError(f"expected a conv before norm '{name}', got none")
            pairs.append((prev[-1], name))
        else:
            raise LayerError(f"expected '{name}' to be a Conv, Linear, BatchNorm or LayerNorm, got "
                             f"{type(module).__name__}")
    return _build(model, pairs)


def check_layers(model: nn.Module, layers: Sequence[LayerInfo]) -> None:
    """Raise :class:`LayerError` if any layer is not a module of ``model`` with the same dim."""
    modules = dict(model.named_modules())
    for layer in layers:
        if layer.name not in modules or layer.source not in modules:
            raise LayerError(f"expected module '{layer.name}' in {type(model).__name__}, got none")
        _, dim = _kind_and_dim(modules[layer.source])
        if dim != layer.dim:
            raise LayerError(f"expected layer '{layer.name}' of dim {layer.dim}, got {dim}")


