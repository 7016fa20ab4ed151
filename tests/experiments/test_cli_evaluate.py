"""``python -m regroup_core evaluate`` on the embedded mnist-vgg: JSON shape, files, errors."""

from __future__ import annotations

import json

from regroup_core.cli import main

CLASSIFIER = "regroup_core/assets/classifiers/mnist-vgg.safetensors"


def test_evaluate_json_shape_and_files(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--attacks", "pgd,boundary",
            "--threat", "all", "--n", "3", "--steps", "2", "--out", str(out), "--json", "--seed", "1"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"rows", "clean", "settings"}
    pairs = [(r["attack"], r["threat"]) for r in payload["rows"]]
    assert pairs == [("pgd", "transfer"), ("pgd", "adaptive"), ("boundary", "transfer"), ("boundary", "blackbox"),
                     ("pgd", "worst"), ("boundary", "worst"), ("all", "worst")]
    row = payload["rows"][0]
    for key in ("attack", "threat", "n_success", "softmax_top1", "regroup_top1", "regroup_top5", "regroup_robust"):
        assert key in row
    assert row["settings"]["params"]["steps"] == 2 and row["settings"]["epsilon_255"] == 4.0
    assert payload["clean"]["n"] == 3 and payload["clean"]["softmax_top1"] == 100.0
    assert payload["settings"]["skipped"] == ["pgd/blackbox", "boundary/adaptive"]
    assert payload["settings"]["cache_misses"] == 4
    assert (out / "results.csv").exists() and json.loads((out / "results.json").read_text())["rows"]
    # a rerun is served by the cache
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["cache_hits"] == 4


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    rc = main(["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--attacks", "pgd,trust-region-l3",
               "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "expected an attack among" in err


def test_epsilon_bounds_fixed_budget_linf_attacks_only(tmp_path, capsys):
    argv = ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--attacks", "pgd,deepfool,pgd-l2",
            "--n", "2", "--steps", "1", "--epsilon", "16", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    rows = {r["attack"]: r["settings"] for r in json.loads(capsys.readouterr().out)["rows"] if r["threat"] != "worst"}
    assert rows["pgd"]["epsilon_255"] == 16.0
    assert rows["deepfool"]["epsilon_255"] is None  # a minimisation attack stays unbounded
    assert rows["pgd-l2"]["epsilon_255"] == 127.5  # an L2 attack keeps its own budget


def test_evaluate_reports_curves_intervals_and_is_deterministic_with_fresh_caches(tmp_path, capsys):
    def run(i):
        argv = ["evaluate", "--model", "mnist-vgg", "--classifier", CLASSIFIER, "--attacks", "pgd,deepfool",
                "--threat", "all", "--n", "3", "--steps", "2", "--epsilon", "32", "--out", str(tmp_path / f"out{i}"),
                "--cache", str(tmp_path / f"cache{i}"), "--json", "--seed", "2"]
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)

    first, second = run(0), run(1)
    assert first["settings"]["cache_hits"] == second["settings"]["cache_hits"] == 0

    def stable(payload):
        return [{k: v for k, v in r.items() if k not in ("seconds", "settings", "cache_hits")} for r in payload["rows"]]

    assert stable(first) == stable(second)
    rows = {(r["attack"], r["threat"]): r for r in first["rows"]}
    pgd = rows[("pgd", "adaptive")]
    assert pgd["bounded"] and len(pgd["regroup_robust_ci"]) == 2 and pgd["zero_gradient_share"] is not None
    assert pgd["settings"]["zero_gradient_share"] == pgd["zero_gradient_share"]
    assert pgd["softmax_success"] == rows[("pgd", "transfer")]["success_rate"]
    df = rows[("deepfool", "transfer")]
    assert df["regroup_robust"] is None and list(df["robust_at"]["regroup"]) == ["0.5", "1", "2", "3", "4"]
    assert set(df["robust_at"]) == {"softmax", "regroup"} and df["l2_median"] is None or df["l2_median"] >= 0
    assert first["clean"]["regroup_ties"] >= 0 and len(first["clean"]["regroup_top1_ci"]) == 2
