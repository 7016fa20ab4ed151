"""Data specifications and the one reader of image folders and file lists.

A data spec is a string (or a ``torch.utils.data.Dataset`` of ``(image, label)``):

* ``mnist:train``, ``mnist:selection``, ``mnist:test`` — the embedded offline MNIST splits
  (:mod:`regroup_core.sources.mnist`), for models taking 1×28×28 digits;
* ``cifar10:train``, ``cifar10:test`` — torchvision's CIFAR-10, downloaded once (:mod:`.cifar10`);
* ``foolbox:cifar10``, ``foolbox:imagenet``... — foolbox's 20 bundled samples (:mod:`.samples`);
* a directory in ``ImageFolder`` layout or a text file of ``path label`` lines, read with the
  model's own preprocessing by :class:`ImageFiles`.

Two layouts name the images and their labels without decoding any of them:

* an ``ImageFolder`` tree (one sub-folder per class; folders named like the model's classes
  are mapped by name, otherwise there must be one per class, in class order when sorted —
  ImageNet's ``nXXXXXXXX`` WordNet ids sort into torchvision's class order);
* a file list: a text file of ``path label`` lines (``label`` an integer class index or a
  class name; relative paths are relative to the list's folder; blank lines and ``#``
  comments are ignored).

Listing only reads directory entries. Images are decoded one at a time in
:class:`ImageFiles.__getitem__` (so in DataLoader workers), with the model's own
preprocessing.

The fit subset (n correctly classified images per class, seeded) never needs the whole
training set: :func:`interleaved_order` shuffles each class's files with the seed and deals
them out class by class (round r holds the r-th shuffled file of every class). The fit
takes candidates in that order and stops drawing from a class once it has n accepted, so
ImageNet's fit reads about ``n / accuracy`` rounds of 1000 images, not 1.28 M.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..checks import path_kind
from ..errors import DataError, ImageError
from .images import open_image
from .mnist import MNIST_SPLITS, mnist_split
from .models import ModelBundle

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFiles",
    "Data",
    "folder_samples",
    "image_files",
    "interleaved_order",
    "known_labels",
    "list_samples",
    "make_loader",
    "resolve_data",
]

Data = str | os.PathLike | Dataset
"""A data spec string (see the module doc), a path, or a dataset of ``(image, label)``."""

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                              ".pgm"})

Sample = tuple[str, int]
"""(path, label); paths are plain strings: 1.28 M ``Path`` objects cost ~1 GB and 10 s."""


def _images_under(folder: Path) -> list[str]:
    """Image files under ``folder`` (recursively), sorted by path; directory entries only."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [os.path.join(dirpath, f) for f in filenames
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def folder_samples(root: str | os.PathLike[str], class_names: Sequence[str]) -> list[Sample]:
    """(path, label) of every image of an ImageFolder tree, class-major, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"expected an ImageFolder directory, got no directory at '{root}'")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"expected class sub-folders in '{root}', got none")
    names = {n: i for i, n in enumerate(class_names)}
    named = [f for f in folders if f.name in names]
    if len(named) == len(folders):
        index = {f: names[f.name] for f in folders}
    elif not named and len(folders) == len(class_names):  # e.g. ImageNet's WordNet ids, in class order
        index = {f: i for i, f in enumerate(folders)}
    else:
        stray = [f.name for f in folders if f.name not in names]
        shown = ", ".join(repr(n) for n in stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        raise DataError(f"expected class sub-folders in '{root}' named like the model's {len(class_names)} classes "
                        f"({', '.join(repr(n) for n in list(class_names)[:3])}…) or exactly {len(class_names)} "
                        f"folders in class order, got {len(folders)} folders, {len(stray)} not a class name: {shown}")
    samples = [(p, index[f]) for f in folders for p in _images_under(f)]
    if not samples:
        raise DataError(f"expected image files under '{root}', got none")
    return samples


def list_samples(list_file: str | os.PathLike[str], class_names: Sequence[str]) -> list[Sample]:
    """(path, label) of every line ``path label`` of a file list, in file order."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataError(f"expected a file list, got no file at '{list_file}'")
    names = {n: i for i, n in enumerate(class_names)}
    samples = []
    with open(list_file, encoding="utf-8-sig") as fh:  # a byte-order mark is not part of the first path
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            path_text, _, label_text = line.rpartition(" ")
            path_text = path_text.strip()
            if not path_text:
                raise DataError(f"{list_file}:{lineno}: expected 'path label', got {line!r}")
            if re.fullmatch(r"-?[0-9]+", label_text):  # ASCII digits only: int() also takes '٣', not '²'
                if len(label_text) > 18 or not 0 <= int(label_text) < len(class_names):
                    raise DataError(f"{list_file}:{lineno}: expected a label in [0, {len(class_names)}), "
                                    f"got {label_text[:30]}")
                label = int(label_text)
            elif label_text in names:
                label = names[label_text]
            else:
                raise DataError(f"{list_file}:{lineno}: expected an integer label or a class name, "
                                f"got {label_text!r}")
            samples.append((path_text if os.path.isabs(path_text) else os.path.join(list_file.parent, path_text),
                            label))
    if not samples:
        raise DataError(f"expected 'path label' lines in '{list_file}', got none")
    return samples


