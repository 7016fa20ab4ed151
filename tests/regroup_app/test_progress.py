"""Long work shows what it is doing and streams its results (issue #18, point 4): the Ablations ε sweep
draws each ε's point as soon as that ε's attack is done, inside a status box that names the step; the
voter ablation and the t-SNE page name their steps too."""

from __future__ import annotations

import json

from apptest_helpers import assert_clean, start

from regroup_app.services import suites
from regroup_core.errors import DataError


def _sweep_page(n: int = 3, epsilons: tuple[float, ...] = (8.0,), eps: float = 48.0):
    at = start("ablations")
    at.number_input(key="abl-n").set_value(n).run()
    at.slider(key="abl-eps").set_value(eps).run()
    at.multiselect(key="abl-eps-list").set_value(list(epsilons)).run()
    return at


def _x_of_charts(at) -> list[list[float]]:
    """The ε values of the lines of every ε-sweep chart on the page."""
    out = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if "PGD L∞" in str(spec.get("layout", {}).get("title", "")):
            out.append(next(t["x"] for t in spec["data"] if t.get("mode") == "lines+markers"))
    return out


def test_each_eps_point_is_drawn_before_the_next_attack_runs(monkeypatch):
    """The second ε's attack fails on purpose: the first ε's point must already be on the page (drawn
    before the second attack started), and the status box says the sweep stopped."""
    real = suites.epsilon_sweep_points
    started = []

    def second_fails(*args, **kwargs):
        for i, point in enumerate(real(*args, **kwargs)):
            started.append(point[0])
            yield point
            if i == 0:
                raise DataError("expected the test's second ε to fail, got it failing")

    monkeypatch.setattr(suites, "epsilon_sweep_points", second_fails)
    at = _sweep_page()
    at.button(key="run-eps-sweep").click().run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    assert started == [8.0]
    assert _x_of_charts(at) == [[8.0]]  # the first point, drawn while the sweep still ran
    assert [s.label for s in at.status] == ["ε sweep: stopped"]
    assert len(at.error) == 1 and "second ε" in at.error[0].value


def test_finished_sweep_collapses_its_box_and_draws_every_point_once():
    at = _sweep_page()
    at.button(key="run-eps-sweep").click().run(timeout=300)
    assert_clean(at)
    assert [s.label for s in at.status] == ["ε sweep: done"]
    assert _x_of_charts(at) == [[8.0, 48.0]]  # the streamed partial chart is replaced by the finished one


def test_streamed_points_equal_the_one_call_sweep():
    """Streaming changes when a point is shown, never its value: per-ε attacks equal the sweep over the grid."""
    import regroup_core
    from regroup_core import experiments as lib
    from regroup_core.sources.assets import shipped_classifier

    bundle = regroup_core.load_model("mnist-vgg")
    defended = regroup_core.load_defended(bundle, shipped_classifier("mnist-vgg"))
    points = list(suites.epsilon_sweep_points(bundle, defended, epsilons_255=[4.0, 64.0], n=3))
    whole = lib.epsilon_sweep(bundle, defended, suites.test_images(bundle, defended, 3), epsilons_255=[4.0, 64.0])
    assert points == [(4.0, float(whole["softmax_top1"][0]), float(whole["regroup_top1"][0])),
                      (64.0, float(whole["softmax_top1"][1]), float(whole["regroup_top1"][1]))]


def test_tsne_draws_the_clean_map_while_the_overlay_attacks_run(monkeypatch):
    """The overlay's second class fails on purpose: the clean map is on the page already and the status
    box names the step that stopped."""
    from regroup_app.services import tsne_map

    real = tsne_map.class_adversarial
    attacked = []

    def second_fails(choice, c, *args, **kwargs):
        attacked.append(c)
        if len(attacked) == 2:
            raise DataError("expected the test's second class to fail, got it failing")
        return real(choice, c, *args, **kwargs)

    monkeypatch.setattr(tsne_map, "class_adversarial", second_fails)
    at = start("tsne")
    attacked.clear()
    at.slider(key="tsne-n").set_value(10).run()  # settings no other test uses: nothing cached
    assert not at.exception, [e.value for e in at.exception]
    assert attacked == [0, 1]
    [early] = at.get("plotly_chart")
    spec = json.loads(early.proto.spec)
    assert spec["data"] and not any("adversarial" in str(t.get("legendgroup", "")) for t in spec["data"])
    assert [s.label for s in at.status] == ["t-SNE: stopped"]
    assert len(at.error) == 1 and "second class" in at.error[0].value


def test_tsne_page_clears_its_status_box_once_the_map_is_drawn():
    at = start("tsne")
    assert_clean(at)
    assert not at.status and len(at.get("plotly_chart")) == 1


def test_attack_spinner_names_the_work():
    from regroup_app.services.attacking import running_text
    from regroup_app.state import AttackChoice

    assert running_text(AttackChoice("cw", "transfer")) == \
        "Running cw (transfer): 5 binary-search rounds × 100 steps on one image…"
    assert running_text(AttackChoice("pgd", "adaptive", epsilon=44.0, steps=7)) == \
        "Running pgd (adaptive): 7 steps per run on one image…"
