"""Models REGroup can defend: the embedded MNIST defaults, torchvision's ResNets and VGGs,
and any user module.

:func:`load_model` returns a :class:`ModelBundle`: the network in eval mode taking images in
[0, 1] (ImageNet normalisation is a module inside it, so attacks and taps see one input
space), the matching ``preprocess`` (PIL image → tensor in [0, 1]), class names, and the
tapped layers (the paper's presets for ResNets/VGGs).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .errors import DataError, ModelError
from .layers import LayerInfo, discover_layers, preset_layers

__all__ = ["ModelBundle", "load_model", "model_names", "weights_fingerprint", "resolve_device",
           "EMBEDDED_MODELS", "TORCHVISION_MODELS", "ASSETS_DIR", "Normalize"]

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
EMBEDDED_MODELS = ("mnist-vgg", "mnist-resnet")
TORCHVISION_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                      "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def model_names() -> tuple[str, ...]:
    return EMBEDDED_MODELS + TORCHVISION_MODELS


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("expected a CUDA device, got none on this machine; use --device cpu or auto")
    return dev


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
    """

    name: str
    model: nn.Module
    preprocess: Callable[[Image.Image], torch.Tensor]
    class_names: tuple[str, ...]
    layers: tuple[LayerInfo, ...]
    input_shape: tuple[int, int, int]
    weights: str
    bounds: tuple[float, float] = field(default=(0.0, 1.0))

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


# ---------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------

def mnist_preprocess(img: Image.Image) -> torch.Tensor:
    """Any image → (1, 28, 28) in [0, 1], white digit on black like MNIST.

    Dark-on-light pictures (a digit drawn on paper) are inverted: the decision uses the mean
    of the border pixels, which are background in any centred digit.
    """
    import numpy as np

    gray = img.convert("L")
    if gray.size != (28, 28):
        gray = gray.resize((28, 28), Image.Resampling.BILINEAR)
    arr = np.asarray(gray, dtype=np.float32) / 255.0
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if border.mean() > 0.5:
        arr = 1.0 - arr
    return torch.from_numpy(arr.copy()).unsqueeze(0)


class ImagenetPreprocess:
    """Resize the short side, centre-crop, to tensor in [0, 1] (normalisation is in the model).

    A class rather than a closure so DataLoader workers started with ``spawn`` can pickle it.
    """

    def __init__(self, resize: int = 256, crop: int = 224) -> None:
        from torchvision.transforms import v2

        self.transform = v2.Compose([v2.PILToTensor(), v2.Resize(resize, antialias=True), v2.CenterCrop(crop),
                                     v2.ToDtype(torch.float32, scale=True)])

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.transform(img.convert("RGB"))


def imagenet_preprocess(resize: int = 256, crop: int = 224) -> Callable[[Image.Image], torch.Tensor]:
    return ImagenetPreprocess(resize, crop)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file, never unpickling arbitrary objects."""
    if not path.is_file():
        raise ModelError(f"expected a weights file, got no file at '{path}'")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a bad file for the user
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"expected a weights file (state dict) at '{path}', got an unreadable or "
                         f"unsafe file: {first}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"expected a state dict of tensors in '{path}', got {type(state).__name__}")
    return state


def _apply_state(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ModelError(f"expected weights for {type(net).__name__} in '{source}', got a mismatch: "
                         f"{' '.join(lines[1:3])[:300]}") from None


def _embedded(name: str, weights: str | os.PathLike[str] | None) -> tuple[nn.Module, str]:
    from .models.mnist import build_mnist_model

    net = build_mnist_model(name)
    if weights == "random":
        return net, "random"
    path = Path(weights) if weights is not None else ASSETS_DIR / "models" / f"{name}.safetensors"
    _apply_state(net, _read_state_dict(path), str(path))
    return net, "embedded" if weights is None else str(path)


def _torchvision(name: str, weights: str | os.PathLike[str] | None) -> tuple[nn.Module, tuple[str, ...], str]:
    import torchvision.models as tvm

    builder = getattr(tvm, name)
    enum_cls = tvm.get_model_weights(name)
    categories = tuple(enum_cls.IMAGENET1K_V1.meta["categories"])  # shipped with torchvision, no download
    net = builder(weights=None)
    if weights == "random":
        return net, categories, "random"
    if weights in (None, "imagenet"):
        url = enum_cls.IMAGENET1K_V1.url  # the paper's V1 weights
        try:
            state = torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - no network, proxy, corrupt cache...
            raise ModelError(f"expected ImageNet weights for {name} from torchvision's cache or download, "
                             f"got {type(exc).__name__}: {str(exc)[:160]}; pass a local weights file "
                             f"(--weights FILE) instead") from None
        _apply_state(net, state, url)
        return net, categories, "imagenet"
    _apply_state(net, _read_state_dict(Path(weights)), str(weights))
    return net, categories, str(weights)


def load_model(name: str, weights: str | os.PathLike[str] | None = None, *,
               device: str | torch.device = "auto", layers: Sequence[str] | None = None) -> ModelBundle:
    """Load a model by name.

    Args:
        name: ``mnist-vgg``, ``mnist-resnet`` (embedded, offline) or a torchvision ResNet/VGG
            (``resnet50``, ``vgg19``, ``vgg19_bn``...).
        weights: ``None`` → the model's default (embedded weights; ImageNet V1 weights from
            torchvision's cache or download); ``"random"`` → random init; ``"imagenet"``; or a
            path to a ``.safetensors``/``.pth`` state dict (loaded with ``weights_only=True``).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        layers: explicit module names to tap instead of the preset.
    """
    from .data.mnist import MNIST_CLASS_NAMES
    from .layers import layers_from_names

    dev = resolve_device(device)
    if name in EMBEDDED_MODELS:
        net, source = _embedded(name, weights)
        model, class_names = net, MNIST_CLASS_NAMES
        preprocess, input_shape = mnist_preprocess, (1, 28, 28)
    elif name in TORCHVISION_MODELS:
        net, class_names, source = _torchvision(name, weights)
        model = _Normalized(net, IMAGENET_MEAN, IMAGENET_STD)
        preprocess, input_shape = imagenet_preprocess(), (3, 224, 224)
    else:
        raise ModelError(f"expected a model name in {list(model_names())}, got '{name}'")
    model = model.to(dev).eval()
    if layers is not None:
        taps = layers_from_names(model, list(layers))
    elif name in TORCHVISION_MODELS:
        taps = preset_layers(model, prefix="net.")
    else:
        taps = discover_layers(model)
    return ModelBundle(name=name, model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=taps, input_shape=input_shape, weights=source)


def bundle_from_module(model: nn.Module, *, name: str, class_names: Sequence[str],
                       preprocess: Callable[[Image.Image], torch.Tensor],
                       input_shape: tuple[int, int, int], layers: Sequence[str] | None = None) -> ModelBundle:
    """Wrap your own ``model`` (taking inputs in [0, 1]) as a :class:`ModelBundle`."""
    from .layers import layers_from_names

    model = model.eval()
    taps = layers_from_names(model, list(layers)) if layers is not None else discover_layers(model)
    return ModelBundle(name=name, model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=taps, input_shape=input_shape, weights="user")
