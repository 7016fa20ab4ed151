"""regroup_app.ui.plots: figures carry int16 ranks, axis titles and hover text that names the cell."""

from __future__ import annotations

import numpy as np

from regroup_app.ui import plots

NAMES = tuple(f"class{i}" for i in range(1000))


def test_rank_heatmap_int16_hover_marks_and_voter_band():
    ranks = np.array([[1, 5, 1000], [2, 1, 3]])
    fig = plots.rank_heatmap(ranks, layers=["conv1", "fc"], classes=[0, 7, 999], class_names=NAMES,
                             num_classes=1000, title="t", marks={"true": 7, "softmax": 999, "REGroup": None}, k=1)
    hm = fig.data[0]
    assert np.asarray(hm.customdata).dtype == np.int16 and int(np.asarray(hm.customdata)[0, 2]) == 1000
    assert hm.hovertemplate == "%{y}<br>class %{x}<br>rank %{customdata} of 1000<extra></extra>"
    # 1 000 classes: a log colour scale labelled in ranks, so ranks 1-10 use a third of it
    z = np.asarray(hm.z)
    assert z[0, 0] == 0.0 and abs(z[0, 2] - 3.0) < 1e-6 and hm.zmax == 3.0
    assert list(hm.colorbar.ticktext)[:4] == ["1", "2", "5", "10"]
    assert fig.layout.xaxis.title.text == "class" and fig.layout.yaxis.title.text.startswith("layer")
    texts = [a.text for a in fig.layout.annotations]
    # one letter above each outlined column (words collided above neighbouring columns: "REGrouptrue")
    assert f"<span style='color:{plots.TRUE_COLOR}'><b>T</b></span>" in texts
    assert f"<span style='color:{plots.SOFTMAX_COLOR}'><b>S</b></span>" in texts
    # the key, with the voting band's words, is a line above the column tags, not over the cells or axis labels
    key = next(a for a in fig.layout.annotations if "voting layers" in a.text)
    assert key.yref == "paper" and key.y == 1 and key.yanchor == "bottom" and key.yshift > 0
    assert "T</b> = true class" in key.text and "S</b> = softmax" in key.text and "k = 1 voting layers" in key.text
    assert len(fig.layout.shapes) == 3  # two marked columns + the voter band


def test_rank_change_heatmap_signs_and_hover():
    clean = np.array([[1, 2], [2, 1]])
    adv = np.array([[2, 1], [2, 1]])
    fig = plots.rank_change_heatmap(clean, adv, layers=["a", "b"], classes=[0, 1], class_names=("0", "1"),
                                    title="d")
    assert np.asarray(fig.data[0].z).tolist() == [[1, -1], [0, 0]]
    assert np.asarray(fig.data[0].text).tolist() == [[1, 2], [2, 1]]  # clean rank
    assert np.asarray(fig.data[0].customdata).tolist() == [[2, 1], [2, 1]]  # adversarial rank
    assert "rank %{text} → %{customdata} (%{z:+d})" in fig.data[0].hovertemplate
    assert fig.data[0].zmid == 0
    # the colours are explained on the colour bar itself
    assert "moved up" in fig.data[0].colorbar.ticktext[0] and "moved down" in fig.data[0].colorbar.ticktext[-1]


def test_few_classes_keep_a_linear_rank_scale():
    fig = plots.rank_heatmap(np.array([[1, 10]]), layers=["fc"], classes=[0, 1], class_names=tuple("0123456789"),
                             num_classes=10, title="t")
    assert fig.data[0].zmin == 1 and fig.data[0].zmax == 10 and np.asarray(fig.data[0].z).tolist() == [[1, 10]]


def test_buildup_lines_one_trace_per_class_with_k_axis():
    build = np.cumsum(np.ones((3, 4), dtype=np.int64), axis=0)
    fig = plots.buildup_lines(build, classes=[1, 2], class_names=("0", "1", "2", "3"), layers=["l0", "l1", "l2"],
                              chosen_k=2, marks={"true": 2})
    assert [t.name for t in fig.data] == ["1", "2 (true)"]
    assert list(fig.data[1].x) == [1, 2, 3] and list(fig.data[1].y) == [1, 2, 3]
    assert list(fig.data[0].customdata) == ["l2", "l1", "l0"]  # k = 1 adds the top layer
    assert fig.layout.xaxis.title.text.startswith("k")
    assert fig.data[1].line.color == plots.TRUE_COLOR and fig.data[0].line.color == plots.class_color(1)
    many = plots.buildup_lines(np.ones((3, 1000)), classes=[5, 9], class_names=NAMES, layers=["a", "b", "c"],
                               chosen_k=1, marks={"softmax": 5, "REGroup": 9})
    assert [t.line.color for t in many.data] == [plots.SOFTMAX_COLOR, plots.REGROUP_COLOR]  # as in the heatmaps


