"""Adversarial attacks on a model and on its REGroup defence (paper Table 7 specs, three threat models).

    result = run_attack(bundle, images, labels, "pgd", threat="transfer")
    result = run_attack(bundle, images, labels, AttackSettings("pgd", threat="adaptive", epsilon_255=32),
                        defended=defended)
    result.adversarial, result.success, result.settings

One adapter per attack library runs each method (:mod:`.adapters`); :func:`cached_attack` is the one
cached route to an attack (the shared adversarial cache).
"""

from ..rng import global_rng as library_rng  # the name this package exported before; the lock is regroup_core.rng's
from .cached import attack_run_key, cached_attack
from .runner import AttackResult, applicable, random_targets, resolve_settings, run_attack
from .settings import AttackSettings
from .specs import PRESETS, AttackFamily, AttackSpec, Budget, Method, Norm, get_preset, preset_names
from .threats import RegroupScores, SoftRegroup, Surrogate, ThreatModel, soft_scores, voter_divergences

__all__ = ["PRESETS", "AttackFamily", "AttackResult", "AttackSettings", "AttackSpec", "Budget", "Method", "Norm",
           "RegroupScores", "SoftRegroup", "Surrogate", "ThreatModel", "applicable", "attack_run_key",
           "cached_attack", "get_preset", "library_rng", "preset_names", "random_targets", "resolve_settings",
           "run_attack", "soft_scores", "voter_divergences"]
