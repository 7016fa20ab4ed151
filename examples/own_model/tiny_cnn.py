"""An own architecture for REGroup: a tiny CNN for 32×32 RGB pictures (the factory that
``model.toml`` names). Its weights come from ``train.py`` (a few seconds on a CPU)."""

from __future__ import annotations

from torch import nn


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=4), nn.Hardswish(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(32, num_classes)  # the classifier need not be called 'fc'

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.head(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 3) -> TinyCNN:
    """The factory: ``factory = "tiny_cnn:build"`` in model.toml."""
    return TinyCNN(num_classes)
