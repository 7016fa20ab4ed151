"""The model zoo: one :class:`~regroup_core.sources.references.ModelReference` → its metadata
(:func:`describe`, no weights read, no spec code run) and its network (:func:`build`).

Adapters, one per source: the embedded MNIST networks (:mod:`..mnist`), pyautoattack's
CIFAR-10 ResNet-18 (:mod:`.cifar10_resnet18`), torchvision (:mod:`.torchvision_`), timm
(:mod:`.timm_`), RobustBench (:mod:`.robustbench_`) and spec files (:mod:`..specfile`).
"""

from __future__ import annotations

import json
import os

from torch import nn

from ...errors import ModelError
from ..assets import asset_path
from ..metadata import ModelKind, ModelSpec
from ..references import ModelReference, RefKind
from ..specfile import build_from_spec, read_spec_file
from .download import Download, DownloadProgress

__all__ = ["CIFAR100_CLASSES", "Download", "DownloadProgress", "build", "describe", "weights_download"]

CIFAR100_CLASSES = tuple((
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle "
    "caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant "
    "flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man "
    "maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree "
    "plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train "
    "trout tulip turtle wardrobe whale willow_tree wolf woman worm").split())

_CIFAR_BUDGETS = {"demo_epsilon_255": 8.0, "epsilon_grid_255": (1.0, 2.0, 4.0, 8.0, 16.0)}
_PRETRAINED = "pretrained"


def _weights_text(weights: str | os.PathLike[str] | None) -> str | None:
    if weights is None:
        return None
    text = os.fspath(weights)
    if not text.strip():
        raise ModelError("weights: expected 'random', a named weights set or the path of a .safetensors/.pth "
                         "state dict, got ''")
    return text


