"""regroup_core — REGroup (Tiwari & Anand et al.): a retraining-free adversarial defence that
turns a pretrained CNN into an ensemble of layer-wise generative classifiers whose class
rankings are combined by Borda-count voting.

The package reads one way:

* :mod:`.engine` — the maths: layers, taps, PMFs and mixtures, fit statistics, voting, the
  predictor (no disk, no processes);
* :mod:`.sources` — models (with their metadata) and data;
* :mod:`.store` — everything written to disk (classifier files, caches), no pickle;
* :mod:`.run` — the data loops (fit, evaluation) for one process or many;
* :mod:`.attacks`, :mod:`.experiments`, :mod:`.analysis` — attacks, the paper's tables, views;
* :mod:`.api` and :mod:`.cli` — the front ends' entry points (the app is ``regroup_app/``).
"""

from .api import FitOptions, defend, fit, fit_result, load_defended
from .engine import (
    DEFAULT_K,
    DEFAULT_THRESHOLD,
    DELTA,
    GenerativeClassifiers,
    LayerInfo,
    LayerKind,
    Prediction,
    REGroup,
    Variant,
    discover_layers,
    layers_from_names,
    preset_layers,
    select_k,
)
from .errors import (
    ClassifierFileError,
    DataError,
    EmptyClassError,
    ImageError,
    LayerError,
    ModelError,
    RegroupError,
)
from .sources import ModelBundle, ModelSpec, bundle_from_module, load_model, model_names
from .store import load_classifiers, save_classifiers

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_K", "DEFAULT_THRESHOLD", "DELTA", "ClassifierFileError", "DataError", "EmptyClassError", "FitOptions",
    "GenerativeClassifiers", "ImageError", "LayerError", "LayerInfo", "LayerKind", "ModelBundle", "ModelError",
    "ModelSpec", "Prediction", "REGroup", "RegroupError", "Variant", "bundle_from_module", "defend",
    "discover_layers", "fit", "fit_result", "layers_from_names", "load_classifiers", "load_defended", "load_model",
    "model_names", "preset_layers", "save_classifiers", "select_k",
]
