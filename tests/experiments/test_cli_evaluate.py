"""``python -m regroup_core evaluate`` on the embedded mnist-vgg: JSON shape, files, errors."""

from __future__ import annotations

import json

from regroup_core.cli import main

CLASSIFIER = "assets/classifiers/mnist-vgg.safetensors"


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
