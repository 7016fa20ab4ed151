"""Shareable views: every page's settings mirrored in the URL's query string.

The names are the CLI's flags (``model``, ``weights``, ``image``, ``attack``, ``threat``,
``epsilon``, ``steps``, ``seed``, ``k``, ``classes``, ``n``, ...), so
``/attack_lab?model=mnist-vgg&image=mnist:test:201&attack=deepfool&threat=transfer&run=1``
reopens the Attack lab on digit 201 with DeepFool's result shown.

How it flows in one session:

* :func:`start` (the entry script, before the page runs, every run): on the session's *first* run,
  the URL's parameters become a pending request; ``model``/``weights`` and ``image`` are applied at once.
* :func:`restore` (just before a widget is drawn; :func:`regroup_app.ui.synced.synced` does it, draws
  the widget and records its value in one call): a pending value for that widget is checked and
  written to the widget's session-state key, so the widget opens on it.
* :func:`publish` (a page, after its widgets): the page's current settings — the synced widgets'
  values and any others it names — replace the query string.
* :func:`finish` (the entry script, after the page): anything the link held that no page used,
  and every bad value, becomes one friendly line at the top of the page; the request is spent.

A bad value never raises: it is named in a warning and the widget keeps its default.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import streamlit as st
from PIL import Image

from regroup_core.attacks.cost import LINK_CAP
from regroup_core.errors import RegroupError, one_line
from regroup_core.sources.images import open_image
from regroup_core.sources.models import model_spec as describe

from ..services.gallery import item_by_id
from ..services.model_catalog import app_reference
from ..state import CurrentImage, ModelChoice, image_from_pil, shipped_classifier, state
from .text import md

__all__ = [
    "Parse",
    "boolean",
    "decode_drawing",
    "encode_drawing",
    "finish",
    "integers",
    "names",
    "number",
    "one_of",
    "pending",
    "publish",
    "published",
    "record",
    "restore",
    "share_url",
    "start",
    "take",
    "take_parsed",
    "values",
]

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
        if len(raw) > 40:  # float() of a 5 000-digit text works, int() does not: refuse both early
            raise ValueError(f"expected a number from {lo:g} to {hi:g}")
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
    """A comma-separated list of distinct integers in [lo, hi] (``classes=0,1,7``), at most
    :data:`LINK_CAP.max_list <regroup_core.attacks.cost.LINK_CAP>` of them; a repeated one is refused."""
    def parse(raw: str) -> list[int]:
        parts = [v.strip() for v in raw.split(",", LINK_CAP.max_list + 1) if v.strip() != ""]
        if len(parts) > LINK_CAP.max_list:
            raise ValueError(f"expected at most {LINK_CAP.max_list} comma-separated integers")
        if not all(re.fullmatch(r"[0-9]{1,6}", v) for v in parts):
            raise ValueError(f"expected comma-separated integers from {lo} to {hi}")
        values = [int(v) for v in parts]
        if len(set(values)) != len(values):
            twice = sorted({v for v in values if values.count(v) > 1})
            raise ValueError(f"expected distinct integers, got {', '.join(map(str, twice[:5]))} more than once")
        if len(values) < at_least or any(not lo <= v <= hi for v in values):
            raise ValueError(f"expected at least {at_least} comma-separated integers from {lo} to {hi}")
        return sorted(values)
    return parse


def names(options: Sequence[str], *, at_least: int = 1) -> Parse:
    """A comma-separated list of distinct names among ``options`` (``attacks=pgd,deepfool``), at most
    as many as there are options; a repeated or unknown one is refused."""
    def parse(raw: str) -> list[str]:
        parts = [v.strip() for v in raw.split(",", len(options) + 1) if v.strip() != ""]
        if len(parts) > len(options):
            raise ValueError(f"expected at most {len(options)} names")
        unknown = [p for p in parts if p not in options]
        if unknown:
            raise ValueError(f"expected names among {', '.join(list(options)[:12])}")
        if len(set(parts)) != len(parts) or len(parts) < at_least:
            raise ValueError(f"expected at least {at_least} distinct names, each once")
        return parts
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
    # the pixel limit from the header before decoding, as for every image (a PNG declaring
    # 30 000 × 30 000 pixels costs nothing), then the drawing's own size
    img = open_image(data, name="the link's drawing")
    if img.size != (28, 28):
        raise ValueError("expected a 28 × 28 drawing")
    return img.convert("L")


# ---- the request --------------------------------------------------------------------------------

def _bad(name: str, raw: str, why: str) -> None:
    # everything from the link is escaped and cut (md): a value is data, never Markdown
    state().note(f"The link's {md(name, 40)}={md(raw, 40)} cannot be used ({md(why, 160)}); "
                 "the default is shown instead.")


MAX_PARAMS = 32
"""Parameters of a link read at all (a page uses at most a dozen)."""

MAX_NOTES = 4
"""Notes about a link shown in its one warning line (the rest are counted)."""


def _request() -> dict[str, str]:
    """The link's parameters, each name once: a name given twice (``n=1&n=5``) is refused, not
    silently taken from its last copy; beyond :data:`MAX_PARAMS` the rest is ignored."""
    request: dict[str, str] = {}
    names_ = list(st.query_params.keys())
    for name in names_[:MAX_PARAMS]:
        given = st.query_params.get_all(name)
        if len(given) > 1:
            state().note(f"The link gives {md(name, 40)} {len(given)} times: none of them is used; the default "
                         "is shown instead.")
            continue
        request[name] = given[0] if given else ""
    if len(names_) > MAX_PARAMS:
        state().note(f"The link has {len(names_)} parameters: only the first {MAX_PARAMS} are read.")
    return request


def start() -> None:
    """Every run: forget the last run's synced values; on a session's first run, take the URL's
    parameters as a pending request and apply the model and the image (see the module doc)."""
    app = state()
    app.new_run()
    if app.link_started():
        return
    request = _request()
    app.link_request = request
    if not request:
        return
    name, weights = request.pop("model", None), request.pop("weights", None)
    if name is not None or weights is not None:
        _apply_model(name, weights)
    image = request.pop("image", None)
    if image is not None:
        try:
            app.current_image = image_from_id(image)
            app.mark_image_restored()
        except (ValueError, RegroupError) as exc:
            _bad("image", image, str(exc).rstrip("."))


def _apply_model(name: str | None, weights: str | None) -> None:
    """A link's ``model`` (any reference the app may load: a spec file only from the operator's
    folder, checked before it is read) and ``weights`` (a named set or random, never a file)."""
    current = state().model_choice
    if name is not None:
        try:
            name = app_reference(name)
        except RegroupError as exc:
            _bad("model", name, one_line(exc).rstrip("."))
            return
    name = name or current.name
    named = ("random", "imagenet", *describe(name).weights_choices)
    if weights is not None and weights not in named:
        _bad("weights", weights, f"expected one of {', '.join(dict.fromkeys(named))}; weights files are not "
                                 "shared by links")
        weights = None
    weights = None if weights in ("embedded", "spec") else weights
    classifier = shipped_classifier(name) if weights is None else None
    state().model_choice = ModelChoice(name, weights, classifier)


def image_from_id(image_id: str) -> CurrentImage:
    """The image a link names: ``mnist:<split>:<index>``, ``foolbox:<set>:<index>``,
    ``skimage:<name>`` or ``drawing:<code>`` (ValueError / RegroupError when it cannot be)."""
    kind, _, rest = image_id.partition(":")
    if kind == "drawing":
        img = decode_drawing(rest)
        return image_from_pil(img, name="your drawing", label=None, source="drawing", image_id=image_id)
    if kind not in ("mnist", "foolbox", "skimage"):
        raise ValueError("expected mnist:<split>:<index>, foolbox:<set>:<index>, skimage:<name> or a drawing")
    item = item_by_id(state().model_choice.name, image_id)
    return image_from_pil(item.image, name=item.name, label=item.label, source=item.source, image_id=item.id)


def restore(name: str, key: str, parse: Parse) -> bool:
    """Open the widget ``key`` on the link's ``name`` value, if the link has one (True then)."""
    request = state().link_request
    if name not in request:
        return False
    raw = request.pop(name)
    try:
        state().set_widget(key, parse(raw))
    except ValueError as exc:
        _bad(name, raw, str(exc))
        return False
    return True


