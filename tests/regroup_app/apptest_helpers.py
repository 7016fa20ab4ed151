"""Helpers for the AppTest page tests: one fresh app per test, started on a chosen page.

(Not a conftest.py: the engine tests import the top-level ``conftest`` by name.)
"""

from __future__ import annotations

from pathlib import Path

ENTRY = str(Path(__file__).resolve().parents[2] / "regroup_app" / "streamlit_app.py")


def start(page: str | None = None, **session):
    """A fresh AppTest of the whole app, optionally with session state set, switched to ``page``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(ENTRY, default_timeout=60)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def assert_clean(at) -> None:
    """No exception element and no error message on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at) -> int:
    return len(at.get("plotly_chart"))


def rendered(markdown: str) -> str:
    """What the browser shows for Markdown source (outside text reaches it escaped: ``\\:`` shows ``:``, and the
    word joiner md() puts before a colon is invisible)."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")

