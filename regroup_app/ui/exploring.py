"""The mark of *exploring* classifiers, on every page: fitted on every labelled image, not only on
the correctly classified ones — not the paper's rule (:data:`regroup_core.engine.FitRule`)."""

from __future__ import annotations

import streamlit as st

from regroup_core import ModelBundle
from regroup_core.engine import GenerativeClassifiers

__all__ = ["EXPLORING_NOTE", "excluded_note", "exploring_banner", "is_exploring"]

EXPLORING_NOTE = ("**Exploring mode — not the paper's rule.** These classifiers were fitted on every labelled "
                  "image, not only on the correctly classified ones (random weights classify none correctly). "
                  "The layer ranks show what the layers respond to; accuracies and attack results here say "
                  "nothing about REGroup's defence.")


def is_exploring(classifiers: GenerativeClassifiers | None) -> bool:
    return classifiers is not None and classifiers.rule == "exploring"


def exploring_banner(classifiers: GenerativeClassifiers | None) -> None:
    """The warning at the top of a page when the session's classifiers are exploring ones."""
    if is_exploring(classifiers):
        st.warning(EXPLORING_NOTE, icon=":material/explore:")


def excluded_note(bundle: ModelBundle, classifiers: GenerativeClassifiers) -> str:
    """A sentence naming the classes that had no fitting image (ranked last by every voter), or ''."""
    excluded = classifiers.excluded
    if not excluded:
        return ""
    names = ", ".join(bundle.class_names[c] for c in excluded[:5]) + (", …" if len(excluded) > 5 else "")
    return (f" {len(excluded)} of {classifiers.num_classes} classes had no fitting image ({names}): every voter "
            "ranks them last.")
