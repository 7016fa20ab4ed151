"""CIFAR-10 (``cifar10:train``, ``cifar10:test``) through torchvision's ``CIFAR10``.

The images are not shipped (170 MB): on a machine with network access the first use downloads
them once (the size is printed first) into :func:`cifar10_dir`; offline, one error says where to
put the files, or how to pass a folder instead. torchvision checks each batch file's MD5 before
reading it, so only the official files are ever unpickled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError, one_line

__all__ = ["CIFAR10_BYTES", "CIFAR10_ENV", "CIFAR10_SPLITS", "CIFAR10_URL", "Cifar10", "cifar10_dir",
           "cifar10_present", "cifar10_split"]

CIFAR10_ENV = "REGROUP_CIFAR10"
"""A folder holding ``cifar-10-batches-py`` (or where to download it)."""
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_BYTES = 170_498_071
CIFAR10_SPLITS = ("train", "test")


def cifar10_dir() -> Path:
    """``$REGROUP_CIFAR10``, else ``data/cifar10`` in the cache folder (``$REGROUP_CACHE``,
    ``$XDG_CACHE_HOME/regroup-explorer`` or ``~/.cache/regroup-explorer``)."""
    if os.environ.get(CIFAR10_ENV):
        return Path(os.environ[CIFAR10_ENV]).expanduser()
    if os.environ.get("REGROUP_CACHE"):
        cache = Path(os.environ["REGROUP_CACHE"])
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "regroup-explorer"
    return cache / "data" / "cifar10"


def cifar10_present(folder: Path | None = None) -> bool:
    return ((folder or cifar10_dir()) / "cifar-10-batches-py" / "batches.meta").is_file()


def fetch_archive(folder: Path) -> None:
    """The network boundary (tests monkeypatch this): download and extract the archive."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR10_URL, str(folder), md5="c58f30108f718f92721af3b95e74349a")


def _ensure(folder: Path) -> None:
    if cifar10_present(folder):
        return
    print(f"downloading CIFAR-10 ({CIFAR10_BYTES / 1e6:.0f} MB) into '{folder}' (once)", file=sys.stderr)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fetch_archive(folder)
    except Exception as exc:  # noqa: BLE001 - offline, a proxy, a full disk...
        raise DataError(f"expected CIFAR-10 in '{folder}' (the folder cifar-10-batches-py), got none and the "
                        f"download ({CIFAR10_BYTES / 1e6:.0f} MB from {CIFAR10_URL}) failed: {type(exc).__name__}: "
                        f"{one_line(exc, 120)}; extract that archive there, set {CIFAR10_ENV}=FOLDER, or pass "
                        "--data with an ImageFolder directory of 32×32 images") from None


class Cifar10(Dataset):
    """A CIFAR-10 split as ``(preprocess(image), label)``; ``labels`` known without decoding."""

    def __init__(self, split: str, preprocess, folder: Path | None = None) -> None:  # noqa: ANN001
        from torchvision.datasets import CIFAR10

        folder = folder or cifar10_dir()
        _ensure(folder)
        try:
            self.data = CIFAR10(str(folder), train=split == "train", download=False)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
            raise DataError(f"expected the official CIFAR-10 files in '{folder / 'cifar-10-batches-py'}', got "
                            f"{one_line(exc, 120)}; delete the folder to download them again") from None
        self.labels = np.asarray(self.data.targets, dtype=np.int64)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image, label = self.data[i]
        return self.preprocess(image), int(label)


def cifar10_split(split: str, preprocess, class_names, name: str) -> Cifar10:  # noqa: ANN001
    """``cifar10:<split>`` for a model with ``class_names`` (10 classes, CIFAR-10's order)."""
    if split not in CIFAR10_SPLITS:
        raise DataError(f"expected one of {[f'cifar10:{s}' for s in CIFAR10_SPLITS]}, got 'cifar10:{split}'")
    if len(class_names) != 10:
        raise DataError(f"expected a model with CIFAR-10's 10 classes for 'cifar10:{split}', got {name} with "
                        f"{len(class_names)} classes")
    return Cifar10(split, preprocess)
