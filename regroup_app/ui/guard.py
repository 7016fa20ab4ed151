"""What guards a page: its errors never show a raw traceback, and a page that needs REGroup
classifiers stops with a hint when there are none.

A :class:`~regroup_core.errors.RegroupError` (the user's input is wrong) becomes one
``st.error`` line; anything unexpected becomes a friendly error with the exception's type and
message in a collapsed expander (the full traceback goes to the server log only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from regroup_core import ModelBundle, REGroup
from regroup_core.errors import RegroupError, one_line
from regroup_core.store import default_cache_dir

from ..services.cache import current_model
from ..state import state
from .text import md

__all__ = ["require_defended", "run_page", "show_error", "without_cache_paths"]

log = logging.getLogger("regroup_app")


def without_cache_paths(text: str) -> str:
    """``text`` with every path inside the app's cache folder cut to its file name: a message names
    the file (``classifiers-….safetensors``), never where the server keeps it."""
    try:
        root = str(default_cache_dir().expanduser())
        variants = {root, str(default_cache_dir().expanduser().resolve())}
    except RegroupError:  # an unusable REGROUP_CACHE: that setting's own message says so, with no cache path
        return text
    for prefix in sorted(variants, key=len, reverse=True):
        text = re.sub(re.escape(prefix) + r"/(?:[^\s'\"/]+/)*([^\s'\"/]*)", r"\1", text)
    return text


def show_error(exc: BaseException) -> None:
    """Show ``exc`` the friendly way (see module doc)."""
    if isinstance(exc, RegroupError):  # its text quotes file names and link values: data, never Markdown
        st.error(md(without_cache_paths(one_line(exc)), 400), icon=":material/warning:")
        return
    log.exception("unexpected error in a page", exc_info=exc)
    st.error("Something unexpected went wrong on this page. Try other settings or reload the page; "
             "if it keeps happening, report the details below.", icon=":material/error:")
    with st.expander("Details"):
        st.code(f"{type(exc).__name__}: {without_cache_paths(one_line(exc))}", language=None)


def run_page(body: Callable[[], None]) -> None:
    """Run a page body, showing errors with :func:`show_error`.

    Streamlit's own control flow (``st.stop``, ``st.rerun``, ``st.switch_page``) uses
    exceptions too; those pass through untouched.
    """
    try:
        body()
    except ScriptControlException:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a page
        show_error(exc)


def require_defended() -> tuple[ModelBundle, REGroup]:
    """The session's model and its REGroup defence; stops the page with a hint when no classifier
    file is chosen yet."""
    bundle, defended = current_model(state().model_choice)
    if defended is None:
        st.info(f"**{bundle.name}** has no REGroup classifiers yet: fit or load them on the Model page.")
        st.page_link("app_pages/model.py", label="Go to the Model page", icon=":material/memory:")
        st.stop()
    return bundle, defended
