"""regroup_core — REGroup (Tiwari & Anand et al.): a retraining-free adversarial defence that
turns a pretrained CNN into an ensemble of layer-wise generative classifiers whose class
rankings are combined by Borda-count voting.

Data flows one way: model + images → taps (:mod:`.taps`) → accumulators → fit
(:mod:`.fit`, mixture statistics) → predict (:mod:`.regroup`: KL → ranks → votes, with
:mod:`.voting`) → results. :mod:`.api` strings these together for every front end.
"""

from .api import DEFAULT_K, DEFAULT_THRESHOLD, defend, fit, load_defended
from .classifier import DELTA, GenerativeClassifiers
from .errors import (
                     ClassifierFileError,
                     DataError,
                     EmptyClassError,
                     ImageError,
                     LayerError,
                     ModelError,
                     RegroupError,
)
from .layers import (
                     LayerInfo,
                     LayerKind,
                     discover_layers,
                     layers_from_names,
                     preset_layers,
)
from .persistence import load_classifiers, save_classifiers
from .regroup import Prediction, REGroup, per_layer_accuracy, select_k
from .voting import Variant
from .zoo import ModelBundle, bundle_from_module, load_model, model_names

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_K", "DEFAULT_THRESHOLD", "DELTA", "ClassifierFileError", "DataError", "EmptyClassError",
    "GenerativeClassifiers", "ImageError", "LayerError", "LayerInfo", "LayerKind", "ModelBundle",
    "ModelError", "Prediction", "REGroup", "RegroupError", "Variant", "bundle_from_module", "defend",
    "discover_layers", "fit", "layers_from_names", "load_classifiers", "load_defended", "load_model",
    "model_names", "per_layer_accuracy", "preset_layers", "save_classifiers", "select_k",
]