def test_tsne_scatter_colours_by_class_draws_clean_last_and_joins_adversarials():
    pts = np.arange(12, dtype=float).reshape(6, 2)
    labels = [0, 0, 1, 1, 0, 1]
    adversarial = [False, False, False, False, True, True]
    fig = plots.tsne_scatter(pts, labels=labels, adversarial=adversarial, class_names=("zero", "one"), title="t",
                             regroup_labels=[0, 0, 1, 1, 1, 1], origins=[0, 1, 2, 3, 0, 2])
    assert all(t.type == "scattergl" for t in fig.data)
    markers = [t for t in fig.data if t.mode == "markers"]
    assert sorted(int(i) for t in markers for i in t.customdata) == list(range(6))
    clean = [t for t in markers if t.legendgroup == "clean"]
    assert fig.data[-len(clean):] == tuple(clean)  # clean points drawn last: on top
    adv = [t for t in markers if t.legendgroup == "adv"]
    assert [t.name for t in adv] == ["one"] and adv[0].marker.color == plots.class_color(1)  # REGroup's class
    line = fig.data[0]
    assert line.mode == "lines" and list(line.x[:2]) == [0.0, 8.0]  # original (point 0) → adversarial (point 4)


def test_class_colours_do_not_depend_on_the_selection():
    a = plots.tsne_scatter(np.zeros((4, 2)), labels=[1, 1, 7, 7], adversarial=[False] * 4,
                           class_names=tuple("0123456789"), title="t")
    b = plots.tsne_scatter(np.zeros((6, 2)), labels=[0, 0, 1, 1, 7, 7], adversarial=[False] * 6,
                           class_names=tuple("0123456789"), title="t")
    colour = {t.name: t.marker.color for t in a.data} | {}
    assert all(colour[t.name] == t.marker.color for t in b.data if t.name in colour)


def test_bars_and_lines_have_titles():
    bars = plots.score_bars(["7", "1"], [0.9, 0.1], title="t", value_title="probability", highlight=0,
                            color=plots.SOFTMAX_COLOR)
    assert bars.layout.xaxis.title.text == "probability" and bars.data[0].marker.color == plots.SOFTMAX_COLOR
    assert bars.data[0].marker.line.color[0] == plots.TRUE_COLOR and list(bars.data[0].y) == ["7 (true)", "1"]
    grouped = plots.grouped_bars(["pgd"], {"pos": [10.0], "neg": [20.0]}, title="t", x_title="attack",
                                 y_title="accuracy (%)")
    assert [t.name for t in grouped.data] == ["pos", "neg"] and grouped.layout.barmode == "group"
    line = plots.line_chart([1, 2], {"REGroup": [50, 60], "softmax": [10, 0]}, title="t", x_title="k",
                            y_title="accuracy (%)", intervals={"REGroup": ([40, 50], [60, 70])})
    assert line.layout.yaxis.title.text == "accuracy (%)"
    band, regroup, softmax = line.data  # the interval as a band behind its line, not error bars
    assert regroup.line.color == plots.REGROUP_COLOR and softmax.line.color == plots.SOFTMAX_COLOR
    assert band.fill == "toself" and list(band.y) == [60, 70, 50, 40] and not band.showlegend
    assert regroup.error_y.array is None and softmax.error_y.array is None


