"""Real sample images for the pages, all offline: the model's own test split, foolbox's bundled
samples and scikit-image's photos; and :func:`sample_set`, real images of chosen classes as arrays."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from PIL import Image

from regroup_core.errors import DataError
from regroup_core.sources.data import known_labels, resolve_data
from regroup_core.sources.metadata import ModelKind, ModelSpec
from regroup_core.sources.models import model_spec
from regroup_core.sources.preprocess import preprocess_for

from .cache import model_bundle

__all__ = ["SOURCES", "GalleryItem", "gallery", "item_by_id", "sample_set", "sources_for", "test_set_size"]

SOURCES = ("Model's test set", "foolbox samples", "scikit-image photos")
SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera", "cat")


def sources_for(spec: ModelSpec) -> tuple[str, ...]:
    """The gallery sources that suit a model, best first: its own test split where one ships,
    foolbox's samples of its dataset (labelled), scikit-image's photos (unlabelled) always."""
    return tuple(source for source, ok in zip(SOURCES, (spec.ships_data, spec.sample_set is not None, True)) if ok)


@dataclass(frozen=True)
class GalleryItem:
    """One sample: a display name, the image, its label (None if unknown), its id in links
    (``mnist:test:201``, ``foolbox:imagenet:3``, ``skimage:chelsea``) and its gallery source."""

    name: str
    image: Image.Image
    label: int | None
    id: str = ""
    source: str = ""


def _to_pil(x: np.ndarray) -> Image.Image:
    """(C, H, W) float in [0, 1] → PIL (L for one channel)."""
    arr = np.clip(np.round(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(arr[0], mode="L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0))


def _test_split(model_name: str, per_class: int) -> list[GalleryItem]:
    """The first ``per_class`` images of every class of the model's own test split, named
    ``<data spec>:<index>`` (e.g. ``mnist:test:201``)."""
    spec = model_spec(model_name).test_data
    if spec is None or not model_spec(model_name).ships_data:
        raise DataError(f"expected a model with a bundled test set, got '{model_name}' "
                        "(its data is not shipped): use the foolbox samples or upload an image")
    bundle = model_bundle(model_name, None)
    data = resolve_data(spec, bundle)
    labels = known_labels(data)
    items = []
    for c in range(bundle.num_classes):
        for j in (labels == c).nonzero()[0][:per_class].tolist():
            x, _ = data[j]
            items.append(_test_item(spec, j, x, c, bundle.class_names))
    return items


def _test_item(spec: str, j: int, x: torch.Tensor, c: int, class_names: Sequence[str]) -> GalleryItem:
    return GalleryItem(f"{spec}:{j} ({class_names[c]})", _to_pil(x.numpy()), c, f"{spec}:{j}", SOURCES[0])


def _foolbox(model_name: str) -> list[GalleryItem]:
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython; set just before it
    import foolbox as fb  # lazy: heavy, and only the ImageNet models' gallery needs it

    spec = model_spec(model_name)
    if spec.sample_set is None:
        raise DataError(f"expected a model with a foolbox sample set, got '{model_name}'")
    dataset, shape = spec.sample_set, spec.input_shape[1:]
    # samples() only needs a foolbox model for its tensor type: a parameter-free stand-in will do
    fmodel = fb.PyTorchModel(torch.nn.Flatten().eval(), bounds=(0, 1), device=torch.device("cpu"))
    images, labels = fb.utils.samples(fmodel, dataset=dataset, batchsize=20, shape=shape,
                                      data_format="channels_first", bounds=(0, 1))
    return [GalleryItem(f"foolbox {dataset} sample {i}", _to_pil(images[i].cpu().numpy()), int(labels[i]),
                        f"foolbox:{dataset}:{i}", SOURCES[1]) for i in range(len(labels))]


def _skimage() -> list[GalleryItem]:
    from skimage import data  # lazy: heavy, and only this gallery needs it

    return [GalleryItem(f"skimage.data.{n}()", Image.fromarray(getattr(data, n)()), None, f"skimage:{n}", SOURCES[2])
            for n in SKIMAGE_PHOTOS]


@st.cache_resource(show_spinner="Loading sample images…", max_entries=8)
def gallery(source: str, model_name: str) -> tuple[GalleryItem, ...]:
    """Sample images of ``source`` suited to ``model_name`` (shared, read-only)."""
    if source == SOURCES[0]:
        return tuple(_test_split(model_name, per_class=2))
    if source == SOURCES[1]:
        return tuple(_foolbox(model_name))
    if source == SOURCES[2]:
        return tuple(_skimage())
    raise DataError(f"expected a source in {SOURCES}, got '{source}'")


def item_by_id(model_name: str, image_id: str) -> GalleryItem:
    """The sample a link names (see :class:`GalleryItem`), for ``model_name``.

    Raises:
        ValueError: an id of no known form, or out of range (the message says what is expected).
    """
    kind, _, rest = image_id.partition(":")
    if kind == "skimage":
        for item in gallery(SOURCES[2], model_name):
            if item.id == image_id:
                return item
        raise ValueError(f"expected skimage:<name> with a name among {', '.join(SKIMAGE_PHOTOS)}")
    if kind == "foolbox":
        items = gallery(SOURCES[1], model_name)
        for item in items:
            if item.id == image_id:
                return item
        expected = items[0].id.rsplit(":", 1)[0] if items else "foolbox:<set>"
        raise ValueError(f"expected {expected}:<index> with an index from 0 to {len(items) - 1}")
    if kind == "mnist":
        split, _, index = rest.partition(":")
        spec = model_spec(model_name)
        if spec.sample_set != "mnist":
            raise ValueError(f"expected an image for {model_name}; MNIST digits need an MNIST model")
        try:
            data = resolve_data(f"mnist:{split}", model_bundle(model_name, None))
        except DataError:
            raise ValueError("expected mnist:train, mnist:selection or mnist:test followed by :<index>") from None
        # ASCII digits, at most 9 (a 5 000-digit index must not reach int(), whose own error is Python's words)
        if not re.fullmatch(r"[0-9]{1,9}", index) or not 0 <= int(index) < len(data):
            raise ValueError(f"expected mnist:{split}:<index> with an index from 0 to {len(data) - 1}")
        x, y = data[int(index)]
        c = int(y)
        return _test_item(f"mnist:{split}", int(index), x, c, model_bundle(model_name, None).class_names)
    raise ValueError("expected mnist:<split>:<index>, foolbox:<set>:<index> or skimage:<name>")


@st.cache_resource(show_spinner=False, max_entries=8)
def test_set_size(model_name: str) -> int:
    """Number of images in the model's own test split (0 when none ships)."""
    spec = model_spec(model_name)
    if spec.test_data is None or not spec.ships_data:
        return 0
    return len(resolve_data(spec.test_data, model_bundle(model_name, None)))


