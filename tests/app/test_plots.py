"""app.plots: figures carry int16 ranks, axis titles and hover text that names the cell."""

from __future__ import annotations

import numpy as np

from app import plots

NAMES = tuple(f"class{i}" for i in range(1000))


def test_rank_heatmap_int16_hover_marks_and_voter_band():
    ranks = np.array([[1, 5, 1000], [2, 1, 3]])
    fig = plots.rank_heatmap(ranks, layers=["conv1", "fc"], classes=[0, 7, 999], class_names=NAMES,
                             num_classes=1000, title="t", marks={"true": 7, "softmax": 999, "REGroup": None}, k=1)
    hm = fig.data[0]
    assert np.asarray(hm.z).dtype == np.int16
    assert hm.hovertext[0][2] == "conv1<br>class 999 class999<br>rank 1000 of 1000"
    assert fig.layout.xaxis.title.text == "class" and fig.layout.yaxis.title.text.startswith("layer")
    texts = [a.text for a in fig.layout.annotations]
    assert "true" in texts and "softmax" in texts and "k = 1 voting layers" in texts
    assert len(fig.layout.shapes) == 3  # two marked columns + the voter band


def test_rank_change_heatmap_signs_and_hover():
    clean = np.array([[1, 2], [2, 1]])
    adv = np.array([[2, 1], [2, 1]])
    fig = plots.rank_change_heatmap(clean, adv, layers=["a", "b"], classes=[0, 1], class_names=("0", "1"),
                                    title="d")
    assert np.asarray(fig.data[0].z).tolist() == [[1, -1], [0, 0]]
    assert fig.data[0].hovertext[0][0] == "a<br>class 0<br>rank 1 → 2 (+1)"
    assert fig.data[0].zmid == 0


def test_buildup_lines_one_trace_per_class_with_k_axis():
    build = np.cumsum(np.ones((3, 4), dtype=np.int64), axis=0)
    fig = plots.buildup_lines(build, classes=[1, 2], class_names=("0", "1", "2", "3"), layers=["l0", "l1", "l2"],
                              chosen_k=2, marks={"true": 2})
    assert [t.name for t in fig.data] == ["1", "2 (true)"]
    assert list(fig.data[1].x) == [1, 2, 3] and list(fig.data[1].y) == [1, 2, 3]
    assert list(fig.data[0].customdata) == ["l2", "l1", "l0"]  # k = 1 adds the top layer
    assert fig.layout.xaxis.title.text.startswith("k")


def test_tsne_scatter_uses_webgl_and_keeps_point_indices():
    pts = np.arange(12, dtype=float).reshape(6, 2)
    fig = plots.tsne_scatter(pts, labels=[0, 0, 1, 1, 0, 1], adversarial=[False, False, False, False, True, True],
                             class_names=("zero", "one"), title="t")
    assert all(t.type == "scattergl" for t in fig.data)
    idx = sorted(int(i) for t in fig.data for i in t.customdata)
    assert idx == list(range(6))
    assert {t.name for t in fig.data} == {"zero (clean)", "zero (adversarial)", "one (clean)", "one (adversarial)"}


def test_bars_and_lines_have_titles():
    bars = plots.score_bars(["7", "1"], [0.9, 0.1], title="t", value_title="probability", highlight=0)
    assert bars.layout.xaxis.title.text == "probability" and bars.data[0].marker.color[0] == plots.MARK_COLORS["true"]
    grouped = plots.grouped_bars(["pgd"], {"pos": [10.0], "neg": [20.0]}, title="t", x_title="attack",
                                 y_title="accuracy (%)")
    assert [t.name for t in grouped.data] == ["pos", "neg"] and grouped.layout.barmode == "group"
    line = plots.line_chart([1, 2], {"REGroup": [50, 60]}, title="t", x_title="k", y_title="accuracy (%)")
    assert line.layout.yaxis.title.text == "accuracy (%)"
