"""Helpers for the AppTest page tests: one fresh app per test, started on a chosen page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

ENTRY = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")


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


@pytest.fixture(scope="session")
def digit_png() -> bytes:
    from PIL import Image

    from regroup_core.data.mnist import mnist_split

    x, _ = mnist_split("test").tensors
    buf = io.BytesIO()
    Image.fromarray((x[0, 0].numpy() * 255).astype("uint8"), mode="L").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _app_cache(tmp_path, monkeypatch):
    """Uploaded and fitted files of page tests go to a temporary cache, not the repo's."""
    import app.state

    monkeypatch.setattr(app.state, "CACHE_DIR", tmp_path / "app-cache")
