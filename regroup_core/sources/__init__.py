"""Where models and data come from: the model zoo with each model's metadata
(:mod:`.models`), data specs and the one image-folder / file-list reader (:mod:`.data`), the
embedded MNIST digits and networks (:mod:`.mnist`), safe image reading (:mod:`.images`) and the
files shipped inside the package (:mod:`.assets`)."""

from .assets import ASSETS_DIR, asset_path, shipped_classifier
from .data import Data, ImageFiles, interleaved_order, known_labels, make_loader, resolve_data
from .images import open_image
from .metadata import ModelKind, ModelSpec
from .references import ModelReference, RefKind
from .specfile import MODEL_SPECS_ENV, read_spec_file, spec_files_in
from .zoo import Download, describe, weights_download
from .models import (
    MODEL_SPECS,
    ModelBundle,
    bundle_from_module,
    load_model,
    model_names,
    model_spec,
    resolve_device,
    weights_fingerprint,
)

__all__ = ["ASSETS_DIR", "MODEL_SPECS", "MODEL_SPECS_ENV", "Data", "Download", "ImageFiles", "ModelBundle", "ModelKind",
           "ModelReference", "ModelSpec", "RefKind", "asset_path", "describe", "read_spec_file", "spec_files_in",
           "weights_download",
           "bundle_from_module", "interleaved_order", "known_labels", "load_model", "make_loader", "model_names",
           "model_spec", "open_image", "resolve_data", "resolve_device", "shipped_classifier", "weights_fingerprint"]
