"""Shareable views: every page's settings mirrored in the URL's query string.

The names are the CLI's flags (``model``, ``weights``, ``image``, ``attack``, ``threat``,
``epsilon``, ``steps``, ``seed``, ``k``, ``classes``, ``n``, ...), so
``/attack_lab?model=mnist-vgg&image=mnist:test:201&attack=deepfool&threat=transfer&run=1``
reopens the Attack lab on digit 201 with DeepFool's result shown.

How it flows in one session:

* :func:`start` (the entry script, before the page runs): on the session's *first* run, the URL's
  parameters become a pending request; ``model``/``weights`` and ``image`` are applied at once.
* :func:`restore` (a page, just before the widget): a pending value for that widget is checked
  and written to the widget's session-state key, so the widget opens on it.
* :func:`publish` (a page, after its widgets): the page's current settings replace the query string.
* :func:`finish` (the entry script, after the page): anything the link held that no page used,
  and every bad value, becomes one friendly line at the top of the page; the request is spent.

A bad value never raises: it is named in a warning and the widget keeps its default.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import streamlit as st
from PIL import Image

from app import cache, session
from regroup_core.errors import RegroupError
from regroup_core.sources.images import open_image

__all__ = [
    "Parse",
    "boolean",
    "decode_drawing",
    "encode_drawing",
    "finish",
    "integers",
    "number",
    "one_of",
    "publish",
    "restore",
    "share_url",
    "start",
]

_REQUEST = "url-request"      # pending {name: raw value} of the link this session opened with
_MESSAGES = "url-messages"    # friendly lines about the link, shown once
_STARTED = "url-started"
_PUBLISHED = "url-published"  # what the current page last wrote to the URL

Parse = Callable[[str], Any]
"""A parser: raw query value → value; raises ValueError('expected …') for a bad one."""


# ---- parsers ------------------------------------------------------------------------------------

def one_of(options: Sequence[Any], *, to_str: Callable[[Any], str] = str) -> Parse:
    """A value among ``options`` (compared by their URL text)."""
    table = {to_str(o): o for o in options}

    def parse(raw: str) -> Any:
        if raw not in table:
            shown = ", ".join(list(table)[:12]) + (", …" if len(table) > 12 else "")
            raise ValueError(f"expected one of {shown}")
        return table[raw]
    return parse


def number(lo: float, hi: float, *, integer: bool = False, step: float | None = None) -> Parse:
    """A number in [lo, hi] (an int when ``integer``; snapped to ``step`` when given)."""
    def parse(raw: str) -> Any:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number from {lo:g} to {hi:g}") from None
        if not math.isfinite(value) or not lo <= value <= hi or (integer and value != int(value)):
            raise ValueError(f"expected {'an integer' if integer else 'a number'} from {lo:g} to {hi:g}")
        if step:
            value = lo + round((value - lo) / step) * step
        return int(value) if integer else float(value)
    return parse


def integers(lo: int, hi: int, *, at_least: int = 1) -> Parse:
    """A comma-separated list of distinct integers in [lo, hi] (``classes=0,1,7``)."""
    def parse(raw: str) -> list[int]:
        try:
            values = [int(v) for v in raw.split(",") if v.strip() != ""]
        except ValueError:
            raise ValueError(f"expected comma-separated integers from {lo} to {hi}") from None
        if len(values) < at_least or any(not lo <= v <= hi for v in values):
            raise ValueError(f"expected at least {at_least} comma-separated integers from {lo} to {hi}")
        return sorted(set(values))
    return parse


def boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return str(value)


# ---- drawings in links --------------------------------------------------------------------------

def encode_drawing(x: np.ndarray) -> str:
    """A drawn (1, 28, 28) digit as URL-safe text (a tiny grey PNG, base64url)."""
    arr = np.clip(np.round(np.asarray(x, dtype=np.float32)[0] * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG", optimize=True)
    return base64.urlsafe_b64encode(buf.getvalue()).decode().rstrip("=")


def decode_drawing(text: str) -> Image.Image:
    """The grey image of :func:`encode_drawing` (ValueError for anything else)."""
    if len(text) > 8000:
        raise ValueError("expected a drawing of at most 8000 characters")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("expected a drawing encoded by the app") from None
    # the same header check as every image (the pixel limit before decoding: a PNG declaring
    # 30 000 × 30 000 costs nothing), then the drawing's own size
    img = open_image(data, name="the link's drawing")
    if img.size != (28, 28):
        raise ValueError("expected a 28 × 28 drawing")
    return img.convert("L")


# ---- the request --------------------------------------------------------------------------------

def _note(text: str) -> None:
    st.session_state.setdefault(_MESSAGES, []).append(text)


def _bad(name: str, raw: str, why: str) -> None:
    _note(f"The link's `{name}={raw[:40]}` cannot be used ({why}); the default is shown instead.")


def start() -> None:
    """On a session's first run, take the URL's parameters as a pending request and apply the
    model and the image (see the module doc). Later runs do nothing."""
    if st.session_state.get(_STARTED):
        return
    st.session_state[_STARTED] = True
    request = {k: v for k, v in st.query_params.to_dict().items()}
    st.session_state[_REQUEST] = request
    if not request:
        return
    name, weights = request.pop("model", None), request.pop("weights", None)
    if name is not None or weights is not None:
        _apply_model(name, weights)
    image = request.pop("image", None)
    if image is not None:
        try:
            session.set_current_image(image_from_id(image))
            st.session_state["image-restored"] = True
        except (ValueError, RegroupError) as exc:
            _bad("image", image, str(exc).rstrip("."))


def _apply_model(name: str | None, weights: str | None) -> None:
    current = session.model_choice()
    if name is not None and name not in cache.APP_MODELS:
        _bad("model", name, f"expected one of {', '.join(cache.APP_MODELS)}")
        return
    name = name or current.name
    if weights not in (None, "random", "imagenet"):
        _bad("weights", weights, "expected random or imagenet; weights files are not shared by links")
        weights = None
    weights = None if weights == "imagenet" else weights
    classifier = cache.shipped_classifier(name) if weights is None else None
    session.set_model_choice(session.ModelChoice(name, weights, classifier))


def image_from_id(image_id: str) -> session.CurrentImage:
    """The image a link names: ``mnist:<split>:<index>``, ``foolbox:<set>:<index>``,
    ``skimage:<name>`` or ``drawing:<code>`` (ValueError / RegroupError when it cannot be)."""
    from app import gallery

    kind, _, rest = image_id.partition(":")
    if kind == "drawing":
        img = decode_drawing(rest)
        return session.image_from_pil(img, name="your drawing", label=None, source="drawing", image_id=image_id)
    if kind not in ("mnist", "foolbox", "skimage"):
        raise ValueError("expected mnist:<split>:<index>, foolbox:<set>:<index>, skimage:<name> or a drawing")
    item = gallery.item_by_id(session.model_choice().name, image_id)
    return session.image_from_pil(item.image, name=item.name, label=item.label, source=item.source, image_id=item.id)


def restore(name: str, key: str, parse: Parse) -> bool:
    """Open the widget ``key`` on the link's ``name`` value, if the link has one (True then)."""
    request: dict = st.session_state.get(_REQUEST) or {}
    if name not in request:
        return False
    raw = request.pop(name)
    try:
        st.session_state[key] = parse(raw)
    except ValueError as exc:
        _bad(name, raw, str(exc))
        return False
    return True


