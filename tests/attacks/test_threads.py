"""Seeded attacks give the same result in threads as serially: every stochastic step draws from
a generator of its own, or from the global one under one process-wide lock (``library_rng``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import library_rng, run_attack

CASES = {"pgd": {"steps": 3, "epsilon_255": 60.0}, "boundary": {"steps": 3},
         "spsa": {"steps": 2, "samples": 4, "epsilon_255": 60.0}}


def _attack(job):
    attack, i, x, y = job
    return run_attack(tiny()[0], x[i:i + 1], y[i:i + 1], attack, seed=100 + i, **CASES[attack]).adversarial


def test_eight_threads_match_the_serial_runs():
    x, y = tiny_batch(8, seed=21)
    jobs = [(attack, i, x, y) for attack in CASES for i in range(8)]  # 24 seeded attacks on 8 images
    serial = [_attack(job) for job in jobs]
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=8) as pool:
            parallel = list(pool.map(_attack, jobs))
        mismatched = [jobs[j][:2] for j in range(len(jobs)) if not torch.equal(parallel[j], serial[j])]
        assert not mismatched, mismatched


def test_library_rng_restores_the_callers_generators_and_serialises_draws():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    with library_rng(123):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream continues untouched
    draws: dict[int, torch.Tensor] = {}

    def draw(k: int) -> None:
        with library_rng(5):
            a = torch.rand(2)
            threading.Event().wait(0.01)  # another thread would reseed here without the lock
            draws[k] = torch.cat([a, torch.rand(2)])

    threads = [threading.Thread(target=draw, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with library_rng(123):
        assert torch.equal(torch.rand(3), inside)
    assert all(torch.equal(d, draws[0]) for d in draws.values())