def test_marks_name_each_classifier_in_its_own_colour_and_the_band_is_neither():
    fig = plots.rank_heatmap(np.array([[1, 2], [2, 1]]), layers=["a", "b"], classes=[0, 1], class_names=NAMES,
                             num_classes=10, title="t", marks={"true": None, "softmax": 1, "REGroup": 1}, k=1)
    label = next(a.text for a in fig.layout.annotations if a.xref == "x")
    assert f"color:{plots.SOFTMAX_COLOR}'><b>S" in label and f"color:{plots.REGROUP_COLOR}'><b>R" in label
    assert label.count("<br>") == 1  # stacked in their own column
    band = next(s for s in fig.layout.shapes if s.line.dash == "dash")
    assert band.line.color not in (plots.SOFTMAX_COLOR, plots.REGROUP_COLOR)


def test_same_coloured_lines_are_told_apart_and_bar_labels_fit_the_values():
    line = plots.line_chart([1, 2], {"REGroup, clean": [90, 80], "REGroup, pgd (#S = 7)": [14, 14]}, title="t",
                            x_title="k", y_title="accuracy (%)")
    assert line.data[0].line.color == line.data[1].line.color == plots.REGROUP_COLOR
    assert line.data[0].line.dash is None and line.data[1].line.dash == "dash"
    k = plots.line_chart([1], {"REGroup, clean": [1], "layer alone, clean": [2], "REGroup, pgd": [3],
                               "layer alone, pgd": [4]}, title="t", x_title="k", y_title="%")
    colors = [t.line.color for t in k.data]
    assert colors[1] == colors[3] and colors[1] not in (None, plots.REGROUP_COLOR, plots.SOFTMAX_COLOR)
    assert [t.line.dash for t in k.data] == [None, None, "dash", "dash"]
    counts = plots.grouped_bars(["3", "7"], {"before": [0.0, 6.0]}, title="t", x_title="class", y_title="score",
                                percent=False)
    assert list(counts.data[0].text) == ["0", "6"]
    small = plots.grouped_bars(["pgd (n = 7)"], {"pos": [14.2857]}, title="t", x_title="a", y_title="accuracy (%)",
                               texts={"pos": ["1/7"]})
    assert list(small.data[0].text) == ["1/7"]
    bars = plots.grouped_bars(["c"], {"pos": [65.0]}, title="t", x_title="a", y_title="%")
    assert list(bars.data[0].text) == ["65.0"]


def test_tsne_side_by_side_shares_one_legend_and_keeps_clean_points_solid():
    pts = np.arange(12, dtype=float).reshape(6, 2)
    kw = {"labels": [0, 0, 1, 1, 0, 1], "adversarial": [False] * 4 + [True] * 2, "class_names": ("zero", "one"),
          "regroup_labels": [0, 0, 1, 1, 1, 1], "origins": [0, 1, 2, 3, 0, 2]}
    fig = plots.tsne_grid({"pos": pts, "neg": -pts, "pos+neg": 2 * pts}, title="t", **kw)
    legend = [t for t in fig.data if t.showlegend is not False]
    one = plots.tsne_scatter(pts, title="t", **kw)
    assert len(fig.data) == 3 * len(one.data) and len(legend) == len([t for t in one.data if t.showlegend is not False])
    assert {a.text for a in fig.layout.annotations} == {"pos accumulators", "neg accumulators", "pos+neg accumulators"}
    clean = [t for t in one.data if t.legendgroup == "clean"]
    adv = [t for t in one.data if t.legendgroup == "adv"]
    assert all(t.marker.opacity == 1.0 for t in clean) and all(t.marker.opacity < 0.7 for t in adv)


def test_reports_carry_no_absolute_server_paths():
    import pandas as pd

    from regroup_app.ui.report import Section, csv_bytes, html_report, without_paths

    settings = {"classifier": "/srv/regroup/assets/classifiers/mnist-vgg.safetensors",
                "rows": [{"cache": "/home/me/.cache/regroup-explorer/adversarial"}],
                "link": "http://localhost:8501/a/b"}
    page = html_report("t", [Section("s", tables=[pd.DataFrame({"settings": ['{"root": "/tmp/x/adv"}']})])],
                       settings=settings)
    assert "/srv/" not in page and "/home/me" not in page and "/tmp/x" not in page
    assert "mnist-vgg.safetensors" in page and "http://localhost:8501/a/b" in page
    assert b"/tmp/x" not in csv_bytes(pd.DataFrame({"s": [{"root": "/tmp/x/adv"}]}))
    assert without_paths("ε = 32/255, 1/7 fooled") == "ε = 32/255, 1/7 fooled"
