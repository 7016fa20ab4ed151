"""The app as Streamlit serves it: ``streamlit run regroup_app/asgi.py`` (what ``regroup-explorer`` and
``python -m app`` run). The pages are those of :mod:`regroup_app.streamlit_app`; the one addition is
:class:`regroup_app.backend_base.BackendBaseUrl` (no 404s from the browser probing a page's own path)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts regroup_app/ first on the path, not the folder above it
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from regroup_app.backend_base import BackendBaseUrl  # noqa: E402
from regroup_app.launch import PAGES_ENTRY  # noqa: E402

app = st.App(str(PAGES_ENTRY), middleware=[Middleware(BackendBaseUrl)])