def pending(name: str) -> str | None:
    """The link's raw value for ``name`` if not used yet (without using it)."""
    return state().link_request.get(name)


def take(name: str) -> str | None:
    """The link's raw value for ``name``, used up (for settings that are not widgets)."""
    return state().link_request.pop(name, None)


def take_parsed(name: str, parse: Parse) -> Any:
    """The link's ``name`` value parsed and used up (None when absent or bad; a bad one is reported)."""
    raw = take(name)
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        _bad(name, raw, str(exc))
        return None


def record(name: str, value: Any) -> None:
    """Publish ``value`` as the link's ``name`` with this page (None: left out)."""
    state().link_values[name] = value


def publish(*, with_model: bool = True, with_image: bool = True, **values: Any) -> None:
    """Make the URL's query string exactly this page's settings (None values are left out): the
    session's model and current image unless told otherwise, then this run's synced widgets'
    values (:func:`record`), then ``values`` (which win)."""
    app = state()
    params: dict[str, str] = {}
    if with_model:
        choice = app.model_choice
        params["model"] = choice.name
        if choice.weights is not None and not choice.weights.endswith((".pth", ".pt", ".safetensors")):
            params["weights"] = choice.weights  # random or a named set; files are not shared by links
    image = app.current_image
    if with_image and image is not None and image.id:
        params["image"] = image.id
    merged = {**app.link_values, **values}
    params.update({k: _fmt(v) for k, v in merged.items() if v is not None})
    app.published = params
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def published() -> dict[str, str]:
    return state().published


def finish(slot: Any) -> None:
    """After the page: report unused link settings and bad values once (in ``slot``, an
    ``st.empty`` at the top of the page) and spend the request."""
    app = state()
    request = app.link_request
    if request:
        unused = sorted(request)
        shown = ", ".join(md(k, 40) for k in unused[:8]) + (f" and {len(unused) - 8} more" if len(unused) > 8 else "")
        app.note(f"This page does not use the link's {shown}: ignored.")
    app.link_request = {}
    messages = app.take_notes()
    if messages:  # one line of bounded length, however many values were bad
        line = " · ".join(messages[:MAX_NOTES]) + (f" · and {len(messages) - MAX_NOTES} more"
                                                   if len(messages) > MAX_NOTES else "")
        slot.warning(line, icon=":material/link_off:")


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
