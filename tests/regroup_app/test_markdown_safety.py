"""Outside text never reaches Markdown unescaped: a grep over the app's source for calls that render
Markdown (``st.markdown``/``warning``/``info``/``error``/``caption``/``success``/``toast``, image
captions, the link's notes) whose arguments interpolate a file name, a link value or an error's text
without :func:`regroup_app.ui.text.md`. Plus the helper itself on the payloads of issue #18."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from regroup_app.ui.text import md

APP = Path(__file__).resolve().parents[2] / "regroup_app"
RENDERS_MARKDOWN = {"markdown", "warning", "info", "error", "caption", "success", "toast", "note"}
UNTRUSTED = re.compile(r"\b(image|upload|current)\.name\b|\bshown_name\(|\bupload_name\(|\bexc\b|\braw\b"
                       r"|\bmessage\b|\bwhy\b")
SAFE = ("md", "bounded", "pretrained_help")  # pretrained_help: the app's own words, a model name, torchvision's URL


def _outside_text(node: ast.AST) -> list[str]:
    """The parts of an argument that carry outside text and are not passed through md()/bounded()."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SAFE:
        return []
    if isinstance(node, ast.IfExp):
        return _outside_text(node.body) + _outside_text(node.orelse)
    if isinstance(node, ast.JoinedStr):
        return [p for v in node.values if isinstance(v, ast.FormattedValue) for p in _outside_text(v.value)]
    if isinstance(node, ast.BinOp):
        return _outside_text(node.left) + _outside_text(node.right)
    text = ast.unparse(node)
    return [text] if UNTRUSTED.search(text) and not isinstance(node, ast.Constant) else []


def test_no_page_renders_outside_text_unescaped():
    offenders = []
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            args = []
            if node.func.attr in RENDERS_MARKDOWN:
                args += node.args
            args += [kw.value for kw in node.keywords if kw.arg in ("caption", "label", "help")]
            for arg in args:
                offenders += [f"{path.relative_to(APP)}:{node.lineno}: {part}" for part in _outside_text(arg)]
    assert not offenders, offenders


def test_md_makes_every_payload_inert_and_short():
    for payload in ("`![t](http://198.51.100.7/m.png)`", "![t](http://h/x.png).safetensors", "[x](javascript:1)",
                    ":red[x] :material/bolt: $x$ <img src=x>", "www.example.com a@b.co"):
        out = md(payload)
        assert not re.search(r"(?<!\\)[\[\]()`!:<>$@]", out.replace("\\\\", "")), out
        assert "http://" not in out and "www.example" not in out
        # what the renderer sees once escapes are resolved: no GFM autolink literal may form there
        shown = re.sub(r"\\(.)", r"\1", out)
        assert not re.search(r"(?i)(https?://|www\.)[-.\w]|[-.+\w]@[-\w]+\.", shown), shown
    assert len(md("x" * 100_000)) == 200 and "\n" not in md("a\nb\rc")
    assert md("‮gnp.exe") == "gnp\\.exe"  # no bidi control to reorder the line
