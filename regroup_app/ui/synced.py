"""Link-synced widgets in one call: restore the widget from the link, draw it, keep its value across
page switches and publish it back with the page (:func:`regroup_app.ui.links.publish`).

    attack = synced("attack", "attack-name", links.one_of(names),
                    lambda key: st.selectbox("Attack", names, key=key))

The link's name (``attack``), the widget's key and the parser are written once; a bad link value
is reported by :mod:`regroup_app.ui.links` and the widget keeps its default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..state import state
from . import links

__all__ = ["synced"]

T = TypeVar("T")


def synced(name: str, key: str, parse: links.Parse, draw: Callable[[str], T], *,
           link: Callable[[T], Any] | None = None) -> T:
    """Restore widget ``key`` from the link's ``name`` (checked by ``parse``), draw it with
    ``draw(key)`` and record its value for the page's link (``link(value)`` when given; None leaves
    the name out of the link). Returns the widget's value."""
    links.restore(name, key, parse)
    value = draw(state().keep(key))
    links.record(name, value if link is None else link(value))
    return value