def sample_set(model_name: str, classes: tuple[int, ...], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Real images of ``classes``: the model's own test split where one ships, else foolbox's
    sample set for it, in the model's own preprocessing. Returns (N, C, H, W) float32 and (N,) int64."""
    spec = model_spec(model_name)
    if spec.test_data is not None and (spec.ships_data or spec.kind is ModelKind.SPEC):  # a spec's: the operator's
        bundle = model_bundle(model_name, None)
        data = resolve_data(spec.test_data, bundle)
        if not hasattr(data, "tensors"):
            labels = known_labels(data)
            idx = [j for c in classes or range(bundle.num_classes)
                   for j in (labels == c).nonzero()[0][:per_class].tolist()]
            return (np.stack([data[j][0].numpy() for j in idx]).astype(np.float32),
                    labels[idx].astype(np.int64))
    if spec.sample_set is None and not spec.ships_data:
        raise DataError("expected labelled images of the model's classes, got none: it has no bundled test split "
                        "and no foolbox sample set (a model.toml can name a test_data folder)")
    if spec.ships_data and spec.test_data is not None:
        bundle = model_bundle(model_name, None)
        x, y = resolve_data(spec.test_data, bundle).tensors
        idx = [j for c in classes for j in (y == c).nonzero().flatten()[:per_class].tolist()]
        return x[idx].numpy(), y[idx].numpy()
    preprocess = preprocess_for(spec.input_shape, spec.resize, spec.interpolation, spec.mnist_input)  # no model
    items = [it for it in gallery(SOURCES[1], model_name) if it.label in classes or not classes]
    return (np.stack([preprocess(it.image).numpy() for it in items]),
            np.array([it.label for it in items], dtype=np.int64))
