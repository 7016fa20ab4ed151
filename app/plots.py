"""Plotly figures built from library results. Every figure has axis titles and hover text that
says what a cell or point is; ranks travel as int16 to keep 1 000-class heatmaps light."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "ADV_COLOR",
    "MARK_COLORS",
    "buildup_lines",
    "grouped_bars",
    "line_chart",
    "rank_change_heatmap",
    "rank_heatmap",
    "score_bars",
    "tsne_scatter",
]

MARK_COLORS = {"true": "#1a9850", "softmax": "#d73027", "REGroup": "#2f6fdf"}
ADV_COLOR = "#d73027"
_HEIGHT_PER_LAYER = 22


def _layer_axis(fig: go.Figure, n_layers: int) -> None:
    fig.update_yaxes(title_text="layer (input → output, top layer last)", autorange="reversed",
                     type="category")
    fig.update_layout(height=max(300, 140 + _HEIGHT_PER_LAYER * n_layers), margin={"l": 10, "r": 10, "t": 60, "b": 10})


def _marks(fig: go.Figure, columns: Sequence[str], marks: Mapping[str, int | None],
           class_to_col: Mapping[int, int]) -> None:
    """Outline the columns of the true / softmax / REGroup classes and name them above the plot."""
    per_col: dict[int, list[str]] = {}
    for label, c in marks.items():
        if c is not None and int(c) in class_to_col:
            per_col.setdefault(class_to_col[int(c)], []).append(label)
    for col, labels in per_col.items():
        color = MARK_COLORS.get(labels[0], "#444")
        fig.add_shape(type="rect", xref="x", yref="paper", x0=col - 0.5, x1=col + 0.5, y0=0, y1=1,
                      line={"color": color, "width": 3}, fillcolor="rgba(0,0,0,0)")
        fig.add_annotation(x=columns[col], y=1.0, xref="x", yref="paper", yanchor="bottom",
                           text="<br>".join(labels), showarrow=False, font={"color": color, "size": 11})


def _voter_band(fig: go.Figure, n_layers: int, k: int | None) -> None:
    """Dashed outline around the rows of the k voting layers (the last k)."""
    if k:
        fig.add_shape(type="rect", xref="paper", yref="y", x0=0, x1=1, y0=n_layers - k - 0.5, y1=n_layers - 0.5,
                      line={"color": "#ff7f0e", "width": 2, "dash": "dash"}, fillcolor="rgba(0,0,0,0)")
        fig.add_annotation(xref="paper", yref="y", x=0, y=n_layers - k - 0.5, xanchor="left", yanchor="bottom",
                           text=f"k = {k} voting layers", showarrow=False, font={"color": "#ff7f0e", "size": 11},
                           bgcolor="rgba(255,255,255,0.7)")


def rank_heatmap(ranks: np.ndarray, *, layers: Sequence[str], classes: Sequence[int],
                 class_names: Sequence[str], num_classes: int, title: str,
                 marks: Mapping[str, int | None] | None = None, k: int | None = None) -> go.Figure:
    """Layers × classes heatmap of each class's rank (1 = the layer's first choice).

    Args:
        ranks: (L, C) ranks of the shown classes (int16 is enough for 1 000 classes).
        classes: the class index of each column; ``class_names`` names all M classes.
        marks: ``{"true": c, "softmax": c, "REGroup": c}`` outlined columns.
    """
    ranks = np.asarray(ranks, dtype=np.int16)
    columns = _class_columns(classes, class_names)
    text = np.array([[f"{layers[i]}<br>class {columns[j]}<br>rank {int(ranks[i, j])} of {num_classes}"
                      for j in range(len(classes))] for i in range(len(layers))])
    fig = go.Figure(go.Heatmap(z=ranks, x=columns, y=list(layers), zmin=1, zmax=num_classes,
                               colorscale="Blues_r", hovertext=text, hoverinfo="text",
                               colorbar={"title": "rank"}))
    return _finish_heatmap(fig, columns, classes, len(layers), title=title, marks=marks, k=k)


def _class_columns(classes: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """Column labels: the name alone for digit classes, 'index name' otherwise."""
    return [class_names[c] if class_names[c] == str(c) else f"{c} {class_names[c][:18]}" for c in classes]


def _finish_heatmap(fig: go.Figure, columns: list[str], classes: Sequence[int], n_layers: int, *, title: str,
                    marks: Mapping[str, int | None] | None, k: int | None) -> go.Figure:
    """Axes, title, outlined true/softmax/REGroup columns and the band of the k voting layers."""
    fig.update_xaxes(title_text="class", type="category", tickangle=-45 if len(columns) > 12 else 0)
    _layer_axis(fig, n_layers)
    fig.update_layout(title={"text": title, "y": 0.98, "yanchor": "top"})
    if marks:
        _marks(fig, columns, marks, {c: j for j, c in enumerate(classes)})
    _voter_band(fig, n_layers, k)
    return fig


def rank_change_heatmap(clean: np.ndarray, adversarial: np.ndarray, *, layers: Sequence[str],
                        classes: Sequence[int], class_names: Sequence[str], title: str,
                        marks: Mapping[str, int | None] | None = None, k: int | None = None) -> go.Figure:
    """Adversarial minus clean rank: blue = the class moved up (toward first), red = down."""
    clean = np.asarray(clean, dtype=np.int16)
    adversarial = np.asarray(adversarial, dtype=np.int16)
    diff = (adversarial.astype(np.int32) - clean.astype(np.int32)).astype(np.int16)
    bound = max(1, int(np.abs(diff).max()))
    columns = _class_columns(classes, class_names)
    text = np.array([[f"{layers[i]}<br>class {columns[j]}<br>rank {int(clean[i, j])} → {int(adversarial[i, j])}"
                      f" ({int(diff[i, j]):+d})" for j in range(len(classes))] for i in range(len(layers))])
    fig = go.Figure(go.Heatmap(z=diff, x=columns, y=list(layers), zmin=-bound, zmax=bound, zmid=0,
                               colorscale="RdBu_r", hovertext=text, hoverinfo="text",
                               colorbar={"title": "Δ rank"}))
    return _finish_heatmap(fig, columns, classes, len(layers), title=title, marks=marks, k=k)


def score_bars(labels: Sequence[str], values: Sequence[float], *, title: str, value_title: str,
               highlight: int | None = None, color: str = "#2f6fdf") -> go.Figure:
    """Horizontal bars, best at the top (top-5 softmax probabilities or Borda counts)."""
    colors = [MARK_COLORS["true"] if i == highlight else color for i in range(len(labels))]
    fig = go.Figure(go.Bar(x=list(values), y=list(labels), orientation="h", marker_color=colors,
                           hovertemplate="class %{y}<br>" + value_title + " %{x}<extra></extra>"))
    fig.update_yaxes(title_text="class", autorange="reversed", type="category")
    fig.update_xaxes(title_text=value_title)
    fig.update_layout(title=title, height=260, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def buildup_lines(buildup: np.ndarray, *, classes: Sequence[int], class_names: Sequence[str],
                  layers: Sequence[str], chosen_k: int, marks: Mapping[str, int | None] | None = None) -> go.Figure:
    """Borda total of each shown class as the highest k layers vote, k = 1..L."""
    buildup = np.asarray(buildup)
    ks = list(range(1, buildup.shape[0] + 1))
    top_layers = list(reversed(layers))
    marked = {int(c): label for label, c in (marks or {}).items() if c is not None}
    fig = go.Figure()
    for c in classes:
        width = 4 if c in marked else 1.5
        fig.add_trace(go.Scatter(
            x=ks, y=buildup[:, c], mode="lines+markers", name=f"{class_names[c]}"
            + (f" ({marked[c]})" if c in marked else ""), line={"width": width},
            customdata=np.array(top_layers)[:len(ks)],
            hovertemplate=f"class {class_names[c]}<br>k=%{{x}} (adds %{{customdata}})<br>Borda %{{y}}<extra></extra>"))
    fig.add_vline(x=chosen_k, line_dash="dash", annotation_text=f"chosen k = {chosen_k}")
    fig.update_xaxes(title_text="k (highest layers voting)", dtick=1)
    fig.update_yaxes(title_text="Borda total (pos + neg voters)")
    fig.update_layout(title="How the Borda total builds up as k grows", height=380,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def tsne_scatter(points: np.ndarray, *, labels: Sequence[int], adversarial: Sequence[bool],
                 class_names: Sequence[str], title: str) -> go.Figure:
    """t-SNE points coloured by class (WebGL), adversarial points as crosses; customdata = index."""
    points = np.asarray(points)
    labels = np.asarray(labels)
    adversarial = np.asarray(adversarial, dtype=bool)
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    for n, c in enumerate(sorted(set(labels.tolist()))):
        for adv in (False, True):
            idx = np.flatnonzero((labels == c) & (adversarial == adv))
            if idx.size == 0:
                continue
            kind = "adversarial" if adv else "clean"
            fig.add_trace(go.Scattergl(
                x=points[idx, 0], y=points[idx, 1], mode="markers", customdata=idx,
                name=f"{class_names[c]} ({kind})",
                marker={"color": palette[n % len(palette)], "size": 9 if adv else 7,
                            "symbol": "x" if adv else "circle", "line": {"width": 0}},
                hovertemplate=f"true class {class_names[c]}, {kind}<br>point %{{customdata}}<extra></extra>"))
    fig.update_xaxes(title_text="t-SNE 1")
    fig.update_yaxes(title_text="t-SNE 2")
    fig.update_layout(title=title, height=480, margin={"l": 10, "r": 10, "t": 50, "b": 10}, dragmode="select")
    return fig


def line_chart(x: Sequence[float], series: Mapping[str, Sequence[float]], *, title: str, x_title: str,
               y_title: str, percent: bool = True, vline: float | None = None, vline_text: str = "") -> go.Figure:
    """One line per series (accuracy curves: k-ablation, ε sweep)."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name,
                                 hovertemplate=f"{name}<br>{x_title} %{{x}}<br>{y_title} %{{y:.1f}}<extra></extra>"))
    if vline is not None:
        fig.add_vline(x=vline, line_dash="dash", annotation_text=vline_text)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, range=[0, 101] if percent else None)
    fig.update_layout(title=title, height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str,
                 x_title: str, y_title: str, percent: bool = True) -> go.Figure:
    """Grouped bars (pos / neg / pos+neg accuracy per attack)."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Bar(x=list(categories), y=list(y), name=name, text=[f"{v:.1f}" for v in y],
                             hovertemplate=f"{name}<br>{x_title} %{{x}}<br>{y_title} %{{y:.1f}}<extra></extra>"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, range=[0, 105] if percent else None)
    fig.update_layout(title=title, barmode="group", height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
