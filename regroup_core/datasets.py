"""Data specifications shared by the CLI, the app and the experiments.

A spec is a string:

* ``mnist:train``, ``mnist:selection``, ``mnist:test`` — the embedded offline MNIST splits
  (see :mod:`regroup_core.data.mnist`);
* a text file of ``path label`` lines (see :mod:`regroup_core.data.imagefolder`);
* a directory in ``ImageFolder`` layout (one sub-folder per class), read with the model's own
  preprocessing. Sub-folders named like the model's classes are mapped by name; otherwise
  there must be exactly one per class, in class-index order when sorted (ImageNet's ``nXXXX``
  WordNet ids sort into torchvision's class order).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .errors import DataError
from .images import open_image
from .zoo import ModelBundle

__all__ = ["resolve_data", "make_loader", "default_fit_spec", "default_selection_spec", "default_test_spec"]


def default_fit_spec(bundle: ModelBundle) -> str | None:
    return "mnist:train" if bundle.name.startswith("mnist-") else None


def default_selection_spec(bundle: ModelBundle) -> str | None:
    return "mnist:selection" if bundle.name.startswith("mnist-") else None


def default_test_spec(bundle: ModelBundle) -> str | None:
    return "mnist:test" if bundle.name.startswith("mnist-") else None


class ImageFolderData(Dataset):
    """ImageFolder-layout data decoded with :func:`open_image` and the model's preprocessing."""

    EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}

    def __init__(self, root: Path, bundle: ModelBundle) -> None:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        if not folders:
            raise DataError(f"expected class sub-folders in '{root}', got none")
        names = {n: i for i, n in enumerate(bundle.class_names)}
        if all(f.name in names for f in folders):
            index = {f: names[f.name] for f in folders}
        elif len(folders) == bundle.num_classes:
            index = {f: i for i, f in enumerate(folders)}
        else:
            raise DataError(f"expected {bundle.num_classes} class sub-folders (or folders named like the "
                            f"classes of '{bundle.name}') in '{root}', got {len(folders)}")
        self.samples = [(p, index[f]) for f in folders for p in sorted(f.rglob("*"))
                        if p.suffix.lower() in self.EXTENSIONS]
        if not self.samples:
            raise DataError(f"expected image files under '{root}', got none")
        self.preprocess = bundle.preprocess

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        return self.preprocess(open_image(path)), label


def resolve_data(spec: str, bundle: ModelBundle) -> Dataset:
    """The dataset named by ``spec`` (see module doc)."""
    if spec.startswith("mnist:"):
        from .data.mnist import MNIST_SPLITS, mnist_split

        split = spec.split(":", 1)[1]
        if split not in MNIST_SPLITS:
            raise DataError(f"expected one of {[f'mnist:{s}' for s in MNIST_SPLITS]}, got '{spec}'")
        if bundle.input_shape != (1, 28, 28):
            raise DataError(f"expected a model taking MNIST digits for '{spec}', got {bundle.name} "
                            f"with input {bundle.input_shape}")
        return mnist_split(split)
    root = Path(spec)
    if root.is_dir():
        return ImageFolderData(root, bundle)
    if root.is_file():  # a 'path label' file list (ImageNet-style), read lazily
        from .data.imagefolder import image_files

        return image_files(root, bundle.class_names, bundle.preprocess)
    raise DataError(f"expected 'mnist:<split>', an ImageFolder directory or a 'path label' file list, "
                    f"got '{spec}'")


def make_loader(dataset: Dataset, *, batch_size: int = 64, workers: int = 0, shuffle: bool = False,
                seed: int = 0) -> DataLoader:
    """A deterministic loader (seeded shuffle), pinned memory when CUDA is present."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=generator, pin_memory=torch.cuda.is_available())
