"""The REGroup engine — maths only: no disk, no data loops, no processes.

Layers to tap (:mod:`.layers`) → accumulators captured inside forward hooks (:mod:`.taps`) →
PMFs and class-conditional mixtures (:mod:`.classifier`), fitted from mergeable sufficient
statistics (:mod:`.stats`) → KL scores, ranks and Borda votes (:mod:`.voting`) → the
predictor (:mod:`.predictor`).
"""

from .classifier import DELTA, GenerativeClassifiers, to_pmf
from .layers import LayerInfo, LayerKind, discover_layers, layers_from_names, preset_layers
from .predictor import DEFAULT_K, DEFAULT_THRESHOLD, LayerScope, Prediction, REGroup, select_k
from .stats import FIT_RULES, EmptyClassPolicy, FitRule, FitStatistics, accept_mask, check_rule, true_class_weights
from .taps import Accumulators, capture, reduce_accumulators
from .voting import (
    Variant,
    aggregate_borda,
    borda_points,
    copeland_scores,
    kl_divergences,
    plurality_counts,
    stable_ranks,
    top_classes,
)

__all__ = [
    "DEFAULT_K", "DEFAULT_THRESHOLD", "DELTA", "FIT_RULES", "Accumulators", "EmptyClassPolicy", "FitRule",
    "FitStatistics", "check_rule",
    "GenerativeClassifiers", "LayerInfo", "LayerKind", "LayerScope", "Prediction", "REGroup", "Variant",
    "accept_mask", "aggregate_borda", "borda_points", "capture", "copeland_scores", "discover_layers",
    "kl_divergences", "layers_from_names", "plurality_counts", "preset_layers", "reduce_accumulators", "select_k",
    "stable_ranks", "to_pmf", "top_classes", "true_class_weights",
]
