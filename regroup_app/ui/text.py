"""Text that came from outside (a link, a file name, file metadata, an error quoting them) made
safe for Streamlit's Markdown: one line, bounded length, nothing that can render.

Streamlit renders ``st.markdown``/``st.warning``/``st.error``/``st.caption``/widget labels as
Markdown: ``![t](http://host/x.png)`` there makes the visitor's browser fetch that host, a bare
``http://…`` becomes a link, ``:red[…]`` colours, ``$…$`` typesets. :func:`md` backslash-escapes
every ASCII punctuation character (CommonMark lets any of them be escaped, and an escaped character
is shown as itself), so no image, link, autolink, code span, directive or formula can form; bidi
controls are dropped so a name cannot reorder the line around it.
"""

from __future__ import annotations

import re
import string

from regroup_core.errors import one_line

__all__ = ["LIMIT", "md", "bounded"]

LIMIT = 200
"""Longest outside value shown in a message (characters, before escaping)."""

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def bounded(value: object, limit: int = LIMIT) -> str:
    """``value`` as one plain line of at most ``limit`` characters (an ellipsis says it was cut)."""
    return one_line(_BIDI.sub("", str(value)), limit)


def md(value: object, limit: int = LIMIT) -> str:
    """``value`` as literal Markdown text: :func:`bounded`, then every ASCII punctuation escaped."""
    return _PUNCTUATION.sub(r"\\\1", bounded(value, limit))
