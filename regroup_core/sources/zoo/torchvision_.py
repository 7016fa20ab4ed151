"""torchvision classification models: metadata from the weights enums (no download), weights
by enum name (``DEFAULT``, ``IMAGENET1K_V2``...) fetched into torch hub's cache with progress
and loaded with ``weights_only=True`` (torchvision itself would unpickle them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from torch import nn

from ...errors import ModelError
from ..statedict import check_finite, read_state_dict, seeded_build, state_from_file
from .download import Download, DownloadProgress, fetch, hub_file

__all__ = ["TorchvisionWeights", "build", "choose", "download_for", "weight_names"]

LEGACY_PRETRAINED = "imagenet"
"""The first versions' name for the paper's ImageNet V1 weights (kept)."""


@dataclass(frozen=True)
class TorchvisionWeights:
    """What ``--weights`` chose for a torchvision model: an enum member, random or a file."""

    label: str          # the enum name, 'random' or the file path
    member: Any = None  # the torchvision ``WeightsEnum`` member, None for random/file
    shape_member: Any = None  # whose transforms give the input size and preprocessing


def weight_names(name: str) -> tuple[str, ...]:
    import torchvision.models as tvm

    return tuple(m.name for m in tvm.get_model_weights(name))


def choose(name: str, weights: str | None, alias: bool) -> TorchvisionWeights:
    """Interpret ``weights`` for torchvision model ``name`` (``alias``: a bare paper name, whose
    default stays the paper's IMAGENET1K_V1)."""
    import torchvision.models as tvm

    enum_cls = tvm.get_model_weights(name)
    members = list(enum_cls)
    # random or a file: the architecture torchvision builds without weights, so the smallest
    # input among its weights (a ViT-H/14 without weights takes 224, its SWAG weights 518)
    smallest = min(members, key=lambda m: _transforms(m).crop_size[0])
    if weights is None or weights == LEGACY_PRETRAINED:
        pick = "IMAGENET1K_V1" if (alias or weights == LEGACY_PRETRAINED) and "IMAGENET1K_V1" in enum_cls.__members__ \
            else "DEFAULT"
        member = enum_cls[pick] if pick != "DEFAULT" else enum_cls.DEFAULT
        return TorchvisionWeights(member.name, member, member)
    if weights == "random":
        return TorchvisionWeights("random", None, smallest)
    if weights == "DEFAULT":
        return TorchvisionWeights(enum_cls.DEFAULT.name, enum_cls.DEFAULT, enum_cls.DEFAULT)
    if weights in enum_cls.__members__:
        return TorchvisionWeights(weights, enum_cls[weights], enum_cls[weights])
    if weights.isupper() and "." not in weights and "/" not in weights:
        raise ModelError(f"expected weights of {name} in {['DEFAULT', *weight_names(name), 'random']} or a "
                         f"weights file, got '{weights}'")
    return TorchvisionWeights(weights, None, smallest)


def _transforms(member: Any) -> Any:
    return member.transforms()


def preprocessing(choice: TorchvisionWeights) -> dict[str, Any]:
    """input_shape, resize, interpolation, mean, std, class names and top-1 of a choice."""
    t = _transforms(choice.shape_member)
    meta = choice.shape_member.meta
    metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
    top1 = float(metrics["acc@1"]) / 100.0 if "acc@1" in metrics and choice.member is not None else None
    return {"input_shape": (3, int(t.crop_size[0]), int(t.crop_size[0])), "resize": int(t.resize_size[0]),
            "interpolation": t.interpolation.value, "mean": tuple(t.mean), "std": tuple(t.std),
            "class_names": tuple(meta["categories"]), "top1": top1}


def download_for(name: str, choice: TorchvisionWeights) -> Download | None:
    if choice.member is None:
        return None
    url = choice.member.url
    size = choice.member.meta.get("_file_size")
    return Download(what=f"torchvision {name} {choice.member.name} weights", url=url,
                    size_bytes=int(float(size) * 1024 * 1024) if size else None, cached=hub_file(url).is_file())


def _pretrained(name: str, choice: TorchvisionWeights, progress: DownloadProgress | None) -> nn.Module:
    """torchvision's builder with the chosen weights enum (builders adapt some architectures to
    their weights: a ViT's image size, GoogLeNet's input transform), its state read by us:
    torchvision would unpickle the file with ``weights_only=False``; here the enum's
    ``get_state_dict`` fetches it (progress shown) and reads it with ``weights_only=True``."""
    import torchvision.models as tvm
    import torchvision.models._api as api

    download = download_for(name, choice)
    assert download is not None
    path = fetch(download, progress)
    state = read_state_dict(path)
    with _LOCK:
        saved = api.WeightsEnum.get_state_dict
        member = choice.member

        def ours(self: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - another caller's enum: theirs
            return state if self is member else saved(self, *args, **kwargs)

        api.WeightsEnum.get_state_dict = ours  # type: ignore[method-assign]
        try:
            net = tvm.get_model_builder(name)(weights=choice.member)
        finally:
            api.WeightsEnum.get_state_dict = saved  # type: ignore[method-assign]
    check_finite(net, download.url)
    return net


def build(name: str, choice: TorchvisionWeights, progress: DownloadProgress | None = None) -> nn.Module:
    """The torchvision network with the chosen weights (random under the fixed seed)."""
    import torchvision.models as tvm

    builder = tvm.get_model_builder(name)
    if choice.label == "random":
        return seeded_build(lambda: builder(weights=None))
    if choice.member is None:
        net = builder(weights=None)
        state_from_file(net, choice.label)
        return net
    return _pretrained(name, choice, progress)


_LOCK = threading.Lock()
