"""Everything REGroup Explorer writes to disk, one module per idea, in one format: safetensors for
arrays, JSON for metadata, no pickle, atomic writes.

* :func:`atomic_write` — write to a temporary sibling, fsync, rename; a write killed half-way
  leaves no partial file, and its orphaned temporary file is removed by the next write to the
  same folder.
* Keys: :func:`cache_key` (SHA-256 of canonical JSON), :func:`tensor_digest`,
  :func:`classifier_digest`.
* Classifier files: :func:`save_classifiers`, :func:`load_classifiers` (validated against a
  schema before any array is used), :func:`check_compatible`.
* :class:`AdversarialCache` — adversarial examples shared by the CLI, the scripts and the app,
  under :func:`default_cache_dir` unless told otherwise.
* :class:`ResultStore` — JSON results of experiments (the app's tables and curves).
"""

from .adversarial import ADVERSARIAL_FORMAT, AdversarialCache, CacheEntry
from .atomic import atomic_write, json_default, write_json
from .classifier_file import (
    CLASSIFIER_FORMAT,
    CLASSIFIER_VERSION,
    check_compatible,
    load_classifiers,
    save_classifiers,
)
from .keys import cache_key, classifier_digest, default_cache_dir, tensor_digest, usable_folder
from .results import ResultStore

__all__ = [
    "ADVERSARIAL_FORMAT",
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_VERSION",
    "AdversarialCache",
    "CacheEntry",
    "ResultStore",
    "atomic_write",
    "cache_key",
    "check_compatible",
    "classifier_digest",
    "default_cache_dir",
    "json_default",
    "load_classifiers",
    "save_classifiers",
    "tensor_digest",
    "usable_folder",
    "write_json",
]
