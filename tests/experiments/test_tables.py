"""Experiment tables on a tiny model: shapes, consistency and determinism."""

from __future__ import annotations

import functools

import pandas as pd
import torch
from tiny_defended import tiny, tiny_batch
from torch.utils.data import TensorDataset

from regroup_core.experiments import (
    attack_table,
    clean_summary,
    epsilon_sweep,
    k_ablation,
    layer_accuracy,
    run_suite,
    select_correct,
    timing,
    variant_ablation,
    voting_rules,
)

OPTIONS = {"pgd": {"steps": 2, "epsilon_255": 60.0}, "deepfool": {"steps": 3}, "boundary": {"steps": 3}}


def _test_images():
    bundle, defended = tiny()
    x, y = tiny_batch(10, seed=11)
    x = torch.cat([x, torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(5))])  # seeded: same set every call
    y = torch.cat([y, (y[:4] + 1) % 4])  # 4 images likely wrong: selection must skip wrong ones
    return select_correct(bundle, TensorDataset(x, y), 6, seed=1, defended=defended)


@functools.lru_cache(maxsize=1)
def _suite():
    bundle, defended = tiny()
    return run_suite(bundle, defended, _test_images(), attacks=list(OPTIONS),
                     threats=["transfer", "blackbox", "adaptive"], seed=0, chunk_size=4, attack_options=OPTIONS)


def test_select_correct_keeps_only_correctly_classified_images():
    bundle, _ = tiny()
    test = _test_images()
    assert len(test.labels) == 6 and len(test.ids) == 6
    with torch.no_grad():
        assert torch.equal(bundle.model(test.images).argmax(1), test.labels)
    assert test.n_scanned == 14 and 0 < test.softmax_top1_all <= 100


def test_attack_table_rows_and_columns():
    suite = _suite()
    table = attack_table(suite)
    runs = table[~table.threat.eq("worst")]
    assert list(zip(runs.attack, runs.threat)) == [("pgd", "transfer"), ("pgd", "adaptive"), ("deepfool", "transfer"),
                                                   ("deepfool", "adaptive"), ("boundary", "transfer"),
                                                   ("boundary", "blackbox")]
    assert suite.settings["skipped"] == ["pgd/blackbox", "deepfool/blackbox", "boundary/adaptive"]
    worst = table[table.threat.eq("worst")]
    assert list(worst.attack) == ["pgd", "deepfool", "boundary", "all"]
    for col in ("n_success", "softmax_top1", "regroup_top1", "regroup_top5", "regroup_robust", "settings"):
        assert col in table.columns
    assert (runs.n == 6).all() and (runs.n_success <= 6).all()
    # transfer #S are softmax failures by definition; the worst case is never above any threat model
    transfer = runs[runs.threat.eq("transfer") & (runs.n_success > 0)]
    assert (transfer.softmax_top1 == 0).all()
    for attack in ("pgd", "deepfool", "boundary"):
        assert worst.set_index("attack").regroup_robust[attack] <= runs[runs.attack.eq(attack)].regroup_robust.min()
    clean = clean_summary(suite)
    assert clean["n"] == 6 and clean["softmax_top1"] == 100.0


def test_ablation_tables_shapes():
    suite = _suite()
    n_layers = len(suite.clean.layers)
    n_rows = 1 + len(suite.runs)  # clean + every run
    k = k_ablation(suite)
    assert len(k) == n_rows * n_layers and k.chosen_k.sum() == n_rows
    # the chosen-k row equals the attack table's REGroup top-1
    table = attack_table(suite).set_index(["attack", "threat"])
    row = k[k.chosen_k & k.attack.eq("pgd") & k.threat.eq("transfer")].iloc[0]
    expected = table.loc[("pgd", "transfer"), "regroup_top1"]
    assert row.regroup_top1 == expected or (pd.isna(row.regroup_top1) and pd.isna(expected))
    assert len(layer_accuracy(suite)) == n_rows * n_layers
    v = variant_ablation(suite)
    assert len(v) == n_rows * 3 and set(v.variant) == {"pos", "neg", "pos+neg"}
    r = voting_rules(suite)
    assert len(r) == n_rows * 3 and set(r.rule) == {"borda", "plurality", "copeland"}


def test_experiments_are_deterministic_with_a_seed():
    bundle, defended = tiny()
    again = run_suite(bundle, defended, _test_images(), attacks=list(OPTIONS),
                      threats=["transfer", "blackbox", "adaptive"], seed=0, chunk_size=4, attack_options=OPTIONS)
    drop = ["seconds", "settings", "cache_hits"]
    pd.testing.assert_frame_equal(attack_table(again).drop(columns=drop), attack_table(_suite()).drop(columns=drop))


def test_epsilon_sweep_and_timing():
    bundle, defended = tiny()
    test = _test_images()
    sweep = epsilon_sweep(bundle, defended, test, epsilons_255=[8, 76.5], threats=["transfer", "adaptive"], steps=2)
    assert list(sweep.epsilon_255) == [8.0, 8.0, 76.5, 76.5] and list(sweep.threat) == ["transfer", "adaptive"] * 2
    assert sweep.epsilon.tolist() == [8 / 255, 8 / 255, 0.3, 0.3]
    t = timing(bundle, defended, test.images, repeats=2, devices=["cpu"])
    assert list(t.method) == ["softmax", "regroup"] and (t.seconds_per_batch > 0).all()
