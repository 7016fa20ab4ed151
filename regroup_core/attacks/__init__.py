"""Adversarial attacks on a model and on its REGroup defence (paper Table 7 presets, three threat models).

    result = run_attack(bundle, images, labels, "pgd", threat="transfer")
    result.adversarial, result.success, result.settings
"""

from .presets import PRESETS, AttackFamily, AttackPreset, get_preset, preset_names
from .runner import AttackResult, Progress, applicable, classifier_hash, random_targets, run_attack
from .threats import RegroupScores, SoftRegroup, Surrogate, ThreatModel, calibrate_temperature

__all__ = ["PRESETS", "AttackFamily", "AttackPreset", "AttackResult", "Progress", "RegroupScores",
           "SoftRegroup", "Surrogate", "ThreatModel", "applicable", "calibrate_temperature", "classifier_hash",
           "get_preset", "preset_names", "random_targets", "run_attack"]
