"""What the project knows about a model before loading its weights (:class:`ModelSpec`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["OFFLINE_DATA", "ModelKind", "ModelSpec"]

OFFLINE_DATA = ("mnist",)
"""Data spec schemes whose images ship with the project (``cifar10:`` needs a download)."""


class ModelKind(str, enum.Enum):
    """Where a model comes from, which decides how it is built and which weights it takes."""

    EMBEDDED = "embedded"        # shipped weights (assets/models, the pyautoattack package), offline
    TORCHVISION = "torchvision"  # torchvision architecture, weights by enum name from its cache/download
    TIMM = "timm"                # timm architecture, pretrained weights through timm's cache
    ROBUSTBENCH = "robustbench"  # RobustBench architecture, weights through RobustBench
    SPEC = "spec"                # a model spec file (model.toml): the user's own architecture
    USER = "user"                # a module the caller built (bundle_from_module)


@dataclass(frozen=True)
class ModelSpec:
    """What the project knows about a model before loading it.

    Attributes:
        name: the model id: the canonical text of its reference (``mnist-vgg``,
            ``torchvision:mobilenet_v3_small``, ``spec:/abs/model.toml``...).
        kind: :class:`ModelKind`.
        input_shape: (C, H, W) the model takes, values in ``bounds``.
        fit_data, selection_data, test_data: default data specs (``mnist:train``, ``cifar10:test``...),
            None where none is known (ImageNet: pass a folder).
        sample_set: foolbox's bundled sample set matching the model (``mnist``, ``cifar10``,
            ``imagenet``), None when there is none.
        demo_epsilon_255: an L∞ budget (0–255 scale) at which a PGD attack on the softmax
            succeeds on most images: the paper's 4/255 for ImageNet photos, 8/255 for CIFAR-10,
            32/255 for MNIST digits.
        epsilon_grid_255: the L∞ budgets of default ε sweeps.
        class_names: the M class names (empty where only loading tells).
        mean, std: per-channel normalisation inside the model (None: the network takes [0, 1]).
        resize: short side an image is resized to before the centre crop to ``input_shape``.
        interpolation: resize interpolation (``bilinear``, ``bicubic``...).
        mnist_input: images are converted like MNIST digits (gray, white on black).
        layers: module names to tap, when the model's metadata fixes them (a spec's ``layers``).
        weights: the weights this description is for (``embedded``, an enum name, ``pretrained``,
            ``random``, a file path).
        weights_choices: the named weights ``--weights`` takes besides a file.
        top1: top-1 accuracy (fraction) of these weights, when known without loading them.
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
    class_names: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None
    interpolation: str = "bilinear"
    mnist_input: bool = False
    layers: tuple[str, ...] | None = None
    weights: str = ""
    weights_choices: tuple[str, ...] = ()
    top1: float | None = None

    @property
    def ships_data(self) -> bool:
        """Whether test data ships with the project (so experiments run offline)."""
        return self.test_data is not None and self.test_data.partition(":")[0] in OFFLINE_DATA

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
