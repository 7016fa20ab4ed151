"""The self-test on the embedded models, through the CLI: the adaptive plan passes, one step fails."""

from __future__ import annotations

import json

import pytest

from regroup_core.cli import main


@pytest.mark.slow
@pytest.mark.parametrize(("model", "epsilon"), [("mnist-vgg", "32"), ("mnist-resnet", "16")])
def test_selftest_json_passes_for_the_plan_and_fails_for_the_one_step_attack(capsys, model, epsilon):
    argv = ["selftest", "--model", model, "--classifier", f"regroup_core/assets/classifiers/{model}.safetensors",
            "--attacks", "pgd", "--epsilons", epsilon, "--n", "20", "--json"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["passed"] and plan["rows"][0]["verdict"] == "PASS" and plan["rows"][0]["tasks"] >= 15
    assert main([*argv, "--steps", "1"]) == 1
    one = json.loads(capsys.readouterr().out)
    assert not one["passed"] and one["rows"][0]["verdict"] == "WEAK"
    assert one["rows"][0]["tasks"] == plan["rows"][0]["tasks"]  # the same tasks, only the attack differs
