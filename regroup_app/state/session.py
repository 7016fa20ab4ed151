"""Per-session state of the app, as one typed object: what one browser session works with (model,
image, last attack), the link it opened with, and the widget settings it keeps across page switches.

Every read or write of Streamlit's session state goes through :class:`AppState` (``state()``), so the
keys live in one place. Shared, cached resources are in :mod:`regroup_app.services`.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from regroup_core import ModelBundle, sources

__all__ = [
    "AppState",
    "AttackChoice",
    "CurrentImage",
    "LastAttack",
    "ModelChoice",
    "image_from_pil",
    "image_tensor",
    "shipped_classifier",
    "state",
]


def shipped_classifier(name: str) -> str | None:
    """The classifier file shipped for a model (fitted on its default weights), if any."""
    path = sources.shipped_classifier(name)
    return None if path is None else str(path)


@dataclass(frozen=True)
class ModelChoice:
    """What a session works with: a model, its weights and its classifier file (if any). Hashable:
    the cached services take it as it is."""

    name: str = "mnist-vgg"
    weights: str | None = None
    classifier: str | None = field(default_factory=lambda: shipped_classifier("mnist-vgg"))

    @property
    def parts(self) -> list[str | None]:
        """The three values as the results store keys them (stored results stay found)."""
        return [self.name, self.weights, self.classifier]


@dataclass(frozen=True)
class CurrentImage:
    """The image a session is looking at: PNG bytes (model independent), a label if known, and
    its id in shareable links (``mnist:test:201``, ``drawing:…``; None for an upload)."""

    name: str
    png: bytes
    label: int | None
    source: str
    id: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png).hexdigest()[:16]

    def pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png))


@dataclass(frozen=True)
class AttackChoice:
    """An attack as a page asks for it (its link settings): preset, threat model and overrides."""

    attack: str
    threat: str = "transfer"
    epsilon: float | None = None
    steps: int | None = None
    target: int | None = None
    seed: int = 0

    def link(self) -> dict[str, Any]:
        return {"attack": self.attack, "threat": self.threat, "epsilon": self.epsilon, "steps": self.steps,
                "target": self.target, "seed": self.seed}


@dataclass(frozen=True)
class LastAttack:
    """The last attack of a session: which model and image it belongs to, and its result."""

    choice: ModelChoice
    image_digest: str
    adversarial: np.ndarray  # (C, H, W) float32 in [0, 1]
    success: bool
    settings: dict


def image_from_pil(img: Image.Image, *, name: str, label: int | None, source: str,
                   image_id: str | None = None) -> CurrentImage:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return CurrentImage(name=name, png=buf.getvalue(), label=label, source=source, id=image_id)


def image_tensor(bundle: ModelBundle, image: CurrentImage) -> np.ndarray:
    """(C, H, W) float32 in [0, 1]: the image preprocessed for ``bundle``."""
    return bundle.preprocess(image.pil()).numpy()


class AppState:
    """The one typed view of a browser session's state (wraps ``st.session_state``).

    Widget settings survive page switches when their key was *kept* (:meth:`keep`, done by the
    link-synced widget helper and by pages for their other settings): Streamlit forgets a widget's
    value once a run does not draw it, and :meth:`persist_widgets` copies kept values back at the
    start of every run. Buttons, downloads and uploaders are never kept (they cannot be set).
    """

    MODEL = "model_choice"
    IMAGE = "current_image"
    ATTACK = "last_attack"
    UPLOADS = "upload-names"
    RESTORED = "image-restored"
    KEPT = "kept-widgets"
    LINK_REQUEST = "url-request"      # pending {name: raw value} of the link this session opened with
    LINK_MESSAGES = "url-messages"    # friendly lines about the link, shown once
    LINK_STARTED = "url-started"
    LINK_PUBLISHED = "url-published"  # what the current page last wrote to the URL
    LINK_VALUES = "url-values"        # what this run's link-synced widgets hold, published with the page

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self._store = store

    # ---- what the session works with ---------------------------------------------------------

    @property
    def model_choice(self) -> ModelChoice:
        return self._store.setdefault(self.MODEL, ModelChoice())

    @model_choice.setter
    def model_choice(self, choice: ModelChoice) -> None:
        self._store[self.MODEL] = choice

    @property
    def current_image(self) -> CurrentImage | None:
        return self._store.get(self.IMAGE)

    @current_image.setter
    def current_image(self, image: CurrentImage) -> None:
        if self._store.get(self.IMAGE) != image:
            self._store[self.IMAGE] = image

    @property
    def last_attack(self) -> LastAttack | None:
        """The session's last attack if it belongs to the current model and image."""
        run: LastAttack | None = self._store.get(self.ATTACK)
        image = self.current_image
        if run is None or image is None or run.choice != self.model_choice or run.image_digest != image.digest:
            return None
        return run

    @last_attack.setter
    def last_attack(self, run: LastAttack) -> None:
        self._store[self.ATTACK] = run

    def mark_image_restored(self) -> None:
        """A link or another page put the current image there: the picker opens on it once."""
        self._store[self.RESTORED] = True

    def take_image_restored(self) -> bool:
        return bool(self._store.pop(self.RESTORED, False))

    def name_upload(self, path: str, name: str) -> None:
        """Remember the name a file was uploaded under (messages and the sidebar show it, not the path)."""
        self._store.setdefault(self.UPLOADS, {})[path] = name

    def upload_name(self, path: str | None) -> str | None:
        return self._store.get(self.UPLOADS, {}).get(path) if path else None

    def shown_name(self, path: str | None, default: str) -> str:
        """What to call a weights or classifier file: its uploaded name (never a cache path), else
        the file's name; ``default`` when there is none."""
        if not path:
            return default
        if path == "random":
            return path
        return self.upload_name(path) or Path(path).name

    # ---- widget values ------------------------------------------------------------------------

    def keep(self, key: str) -> str:
        """Keep widget ``key``'s value across page switches; returns the key (``key=keep("x")``)."""
        kept: set[str] = self._store.setdefault(self.KEPT, set())
        kept.add(key)
        return key

    def persist_widgets(self) -> None:
        """At the start of a run: copy every kept widget's value back (see the class doc)."""
        # Streamlit then logs "created with a default value but also had its value set via the
        # Session State API" (with a stack) for each such widget: expected here, so silenced.
        logging.getLogger("streamlit.elements.lib.policies").setLevel(logging.ERROR)
        for key in sorted(self._store.get(self.KEPT, set())):
            if key in self._store:
                self._store[key] = self._store[key]

    def widget(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def set_widget(self, key: str, value: Any) -> None:
        """Open widget ``key`` on ``value`` (before it is drawn); the value is kept."""
        self._store[self.keep(key)] = value

    def drop_widget(self, key: str) -> Any:
        return self._store.pop(key, None)

    # ---- the link -----------------------------------------------------------------------------

    def link_started(self) -> bool:
        """True on every run after the session's first (which takes the link's parameters)."""
        started = bool(self._store.get(self.LINK_STARTED))
        self._store[self.LINK_STARTED] = True
        return started

    def _live_dict(self, key: str) -> dict[str, Any]:
        """The dict stored under ``key`` (a new empty one when there is none): callers change it in place."""
        value = self._store.get(key)
        if value is None:
            value = self._store[key] = {}
        return value

    @property
    def link_request(self) -> dict[str, str]:
        """The link's settings no page has used yet (a live dict: using one pops it)."""
        return self._live_dict(self.LINK_REQUEST)

    @link_request.setter
    def link_request(self, request: dict[str, str]) -> None:
        self._store[self.LINK_REQUEST] = request

    def note(self, text: str) -> None:
        self._store.setdefault(self.LINK_MESSAGES, []).append(text)

    def take_notes(self) -> list[str]:
        return self._store.pop(self.LINK_MESSAGES, [])

    @property
    def published(self) -> dict[str, str]:
        return dict(self._store.get(self.LINK_PUBLISHED) or {})

    @published.setter
    def published(self, params: dict[str, str]) -> None:
        self._store[self.LINK_PUBLISHED] = params

    @property
    def link_values(self) -> dict[str, Any]:
        """This run's link-synced widget values (a live dict, emptied at the start of every run)."""
        return self._live_dict(self.LINK_VALUES)

    def new_run(self) -> None:
        self._store[self.LINK_VALUES] = {}


def state() -> AppState:
    """This browser session's state."""
    return AppState(st.session_state)