class ImageFiles(Dataset):
    """Images named by (path, label) pairs, decoded lazily with ``preprocess``.

    ``labels`` (an int64 array) is known without decoding, which lets a fit skip the files of
    classes that are already full. Paths are kept as one UTF-8 byte buffer with offsets, not
    a list of 1.28 M Python objects: DataLoader workers forked from this process would touch
    (and so copy) every object's reference count, multiplying the memory by the workers.
    """

    def __init__(self, samples: Sequence[Sample], preprocess: Callable[[Image.Image], torch.Tensor]) -> None:
        encoded = [os.fsencode(p) for p, _ in samples]
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._ends = np.cumsum(np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded)))
        self.labels = np.fromiter((y for _, y in samples), dtype=np.int64, count=len(encoded))
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> Path:
        start = int(self._ends[i - 1]) if i > 0 else 0
        return Path(os.fsdecode(self._blob[start:int(self._ends[i])].tobytes()))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path = self.path(i)
        image = open_image(path)
        try:
            return self.preprocess(image), int(self.labels[i])
        except ImageError as exc:  # the model's preprocessing refused it (e.g. an extreme aspect ratio)
            raise ImageError(f"{path}: {exc}") from None


def image_files(spec: str | os.PathLike[str], class_names: Sequence[str],
                preprocess: Callable[[Image.Image], torch.Tensor]) -> ImageFiles:
    """An :class:`ImageFiles` for a directory (ImageFolder) or a file list."""
    path = Path(spec)
    if path.is_dir():
        return ImageFiles(folder_samples(path, class_names), preprocess)
    if path.is_file():
        return ImageFiles(list_samples(path, class_names), preprocess)
    raise DataError(f"expected an ImageFolder directory or a 'path label' file list, got '{spec}'")


def interleaved_order(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices into ``labels``: each class shuffled with ``seed``, dealt round-robin by class.

    Deterministic for a given listing and seed; a class's shuffle depends only on
    ``(seed, class)`` and its own files, so adding files to one class leaves the others' order
    unchanged. Round r lists the r-th shuffled file of every class (ascending class id).
    """
    labels = np.asarray(labels, dtype=np.int64)
    rank = np.empty(len(labels), dtype=np.int64)  # position of each file in its class's shuffle
    by_class = np.argsort(labels, kind="stable")
    classes, starts = np.unique(labels[by_class], return_index=True)
    for cls, members in zip(classes, np.split(by_class, starts[1:])):
        shuffled = members[np.random.default_rng([seed, int(cls)]).permutation(len(members))]
        rank[shuffled] = np.arange(len(members))
    return np.lexsort((labels, rank))  # by round, then class


def known_labels(dataset: Dataset) -> np.ndarray | None:
    """Every item's label when it is known without decoding (file lists, tensor datasets)."""
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels, dtype=np.int64)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        return dataset.tensors[1].numpy().astype(np.int64)
    return None


def resolve_data(data: Data, bundle: ModelBundle) -> Dataset:
    """The dataset of ``(image tensor, label)`` that ``data`` names for ``bundle`` (a
    :class:`~regroup_core.sources.models.ModelBundle`: its classes and preprocessing)."""
    if isinstance(data, Dataset):
        return data
    spec = os.fspath(data)
    if not spec.strip():
        raise DataError("expected 'mnist:<split>', an ImageFolder directory or a 'path label' file list, got ''")
    scheme, colon, split = spec.partition(":")
    if colon and scheme == "cifar10":
        from .cifar10 import cifar10_split

        return cifar10_split(split, bundle.preprocess, bundle.class_names, bundle.name)
    if colon and scheme == "foolbox":
        from .samples import foolbox_samples

        return ImageFiles(foolbox_samples(split, bundle.class_names, bundle.name), bundle.preprocess)
    if colon and scheme == "mnist":
        if split not in MNIST_SPLITS:
            raise DataError(f"expected one of {[f'mnist:{s}' for s in MNIST_SPLITS]}, got '{spec}'")
        if bundle.input_shape != (1, 28, 28) or bundle.num_classes != 10:
            raise DataError(f"expected a model taking MNIST digits (1×28×28, 10 classes) for '{spec}', got "
                            f"{bundle.name} with input {bundle.input_shape} and {bundle.num_classes} classes")
        return mnist_split(split)
    path = Path(spec)
    if path_kind(path, DataError, "an ImageFolder directory or a file list", spec,
                 test=lambda p: p.is_dir() or p.is_file()):
        try:
            return image_files(path, bundle.class_names, bundle.preprocess)
        except UnicodeDecodeError:
            raise DataError(f"expected a text file of 'path label' lines at '{spec}', got a binary file") from None
        except OSError as exc:
            raise DataError(f"expected a readable ImageFolder directory or file list at '{spec}', got "
                            f"{exc.strerror or type(exc).__name__}") from None
    raise DataError(f"expected 'mnist:<split>', an ImageFolder directory or a 'path label' file list, "
                    f"got '{spec}'")


def make_loader(dataset: Dataset, *, batch_size: int = 64, workers: int = 0, shuffle: bool = False,
                seed: int = 0) -> DataLoader:
    """A deterministic loader (seeded shuffle), pinned memory when CUDA is present."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=generator, pin_memory=torch.cuda.is_available())
