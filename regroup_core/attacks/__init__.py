"""Adversarial attacks on a model and on its REGroup defence (paper Table 7 specs, three threat models).

    result = run_attack(bundle, images, labels, "pgd", threat="transfer")
    result.adversarial, result.success, result.settings
"""

from .cached import attack_run_key, cached_attack
from .runner import AttackResult, applicable, library_rng, random_targets, resolve_settings, run_attack
from .specs import PRESETS, AttackFamily, AttackSpec, Budget, Method, Norm, get_preset, preset_names
from .threats import RegroupScores, SoftRegroup, Surrogate, ThreatModel, soft_scores, voter_divergences

__all__ = ["PRESETS", "AttackFamily", "AttackResult", "AttackSpec", "Budget", "Method", "Norm", "RegroupScores",
           "SoftRegroup", "Surrogate", "ThreatModel", "applicable", "attack_run_key", "cached_attack", "get_preset", "soft_scores", "voter_divergences",
           "library_rng", "preset_names", "random_targets", "resolve_settings", "run_attack"]
