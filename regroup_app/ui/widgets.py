"""Widgets shared by several pages: the image picker (upload or gallery), prediction bars and
image conversions for display. UI glue only; the work is done by regroup_core."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from regroup_core import ModelBundle, Prediction
from regroup_core.analysis.outcome import verdict
from regroup_core.errors import RegroupError
from regroup_core.run.progress import listen_steps
from regroup_core.sources.models import ModelKind

from ..services import gallery
from ..services.uploads import IMAGE_MAX_MB, conversion_note, read_image_upload
from ..state import CurrentImage, image_from_pil, state
from . import plots
from .text import bounded, md
from .verdicts import label_text, tie_text

__all__ = ["IMAGE_SOURCES", "UNKNOWN", "amplified", "class_picker", "ensure_image", "image_picker", "png_bytes",
           "prediction_bars", "progress_callback", "restore_image_source", "status_progress", "step_progress",
           "to_pil"]


def to_pil(x: np.ndarray, *, size: int | None = None) -> Image.Image:
    """(C, H, W) in [0, 1] → PIL; small images are scaled up (nearest) to ``size`` pixels wide."""
    arr = np.clip(np.round(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr[0], mode="L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0))
    if size and img.width < size:
        img = img.resize((size, size * img.height // img.width), Image.Resampling.NEAREST)
    return img


def amplified(delta: np.ndarray) -> np.ndarray:
    """A perturbation scaled to fill [0, 1] around mid-grey (0.5 = unchanged), for display."""
    peak = float(np.abs(delta).max())
    return np.full_like(delta, 0.5) if peak == 0 else 0.5 + 0.5 * delta / peak


def png_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    to_pil(x).save(buf, format="PNG")
    return buf.getvalue()


UNKNOWN = -1
"""The "unknown" choice of a class picker (not None: Streamlit shows a None value as no selection)."""


def class_picker(bundle: ModelBundle, key: str, *, label: str = "True class (if you know it)",
                 unknown: str = "unknown", container: Any = st) -> int | None:
    """A class or None (unknown)."""
    options = [UNKNOWN, *range(bundle.num_classes)]
    if state().widget(key) not in options:
        state().drop_widget(key)
    picked = container.selectbox(label, options, index=0, key=state().keep(key),
                                 format_func=lambda c: unknown if c == UNKNOWN else label_text(bundle, c))
    return None if picked == UNKNOWN else int(picked)


IMAGE_SOURCES = ("Gallery", "Test set", "Upload", "Current image")
"""Where the picker takes an image from; "Current image" keeps the session's image (a drawing,
a link's image, an image chosen on another page)."""


def restore_image_source(bundle: ModelBundle) -> None:
    """Open the picker on the session's image when a link or a drawing put it there."""
    app = state()
    image = app.current_image
    if image is None or not app.take_image_restored():
        return
    if image.source in gallery.SOURCES:
        items = gallery.gallery(image.source, bundle.name)
        j = next((j for j, it in enumerate(items) if it.id == image.id), None)
        if j is not None:
            app.set_widget("image-from", "Gallery")
            app.set_widget("gallery-source", image.source)
            app.set_widget(f"gallery-idx-{image.source}", j)
            return
        if image.source == gallery.SOURCES[0] and image.id and image.id.rsplit(":", 1)[-1].isdigit():
            app.set_widget("image-from", "Test set")
            app.set_widget("test-index", int(image.id.rsplit(":", 1)[-1]))
            return
    app.set_widget("image-from", "Current image")


def _from_upload(bundle: ModelBundle, current: CurrentImage | None) -> CurrentImage | None:
    image_mb = min(IMAGE_MAX_MB, int(st.get_option("server.maxUploadSize")))
    upload = st.file_uploader(f"An image (PNG, JPEG, BMP, GIF, TIFF, WebP; at most {image_mb} MB)",
                              type=None, key="image-upload")
    if upload is None:
        return current
    try:
        img = read_image_upload(upload, max_mb=image_mb)
    except RegroupError as exc:
        st.error(f"That file cannot be used: {md(str(exc), 300)}", icon=":material/warning:")
        return current
    kind = bundle.spec.kind
    note = conversion_note(img, bundle.input_shape, crops=None if kind is ModelKind.USER else
                           kind is ModelKind.TORCHVISION)
    if note:
        st.caption(f":material/info: {note}")
    label = class_picker(bundle, "upload-label")
    return image_from_pil(img, name=upload.name, label=label, source="upload")


def _from_test_set(bundle: ModelBundle) -> CurrentImage:
    spec = bundle.spec.test_data
    size = gallery.test_set_size(bundle.name)
    index = int(st.number_input(f"Index in `{spec}` (0–{size - 1})", 0, size - 1, 0, key=state().keep("test-index")))
    item = gallery.item_by_id(bundle.name, f"{spec}:{index}")
    thumb, name = st.columns([1, 11], vertical_alignment="center")  # the name beside, not squeezed under
    thumb.image(item.image.resize((56, 56)), width=56)
    name.caption(item.name)
    return image_from_pil(item.image, name=item.name, label=item.label, source=item.source, image_id=item.id)


