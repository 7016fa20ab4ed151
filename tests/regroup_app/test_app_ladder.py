"""Benchmark page: the attacker-knowledge ladder (shipped rows, matched on weights and classifier), and
the command line for a model without one. The rows are a test fixture with invented numbers, written
into a temporary packaged copy by the script's own ``ship``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apptest_helpers import assert_clean, rendered, start

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ladder-mnist-vgg.json"


@pytest.fixture
def shipped_ladder(tmp_path, monkeypatch):
    """A packaged ladder copy made from the fixture (``scripts.ladder_results.ship``); returns its record."""
    from regroup_app.services import shipped
    from scripts.ladder_results import ship

    def make(record: dict | None = None) -> Path:
        path = tmp_path / "ladder.json"
        ship(record or json.loads(FIXTURE.read_text()), path)
        monkeypatch.setattr(shipped, "shipped_ladder_path", lambda: path)
        return path

    return make


def _markdown(at) -> str:
    return rendered(" ".join(m.value for m in at.markdown))


def _ladder_figure(at) -> dict:
    charts = [c for c in at.get("plotly_chart") if "as the attacker learns more" in c.proto.spec]
    assert len(charts) == 1, [c.proto.spec[:80] for c in at.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


def test_ladder_chart_and_a_sentence_per_rung(shipped_ladder):
    shipped_ladder()
    at = start("benchmark")
    assert_clean(at)
    fig = _ladder_figure(at)
    assert [panel["text"] for panel in fig["layout"]["annotations"]] == ["ε = 32/255", "ε = 44/255"]
    traces = {(t["name"], t["xaxis"]): t for t in fig["data"]}
    regroup = traces[("REGroup", "x")]
    assert regroup["x"] == ["transfer", "decision", "score", "feature", "adaptive"]
    assert regroup["y"] == [88.0, 80.0, 74.0, 60.0, 46.0]  # ladder order although the file is reversed
    assert regroup["error_y"]["arrayminus"][0] == pytest.approx(9.5)
    assert traces[("softmax (undefended)", "x2")]["y"][0] == 9.0
    text = _markdown(at)
    for sentence in ("If attackers cannot tell REGroup is there", "The honest worst case"):
        assert sentence in text
    assert "ε 32: REGroup 46 %, softmax 50 %; ε 44: REGroup 31 %, softmax 8 %" in text
    assert any("invented numbers for tests" in rendered(c.value) for c in at.caption)


def test_no_shipped_ladder_says_so_and_gives_the_command(shipped_ladder):
    from regroup_app.state import ModelChoice, shipped_classifier

    shipped_ladder()  # mnist-vgg only
    at = start("benchmark", model_choice=ModelChoice("mnist-resnet", None, shipped_classifier("mnist-resnet")))
    assert_clean(at)
    assert any("No ladder ships for **mnist\\-resnet**" in i.value for i in at.info), [i.value for i in at.info]
    assert any("python -m regroup_core ladder --model mnist-resnet --classifier "
               "regroup_core/assets/classifiers/mnist-resnet.safetensors --epsilons 21" in c.value for c in at.code)
    assert not [c for c in at.get("plotly_chart") if "as the attacker learns more" in c.proto.spec]


def test_a_ladder_of_other_weights_is_not_shown_as_this_ones(shipped_ladder):
    path = shipped_ladder()
    record = json.loads(path.read_text())
    record["models"]["mnist-vgg"]["classifier"] = "sha256:another-classifier"
    path.write_text(json.dumps(record))
    at = start("benchmark")
    assert_clean(at)
    assert any("No ladder ships for" in i.value for i in at.info)


def test_file_text_cannot_render_as_markdown(shipped_ladder):
    record = json.loads(FIXTURE.read_text())
    for row in record["rows"]:
        row["meaning"] = "![x](http://attacker.example/p.png) :red[boo]"
    record["command"] = "[click](http://attacker.example)"
    shipped_ladder(record)
    at = start("benchmark")
    assert_clean(at)
    source = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "![x](http" not in source and "[click](http" not in source and ":red[" not in source
    assert "attacker.example" in rendered(source)  # shown, as text


def test_a_damaged_ladder_file_is_one_warning(shipped_ladder):
    path = shipped_ladder()
    path.write_text("{damaged")
    from regroup_app.services import shipped

    shipped._ladder_file.cache_clear()
    at = start("benchmark")
    assert not at.exception
    assert any("could not be read" in w.value for w in at.warning)
