"""Taps: exact accumulators, in-place ReLU safety, hook hygiene, thread isolation."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import HAND_INPUT, HandNet, make_small
from torch import nn

from regroup_core.engine.layers import discover_layers
from regroup_core.engine.taps import capture, reduce_accumulators
from regroup_core.errors import DataError, LayerError


@pytest.mark.parametrize("inplace", [True, False])
def test_exact_accumulators_survive_inplace_relu(inplace):
    net = HandNet(inplace=inplace).eval()
    layers = discover_layers(net)
    assert [layer.name for layer in layers] == ["conv", "fc"]
    acc = capture(net, HAND_INPUT, layers)
    # negative pre-activations (N > 0) survive although ReLU later overwrites the conv output
    assert acc.pos["conv"].tolist() == [[4.0, 7.0]]
    assert acc.neg["conv"].tolist() == [[6.0, 3.0]]
    assert torch.allclose(acc.pos["fc"], torch.tensor([[1.0, 1.75, 0.0]]))
    assert torch.allclose(acc.neg["fc"], torch.tensor([[0.0, 0.0, 0.25]]))
    assert torch.allclose(acc.logits, torch.tensor([[1.0, 1.75, -0.25]]))


def test_stored_reference_would_be_corrupted_by_inplace_relu():
    """Why we reduce inside the hook: the tensor the hook sees is overwritten later."""
    net = HandNet(inplace=True).eval()
    seen = []
    handle = net.conv.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        net(HAND_INPUT)
    handle.remove()
    assert (seen[0] >= 0).all()  # post-ReLU: the negatives are gone


def test_bn_output_tapped_before_residual_inplace_add(small_net):
    layers = discover_layers(small_net)
    assert [layer.name for layer in layers] == ["bn1", "bn2", "conv3", "fc1", "fc2"]
    x = torch.rand(3, 1, 8, 8)
    acc = capture(small_net, x, layers)
    with torch.no_grad():
        pre = small_net.bn2(small_net.conv2(torch.relu(small_net.bn1(small_net.conv1(x)))))
    assert torch.allclose(acc.pos["bn2"], pre.clamp(min=0).sum((2, 3)), atol=1e-5)
    assert torch.allclose(acc.neg["bn2"], (-pre).clamp(min=0).sum((2, 3)), atol=1e-5)
    assert (acc.neg["bn2"] > 0).any()


def test_zero_parts_stay_exact_zeros_in_the_fast_path():
    """Dead (all-negative) and all-positive channels: P or N is exactly 0, not rounding noise."""
    torch.manual_seed(1)
    x = torch.randn(3, 4, 9, 9) * 100
    x[0, 1] = x[0, 1].abs() + 1e-3          # all positive: N = 0
    x[2, 3] = -(x[2, 3].abs() + 1e-3)       # dead channel: P = 0
    x[2, 0] = 0.0                            # all zero: both parts 0
    for big in (x, torch.nn.functional.interpolate(x, size=(40, 40))):  # abs().sum and vector_norm paths
        pos, neg = reduce_accumulators(big)
        assert neg[0, 1] == 0 and pos[2, 3] == 0 and pos[2, 0] == 0 and neg[2, 0] == 0
        exact_pos, exact_neg = big.clamp(min=0).sum((2, 3)), (-big).clamp(min=0).sum((2, 3))
        assert torch.allclose(pos, exact_pos, rtol=1e-5) and torch.allclose(neg, exact_neg, rtol=1e-5)


def test_fast_and_differentiable_reductions_agree():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 7, 7)
    fast = reduce_accumulators(x)
    slow = reduce_accumulators(x.clone().requires_grad_(), differentiable=True)
    assert torch.allclose(fast[0], slow[0], atol=1e-5) and torch.allclose(fast[1], slow[1], atol=1e-5)
    assert (fast[0] >= 0).all() and (fast[1] >= 0).all()


def test_differentiable_capture_has_gradients_through_inplace_relu(small_net):
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    acc = capture(small_net, x, discover_layers(small_net), differentiable=True)
    (acc.pos["bn2"].sum() + acc.neg["bn1"].sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_hooks_removed_after_success_and_after_error(small_net):
    layers = discover_layers(small_net)
    capture(small_net, torch.rand(1, 1, 8, 8), layers)
    assert all(not m._forward_hooks for m in small_net.modules())
    with pytest.raises(RuntimeError):
        capture(small_net, torch.rand(1, 3, 8, 8), layers)  # wrong channels: forward raises
    assert all(not m._forward_hooks for m in small_net.modules())


def test_bad_inputs_are_clear_errors(small_net):
    layers = discover_layers(small_net)
    with pytest.raises(DataError, match="finite"):
        capture(small_net, torch.full((1, 1, 8, 8), float("nan")), layers)
    with pytest.raises(DataError, match="shape"):
        capture(small_net, torch.rand(8), layers)


def test_reused_module_is_refused():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(self.fc(x))

    net = Twice().eval()
    with pytest.raises(LayerError, match="once"):
        capture(net, torch.rand(2, 3), discover_layers(net))


def test_concurrent_captures_from_two_threads_equal_serial():
    net = make_small(seed=3)
    layers = discover_layers(net)
    inputs = [torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    serial = [capture(net, x, layers) for x in inputs]
    results: dict[int, list] = {0: [], 1: []}
    errors = []
    barrier = threading.Barrier(2)

    def work(i):
        try:
            barrier.wait()
            for _ in range(25):
                results[i].append(capture(net, inputs[i], layers))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in (0, 1):
        for acc in results[i]:
            for layer in layers:
                assert torch.equal(acc.pos[layer.name], serial[i].pos[layer.name])
                assert torch.equal(acc.neg[layer.name], serial[i].neg[layer.name])


@pytest.mark.parametrize("elements", [1 << 10, 1 << 16])
def test_the_workspace_size_does_not_change_a_bit(monkeypatch, elements):
    """The scratch size only decides how many rows one op reduces: every row is still summed whole,
    so the accumulators are the same bits (the size is a speed knob, never a numerical one)."""
    from regroup_core.engine import taps

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 3), nn.Flatten(),
                          nn.Linear(8 * 16 * 16, 4)).eval()
    layers = discover_layers(model)
    x = torch.randn(6, 3, 20, 20)
    reference = capture(model, x, layers)
    monkeypatch.setattr(taps, "WORKSPACE_ELEMENTS", elements)
    other = capture(model, x, layers)
    for name in reference.pos:
        assert torch.equal(reference.pos[name], other.pos[name]) and torch.equal(reference.neg[name], other.neg[name])
