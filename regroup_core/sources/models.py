"""Models REGroup can defend — the embedded MNIST defaults, torchvision's ResNets and VGGs,
any user module — and what the rest of the project needs to know about each (:class:`ModelSpec`).

:func:`load_model` returns a :class:`ModelBundle`: the network in eval mode taking images in
[0, 1] (ImageNet normalisation is a module inside it, so attacks and taps see one input
space), the matching ``preprocess`` (PIL image → tensor in [0, 1]), class names, the tapped
layers (the paper's presets for ResNets/VGGs) and the model's :class:`ModelSpec` (its data,
sample images and attack budgets), so no caller has to guess them from the model's name.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
import torchvision.models as tvm
from PIL import Image
from safetensors.torch import load_file
from torch import nn
from torchvision.transforms import v2

from ..checks import device as parse_device
from ..checks import path_kind
from ..engine import LayerInfo, discover_layers, layers_from_names, preset_layers
from ..errors import DataError, ImageError, ModelError, one_line
from ..rng import global_rng
from .assets import ASSETS_DIR, asset_path
from .images import max_pixels
from .mnist import MNIST_CLASS_NAMES, build_mnist_model

__all__ = ["ASSETS_DIR", "MODEL_SPECS", "ModelBundle", "ModelKind", "ModelSpec", "Normalize", "bundle_from_module",
           "load_model", "model_names", "model_spec", "resolve_device", "weights_fingerprint"]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelKind(str, enum.Enum):
    """Where a model comes from, which decides how it is built and which weights it takes."""

    EMBEDDED = "embedded"        # weights shipped in the package's assets/models, offline
    TORCHVISION = "torchvision"  # torchvision architecture, ImageNet weights from its cache/download
    USER = "user"                # a module the caller built (bundle_from_module)


@dataclass(frozen=True)
class ModelSpec:
    """What the project knows about a model before loading it.

    Attributes:
        name: the model id.
        kind: :class:`ModelKind`.
        input_shape: (C, H, W) the model takes, values in ``bounds``.
        fit_data, selection_data, test_data: default data specs (``mnist:train``...), None
            where no data ships (ImageNet).
        sample_set: foolbox's bundled sample set matching the model (``mnist`` / ``imagenet``),
            None when there is none.
        demo_epsilon_255: an L∞ budget (0–255 scale) at which a PGD attack on the softmax
            succeeds on most images: the paper's 4/255 for ImageNet photos, 32/255 for MNIST
            digits (4/255 fools 1 MNIST digit in 100).
        epsilon_grid_255: the L∞ budgets of default ε sweeps.
        budgets_255: L∞ budgets (0–255 scale) that make the undefended softmax fall: the smallest
            ε at which the project's PGD preset fools at least ``budget_shares`` of it (measured by
            ``scripts/measure_budgets.py``, recorded in ``docs/results/budgets.json``); () when
            unknown (a user's model). The last one is the default ε of the app and the CLI.
        budget_shares: the share of the softmax each budget fools (0.5 and 0.9).
        softmax_fool_curve: (ε, share of the softmax PGD fools) pairs the budgets were found on,
            so a page can say how weak a smaller ε is for this model.
        budget_source: where the budgets come from, in words.
    """

    name: str
    kind: ModelKind
    input_shape: tuple[int, int, int]
    bounds: tuple[float, float] = (0.0, 1.0)
    fit_data: str | None = None
    selection_data: str | None = None
    test_data: str | None = None
    sample_set: str | None = None
    demo_epsilon_255: float = 4.0
    epsilon_grid_255: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    budgets_255: tuple[float, ...] = ()
    budget_shares: tuple[float, ...] = ()
    softmax_fool_curve: tuple[tuple[float, float], ...] = ()
    budget_source: str = ""

    @property
    def default_epsilon_255(self) -> float:
        """The ε (0–255) a page or command uses when the user gives none: the model's largest
        softmax budget when known, else :attr:`demo_epsilon_255`."""
        return float(self.budgets_255[-1]) if self.budgets_255 else float(self.demo_epsilon_255)

    @property
    def ships_data(self) -> bool:
        """Whether test data ships with the project (so experiments run offline)."""
        return self.test_data is not None

    @property
    def top1(self) -> float | None:
        """Top-1 accuracy (fraction) of the default weights, when known: torchvision's ImageNet
        metadata (no download), or the test accuracy recorded in the assets' ``models/<name>.json``."""
        if self.kind is ModelKind.TORCHVISION:
            meta = tvm.get_model_weights(self.name).IMAGENET1K_V1.meta
            return float(meta["_metrics"]["ImageNet-1K"]["acc@1"]) / 100.0
        record = asset_path("models", f"{self.name}.json")
        if self.kind is ModelKind.EMBEDDED and record.is_file():
            return float(json.loads(record.read_text())["test_top1"])
        return None


# Measured by ``OMP_NUM_THREADS=1 python -m scripts.measure_budgets`` (docs/results/budgets.json; a test
# checks these agree): the smallest whole ε at which PGD fools ≥ 50 % / ≥ 90 % of the softmax on the
# correctly classified digits among the first 100 test digits, and the (ε, share fooled) points tried.
_MEASURED_BUDGETS: dict[str, tuple[tuple[float, ...], tuple[tuple[float, float], ...]]] = {
    "mnist-vgg": ((37.0, 44.0), (
        (8.0, 0.02), (16.0, 0.03), (24.0, 0.11), (32.0, 0.28), (36.0, 0.42), (37.0, 0.5), (38.0, 0.56),
        (40.0, 0.69), (42.0, 0.81), (43.0, 0.84), (44.0, 0.9), (45.0, 0.94), (46.0, 0.95), (48.0, 0.98),
        (52.0, 1.0),
    )),
    "mnist-resnet": ((18.0, 21.0), (
        (8.0, 0.0), (16.0, 0.19191919267177582), (17.0, 0.31313130259513855), (18.0, 0.5454545617103577),
        (19.0, 0.7676767706871033), (20.0, 0.8484848737716675), (21.0, 0.9090909361839294), (24.0, 1.0),
        (25.0, 1.0),
    )),
}
_MEASURED = "measured: PGD on the first 100 test digits (python -m scripts.measure_budgets)"


def _embedded_spec(name: str) -> ModelSpec:
    budgets, curve = _MEASURED_BUDGETS[name]
    return ModelSpec(name=name, kind=ModelKind.EMBEDDED, input_shape=(1, 28, 28), fit_data="mnist:train",
                     selection_data="mnist:selection", test_data="mnist:test", sample_set="mnist",
                     demo_epsilon_255=32.0, epsilon_grid_255=(2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
                     budgets_255=budgets, budget_shares=(0.5, 0.9) if budgets else (), softmax_fool_curve=curve,
                     budget_source=_MEASURED if budgets else "")


def _torchvision_spec(name: str) -> ModelSpec:
    # not measured here (no ImageNet images offline): the paper's Table 2, where PGD at 4/255 fooled the
    # softmax on 9 997 of 10 000 ImageNet images (ResNet-50; VGG-19 9 887)
    return ModelSpec(name=name, kind=ModelKind.TORCHVISION, input_shape=(3, 224, 224), sample_set="imagenet",
                     demo_epsilon_255=4.0, budgets_255=(4.0,), budget_shares=(0.9,),
                     softmax_fool_curve=((4.0, 0.99),),
                     budget_source="the paper's Table 2 (PGD at 4/255 fooled 99 % of ImageNet images; "
                                   "not measured here)")


MODEL_SPECS = MappingProxyType({
    **{n: _embedded_spec(n) for n in ("mnist-vgg", "mnist-resnet")},
    **{n: _torchvision_spec(n) for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg11",
                                         "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")},
})
"""Every model :func:`load_model` knows, by name."""


def model_names(kind: ModelKind | None = None) -> tuple[str, ...]:
    return tuple(n for n, s in MODEL_SPECS.items() if kind is None or s.kind is ModelKind(kind))


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a known model (a clear error for an unknown name)."""
    try:
        return MODEL_SPECS[name]
    except KeyError:
        raise ModelError(f"expected a model name in {list(MODEL_SPECS)}, got '{name}'") from None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda``/``cuda:N`` without such a GPU and any
    other string are clear errors (:func:`regroup_core.checks.device`)."""
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


# ---------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------

def mnist_preprocess(img: Image.Image) -> torch.Tensor:
    """Any image → (1, 28, 28) in [0, 1], white digit on black like MNIST.

    Dark-on-light pictures (a digit drawn on paper) are inverted: the decision uses the mean
    of the border pixels, which are background in any centred digit.
    """
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
        self.resize = resize
        self.transform = v2.Compose([v2.PILToTensor(), v2.Resize(resize, antialias=True), v2.CenterCrop(crop),
                                     v2.ToDtype(torch.float32, scale=True)])

    def __call__(self, img: Image.Image) -> torch.Tensor:
        short, long = sorted(img.size)
        resized = self.resize * self.resize * long / max(short, 1)
        if resized > max_pixels():  # a 1×20000 strip would be resized to 256×5 120 000 before the crop
            raise ImageError(f"expected an image whose short side resized to {self.resize} stays within "
                             f"{max_pixels():,} pixels (REGROUP_MAX_IMAGE_PIXELS), got {img.width}x{img.height} "
                             f"(aspect ratio {long / max(short, 1):.0f}:1)")
        return self.transform(img.convert("RGB"))


def imagenet_preprocess(resize: int = 256, crop: int = 224) -> Callable[[Image.Image], torch.Tensor]:
    return ImagenetPreprocess(resize, crop)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file, never unpickling arbitrary objects."""
    if not path_kind(path, ModelError, "a weights file"):
        raise ModelError(f"expected a weights file, got no file at '{path}'")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a file
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a bad file for the user
        if "Weights only load failed" in str(exc):
            # torch's message advises weights_only=False: never pass that on. Only "Unsupported
            # global" proves Python objects; other refusals may be random bytes or another format.
            got = ("a file holding Python objects other than tensors" if "Unsupported global" in str(exc) else
                   "a file that is not a PyTorch state dict (damaged, another format, or a pickle of other "
                   "Python objects)")
            raise ModelError(f"expected a weights file (state dict) at '{path}', got {got}: refused, nothing was "
                             "unpickled (weights_only=True)") from None
        raise ModelError(f"expected a weights file (state dict) at '{path}', got an unreadable file: "
                         f"{one_line(exc, 200)}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ModelError(f"expected a state dict of named tensors in '{path}', got {type(state).__name__}")
    return state


def _apply_state(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = net.state_dict()
    for name, t in state.items():
        mine = own.get(name)
        # load_state_dict casts silently: float16/bfloat16/float64 checkpoints are ordinary and cast
        # to the model's float dtype (overflow becomes inf and is refused below); an int, bool or
        # complex tensor where a float belongs (or the reverse) is a wrong file, not a precision.
        if mine is not None and (t.dtype.is_complex or t.is_floating_point() != mine.is_floating_point()
                                 or (not mine.is_floating_point() and t.dtype != mine.dtype)):
            raise ModelError(f"expected weights for {type(net).__name__} in '{source}', got tensor '{name}' of "
                             f"dtype {t.dtype} where a {mine.dtype} tensor belongs (convert the file to "
                             f"{mine.dtype})")
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        lines = [ln.strip() for ln in one_line(exc, 1000).split(". ") if ln.strip()]
        raise ModelError(f"expected weights for {type(net).__name__} in '{source}', got a mismatch: "
                         f"{'. '.join(lines[:3])[:300]}") from None
    bad = [name for name, t in net.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelError(f"expected finite weights in '{source}', got NaN or inf in {bad[:3]}"
                         f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}")


RANDOM_WEIGHTS_SEED = 0
"""``weights="random"`` initialises under this seed: the same random network (and fingerprint) in
every process, so a classifier fitted on it with the CLI loads in the app and links reproduce."""


def _seeded_build(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` (which initialises from torch's global RNG) seeded by :data:`RANDOM_WEIGHTS_SEED`
    under the process-wide lock of :func:`~regroup_core.rng.global_rng`: another thread's seeded
    draws cannot interleave, and the caller's RNG state is left as it was."""
    with global_rng(RANDOM_WEIGHTS_SEED):
        return build()


def _embedded(name: str, weights: str | os.PathLike[str] | None) -> tuple[nn.Module, str]:
    if weights == "random":
        return _seeded_build(lambda: build_mnist_model(name)), "random"
    net = build_mnist_model(name)
    path = Path(weights) if weights is not None else asset_path("models", f"{name}.safetensors")
    _apply_state(net, _read_state_dict(path), str(path))
    return net, "embedded" if weights is None else str(path)


def _torchvision(name: str, weights: str | os.PathLike[str] | None) -> tuple[nn.Module, tuple[str, ...], str]:
    builder = getattr(tvm, name)
    enum_cls = tvm.get_model_weights(name)
    categories = tuple(enum_cls.IMAGENET1K_V1.meta["categories"])  # shipped with torchvision, no download
    if weights == "random":
        return _seeded_build(lambda: builder(weights=None)), categories, "random"
    net = builder(weights=None)
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
            (``resnet50``, ``vgg19``, ``vgg19_bn``...); see :data:`MODEL_SPECS`.
        weights: ``None`` → the model's default (embedded weights; ImageNet V1 weights from
            torchvision's cache or download); ``"random"`` → random init; ``"imagenet"``; or a
            path to a ``.safetensors``/``.pth`` state dict (loaded with ``weights_only=True``).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        layers: explicit module names to tap instead of the preset.
    """
    spec = model_spec(name)
    if isinstance(weights, str) and not weights.strip():
        raise ModelError(f"weights: expected 'random', 'imagenet' or the path of a .safetensors/.pth state dict, "
                         f"got {weights!r}")
    dev = resolve_device(device)
    if spec.kind is ModelKind.EMBEDDED:
        net, source = _embedded(name, weights)
        model, class_names, preprocess = net, MNIST_CLASS_NAMES, mnist_preprocess
    else:
        net, class_names, source = _torchvision(name, weights)
        model, preprocess = _Normalized(net, IMAGENET_MEAN, IMAGENET_STD), imagenet_preprocess()
    model = model.to(dev).eval()
    if layers is not None:
        taps = layers_from_names(model, list(layers))
    elif spec.kind is ModelKind.TORCHVISION:
        taps = preset_layers(model, prefix="net.")
    else:
        taps = discover_layers(model)
    return ModelBundle(name=name, model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=taps, input_shape=spec.input_shape, weights=source, spec=spec)


def bundle_from_module(model: nn.Module, *, name: str, class_names: Sequence[str],
                       preprocess: Callable[[Image.Image], torch.Tensor],
                       input_shape: tuple[int, int, int], layers: Sequence[str] | None = None,
                       spec: ModelSpec | None = None) -> ModelBundle:
    """Wrap your own ``model`` (taking inputs in [0, 1]) as a :class:`ModelBundle`."""
    model = model.eval()
    taps = layers_from_names(model, list(layers)) if layers is not None else discover_layers(model)
    return ModelBundle(name=name, model=model, preprocess=preprocess, class_names=tuple(class_names),
                       layers=taps, input_shape=tuple(input_shape), weights="user", spec=spec)  # type: ignore[arg-type]
