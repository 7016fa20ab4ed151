"""The paper's tables, as this module offered them before the split into :mod:`.metrics` (computed from
a suite), :mod:`.running` (experiments that run their own attacks) and :mod:`.formatting` (text for
people): every public name is still importable from here."""

from .formatting import format_attack_table, format_robust_curves, headline_verdict, with_interval
from .metrics import (
    FEW,
    L2_GRID,
    LINF_GRID_255,
    attack_table,
    budget_grid,
    clean_summary,
    distances,
    is_bounded,
    k_ablation,
    layer_accuracy,
    robust_at,
    variant_ablation,
    voting_rules,
)
from .running import HEADLINE_EPSILONS_255, REGROUP_ATTACKS, SOFTMAX_ATTACKS, epsilon_sweep, headline, timing

__all__ = ["FEW", "HEADLINE_EPSILONS_255", "L2_GRID", "LINF_GRID_255", "REGROUP_ATTACKS", "SOFTMAX_ATTACKS",
           "attack_table", "budget_grid", "clean_summary", "distances", "epsilon_sweep", "format_attack_table",
           "format_robust_curves", "headline", "headline_verdict", "is_bounded", "k_ablation", "layer_accuracy",
           "robust_at", "timing", "variant_ablation", "voting_rules", "with_interval"]
