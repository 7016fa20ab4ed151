"""The binarization self-test: tasks with a known adversarial, and attacks that pass or fail it."""

from __future__ import annotations

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import selftest
from regroup_core.attacks.selftest import (
    MIN_TASKS,
    build_task,
    plant,
    preset_attack,
    selftest_attack,
    verdict,
)


def _task(i: int = 0, eps: float = 32 / 255):
    bundle, defended = tiny()
    x, y = tiny_batch(12, seed=31)
    task = build_task(defended, x[i:i + 1], int(y[i]), eps, torch.Generator().manual_seed(i))
    return defended, x[i:i + 1], int(y[i]), task


def test_a_task_has_a_known_adversarial_within_the_budget_and_only_two_classes_vote():
    defended, x, y, task = _task()
    assert isinstance(task, selftest.Task)
    assert (task.planted - x).abs().max() <= 32 / 255 + 1e-6
    before, after = task.defended.predict(x), task.defended.predict(task.planted)
    assert before.regroup_correct(torch.tensor([y])).item()              # x is still y's, outright
    assert int(after.regroup_labels[0]) == task.target and not after.regroup_tied[0]  # x* is t's
    assert set(task.defended.classifiers.excluded) == set(range(4)) - {y, task.target}
    assert defended.classifiers.excluded == ()  # the original classifier is untouched


def test_an_attack_that_does_nothing_fails_and_an_oracle_passes():
    _, defended = tiny()
    x, y = tiny_batch(12, seed=31)
    nothing = selftest_attack(defended, x, y, lambda d, xi, yi, e: xi.clone(), name="nothing", epsilon_255=32)
    assert nothing.tasks >= MIN_TASKS and nothing.found == 0 and nothing.verdict == "WEAK"
    # the oracle: the planted point itself (rebuilt from the same generator as the test's)
    planted = {}
    original = selftest.build_task

    def spy(defended_, xi, yi, eps, g):
        task = original(defended_, xi, yi, eps, g)
        if isinstance(task, selftest.Task):
            planted[id(task.defended)] = task.planted
        return task

    selftest.build_task = spy
    try:
        oracle = selftest_attack(defended, x, y, lambda d, xi, yi, e: planted[id(d)], name="oracle", epsilon_255=32)
    finally:
        selftest.build_task = original
    assert oracle.found == oracle.tasks and oracle.verdict == "PASS"


def test_an_adversarial_outside_the_budget_does_not_count():
    _, defended = tiny()
    x, y = tiny_batch(12, seed=31)
    far = selftest_attack(defended, x, y, lambda d, xi, yi, e: (1 - xi), name="far", epsilon_255=32)
    assert far.found == 0


def test_the_one_step_attack_fails_and_the_full_plan_passes():
    bundle, defended = tiny()
    x, y = tiny_batch(12, seed=31)
    one = selftest_attack(defended, x, y, preset_attack(bundle, "pgd", steps=1), name="pgd/1", epsilon_255=16)
    full = selftest_attack(defended, x, y, preset_attack(bundle, "pgd", steps=8), name="pgd/8", epsilon_255=16)
    assert one.tasks == full.tasks >= MIN_TASKS
    assert one.verdict == "WEAK" and full.verdict == "PASS"


def test_verdict_thresholds():
    assert verdict(19, 20) == "PASS" and verdict(18, 20) == "WEAK"
    assert verdict(MIN_TASKS - 1, MIN_TASKS - 1) == "UNTESTED"


def test_plant_is_seeded_and_in_the_ball():
    _, defended = tiny()
    x, y = tiny_batch(1, seed=31)
    a = plant(defended, x, int(y[0]), 0.1, torch.Generator().manual_seed(5))
    b = plant(defended, x, int(y[0]), 0.1, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] != int(y[0])
    assert (a[0] - x).abs().max() <= 0.1 + 1e-6


def test_attacks_that_cannot_aim_at_regroup_are_refused():
    from regroup_core.errors import DataError

    bundle, _ = tiny()
    with pytest.raises(DataError, match="aim at REGroup"):
        preset_attack(bundle, "spatial")
