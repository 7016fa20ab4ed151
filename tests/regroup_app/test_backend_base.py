"""The middleware that tells Streamlit's browser code where the server is (no ``<page>/_stcore/health``
404s): the app's HTML gets one script in its head, nothing else changes. The browser half is in
test_browser_pages.py (every page, no 4xx/5xx, no console error)."""

from __future__ import annotations

import asyncio

from regroup_app.backend_base import BackendBaseUrl, base_script

HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body></body></html>"


def _serve(path: str, body: bytes = HTML, content_type: bytes = b"text/html", method: str = "GET",
           kind: str = "http") -> tuple[dict, bytes, list]:
    seen_headers: list = []

    async def inner(scope, receive, send):
        seen_headers.extend(scope.get("headers", []))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": body[10:], "more_body": False})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    scope = {"type": kind, "method": method, "path": path, "headers": [(b"accept-encoding", b"gzip"), (b"x", b"1")]}
    asyncio.run(BackendBaseUrl(inner)(scope, receive, send))
    start = sent[0]
    return start, b"".join(m.get("body", b"") for m in sent[1:]), seen_headers


def test_a_pages_html_gets_the_script_and_a_matching_length():
    for path in ("/", "/draw", "/attack_lab/"):
        start, body, seen = _serve(path)
        assert body == HTML.replace(b"<head>", b"<head>" + base_script(""), 1)
        assert dict(start["headers"])[b"content-length"] == str(len(body)).encode()
        assert (b"accept-encoding", b"gzip") not in seen and (b"x", b"1") in seen  # the HTML comes uncompressed


def test_assets_endpoints_and_other_types_pass_untouched():
    for path in ("/_stcore/health", "/draw/_stcore/host-config", "/static/js/index.js", "/favicon.png",
                 "/component/streamlit_drawable_canvas.st_canvas/index.html", "/media/abc.png"):
        start, body, seen = _serve(path)
        assert body == HTML and (b"accept-encoding", b"gzip") in seen, path
    start, body, _ = _serve("/draw", body=b'{"a": 1}', content_type=b"application/json")
    assert body == b'{"a": 1}'
    _, body, _ = _serve("/draw", method="POST")
    assert body == HTML


def test_the_script_names_the_root_under_a_base_url_path():
    assert b'window.location.origin+"/"' in base_script("")
    assert b'window.location.origin+"/regroup/"' in base_script("/regroup/")
    assert b'window.location.origin+"/a/b/"' in base_script("a//b")
    assert b"</script><" not in base_script("</script><img src=x>") and b"\\u003c/script>" in base_script("</script>")
