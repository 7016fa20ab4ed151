"""The mark of *exploring* classifiers, on every page: fitted on every labelled image, not only on
the correctly classified ones — not the paper's rule (:data:`regroup_core.engine.FitRule`)."""

from __future__ import annotations

import streamlit as st

from regroup_core.engine import GenerativeClassifiers

__all__ = ["EXPLORING_NOTE", "exploring_banner", "is_exploring"]

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
