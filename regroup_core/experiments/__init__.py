"""The paper's experiments (Tables 2–6, Figs. 2–4/6) and a voting-rule comparison, as tidy tables:
running (:mod:`.suite`, :mod:`.running`), metrics (:mod:`.metrics`) and formatting (:mod:`.formatting`).

    test = select_correct(bundle, "mnist:test", 200, defended=defended)
    suite = run_suite(bundle, defended, test, attacks=["pgd", "deepfool"], threats=["transfer"],
                      cache=AdversarialCache.default(), callback=lambda done, total, msg: ...)
    attack_table(suite); k_ablation(suite); variant_ablation(suite); voting_rules(suite)
"""

from ..attacks.cached import attack_run_key, cached_attack  # kept here for existing callers
from .formatting import format_attack_table, format_robust_curves, headline_verdict, with_interval
from .metrics import (
    L2_GRID,
    LINF_GRID_255,
    attack_table,
    clean_summary,
    k_ablation,
    layer_accuracy,
    variant_ablation,
    voting_rules,
)
from .intervals import wilson_interval
from .running import HEADLINE_EPSILONS_255, epsilon_sweep, headline, timing
from .suite import Suite, SuiteRun, TestImages, run_suite, select_correct

__all__ = ["HEADLINE_EPSILONS_255", "L2_GRID", "LINF_GRID_255", "Suite", "SuiteRun", "TestImages", "attack_run_key",
           "attack_table", "cached_attack", "clean_summary", "epsilon_sweep", "format_attack_table",
           "format_robust_curves", "headline", "headline_verdict", "k_ablation", "layer_accuracy", "run_suite",
           "select_correct", "timing", "variant_ablation", "voting_rules", "wilson_interval", "with_interval"]