def pending(name: str) -> str | None:
    """The link's raw value for ``name`` if not used yet (without using it)."""
    return (st.session_state.get(_REQUEST) or {}).get(name)


def take(name: str) -> str | None:
    """The link's raw value for ``name``, used up (for settings that are not widgets)."""
    request: dict = st.session_state.get(_REQUEST) or {}
    return request.pop(name, None)


def publish(*, with_model: bool = True, with_image: bool = True, **values: Any) -> None:
    """Make the URL's query string exactly this page's settings (None values are left out), after
    the session's model and current image unless told otherwise."""
    params: dict[str, str] = {}
    if with_model:
        choice = session.model_choice()
        params["model"] = choice.name
        if choice.weights == "random":
            params["weights"] = choice.weights
    image = session.current_image()
    if with_image and image is not None and image.id:
        params["image"] = image.id
    params.update({k: _fmt(v) for k, v in values.items() if v is not None})
    st.session_state[_PUBLISHED] = params
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def published() -> dict[str, str]:
    return dict(st.session_state.get(_PUBLISHED) or {})


def finish(slot) -> None:
    """After the page: report unused link settings and bad values once (in ``slot``, an
    ``st.empty`` at the top of the page) and spend the request."""
    request: dict = st.session_state.get(_REQUEST) or {}
    if request:
        names = ", ".join(f"`{k}`" for k in sorted(request))
        _note(f"This page does not use the link's {names}: ignored.")
    st.session_state[_REQUEST] = {}
    messages: list[str] = st.session_state.pop(_MESSAGES, [])
    if messages:
        slot.warning("  \n".join(messages), icon=":material/link_off:")


def share_url(page_path: str, params: dict[str, str] | None = None) -> str:
    """The address of this view: the app's address, the page and its settings."""
    try:
        here = st.context.url or ""
    except Exception:  # noqa: BLE001 - not in a browser session (tests)
        here = ""
    parts = urlsplit(here)
    base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "http://localhost:8501"
    prefix = str(st.get_option("server.baseUrlPath") or "").strip("/")  # an app served under a sub-path
    path = "/".join(p for p in (prefix, page_path) if p)
    query = urlencode(params if params is not None else published(), safe=":,")
    return f"{base}/{path}" + (f"?{query}" if query else "")


def values(names: Iterable[str]) -> dict[str, str]:
    """The current URL values of ``names`` (for tests and links)."""
    current = st.query_params.to_dict()
    return {n: current[n] for n in names if n in current}
