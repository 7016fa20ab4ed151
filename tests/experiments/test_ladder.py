"""The attacker-knowledge ladder: rungs in order, never going up, minimisation attacks bounded at ε."""

from __future__ import annotations

from tiny_defended import tiny, tiny_batch

from regroup_core.experiments.ladder import LADDER, Rung, format_ladder, ladder, reading
from regroup_core.experiments.suite import TestImages as Images
from regroup_core.store import AdversarialCache

RUNGS = (
    Rung("transfer", "nothing", (("pgd", "transfer"),), (("pgd", "transfer"),), "m1"),
    Rung("decision", "decisions", (("hopskipjump", "blackbox"),), (("hopskipjump", "transfer"),), "m2"),
    Rung("adaptive", "everything", (("pgd", "adaptive"),), (("pgd", "transfer"),), "m3"),
)


def test_ladder_rows_never_go_up_and_name_their_attacks(tmp_path):
    bundle, defended = tiny()
    x, y = tiny_batch(6, seed=51)
    test = Images(images=x, labels=y, ids=tuple(range(6)), source="tiny", n_available=6, n_scanned=6,
                  softmax_top1_all=100.0, regroup_top1_all=None)
    rows = ladder(bundle, defended, test, epsilons_255=(8.0, 48.0), cache=AdversarialCache(tmp_path), rungs=RUNGS)
    assert [(r["epsilon_255"], r["rung"]) for r in rows] == [(e, r.name) for e in (8.0, 48.0) for r in RUNGS]
    for eps in (8.0, 48.0):
        part = [r for r in rows if r["epsilon_255"] == eps]
        reg = [r["regroup_robust"] for r in part]
        assert reg == sorted(reg, reverse=True)
        assert all(lo <= v <= hi for r in part for v, (lo, hi) in [(r["regroup_robust"], r["regroup_robust_ci"])])
    big = [r for r in rows if r["epsilon_255"] == 48.0]
    small = [r for r in rows if r["epsilon_255"] == 8.0]
    assert big[-1]["regroup_robust"] <= small[-1]["regroup_robust"]
    for eps in (8.0, 48.0):  # own figures and added digits add up to the cumulative ones
        part = [r for r in rows if r["epsilon_255"] == eps]
        robust = [round(r["regroup_robust"] * r["n"] / 100) for r in part]
        assert part[0]["regroup_own"] == part[0]["regroup_robust"]
        assert part[0]["regroup_new"] == part[0]["n"] - robust[0]
        for before, now, r in zip(robust, robust[1:], part[1:]):
            assert before - now == r["regroup_new"] and r["regroup_own"] >= r["regroup_robust"]
            assert f"fool {'no digit' if r['regroup_new'] == 0 else r['regroup_new']}" in r["reading"]
        assert all(r["reading"].endswith(".") and "REGroup" in r["reading"] for r in part)
    text = "\n".join(format_ladder(rows))
    assert "| nothing |" in text and "ε = 48/255" in text and "- **decision**: Its own attacks" in text


def test_the_default_ladder_goes_from_transfer_to_adaptive():
    assert [r.name for r in LADDER] == ["transfer", "decision", "score", "feature", "adaptive"]
    assert all(r.meaning.endswith(".") for r in LADDER)
    assert ("pgd", "adaptive") in LADDER[-1].regroup and ("pmf-match", "adaptive") in LADDER[3].regroup


def test_reading_says_when_intervals_overlap_and_which_side_is_above():
    row = {"regroup_robust": 54.0, "regroup_robust_ci": [44.3, 63.4], "softmax_robust": 51.0,
           "softmax_robust_ci": [41.3, 60.6], "regroup_attacks": ["square/blackbox"], "regroup_own": 80.0,
           "regroup_new": 1}
    assert "no measurable difference" in reading(row, first=False) and "fool 1 digit that" in reading(row, first=False)
    apart = {**row, "regroup_robust": 90.0, "regroup_robust_ci": [82.6, 94.5], "regroup_new": 0}
    assert "measurably above the softmax's 51 %" in reading(apart, first=False)
    assert "fool no digit" in reading(apart, first=False)
    assert reading(apart, first=True) == "With its attacks (square/blackbox): REGroup 90 % is measurably above the " \
        "softmax's 51 %."
    assert "far weaker than the rungs below" in reading(row, first=False, below=54.0)  # alone 80 % vs 54 % below
    assert "far weaker" not in reading(row, first=False, below=75.0)