def _from_gallery(bundle: ModelBundle) -> CurrentImage:
    sources = gallery.sources_for(bundle.spec)
    if state().widget("gallery-source") not in sources:
        state().drop_widget("gallery-source")
    source = st.selectbox("Gallery", sources, key=state().keep("gallery-source"), index=0)
    items = gallery.gallery(source, bundle.name)
    idx = st.select_slider("Sample", options=list(range(len(items))), key=state().keep(f"gallery-idx-{source}"),
                           format_func=lambda i: str(i + 1))
    thumbs = st.columns(min(10, len(items)))
    start = max(0, min(idx - 4, len(items) - len(thumbs)))
    for col, j in zip(thumbs, range(start, start + len(thumbs))):
        col.image(items[j].image.resize((48, 48 * items[j].image.height // items[j].image.width)),
                  caption=("▶ " if j == idx else "") + str(j + 1), width=48)
    item = items[idx]
    label = item.label if item.label is not None and item.label < bundle.num_classes else None
    if item.label is None:
        label = class_picker(bundle, f"gallery-label-{source}-{idx}")
    return image_from_pil(item.image, name=item.name, label=label, source=source, image_id=item.id)


def image_picker(bundle: ModelBundle) -> CurrentImage | None:
    """Pick an image from a gallery, the test set, an upload or keep the current one; it becomes
    the session's current image."""
    restore_image_source(bundle)
    app = state()
    options = [s for s in IMAGE_SOURCES if s != "Test set" or bundle.spec.ships_data]
    if app.widget("image-from") not in options:
        app.drop_widget("image-from")
    current = app.current_image
    src = st.radio("Image from", options, horizontal=True, key=app.keep("image-from"),
                   format_func=lambda s: f"{s} ({current.name})" if s == "Current image" and current else s)
    if src == "Current image":
        if current is None:
            st.info("No image yet: pick one from the gallery, the test set, upload one or draw one.")
        return current
    if src == "Upload":
        chosen = _from_upload(bundle, current)
        if chosen is current:
            return current
    elif src == "Test set":
        chosen = _from_test_set(bundle)
    else:
        chosen = _from_gallery(bundle)
    app.current_image = chosen
    return chosen


def ensure_image(bundle: ModelBundle) -> CurrentImage:
    """The session's current image, or a first real sample (so every page has something to show)."""
    app = state()
    image = app.current_image
    if image is None:
        source = gallery.sources_for(bundle.spec)[0]
        item = gallery.gallery(source, bundle.name)[0]
        label = item.label if item.label is not None and item.label < bundle.num_classes else None
        image = image_from_pil(item.image, name=item.name, label=label, source=source, image_id=item.id)
        app.current_image = image
    return image


def prediction_bars(bundle: ModelBundle, pred: Prediction, i: int, *, label: int | None, title: str) -> None:
    """Softmax top-5 and REGroup top-5 of image ``i``, side by side, each in its colour; a REGroup
    tie is said in words under its chart."""
    s_idx, s_p = pred.softmax_top(5)
    r_idx, r_b = pred.regroup_top(5)
    s_labels = [label_text(bundle, int(c)) for c in s_idx[i]]
    r_labels = [label_text(bundle, int(c)) for c in r_idx[i]]
    hi_s = next((j for j, c in enumerate(s_idx[i].tolist()) if c == label), None)
    hi_r = next((j for j, c in enumerate(r_idx[i].tolist()) if c == label), None)
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots.score_bars(s_labels, [round(float(p), 4) for p in s_p[i]], title=f"{title}: softmax top-5",
                                     value_title="probability", highlight=hi_s, color=plots.SOFTMAX_COLOR),
                    width="stretch", key=f"bars-soft-{title}")
    c2.plotly_chart(plots.score_bars(r_labels, [int(b) for b in r_b[i]],
                                     title=f"{title}: REGroup top-5 (k={pred.k})",
                                     value_title="Borda count", highlight=hi_r, color=plots.REGROUP_COLOR),
                    width="stretch", key=f"bars-reg-{title}")
    v = verdict(pred, i, label, classifier="regroup")
    if v.tied:
        c2.caption(f":material/balance: {tie_text(bundle, v)}")


@contextlib.contextmanager
def status_progress(label: str, first_step: str = "") -> Iterator[Callable[[int, int, str], None]]:
    """A status box for long work whose label names the step under way, with a progress bar; yields a
    ``callback(done, total, message)`` that moves both. Results drawn inside the body stream into the box.
    The box is marked done (collapsed) when the body ends, and as failed when it raises."""
    with st.status(f"{label}: {first_step or 'starting'}…", expanded=True) as box:
        bar = st.progress(0.0, text=first_step or label)

        def callback(done: int, total: int, message: str) -> None:
            # the message is the app's own words (attack names, ε values; a class name from a file comes
            # escaped by the caller): bounded to one short line here, not escaped again
            box.update(label=f"{label}: {bounded(message, 160)} ({done} of {total})")
            bar.progress(min(1.0, done / max(total, 1)), text=bounded(message, 160))

        try:
            yield callback
        except BaseException:
            box.update(label=f"{label}: stopped", state="error", expanded=False)
            raise
        bar.empty()
        box.update(label=f"{label}: done", state="complete", expanded=False)


@contextlib.contextmanager
def step_progress(title: str) -> Iterator[None]:
    """While the block runs, a status box titled ``title`` whose progress bar names the step under way
    (what the library reports with :func:`regroup_core.run.progress.report_step`, e.g. the adaptive plan's
    runs); cleared when the block ends."""
    slot = st.empty()
    with slot.container():
        status = st.status(title, state="running", expanded=True)
        bar = status.progress(0.0, text="starting…")

    def heard(done: int, total: int, message: str) -> None:
        status.update(label=f"{title} {md(message, 300)}")  # the label too: it shows even if the box is folded
        bar.progress(min(1.0, done / total) if total else 0.0, text=md(message, 300))

    try:
        with listen_steps(heard):
            yield
    finally:
        slot.empty()


def progress_callback(text: str) -> tuple[Any, Callable[[int, int, str], None]]:
    """An ``st.progress`` bar and a ``callback(done, total, message)`` that moves it."""
    bar = st.progress(0.0, text=text)

    def callback(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{text} — {message} ({done}/{total})")

    return bar, callback
