"""Tiny deterministic models shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from regroup_core.engine.layers import discover_layers

PMF_ATOL = 1e-5
"""Absolute tolerance for PMFs (and mixtures of PMFs) computed along two paths.

PMFs are float64 but derived from float32 layer outputs. The same image run in another batch
size, chunking or thread count goes through other float32 kernels: each output differs by a
few ulps (float32 eps = 1.2e-7) of the magnitude of the terms it sums, and cancellation in a
layer (a small output of large terms) raises that to ~2e-6 of a PMF row on the tiny test nets.
PMF entries lie in [0, 1] with rows summing to 1, so an absolute 1e-5 is tight (a real bug —
a wrong sample, weight or sign — moves entries by 1e-2 or more) and never flaky.
"""

WEIGHT_RTOL = 1e-5
"""Relative tolerance for sums of softmax probabilities (λ weights) computed along two paths:
float32 logits that differ by a few ulps change each probability by ~1e-6 relative."""


def assert_pmfs_close(actual, expected, atol: float = PMF_ATOL) -> None:
    """PMF-valued tensors/arrays from two computation paths agree (see :data:`PMF_ATOL`)."""
    a = torch.as_tensor(actual, dtype=torch.float64)
    b = torch.as_tensor(expected, dtype=torch.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    worst = float((a - b).abs().max()) if a.numel() else 0.0
    assert worst <= atol, f"PMFs differ by {worst:.3g} > {atol:.1g}"


class HandNet(nn.Module):
    """1×1 conv with hand-set weights, in-place-able ReLU, pool, hand-set fc.

    For the input [[1, -2], [3, -4]]:
      conv ch0 = x        → P = 4,  N = 6
      conv ch1 = 0.5 - x  → P = 7,  N = 3
      pooled relu = [1, 1.75]; fc logits = [1, 1.75, -0.25] → P = [1, 1.75, 0], N = [0, 0, 0.25]
    """

    def __init__(self, inplace: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 0.5]))
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
            self.fc.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


HAND_INPUT = torch.tensor([[1.0, -2.0], [3.0, -4.0]]).view(1, 1, 2, 2)


class SmallNet(nn.Module):
    """A small random CNN with BatchNorm, in-place ReLUs and a residual add (like a ResNet)."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(6)
        self.conv3 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(8, 12)
        self.fc2 = nn.Linear(12, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x.mean(1, keepdim=True)  # in-place add on the tapped BN output, like a bottleneck
        out = self.relu(out)
        out = self.relu(self.conv3(out))
        return self.fc2(self.relu(self.fc1(self.pool(out).flatten(1))))


def make_small(seed: int = 0, num_classes: int = 4) -> SmallNet:
    torch.manual_seed(seed)
    net = SmallNet(num_classes)
    with torch.no_grad():  # non-trivial BN statistics so eval-mode BN is not the identity
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        # calibrate the last layer so that random inputs spread over all classes
        net.eval()
        ref = sample_inputs(256, seed=12345)
        feats = net.relu(net.fc1(net.pool(net.relu(net.conv3(net.relu(
            net.bn2(net.conv2(net.relu(net.bn1(net.conv1(ref)))))
            + ref.mean(1, keepdim=True))))).flatten(1)))
        mu, sd = feats.mean(0), feats.std(0) + 1e-6
        w = torch.randn(net.fc2.out_features, net.fc2.in_features)
        net.fc2.weight.copy_(w / sd)  # logits = standardised features @ w.T: balanced classes
        net.fc2.bias.copy_(-(mu / sd) @ w.T)
    return net.eval()


@pytest.fixture
def small_net() -> SmallNet:
    return make_small()


@pytest.fixture
def small_layers(small_net):
    return discover_layers(small_net)


def sample_inputs(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g)


def self_labelled(net: nn.Module, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images labelled by the net's own prediction, so every sample is 'correct'."""
    x = sample_inputs(n, seed)
    with torch.no_grad():
        y = net(x).argmax(1)
    return x, y


SMALL_CLASSES = ("a", "b", "c", "d")


def small_bundle(seed: int = 0, num_classes: int = 4):
    """SmallNet as a ModelBundle (1×8×8 inputs, classes a–d)."""
    from regroup_core.sources.models import bundle_from_module

    names = SMALL_CLASSES if num_classes == 4 else tuple(str(i) for i in range(num_classes))
    return bundle_from_module(make_small(seed, num_classes), name="small", class_names=names,
                              preprocess=lambda img: torch.zeros(1, 8, 8), input_shape=(1, 8, 8))


def tensor_candidates(x: torch.Tensor, y: torch.Tensor):
    """In-memory fit candidates, in their given order."""
    from regroup_core.run.fit import Candidates

    return Candidates(TensorDataset(x, y), np.arange(len(y)), y.numpy(), "tensors")


def fit_stats(bundle, x: torch.Tensor, y: torch.Tensor, *, per_class: int | None = None, batch_size: int = 16,
              stats=None):
    """The fit's loop (:func:`regroup_core.run.fit.fit_statistics`) over in-memory images."""
    from regroup_core.run.fit import fit_statistics

    return fit_statistics(bundle, tensor_candidates(x, y), per_class=per_class, batch_size=batch_size,
                          stats=stats).stats


def fit_small(bundle, x: torch.Tensor, y: torch.Tensor, **options):
    """Fitted classifiers of ``bundle`` on in-memory images (:func:`regroup_core.run.fit.fit`)."""
    from regroup_core.run.fit import fit

    return fit(bundle, TensorDataset(x, y), **options).classifiers


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test writes its caches (adversarial examples, app files, results) to a directory of
    its own, never to the user's ~/.cache nor to another test's."""
    monkeypatch.setenv("REGROUP_CACHE", str(tmp_path / "regroup-cache"))


def _refuse_remote(connect):
    """``socket.connect`` that lets loopback and Unix sockets through and fails any other address:
    downloads are mocked at their boundary, so a test that reaches the network is a bug."""
    def guarded(sock, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0"):
            raise OSError(f"test tried to reach the network ({host}); mock the download instead")
        return connect(sock, address, *args, **kwargs)
    return guarded


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test opens a connection beyond this machine (see :func:`_refuse_remote`)."""
    import socket

    monkeypatch.setattr(socket.socket, "connect", _refuse_remote(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse_remote(socket.socket.connect_ex))
