"""AppTest of the app off the Tour's path (issue #18): budgets stated next to every result, a
minimisation attack beyond every budget "changed the image", links that are data (escaped, capped,
one bounded line), every image through the pixel limit, the drawing's label following the drawing,
a Draw link restoring its attack, the classroom's defaults following the image and k."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from apptest_helpers import ENTRY, assert_clean, rendered, start

MD_IMAGE = "`![t](http://198.51.100.7/m.png)`"  # what a hostile link or file name carries


def _open(page: str, params: dict | None = None, timeout: int = 120):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.switch_page(f"app_pages/{page}.py")
    return at.run()


def _warning(at) -> str:
    assert len(at.warning) <= 1, [w.value for w in at.warning]
    return at.warning[0].value if at.warning else ""


def _unescaped_markup(text: str) -> bool:
    """An image, a link or a code span that Markdown would render (not backslash-escaped)."""
    return bool(re.search(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\((?<!\\)|(?<!\\)`|(?<![\\/])https?:(?!\\)//", text))


def _declared_png(width: int, height: int) -> bytes:
    """A small valid PNG header declaring a huge image (zero rows compress to nothing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    body = zlib.compress(b"\x00" * (1 + width) * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def _canvas(points: list[tuple[int, int]]) -> str:
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line(points, fill=(255, 255, 255, 255), width=22)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _set_canvas(at, data: str) -> None:
    at.session_state["draw-canvas"] = {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": data},
                                       "backgroundFit": None}


# ---- 1. budgets everywhere ----------------------------------------------------------------------

def test_attack_lab_defaults_to_the_models_budget_and_says_it():
    from regroup_core.sources.models import model_spec

    at = start("attack_lab")
    assert_clean(at)
    budget = model_spec("mnist-vgg").default_epsilon_255
    assert at.slider(key="eps-pgd-mnist-vgg").value == budget
    assert any(f"at or above this model's softmax budget {budget:g}/255" in rendered(c.value) for c in at.caption)


def test_a_weak_epsilon_is_said_next_to_the_result():
    at = _open("attack_lab", {"image": "mnist:test:3", "attack": "pgd", "threat": "transfer", "epsilon": "16",
                              "run": "1"})
    assert_clean(at)
    line = next(m.value for m in at.markdown if m.value.startswith("**pgd**"))
    assert "ε = 16/255 — below this model's softmax budget" in line.splitlines()[0]


def test_deepfool_beyond_every_budget_changed_the_image_not_fooled():
    at = _open("attack_lab", {"image": "mnist:test:3", "attack": "cw", "threat": "transfer", "run": "1"},
               timeout=300)
    assert_clean(at)
    lines = next(m.value for m in at.markdown if m.value.startswith("**cw**")).splitlines()
    assert "beyond any budget of this model" in lines[0]
    softmax = next(line for line in lines if line.startswith("softmax"))
    assert "changed the image (δ beyond any budget)" in softmax and "[fooled]" not in softmax


def test_benchmark_states_the_budget_next_to_the_numbers():
    at = _open("benchmark", {"epsilon": "16", "n": "3", "attacks": "pgd", "threats": "transfer"}, timeout=300)
    at.button(key="bench-run").click().run(timeout=300)
    assert_clean(at)
    table = at.table[0].value  # the main table (a static table: its cells wrap)
    column = list(table.columns)
    note = "ε vs softmax budget"
    assert column.index(note) == column.index("REGroup robust %") + 1  # next to the number it qualifies
    pgd = table[table["attack"].eq("pgd")].iloc[0]
    assert pgd[note].startswith("weak: ε 16 < budget") and "softmax fooled only" in pgd[note]
    chart = at.get("plotly_chart")[0].proto.spec
    assert "below budget" in chart and "softmax budget: ε = " in chart


# ---- 3. links are data -------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {MD_IMAGE: "1"},
    {"epsilon": MD_IMAGE},
    {"image": MD_IMAGE},
    {"x" * 100_000: "1"},
    {"attack": "pgd", "steps": "9" * 5000},
    {"image": "mnist:test:" + "9" * 5000},
])
def test_a_hostile_link_is_one_bounded_escaped_line(params):
    at = _open("attack_lab", params)
    assert_clean(at)
    text = _warning(at)
    assert text and len(text) <= 1200 and "\n" not in text
    assert not _unescaped_markup(text), text


def test_repeated_and_duplicate_values_are_refused_and_said():
    at = _open("tsne", {"n": ["1000000000", "5"], "classes": "0,0,1"})
    assert_clean(at)
    text = rendered(_warning(at))
    assert "n 2 times" in text and "more than once" in text
    assert at.slider(key="tsne-n").value == 25  # the default, not the last copy


def test_a_link_never_starts_work_above_the_cap():
    at = _open("attack_lab", {"image": "mnist:test:3", "attack": "spsa", "threat": "blackbox", "steps": "2000",
                              "run": "1"})
    assert_clean(at)
    assert at.session_state["last_attack"] is None if "last_attack" in at.session_state else True
    assert "press Run attack" in rendered(_warning(at))
    at2 = _open("layer_ranks", {"image": "mnist:test:3", "attack": "pgd", "threat": "adaptive", "steps": "2000",
                                "run": "1"})
    assert_clean(at2)
    assert "2000 steps of pgd" in rendered(_warning(at2))