def _mnist(ref: ModelReference, weights: str | None) -> ModelSpec:
    from ..mnist import MNIST_CLASS_NAMES
    record = asset_path("models", f"{ref.name}.json")
    top1 = float(json.loads(record.read_text())["test_top1"]) if weights is None and record.is_file() else None
    return ModelSpec(name=str(ref), kind=ModelKind.EMBEDDED, input_shape=(1, 28, 28), fit_data="mnist:train",
                     selection_data="mnist:selection", test_data="mnist:test", sample_set="mnist",
                     demo_epsilon_255=32.0, epsilon_grid_255=(2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
                     class_names=MNIST_CLASS_NAMES, mnist_input=True, weights=weights or "embedded",
                     weights_choices=("embedded", "random"), top1=top1)


def _cifar10_resnet18(ref: ModelReference, weights: str | None) -> ModelSpec:
    from .cifar10_resnet18 import CIFAR10_CLASSES

    return ModelSpec(name=str(ref), kind=ModelKind.EMBEDDED, input_shape=(3, 32, 32), fit_data="cifar10:train",
                     test_data="cifar10:test", sample_set="cifar10", class_names=CIFAR10_CLASSES,
                     weights=weights or "embedded", weights_choices=("embedded", "random"), **_CIFAR_BUDGETS)


def _torchvision(ref: ModelReference, weights: str | None) -> ModelSpec:
    from . import torchvision_ as tv

    choice = tv.choose(ref.name, weights, ref.alias)
    pre = tv.preprocessing(choice)
    imagenet = len(pre["class_names"]) == 1000
    return ModelSpec(name=str(ref), kind=ModelKind.TORCHVISION, sample_set="imagenet" if imagenet else None,
                     demo_epsilon_255=4.0, weights=choice.label,
                     weights_choices=("DEFAULT", *tv.weight_names(ref.name), "random"), **pre)


def _timm(ref: ModelReference, weights: str | None) -> ModelSpec:
    from .timm_ import describe_timm

    info = describe_timm(ref.name)
    has_pretrained = info.pop("has_pretrained")
    return ModelSpec(name=str(ref), kind=ModelKind.TIMM, sample_set="imagenet" if len(info["class_names"]) == 1000
                     else None, weights=weights or (_PRETRAINED if has_pretrained else "random"),
                     weights_choices=((_PRETRAINED,) if has_pretrained else ()) + ("random",), **info)


def _robustbench(ref: ModelReference, weights: str | None) -> ModelSpec:
    from .cifar10_resnet18 import CIFAR10_CLASSES

    common = {"name": str(ref), "kind": ModelKind.ROBUSTBENCH, "weights": weights or _PRETRAINED,
              "weights_choices": (_PRETRAINED, "random")}
    if ref.dataset == "imagenet":
        from . import torchvision_ as tv

        names = tv.preprocessing(tv.choose("resnet50", "IMAGENET1K_V1", True))["class_names"]
        return ModelSpec(input_shape=(3, 224, 224), resize=256, class_names=names, sample_set="imagenet", **common)
    cifar10 = ref.dataset == "cifar10"
    return ModelSpec(input_shape=(3, 32, 32), class_names=CIFAR10_CLASSES if cifar10 else CIFAR100_CLASSES,
                     fit_data=f"{ref.dataset}:train" if cifar10 else None,
                     test_data=f"{ref.dataset}:test" if cifar10 else None,
                     sample_set=ref.dataset, **_CIFAR_BUDGETS, **common)


def _spec(ref: ModelReference, weights: str | None) -> ModelSpec:
    spec = read_spec_file(ref.name)
    base = describe(spec.model, weights if weights is not None else (
        str(spec.weights) if spec.weights else None)) if spec.model else None
    shape = spec.input_size or (base.input_shape if base else None)
    classes = tuple(spec.classes or (base.class_names if base else ()))
    # a zoo architecture with its own classes and input keeps the zoo's data, samples and budgets
    same = base is not None and classes == base.class_names and shape == base.input_shape
    cifar_like = shape is not None and shape[1:] == (32, 32)
    normalised = spec.mean is not None
    own_weights = ("spec",) if spec.weights else ()
    return ModelSpec(
        name=str(ref), kind=ModelKind.SPEC, input_shape=shape,  # type: ignore[arg-type] - checked by read_spec_file
        fit_data=spec.fit_data or (base.fit_data if same else None),  # type: ignore[union-attr]
        selection_data=spec.selection_data or (base.selection_data if same else None),  # type: ignore[union-attr]
        test_data=spec.test_data or (base.test_data if same else None),  # type: ignore[union-attr]
        sample_set=base.sample_set if same else None,  # type: ignore[union-attr]
        demo_epsilon_255=spec.epsilon_255 or (base.demo_epsilon_255 if base else 8.0 if cifar_like else 4.0),
        epsilon_grid_255=base.epsilon_grid_255 if base else (1.0, 2.0, 4.0, 8.0, 16.0),
        class_names=classes, mean=spec.mean if normalised else (base.mean if base else None),
        std=spec.std if normalised else (base.std if base else None),
        resize=spec.resize or (base.resize if base and shape == base.input_shape else None),
        interpolation=base.interpolation if base else "bilinear",
        mnist_input=bool(same and base.mnist_input),  # type: ignore[union-attr]
        layers=spec.layers,
        weights=weights or ("spec" if spec.weights else
                            "random" if spec.factory else base.weights),  # type: ignore[union-attr]
        weights_choices=own_weights + (base.weights_choices if base else ("random",)))


_DESCRIBERS = {RefKind.TORCHVISION: _torchvision, RefKind.TIMM: _timm, RefKind.ROBUSTBENCH: _robustbench,
               RefKind.SPEC: _spec}


def describe(reference: str | os.PathLike[str] | ModelReference,
             weights: str | os.PathLike[str] | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of ``reference`` with ``weights`` (None: its default weights),
    without reading weights or running a spec's factory."""
    ref = ModelReference.parse(reference)
    text = _weights_text(weights)
    if ref.kind is RefKind.EMBEDDED:
        return _cifar10_resnet18(ref, text) if ref.name == "cifar10-resnet18" else _mnist(ref, text)
    return _DESCRIBERS[ref.kind](ref, text)


def weights_download(reference: str | os.PathLike[str] | ModelReference,
                     weights: str | os.PathLike[str] | None = None) -> Download | None:
    """The download loading ``reference`` with ``weights`` needs, or None when none (embedded,
    random, a file). timm and RobustBench download through their packages: their size is
    unknown beforehand (``size_bytes`` None) and ``url`` names the source."""
    ref = ModelReference.parse(reference)
    text = _weights_text(weights)
    if ref.kind is RefKind.TORCHVISION:
        from . import torchvision_ as tv

        return tv.download_for(ref.name, tv.choose(ref.name, text, ref.alias))
    if ref.kind is RefKind.TIMM and text in (None, _PRETRAINED) and describe(ref).weights == _PRETRAINED:
        from .timm_ import pretrained_cached

        return Download(what=f"timm {ref.name} pretrained weights", url="https://huggingface.co/timm",
                        size_bytes=None, cached=pretrained_cached(ref.name))
    if ref.kind is RefKind.ROBUSTBENCH and text in (None, _PRETRAINED):
        from .robustbench_ import weights_dir

        cached = (weights_dir() / ref.dataset / ref.threat / f"{ref.name}.pt").is_file()
        return Download(what=f"RobustBench {ref.name} weights", url="robustbench (Google Drive / its mirrors)",
                        size_bytes=None, cached=cached)
    if ref.kind is RefKind.SPEC:
        spec = read_spec_file(ref.name)
        if spec.model and spec.weights is None and text is None:
            return weights_download(spec.model, None)
    return None


def build(reference: ModelReference, weights: str | None, progress: DownloadProgress | None = None
          ) -> tuple[nn.Module, str]:
    """(network, weights label): the network as its source defines it (without the
    normalisation that :func:`~regroup_core.sources.models.load_model` adds from the spec)."""
    ref = ModelReference.parse(reference)
    if ref.kind is RefKind.EMBEDDED:
        if ref.name == "cifar10-resnet18":
            from .cifar10_resnet18 import build as build_cifar

            return build_cifar(weights)
        from .mnist_nets import build as build_mnist

        return build_mnist(ref.name, weights)
    if ref.kind is RefKind.TORCHVISION:
        from . import torchvision_ as tv

        choice = tv.choose(ref.name, weights, ref.alias)
        return tv.build(ref.name, choice, progress), choice.label
    if ref.kind is RefKind.TIMM:
        from .timm_ import build as build_timm

        return build_timm(ref.name, weights)
    if ref.kind is RefKind.ROBUSTBENCH:
        from .robustbench_ import build as build_rb

        return build_rb(ref.dataset, ref.threat, ref.name, weights)
    spec = read_spec_file(ref.name)
    if spec.model is not None:
        inner = ModelReference.parse(spec.model)
        chosen = weights if weights is not None else (str(spec.weights) if spec.weights else None)
        net, label = build(inner, chosen, progress)
        return net, "spec" if weights is None and spec.weights else label
    return build_from_spec(spec, weights)

