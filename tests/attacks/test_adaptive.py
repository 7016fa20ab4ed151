"""The adaptive PGD on REGroup: exact decision after every step, first fooling iterate kept,
per-image worst case over the plan's runs, own generators, gradient sanity figure."""

from __future__ import annotations

import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import adaptive, run_attack
from regroup_core.attacks.adaptive import adaptive_pgd, plan, regroup_fooled, step_sizes


def test_plan_names_and_order():
    names = [r.name for r in plan(restarts=2, runner_up_targets=2, transfer_start=True)]
    assert names == ["margin/clean", "margin/transfer", "target-1/clean", "target-2/clean", "margin/random-1",
                     "margin/random-2"]
    assert [r.name for r in plan(restarts=1, runner_up_targets=3, transfer_start=False, targeted=True)] == [
        "target/clean", "target/random-1"]
    sizes = step_sizes(0.1, 10)
    assert len(sizes) == 10 and sizes[0] == 0.025 and sizes[-1] == 0.004


def test_success_is_the_exact_decision_and_stays_in_the_ball():
    _, defended = tiny()
    x, y = tiny_batch(8, seed=21)
    eps = 0.2
    out = adaptive_pgd(defended, x, y, norm="linf", epsilon=eps, steps=10, restarts=1, runner_up_targets=2)
    assert out.fooled.any()
    assert torch.equal(out.fooled, regroup_fooled(defended, out.adversarial, y) | (out.run_index == -2))
    assert (out.adversarial - x).abs().max() <= eps + 1e-6
    assert out.adversarial.min() >= 0 and out.adversarial.max() <= 1
    assert ((out.run_index >= 0) == (out.fooled & (out.run_index != -2))).all()
    assert out.zero_gradient.dtype == torch.bool and not out.zero_gradient.any()
    l2 = adaptive_pgd(defended, x, y, norm="l2", epsilon=1.0, steps=5, restarts=0, runner_up_targets=1)
    assert (l2.adversarial - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-5


def test_the_first_fooling_iterate_is_kept_even_if_a_later_step_undoes_it(monkeypatch):
    # A judge that calls image 0 fooled at exactly one iterate (the 3rd check) and never again:
    # the attack must return that iterate, not a later one that the judge would reject.
    _, defended = tiny()
    x, y = tiny_batch(8, seed=22)
    keep = defended.predict(x).regroup_correct(y).nonzero().squeeze(1)[:2]
    x, y = x[keep], y[keep]
    seen: list[torch.Tensor] = []
    calls = {"n": 0}

    def judge(defended_, images, labels, targets=None):
        calls["n"] += 1
        fooled = torch.zeros(len(images), dtype=torch.bool)
        if calls["n"] == 3 and len(images) == 2:
            fooled[0] = True
            seen.append(images[0].detach().clone())
        return fooled

    monkeypatch.setattr(adaptive, "regroup_fooled", judge)
    out = adaptive_pgd(defended, x, y, norm="linf", epsilon=0.3, steps=6, restarts=0, runner_up_targets=0)
    assert out.fooled.tolist() == [True, False] and out.run_index.tolist() == [0, -1]
    assert torch.equal(out.adversarial[0], seen[0])
    # the unpatched attack would have moved image 0 further: the kept iterate is not the last one
    monkeypatch.setattr(adaptive, "regroup_fooled", lambda *a, **k: torch.zeros(len(a[1]), dtype=torch.bool))
    never = adaptive_pgd(defended, x, y, norm="linf", epsilon=0.3, steps=6, restarts=0, runner_up_targets=0)
    assert not torch.equal(never.adversarial[0], seen[0])


def test_seeded_random_starts_use_their_own_generator():
    _, defended = tiny()
    x, y = tiny_batch(4, seed=23)
    state = torch.get_rng_state()
    run = lambda s: adaptive_pgd(defended, x, y, norm="linf", epsilon=0.05, steps=2, restarts=2,  # noqa: E731
                                 runner_up_targets=0, generator=torch.Generator().manual_seed(s))
    a, b = run(1), run(1)
    assert torch.equal(a.adversarial, b.adversarial) and torch.equal(a.run_index, b.run_index)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was never drawn from


def test_run_attack_adaptive_pgd_records_its_plan_and_gradient_sanity():
    bundle, defended = tiny()
    x, y = tiny_batch(6, seed=24)
    r = run_attack(bundle, x, y, "pgd", threat="adaptive", defended=defended, epsilon_255=60.0, steps=5, seed=2)
    assert r.settings["adaptive"]["runs"][:2] == ["margin/clean", "margin/transfer"]
    assert "exact REGroup" in r.settings["success_judged_by"]
    assert set(r.per_sample) >= {"adaptive_run", "zero_gradient"}
    assert torch.equal(r.success, regroup_fooled(defended, r.adversarial, y))
    assert (r.adversarial - x).abs().max() <= 60 / 255 + 1e-6
    # a stronger attack on the same images is never weaker: the runs only add successes
    weak = run_attack(bundle, x, y, "pgd", threat="adaptive", defended=defended, epsilon_255=60.0, steps=5, seed=2,
                      restarts=0, runner_up_targets=0, transfer_start=False)
    assert not (weak.success & ~r.success).any()


def test_regroup_fooled_counts_a_borda_tie_as_fooled_and_a_tied_target_as_not_reached(monkeypatch):
    # image 0: classes 0 and 1 tie on the Borda count (the tie-break by index names 0, the label);
    # image 1: class 0 wins outright
    from regroup_core.engine import Variant
    from regroup_core.engine.layers import LayerInfo, LayerKind
    from regroup_core.engine.predictor import Prediction

    _, defended = tiny()
    layer = LayerInfo("fc", LayerKind.FC, 3, 0, "fc")
    pos = torch.tensor([[[1, 2, 3]], [[1, 2, 3]]], dtype=torch.int32)
    neg = torch.tensor([[[2, 1, 3]], [[1, 2, 3]]], dtype=torch.int32)
    pred = Prediction(layers=(layer,), logits=torch.zeros(2, 3), pos_ranks=pos, neg_ranks=neg, k=1,
                      variant=Variant.BOTH)
    monkeypatch.setattr(defended, "predict", lambda x, **kw: pred)
    x = torch.zeros(2, 1, 4, 4)
    assert regroup_fooled(defended, x, torch.tensor([0, 0])).tolist() == [True, False]
    assert regroup_fooled(defended, x, torch.tensor([0, 0]), targets=torch.tensor([0, 0])).tolist() == [False, True]
