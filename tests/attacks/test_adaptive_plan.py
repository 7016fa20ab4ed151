"""The adaptive plan on REGroup: exact decision after every step, first fooling iterate kept,
per-image worst case over the runs, APGD's schedule, the exact-vote search, own generators."""

from __future__ import annotations

import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import run_attack
from regroup_core.attacks.adaptive import regroup_fooled
from regroup_core.attacks.adaptive_plan import AdaptivePlan, run_plan, runs
from regroup_core.attacks.apgd import apgd, checkpoints
from regroup_core.attacks.exact_search import exact_search
from regroup_core.attacks.specs import Norm


def test_plan_names_and_order():
    plan = AdaptivePlan(restarts=2, target_classes=2)
    assert [r.name for r in runs(plan, transfer_start=True, targeted=False)] == [
        "soft-borda/clean", "soft-borda/transfer", "rank/clean", "poe/clean", "target-1/clean", "target-2/clean",
        "soft-borda/random-1", "soft-borda/random-2", "exact-search"]
    assert [r.name for r in runs(AdaptivePlan(restarts=1), transfer_start=False, targeted=True)] == [
        "soft-borda/clean", "rank/clean", "poe/clean", "soft-borda/random-1", "exact-search"]
    # every wrong class, never more than there are
    assert len([r for r in runs(AdaptivePlan(target_classes=9), transfer_start=False, targeted=False,
                                num_classes=4) if r.target_rank]) == 3
    one = AdaptivePlan.for_steps(1)
    assert [r.name for r in runs(one, transfer_start=False, targeted=False)] == ["soft-borda/clean"]
    assert one.steps == 1 and AdaptivePlan.for_steps(40).steps == 100