def test_attack_lists_are_capped():
    at = _open("benchmark", {"attacks": ",".join(["pgd"] * 5000)})
    assert_clean(at)
    assert "expected at most" in rendered(_warning(at))
    assert at.multiselect(key="bench-attacks").value == ["pgd", "deepfool"]


def test_a_drawing_link_declaring_a_huge_image_is_refused_before_decoding():
    code = base64.urlsafe_b64encode(_declared_png(30000, 30000)).decode().rstrip("=")
    at = _open("draw", {"image": f"drawing:{code}"})
    assert_clean(at)
    assert any(w in rendered(_warning(at)) for w in ("before decoding", "decompression bomb", "8000 characters"))


@pytest.mark.parametrize("value", ["not a data url", "data:image/png;base64,!!!", "http://198.51.100.7/x.png",
                                   "data:image/png;base64," + base64.b64encode(b"\x80\x04pickle").decode(),
                                   "data:image/png;base64," + base64.b64encode(_declared_png(9000, 9000)).decode()])
def test_crafted_canvas_values_are_one_line_inside_the_page(value):
    at = start("draw")
    _set_canvas(at, value)
    at.run()
    assert not at.exception and not at.error
    assert any("the canvas" in rendered(w.value) for w in at.warning)


# ---- 2. the drawing's label follows the drawing; a Draw link restores its attack -------------------

def test_redrawing_clears_the_old_label_and_a_draw_link_restores_its_attack():
    at = start("draw")
    _set_canvas(at, _canvas([(140, 40), (140, 240)]))
    at.run()
    at.selectbox(key="draw-label").set_value(1).run()
    assert at.session_state["current_image"].label == 1
    at.button(key="draw-run").click().run()
    params = {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert params["attack"] == "pgd" and params["run"] == "1" and params["label"] == "1"
    again = _open("draw", params)
    assert_clean(again)
    assert again.session_state["last_attack"] is not None  # the link's attack, shown again
    assert any("attacked drawing" in (i.caption or "") for i in again.get("imgs")) or \
        any(m.value.startswith("**pgd**") for m in again.markdown)
    _set_canvas(at, _canvas([(60, 60), (220, 60), (140, 240)]))  # draws a 7 over it
    at.run()
    assert_clean(at)
    assert at.session_state["current_image"].label is None  # not "8 (wrong)": the old label is gone


# ---- 2. the classroom's defaults follow the image and k --------------------------------------------

def test_classroom_defaults_follow_the_image_and_k():
    at = _open("classroom", {"image": "mnist:test:3", "attack": "pgd", "threat": "transfer", "run": "1"})
    assert_clean(at)
    for version, k in (("adversarial", None), ("adversarial", 1), ("clean", 1)):
        at.radio(key="class-which").set_value(version).run()
        if k is not None:
            at.slider(key="class-k").set_value(k).run()
        assert_clean(at)
        promoted = at.selectbox(key="class-promote").value
        winner = next(r for r in at.dataframe[1].value.to_dict("records") if r["rule"].startswith("Borda"))
        # the default "put this class first" is the runner-up of the image and k shown, never the winner
        assert str(promoted) != winner["winner before"], (version, k)
        text = " ".join(m.value for m in at.markdown)
        assert f"**{promoted}**" in text  # the sentence is about the class the metrics count for


# ---- settings that name unusable places ----------------------------------------------------------

@pytest.mark.parametrize("value", ["/etc/hostname/cache", "/proc/regroup"])
def test_an_unusable_cache_setting_is_one_line(monkeypatch, value):
    monkeypatch.setenv("REGROUP_CACHE", value)
    at = _open("ablations")
    assert not at.exception
    errors = [rendered(e.value) for e in at.error]
    assert errors and all(e.startswith("REGROUP_CACHE: expected a folder") and "\n" not in e for e in errors), errors


def test_an_unknown_user_in_the_data_roots_is_one_line(monkeypatch):
    from regroup_app.services.data_roots import check_server_file
    from regroup_core.errors import DataError

    monkeypatch.setenv("REGROUP_DATA_ROOTS", "~nosuchuser")
    with pytest.raises(DataError, match=r"^REGROUP_DATA_ROOTS: expected a usable path, got '~nosuchuser'"):
        check_server_file("/tmp/x.pth", "weights file")


def test_glossary_opens_as_a_dialog_with_the_missing_terms():
    at = start("attack_lab")
    at.sidebar.button(key="glossary-open").click().run()
    text = " ".join(m.value for m in at.markdown)
    for term in ("adversarial example", "PGD", "DeepFool", "plurality", "Copeland", "KL divergence"):
        assert f"**{term}**" in text


def test_a_fifo_named_pth_is_named_a_fifo_never_opened(tmp_path, monkeypatch):
    import os

    from regroup_app.services.weight_files import check_server_path
    from regroup_core.errors import RegroupError

    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(tmp_path))
    with pytest.raises(RegroupError, match=r"got a named pipe \(FIFO\)$"):
        check_server_path(str(fifo))
