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
_AUTOLINK = re.compile(r"(?i)(?=\\[:@])|(?<=www)(?=\\\.)")
"""Where a joiner goes: before every (escaped) colon and ``@`` (a scheme's ``://``, an e-mail address) and
between ``www`` and its dot."""


def bounded(value: object, limit: int = LIMIT) -> str:
    """``value`` as one plain line of at most ``limit`` characters (an ellipsis says it was cut)."""
    return one_line(_BIDI.sub("", str(value)), limit)


def md(value: object, limit: int = LIMIT) -> str:
    """``value`` as literal Markdown text: :func:`bounded`, then every ASCII punctuation escaped, and a
    word joiner (U+2060, invisible) where a GFM autolink literal would start.

    Why the joiner: Streamlit's renderer finds autolink literals (``http://…``, ``www.…``, ``a@b.co``) in
    the text *after* escapes are resolved, so ``http\\:\\/\\/198\\.51…`` still became a clickable link
    (seen in Chromium, tests/regroup_app/test_browser_pages.py); ``http⁠://`` (joiner before the colon)
    no longer matches."""
    return _AUTOLINK.sub("\u2060", _PUNCTUATION.sub(r"\\\1", bounded(value, limit)))
