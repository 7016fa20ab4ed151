"""Models REGroup can defend — any :class:`~.references.ModelReference` (embedded networks,
torchvision, timm, RobustBench, a spec file), or any module the caller built — and what the rest
of the project needs to know about each (:class:`~.metadata.ModelSpec`).

:func:`load_model` returns a :class:`ModelBundle`: the network in eval mode taking images in
[0, 1] (normalisation is a module inside it, so attacks and taps see one input space), the
matching ``preprocess`` (PIL image → tensor in [0, 1]), class names, the tapped layers (the
paper's presets for ResNets/VGGs, :func:`~regroup_core.engine.discover_layers` elsewhere) and
the model's :class:`ModelSpec` (its data, sample images and attack budgets), so no caller has to
guess them from the model's name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from ..engine import LayerInfo, discover_layers, layers_from_names, preset_layers
from ..errors import DataError, ModelError
from .assets import ASSETS_DIR
from .metadata import ModelKind, ModelSpec
from .preprocess import ImagenetPreprocess, imagenet_preprocess, mnist_preprocess, preprocess_for
from .references import EMBEDDED_NAMES, PAPER_ALIASES, ModelReference, RefKind
from .zoo import DownloadProgress, build, describe

__all__ = ["ASSETS_DIR", "MODEL_SPECS", "ImagenetPreprocess", "ModelBundle", "ModelKind", "ModelSpec", "Normalize",
           "bundle_from_module", "imagenet_preprocess", "load_model", "mnist_preprocess", "model_names",
           "model_spec", "resolve_device", "weights_fingerprint"]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _KnownSpecs(Mapping[str, ModelSpec]):
    """The embedded networks and the paper's torchvision aliases, described on first access."""

    def __getitem__(self, name: str) -> ModelSpec:
        if name not in EMBEDDED_NAMES and name not in PAPER_ALIASES:
            raise KeyError(name)
        return describe(name)

    def __iter__(self) -> Iterator[str]:
        return iter((*EMBEDDED_NAMES, *PAPER_ALIASES))

    def __len__(self) -> int:
        return len(EMBEDDED_NAMES) + len(PAPER_ALIASES)


MODEL_SPECS: Mapping[str, ModelSpec] = _KnownSpecs()
"""The short names (embedded networks, the paper's torchvision aliases); any other model is
named by a reference (``torchvision:NAME``, ``timm:NAME``...): see :func:`model_spec`."""


def model_names(kind: ModelKind | None = None) -> tuple[str, ...]:
    """The short names: embedded networks and the paper's torchvision aliases."""
    if kind is None:
        return tuple(MODEL_SPECS)
    wanted = ModelKind(kind)
    return tuple(n for n in MODEL_SPECS
                 if (ModelKind.EMBEDDED if n in EMBEDDED_NAMES else ModelKind.TORCHVISION) is wanted)


