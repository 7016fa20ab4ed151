"""Tell Streamlit's browser code where the server is, so that opening a page's own URL (``/draw``) does
not first probe ``/draw/_stcore/health`` and ``/draw/_stcore/host-config`` (two 404s per connection).

Why: Streamlit's frontend does not know the server's base path; unless ``window.__streamlit.BACKEND_BASE_URL``
is set it tries the page's path as a base first, then the path above it (``getPossibleBaseUris`` in its
bundle), and the server answers the first with a 404 on purpose (``_RESERVED_STATIC_PATH_SUFFIXES``). This
ASGI middleware (an ``st.App`` middleware, see :mod:`regroup_app.asgi`) adds one inline script to the HTML
Streamlit serves for a page, setting that value to the app's own root (``server.baseUrlPath`` honoured);
the frontend then connects to the root at once. Nothing else in the response changes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BackendBaseUrl", "base_script"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_NOT_PAGES = ("_stcore/", "static/", "component/", "media/", "favicon", "manifest.json")  # static/: the app's too


def base_script(base_url_path: str) -> bytes:
    """The inline script: ``window.__streamlit = {BACKEND_BASE_URL: <origin>/<base path>/}``."""
    path = "/" + "/".join(p for p in base_url_path.split("/") if p)
    path = path if path.endswith("/") else path + "/"
    literal = json.dumps(path).replace("<", "\\u003c")  # a configured path never closes the script element
    return (f"<script>window.__streamlit=Object.assign({{}},window.__streamlit,"
            f"{{BACKEND_BASE_URL:window.location.origin+{literal}}});</script>").encode()


def _base_url_path() -> str:
    from streamlit import config

    return str(config.get_option("server.baseUrlPath") or "")


def _is_page_request(scope: Scope) -> bool:
    """A GET for the app's HTML (a page path or the root), not an asset, an endpoint or a websocket."""
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
        return False
    base = "/" + "/".join(p for p in _base_url_path().split("/") if p)
    path = str(scope.get("path", "/"))
    rest = path[len(base):] if path.startswith(base) else path
    return not any(part in rest for part in _NOT_PAGES) and not rest.rsplit("/", 1)[-1].count(".")


class BackendBaseUrl:
    """ASGI middleware adding :func:`base_script` to the ``<head>`` of the app's HTML responses."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_page_request(scope):
            await self.app(scope, receive, send)
            return
        # ask the inner app for an uncompressed body: the script is inserted into the HTML text
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"])
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            await _send_with_script(send, start, bytes(body))

        await self.app(scope, receive, capture)


async def _send_with_script(send: Send, start: Message | None, body: bytes) -> None:
    """The response as it was, with the script after ``<head>`` when it is HTML."""
    assert start is not None  # ASGI: the start message comes first
    headers = list(start.get("headers", []))
    html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
    if html and b"<head>" in body:
        body = body.replace(b"<head>", b"<head>" + base_script(_base_url_path()), 1)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
    await send(dict(start, headers=headers))
    await send({"type": "http.response.body", "body": body, "more_body": False})
