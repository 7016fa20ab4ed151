"""The ladder as a file (experiments/ladder_file.py), the README's generated sections
(experiments/markers.py) and the packaged copy scripts/ladder_results.py writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from regroup_core import load_defended, load_model
from regroup_core.errors import DataError
from regroup_core.experiments.ladder import LADDER
from regroup_core.experiments.ladder_file import check_rows, ladder_command, ladder_for, read_ladder
from regroup_core.experiments.markers import replace_marked
from regroup_core.sources.assets import shipped_classifier
from regroup_core.store import classifier_digest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ladder-mnist-vgg.json"


def _rows() -> list[dict]:
    return json.loads(FIXTURE.read_text())["rows"]


def test_rows_come_back_in_ladder_order_per_budget():
    rows = check_rows(_rows())
    assert [float(r["epsilon_255"]) for r in rows] == [32.0] * 5 + [44.0] * 5
    assert [r["rung"] for r in rows[:5]] == [rung.name for rung in LADDER]


@pytest.mark.parametrize("change, words", [
    (lambda r: r.pop("meaning"), "'meaning'"),
    (lambda r: r.update(rung="oracle"), "rung among"),
    (lambda r: r.update(regroup_robust=120.0), "regroup_robust in [0, 100]"),
    (lambda r: r.update(softmax_robust_ci=[60.0, 70.0]), "softmax_robust in [0, 100] inside its interval"),
    (lambda r: r.update(n=True), "'n'"),
])
def test_a_bad_row_is_one_line_naming_what_is_wrong(change, words):
    rows = copy.deepcopy(_rows())
    change(rows[3])
    with pytest.raises(DataError, match=r"row 3") as err:
        check_rows(rows)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_an_unreadable_file_is_one_line(tmp_path):
    bad = tmp_path / "ladder.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="expected a readable ladder file"):
        read_ladder(bad)
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(DataError, match="non-empty list"):
        read_ladder(bad)


def test_shipped_copy_is_shown_only_for_the_weights_and_classifier_it_was_made_with(tmp_path):
    from scripts.ladder_results import ship

    out = tmp_path / "app-results" / "ladder.json"
    ship(json.loads(FIXTURE.read_text()), out)
    made = read_ladder(out)
    bundle = load_model("mnist-vgg", device="cpu")
    digest = classifier_digest(load_defended(bundle, shipped_classifier("mnist-vgg")).classifiers)
    assert made.models["mnist-vgg"] == {"fingerprint": bundle.fingerprint, "classifier": digest}
    assert len(ladder_for(made, "mnist-vgg", bundle.fingerprint, digest)) == 10
    assert ladder_for(made, "mnist-vgg", "other-weights", digest) == []
    assert ladder_for(made, "mnist-vgg", bundle.fingerprint, "sha256:other") == []
    assert ladder_for(made, "mnist-resnet", bundle.fingerprint, digest) == []
    assert made.command.startswith("tests/fixtures") and made.seconds_by_model == {"mnist-vgg": 1}


def test_ladder_command_is_the_cli_with_its_budgets():
    cmd = ladder_command("mnist-resnet", "c.safetensors", [16.0, 21.0], n=50)
    assert cmd.endswith("python -m regroup_core ladder --model mnist-resnet --classifier c.safetensors "
                        "--epsilons 16,21 --n 50 --json")


def test_replace_marked_touches_only_the_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- ladder:begin -->\nold\n<!-- ladder:end -->\nbottom\n")
    replace_marked(readme, "ladder", ["", "new", ""])
    assert readme.read_text() == "top\n<!-- ladder:begin -->\n\nnew\n\n<!-- ladder:end -->\nbottom\n"
    with pytest.raises(DataError, match="attack-results:begin"):
        replace_marked(readme, "attack-results", ["x"])
    readme.write_text("<!-- ladder:end --> <!-- ladder:begin -->")
    with pytest.raises(DataError, match="in that order"):
        replace_marked(readme, "ladder", ["x"])


def test_the_shipped_ladder_records_its_cost_from_an_empty_cache():
    """The app's caption shows the cost of making the ladder, not the seconds of a rerun on a filled cache."""
    from regroup_core.experiments.ladder_file import read_ladder, shipped_ladder_path

    shipped = read_ladder(shipped_ladder_path())
    assert set(shipped.empty_cache_seconds) == {"mnist-vgg", "mnist-resnet"}
    assert all(seconds > 600 for seconds in shipped.empty_cache_seconds.values())
    assert {r["model"] for r in shipped.rows} == {"mnist-vgg", "mnist-resnet"}


def test_a_cost_that_is_not_a_finite_number_is_dropped(tmp_path):
    """A hand-edited ladder file may carry NaN, Infinity, a negative or a boolean where a cost belongs: the
    caption then shows no cost rather than "nan s"."""
    import json

    from regroup_core.experiments.ladder_file import read_ladder, shipped_ladder_path

    record = json.loads(shipped_ladder_path().read_text())
    record["seconds"] = float("nan")
    record["empty_cache_seconds"] = {"mnist-vgg": float("inf"), "mnist-resnet": -3, "x": True, "y": 12.5}
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps(record))
    ladder = read_ladder(path)
    assert ladder.seconds is None and dict(ladder.empty_cache_seconds) == {"y": 12.5}