def model_spec(name: str | ModelReference, weights: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a model reference (a clear error for an unknown one)."""
    return describe(name, weights)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda``/``cuda:N`` without such a GPU and any
    other string are clear errors (:func:`regroup_core.checks.device`)."""
    from ..checks import device as parse_device

    return parse_device(device)


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of every parameter and buffer."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` as the first module, so the model takes [0, 1] inputs."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _Normalized(nn.Module):
    """``net(normalize(x))``; the network is the ``net`` child, so tap names start with 'net.'."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


@dataclass(frozen=True)
class ModelBundle:
    """A model ready for REGroup.

    Attributes:
        name: model id (e.g. ``mnist-vgg``, ``resnet50``).
        model: the network in eval mode, input (B, *input_shape) in [0, 1], output logits.
        preprocess: PIL image → (C, H, W) float tensor in [0, 1].
        class_names: M class names, index = class id.
        layers: tapped layers in network order.
        input_shape: (C, H, W) the model expects.
        weights: where the weights came from (``embedded``, ``imagenet``, ``random`` or a path).
        spec: the model's :class:`ModelSpec` (data specs, sample set, attack budgets).
    """

    name: str
    model: nn.Module
    preprocess: Callable[[Image.Image], torch.Tensor]
    class_names: tuple[str, ...]
    layers: tuple[LayerInfo, ...]
    input_shape: tuple[int, int, int]
    weights: str
    spec: ModelSpec = field(default=None)  # type: ignore[assignment] - set in __post_init__

    def __post_init__(self) -> None:
        if self.spec is None:
            object.__setattr__(self, "spec", ModelSpec(name=self.name, kind=ModelKind.USER,
                                                       input_shape=tuple(self.input_shape)))

    @property
    def bounds(self) -> tuple[float, float]:
        return self.spec.bounds

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @cached_property
    def fingerprint(self) -> str:
        return weights_fingerprint(self.model)

    def check_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a batch of preprocessed images (shape, finiteness, bounds)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"expected images of shape (B, {', '.join(map(str, self.input_shape))}), got {got}")
        if not torch.isfinite(x).all():
            raise DataError("expected finite pixel values, got NaN or inf")
        lo, hi = self.bounds
        if x.min() < lo - 1e-6 or x.max() > hi + 1e-6:
            raise DataError(f"expected pixel values in [{lo}, {hi}], got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
        return x

    def image_batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([self.preprocess(img) for img in images])


def _taps(model: nn.Module, spec: ModelSpec, layers: Sequence[str] | None, prefix: str,
          device: torch.device) -> tuple[LayerInfo, ...]:
    """Explicit names (``layers`` as listed by ``layers``; a spec file's relative to the user's
    network), else the paper's preset for ResNets/VGGs, else :func:`discover_layers` run on one
    example of the model's input shape."""
    if layers is not None:
        return layers_from_names(model, list(layers))
    if spec.layers is not None:
        return layers_from_names(model, [prefix + name for name in spec.layers])
    example = torch.zeros(1, *spec.input_shape, device=device)
    return preset_layers(model, prefix=prefix, example=example)


def load_model(name: str | os.PathLike[str] | ModelReference, weights: str | os.PathLike[str] | None = None, *,
               device: str | torch.device = "auto", layers: Sequence[str] | None = None,
               progress: DownloadProgress | None = None) -> ModelBundle:
    """Load the model a reference names.

    Args:
        name: a model reference (text or :class:`ModelReference`): ``mnist-vgg``,
            ``cifar10-resnet18``, ``resnet50``, ``torchvision:NAME``, ``timm:NAME``,
            ``robustbench:DATASET:THREAT:NAME``, ``spec:PATH`` or ``PATH.toml``
            (:mod:`regroup_core.sources.references`).
        weights: ``None`` → the model's default (embedded weights; torchvision's DEFAULT enum, or
            IMAGENET1K_V1 for the paper's bare names; timm's/RobustBench's pretrained; a spec's
            ``weights``); ``"random"`` → random init under a fixed seed; a torchvision enum name
            (``IMAGENET1K_V2``); ``"pretrained"``; or a ``.safetensors``/``.pth`` state dict path
            (loaded with ``weights_only=True``).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        layers: explicit module names to tap instead of the preset / discovered layers.
        progress: ``progress(done_bytes, total_bytes)`` during a torchvision weights download.
    """
    ref = ModelReference.parse(name)
    if isinstance(weights, str) and not weights.strip():
        raise ModelError("weights: expected 'random', a named weights set or the path of a .safetensors/.pth "
                         f"state dict, got {weights!r}")
    text = os.fspath(weights) if weights is not None else None
    spec = describe(ref, text)
    dev = resolve_device(device)
    net, label = build(ref, text, progress)
    prefix = ""
    if spec.mean is not None and spec.std is not None:
        net, prefix = _Normalized(net, spec.mean, spec.std), "net."
    model = net.to(dev).eval()
    preprocess = preprocess_for(spec.input_shape, spec.resize, spec.interpolation, spec.mnist_input)
    class_names = spec.class_names
    if ref.kind is RefKind.SPEC or ref.kind is RefKind.TIMM:
        _check_outputs(model, spec, dev)
    return ModelBundle(name=str(ref), model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=_taps(model, spec, layers, prefix, dev), input_shape=spec.input_shape, weights=label,
                       spec=spec)


def _check_outputs(model: nn.Module, spec: ModelSpec, device: torch.device) -> None:
    """One forward pass of a zero image: the network takes the declared input and returns one
    logit per declared class (a spec's classes.txt that does not match its network)."""
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.input_shape, device=device))
    except Exception as exc:  # noqa: BLE001 - the user's network refused the declared input
        raise ModelError(f"expected '{spec.name}' to take inputs of shape {spec.input_shape}, got "
                         f"{type(exc).__name__}: {str(exc)[:160]}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != len(spec.class_names):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"expected '{spec.name}' to return {len(spec.class_names)} logits (one per class name), "
                         f"got output of shape {got}")


def bundle_from_module(model: nn.Module, *, name: str, class_names: Sequence[str],
                       preprocess: Callable[[Image.Image], torch.Tensor],
                       input_shape: tuple[int, int, int], layers: Sequence[str] | None = None,
                       spec: ModelSpec | None = None) -> ModelBundle:
    """Wrap your own ``model`` (taking inputs in [0, 1]) as a :class:`ModelBundle`."""
    model = model.eval()
    taps = layers_from_names(model, list(layers)) if layers is not None else discover_layers(model)
    return ModelBundle(name=name, model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=taps, input_shape=tuple(input_shape), weights="user", spec=spec)  # type: ignore[arg-type]
