"""timm models: preprocessing from timm's own data config (``timm.data.resolve_data_config``),
class names from timm's ImageNet metadata, pretrained weights through timm's own cache and
download (the Hugging Face hub; safetensors where the hub has them)."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ...errors import ModelError, one_line
from ..statedict import seeded_build, state_from_file

__all__ = ["PRETRAINED", "build", "describe_timm", "pretrained_cached"]

PRETRAINED = "pretrained"


def _cfg(name: str) -> dict[str, Any]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return cfg.to_dict() if cfg is not None else {}


def describe_timm(name: str) -> dict[str, Any]:
    """input_shape, resize, interpolation, mean, std and class names of timm model ``name``."""
    import timm.data

    cfg = _cfg(name)
    data = timm.data.resolve_data_config(pretrained_cfg=cfg) if cfg else timm.data.resolve_data_config({})
    channels, height, width = (int(v) for v in data["input_size"])
    crop_pct = float(data.get("crop_pct") or 1.0)
    num_classes = int(cfg.get("num_classes") or 1000)
    subset = timm.data.infer_imagenet_subset(cfg) if cfg else None
    if subset == "imagenet-1k":  # the same names (and order) as torchvision's ImageNet models
        import torchvision.models as tvm

        names = tuple(tvm.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    elif subset:
        names = _distinct(timm.data.ImageNetInfo(subset))
    else:
        names = tuple(f"class {i}" for i in range(num_classes))
    return {"input_shape": (channels, height, width), "resize": int(math.floor(min(height, width) / crop_pct)),
            "interpolation": str(data.get("interpolation") or "bilinear"), "mean": tuple(data["mean"]),
            "std": tuple(data["std"]), "class_names": names, "has_pretrained": bool(cfg.get("hf_hub_id") or
                                                                                     cfg.get("url"))}


def _distinct(info: Any) -> tuple[str, ...]:  # noqa: ANN401 - timm's ImageNetInfo
    """Class descriptions, a repeated one ('crane': the bird and the machine) with its WordNet id."""
    names = [info.index_to_description(i) for i in range(info.num_classes())]
    repeated = {n for n in names if names.count(n) > 1}
    return tuple(f"{n} ({info.index_to_label_name(i)})" if n in repeated else n for i, n in enumerate(names))


def pretrained_cached(name: str) -> bool:
    """Whether timm's pretrained file of ``name`` is in the Hugging Face cache (no network)."""
    cfg = _cfg(name)
    repo = str(cfg.get("hf_hub_id") or "").split("@")[0]
    if not repo:
        return False
    try:
        from huggingface_hub import scan_cache_dir

        return any(r.repo_id == repo for r in scan_cache_dir().repos)
    except Exception:  # noqa: BLE001 - no cache folder yet
        return False


def create(name: str, pretrained: bool) -> nn.Module:
    """The network boundary for timm (tests monkeypatch this)."""
    import timm

    return timm.create_model(name, pretrained=pretrained)


def build(name: str, weights: str | None) -> tuple[nn.Module, str]:
    """(network, weights label) for ``weights`` None/'pretrained', 'random' or a file."""
    if weights == "random":
        return seeded_build(lambda: create(name, False)), "random"
    if weights in (None, PRETRAINED):
        try:
            return create(name, True), PRETRAINED
        except Exception as exc:  # noqa: BLE001 - offline, no pretrained tag, a hub error...
            raise ModelError(f"expected timm's pretrained weights for {name} from its cache or the Hugging Face "
                             f"hub, got {type(exc).__name__}: {one_line(exc, 160)}; offline, pass a local weights "
                             "file (--weights FILE) or --weights random") from None
    net = create(name, False)
    return net, state_from_file(net, weights)