def test_apgd_checkpoints_follow_the_paper():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_success_is_the_exact_decision_and_stays_in_the_ball():
    _, defended = tiny()
    x, y = tiny_batch(8, seed=21)
    eps = 0.2
    plan = AdaptivePlan(steps=10, target_steps=5, target_classes=2, restarts=1, search_queries=20)
    out = run_plan(defended, x, y, norm="linf", epsilon=eps, plan=plan)
    assert out.fooled.any()
    assert torch.equal(out.fooled, regroup_fooled(defended, out.adversarial, y) | (out.run_index == -2))
    assert (out.adversarial - x).abs().max() <= eps + 1e-6
    assert out.adversarial.min() >= 0 and out.adversarial.max() <= 1
    assert ((out.run_index >= 0) == (out.fooled & (out.run_index != -2))).all()
    assert out.zero_gradient.dtype == torch.bool and not out.zero_gradient.any()
    l2 = run_plan(defended, x, y, norm="l2", epsilon=1.0, plan=AdaptivePlan(steps=5, target_classes=1, restarts=0,
                                                                            search_queries=10))
    assert (l2.adversarial - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-5


def test_apgd_keeps_the_first_fooling_iterate_even_if_a_later_step_undoes_it():
    # A judge that calls image 0 fooled at exactly one iterate (its 3rd call) and never again:
    # APGD must return that iterate, not a later one.
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    w = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    seen: list[torch.Tensor] = []
    calls = {"n": 0}

    def judge(images, idx):
        calls["n"] += 1
        fooled = torch.zeros(len(images), dtype=torch.bool)
        if calls["n"] == 3 and 0 in idx.tolist():
            fooled[idx.tolist().index(0)] = True
            seen.append(images[idx.tolist().index(0)].detach().clone())
        return fooled

    loss = lambda xs, idx: torch.sin(7 * (xs * w).flatten(1).sum(1))  # keeps the iterates moving  # noqa: E731
    out = apgd(loss, judge, x, torch.zeros_like(x), norm=Norm.LINF, epsilon=0.3, steps=8)
    assert out.fooled.tolist() == [True, False]
    assert torch.equal(out.adversarial[0], seen[0])
    never = apgd(loss, lambda images, idx: torch.zeros(len(images), dtype=torch.bool), x, torch.zeros_like(x),
                 norm=Norm.LINF, epsilon=0.3, steps=8)
    assert not torch.equal(never.adversarial[0], seen[0])  # it would have moved on
    assert (never.adversarial - x).abs().max() <= 0.3 + 1e-6


def test_apgd_climbs_a_smooth_loss_to_the_corner_of_the_ball():
    x = torch.full((1, 1, 3, 3), 0.5)
    w = torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    out = apgd(lambda xs, idx: (xs * w).flatten(1).sum(1), lambda xs, idx: torch.zeros(len(xs), dtype=torch.bool),
               x, torch.zeros_like(x), norm=Norm.LINF, epsilon=0.1, steps=20)
    assert torch.allclose(out.adversarial - x, 0.1 * w.sign(), atol=1e-6)


def test_exact_search_only_moves_within_the_ball_and_judges_exactly():
    _, defended = tiny()
    x, y = tiny_batch(6, seed=25)
    g = torch.Generator().manual_seed(0)
    adv, fooled, used = exact_search(defended, x, x.clone(), y, None, norm=Norm.LINF, epsilon=0.3, queries=60,
                                     generator=g)
    assert (adv - x).abs().max() <= 0.3 + 1e-6 and used >= len(x)
    assert torch.equal(fooled, regroup_fooled(defended, adv, y))
    assert fooled.any()  # a large budget: the search alone fools some of the tiny model's images


def test_seeded_random_starts_use_their_own_generator():
    _, defended = tiny()
    x, y = tiny_batch(4, seed=23)
    state = torch.get_rng_state()
    plan = AdaptivePlan(steps=2, losses=("soft-borda",), target_classes=0, restarts=2, search_queries=5)
    run = lambda s: run_plan(defended, x, y, norm="linf", epsilon=0.05, plan=plan,  # noqa: E731
                             generator=torch.Generator().manual_seed(s))
    a, b = run(1), run(1)
    assert torch.equal(a.adversarial, b.adversarial) and torch.equal(a.run_index, b.run_index)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was never drawn from


def test_run_attack_adaptive_pgd_records_its_plan_and_gradient_sanity():
    bundle, defended = tiny()
    x, y = tiny_batch(6, seed=24)
    r = run_attack(bundle, x, y, "pgd", threat="adaptive", defended=defended, epsilon_255=60.0, steps=4, seed=2)
    assert r.settings["adaptive"]["runs"][:2] == ["soft-borda/clean", "soft-borda/transfer"]
    assert r.settings["adaptive"]["plan"]["steps"] == 10 and r.settings["adaptive"]["plan"]["target_classes"] == 9
    assert "exact REGroup" in r.settings["success_judged_by"]
    assert set(r.per_sample) >= {"adaptive_run", "zero_gradient"}
    assert torch.equal(r.success, regroup_fooled(defended, r.adversarial, y))
    assert (r.adversarial - x).abs().max() <= 60 / 255 + 1e-6


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


def test_the_plan_names_each_run_to_whoever_listens_in_its_own_thread_only():
    import threading

    from regroup_core.run.progress import listen_steps, report_step

    _, defended = tiny()
    x, y = tiny_batch(4, seed=21)
    plan = AdaptivePlan(steps=3, target_steps=2, target_classes=1, restarts=0, search_queries=5)
    heard: list[tuple[int, int, str]] = []
    other: list[str] = []

    def elsewhere() -> None:  # another session's thread: steps reported there are not heard here
        report_step(0, 1, "another session's step")
        other.append("ran")

    with listen_steps(lambda done, total, msg: heard.append((done, total, msg))):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        out = run_plan(defended, x, y, norm="linf", epsilon=0.2, plan=plan)
    names = [r.name for r in runs(plan, transfer_start=False, targeted=False)]
    assert other == ["ran"] and heard, heard
    assert all(msg.startswith(f"adaptive plan, run {done + 1} of {len(names)} ({names[done]})")
               for done, _, msg in heard)
    assert [done for done, _, _ in heard] == list(range(len(heard)))
    assert len(heard) == len(names) or out.fooled.all()  # every run named, unless all images fell early
    report_step(0, 1, "nobody listens")  # outside the block: nothing happens, nothing fails
