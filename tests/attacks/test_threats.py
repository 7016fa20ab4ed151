"""Threat-model wrappers: the exact REGroup as a model and the differentiable surrogate."""

from __future__ import annotations

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import RegroupScores, SoftRegroup, calibrate_temperature
from regroup_core.attacks.spsa import spsa
from regroup_core.attacks.threats import voter_divergences
from regroup_core.engine.voting import stable_ranks


def test_regroup_scores_argmax_is_the_regroup_label():
    _, defended = tiny()
    x, _ = tiny_batch(16, seed=1)
    scores = RegroupScores(defended)(x)
    assert torch.equal(scores.argmax(1), defended.predict(x).regroup_labels)


@pytest.mark.parametrize("surrogate", ["log-softmax", "soft-borda"])
def test_surrogate_gradients_flow_through_in_place_relu_layers(surrogate):
    # SmallNet taps fc1, whose output an in-place ReLU overwrites: gradients must still be exact
    _, defended = tiny()
    x, y = tiny_batch(4)
    x = x.clone().requires_grad_(True)
    scores = SoftRegroup(defended, calibrate_temperature(defended, x.detach()), surrogate)(x)
    torch.nn.functional.cross_entropy(scores, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_soft_borda_tends_to_the_exact_borda_count():
    _, defended = tiny()
    x, _ = tiny_batch(16, seed=2)
    with torch.no_grad():
        soft = SoftRegroup(defended, 1e-9, "soft-borda")(x)
    with torch.no_grad():  # (B, V, M) from the same (relu-sum) accumulators as the surrogate
        kl = voter_divergences(defended, x, differentiable=True)
    m = kl.shape[-1]
    exact = (m - stable_ranks(kl).to(torch.float32)).sum(1)  # Eq. 7 over the 2k voters
    gaps = (kl.unsqueeze(-1) - kl.unsqueeze(-2)).abs() + torch.eye(m, dtype=kl.dtype)
    clear = gaps.flatten(1).min(1).values > 1e-6  # rows without near-ties must agree exactly
    assert clear.sum() >= 8
    assert torch.allclose(soft[clear], exact[clear], atol=1e-3)
    # and the voters are REGroup's: same argmax as the exact classifier on most images
    assert (soft.argmax(1) == defended.predict(x).regroup_labels).float().mean() >= 0.75


def test_spsa_stays_in_the_ball_and_is_seeded():
    bundle, _ = tiny()
    x, y = tiny_batch(4)
    run = lambda s: spsa(bundle.model, x, y, epsilon=0.1, steps=3, samples=4,  # noqa: E731
                         generator=torch.Generator().manual_seed(s))
    a, b = run(1), run(1)
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1
