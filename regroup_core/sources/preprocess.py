"""Preprocessing: a PIL image → a float tensor in [0, 1] of the model's input shape.

Normalisation (mean/std) is never done here: it is a module inside the model
(:class:`~regroup_core.sources.models.Normalize`), so attacks and taps see one input space.
Classes rather than closures, so DataLoader workers started with ``spawn`` can pickle them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from ..errors import ImageError

__all__ = ["ImagenetPreprocess", "ResizeCrop", "imagenet_preprocess", "mnist_preprocess", "preprocess_for"]


def mnist_preprocess(img: Image.Image) -> torch.Tensor:
    """Any image → (1, 28, 28) in [0, 1], white digit on black like MNIST.

    Dark-on-light pictures (a digit drawn on paper) are inverted: the decision uses the mean
    of the border pixels, which are background in any centred digit.
    """
    import numpy as np

    gray = img.convert("L")
    if gray.size != (28, 28):
        gray = gray.resize((28, 28), Image.Resampling.BILINEAR)
    arr = np.asarray(gray, dtype=np.float32) / 255.0
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if border.mean() > 0.5:
        arr = 1.0 - arr
    return torch.from_numpy(arr.copy()).unsqueeze(0)


class ResizeCrop:
    """Resize the short side to ``resize``, centre-crop to ``crop`` (H, W), to a tensor in [0, 1]
    with ``channels`` channels (1: grayscale, 3: RGB). Where nothing is cut away (``resize`` is
    the crop's short side), an image already of the crop size is only converted: a 32×32
    CIFAR picture stays pixel-exact."""

    def __init__(self, resize: int, crop: tuple[int, int], channels: int = 3, interpolation: str = "bilinear") -> None:
        from torchvision.transforms import InterpolationMode, v2

        self.resize, self.crop, self.channels = int(resize), (int(crop[0]), int(crop[1])), int(channels)
        mode = InterpolationMode(interpolation) if interpolation in {m.value for m in InterpolationMode} \
            else InterpolationMode.BILINEAR
        self.transform = v2.Compose([v2.PILToTensor(), v2.Resize(self.resize, interpolation=mode, antialias=True),
                                     v2.CenterCrop(self.crop), v2.ToDtype(torch.float32, scale=True)])
        self.plain = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])

    def __call__(self, img: Image.Image) -> torch.Tensor:
        from .images import max_pixels

        short, long = sorted(img.size)
        resized = self.resize * self.resize * long / max(short, 1)
        if resized > max_pixels():  # a 1×20000 strip would be resized to 256×5 120 000 before the crop
            raise ImageError(f"expected an image whose short side resized to {self.resize} stays within "
                             f"{max_pixels():,} pixels (REGROUP_MAX_IMAGE_PIXELS), got {img.width}x{img.height} "
                             f"(aspect ratio {long / max(short, 1):.0f}:1)")
        img = img.convert("L" if self.channels == 1 else "RGB")
        if (img.height, img.width) == self.crop and self.resize == min(self.crop):
            return self.plain(img)
        return self.transform(img)


class ImagenetPreprocess(ResizeCrop):
    """Resize the short side to 256, centre-crop 224 (torchvision's ImageNet evaluation)."""

    def __init__(self, resize: int = 256, crop: int = 224) -> None:
        super().__init__(resize, (crop, crop))


def imagenet_preprocess(resize: int = 256, crop: int = 224) -> Callable[[Image.Image], torch.Tensor]:
    return ImagenetPreprocess(resize, crop)


def preprocess_for(input_shape: tuple[int, int, int], resize: int | None, interpolation: str = "bilinear",
                   mnist: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """The preprocessing of a model taking ``input_shape`` images (``resize``: short side before
    the centre crop; None → the crop's short side, i.e. no margin cut away)."""
    if mnist:
        return mnist_preprocess
    channels, height, width = input_shape
    return ResizeCrop(resize or min(height, width), (height, width), channels, interpolation)
