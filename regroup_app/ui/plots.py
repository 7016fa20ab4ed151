"""Plotly figures built from library results. Every figure has axis titles and hover text that
says what a cell or point is; ranks travel as int16 to keep 1 000-class heatmaps light."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "ADV_COLOR",
    "MARK_COLORS",
    "REGROUP_COLOR",
    "SOFTMAX_COLOR",
    "TRUE_COLOR",
    "class_color",
    "series_color",
    "buildup_lines",
    "grouped_bars",
    "line_chart",
    "rank_change_heatmap",
    "rank_heatmap",
    "score_bars",
    "tsne_grid",
    "tsne_scatter",
]

TRUE_COLOR = "#1a9850"     # the true class, everywhere
SOFTMAX_COLOR = "#e66101"  # the softmax network, on every page
REGROUP_COLOR = "#2f6fdf"  # REGroup, on every page
ADV_COLOR = "#d73027"      # adversarial images / "fooled"
MARK_COLORS = {"true": TRUE_COLOR, "softmax": SOFTMAX_COLOR, "REGroup": REGROUP_COLOR}
OTHER_LINE_COLORS = ("#35978f", "#8c510a", "#762a83", "#525252")  # lines that are neither softmax nor REGroup
VOTER_BAND_COLOR = "#6a3d9a"  # the dashed band of the k voting layers: no softmax orange, no REGroup blue

CLASS_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")


def class_color(c: int) -> str:
    """A class's colour, fixed by its index (not by the order classes were picked in)."""
    return CLASS_PALETTE[int(c) % len(CLASS_PALETTE)]


def series_color(name: str) -> str | None:
    """Softmax and REGroup series get their colours on every page (None: Plotly's default)."""
    voters = {"pos": "#6baed6", "neg": "#9e9ac8", "pos+neg": REGROUP_COLOR}  # REGroup's own vote is pos+neg
    if name in voters:
        return voters[name]
    lower = name.lower()
    if lower.startswith("softmax"):
        return SOFTMAX_COLOR
    if lower.startswith("regroup"):
        return REGROUP_COLOR
    return None
_HEIGHT_PER_LAYER = 22
_HEIGHT_PER_LAYER_MANY = 18  # from 30 layers on (ResNet-50: 54)


def _layer_axis(fig: go.Figure, n_layers: int) -> None:
    fig.update_yaxes(title_text="layer (input → output, top layer last)", autorange="reversed",
                     type="category")
    per = _HEIGHT_PER_LAYER if n_layers < 30 else _HEIGHT_PER_LAYER_MANY
    fig.update_layout(height=max(300, 150 + per * n_layers), margin={"l": 10, "r": 10, "t": 70, "b": 10})


MARK_TAGS = {"true": "T", "softmax": "S", "REGroup": "R"}
"""One letter above an outlined column (words collided above neighbouring columns: "REGrouptrue")."""


def _marks(fig: go.Figure, columns: Sequence[str], marks: Mapping[str, int | None],
           class_to_col: Mapping[int, int]) -> list[str]:
    """Outline the columns of the true / softmax / REGroup classes, tag each with its letter (stacked
    when one column has several) and return the legend entries of the tags used."""
    per_col: dict[int, list[str]] = {}
    for label, c in marks.items():
        if c is not None and int(c) in class_to_col:
            per_col.setdefault(class_to_col[int(c)], []).append(label)
    used: list[str] = []
    for col, labels in per_col.items():
        color = MARK_COLORS.get(labels[0], "#444")
        fig.add_shape(type="rect", xref="x", yref="paper", x0=col - 0.5, x1=col + 0.5, y0=0, y1=1,
                      line={"color": color, "width": 3}, fillcolor="rgba(0,0,0,0)")
        text = "<br>".join(f"<span style='color:{MARK_COLORS.get(label, '#444')}'><b>{MARK_TAGS.get(label, label)}"
                           "</b></span>" for label in labels)
        fig.add_annotation(x=columns[col], y=1.0, xref="x", yref="paper", yanchor="bottom",
                           text=text, showarrow=False, font={"color": color, "size": 12})
        used += [label for label in labels if label not in used]
    return [f"<span style='color:{MARK_COLORS.get(label, '#444')}'><b>{MARK_TAGS.get(label, label)}</b> = "
            f"{'true class' if label == 'true' else label}</span>" for label in used]


def _key_line(fig: go.Figure, entries: Sequence[str]) -> None:
    """The figure's key (the column tags, the voting band) as a line between the title and the column
    tags: outside the cells it explains and clear of the axis labels, whatever their angle."""
    if entries:
        fig.add_annotation(xref="paper", yref="paper", x=0, y=1, xanchor="left", yanchor="bottom", yshift=50,
                           text="  ".join(entries), showarrow=False, font={"size": 11}, align="left")
        margin = fig.layout.margin
        fig.update_layout(margin={"l": margin.l, "r": margin.r, "t": (margin.t or 50) + 36, "b": margin.b})


def _voter_band(fig: go.Figure, n_layers: int, k: int | None) -> list[str]:
    """Dashed outline around the rows of the k voting layers (the last k); its key entry (the text
    stands under the plot, not over the cells)."""
    if not k:
        return []
    fig.add_shape(type="rect", xref="paper", yref="y", x0=0, x1=1, y0=n_layers - k - 0.5, y1=n_layers - 0.5,
                  line={"color": VOTER_BAND_COLOR, "width": 2, "dash": "dash"}, fillcolor="rgba(0,0,0,0)")
    # short: the key is one line above a map that may be half the page wide (Layer ranks' two maps)
    return [f"<span style='color:{VOTER_BAND_COLOR}'>dashed = k = {k} voting layers</span>"]


LOG_SCALE_FROM = 20
"""With more classes than this, rank colours are on a log scale so the top ranks stay apart."""


def _rank_colour(ranks: np.ndarray, num_classes: int) -> tuple[np.ndarray, dict, float, float]:
    """(z, colorbar, zmin, zmax): ranks themselves for a few classes; log10(rank) for many, with
    the colour bar labelled in ranks (1, 2, 5, 10, 20, 50, …), so ranks 1–10 of 1 000 use a third
    of the scale instead of 1 %."""
    if num_classes <= LOG_SCALE_FROM:
        return ranks, {"title": "rank"}, 1.0, float(num_classes)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= num_classes]
    z = np.log10(np.maximum(ranks, 1).astype(np.float32))
    bar = {"title": "rank (log)", "tickvals": [float(np.log10(t)) for t in ticks], "ticktext": [str(t) for t in ticks]}
    return z, bar, 0.0, float(np.log10(num_classes))


def rank_heatmap(ranks: np.ndarray, *, layers: Sequence[str], classes: Sequence[int],
                 class_names: Sequence[str], num_classes: int, title: str,
                 marks: Mapping[str, int | None] | None = None, k: int | None = None) -> go.Figure:
    """Layers × classes heatmap of each class's rank (1 = the layer's first choice).

    Args:
        ranks: (L, C) ranks of the shown classes (int16 is enough for 1 000 classes).
        classes: the class index of each column; ``class_names`` names all M classes.
        marks: ``{"true": c, "softmax": c, "REGroup": c}`` outlined columns.

    The ranks travel as int16 ``customdata`` (no per-cell strings: a 54 × 1 000 map stays light);
    colours use a log scale for many classes (:func:`_rank_colour`).
    """
    ranks = np.asarray(ranks, dtype=np.int16)
    columns = _class_columns(classes, class_names)
    z, bar, zmin, zmax = _rank_colour(ranks, num_classes)
    fig = go.Figure(go.Heatmap(z=z, x=columns, y=list(layers), zmin=zmin, zmax=zmax, customdata=ranks,
                               colorscale="Blues_r", colorbar=bar, xgap=1 if len(columns) <= 60 else 0,
                               hovertemplate=f"%{{y}}<br>class %{{x}}<br>rank %{{customdata}} of {num_classes}"
                                             "<extra></extra>"))
    return _finish_heatmap(fig, columns, classes, len(layers), title=title, marks=marks, k=k)


def _class_columns(classes: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """Column labels: the name alone for digit classes, 'index name' otherwise."""
    return [class_names[c] if class_names[c] == str(c) else f"{c} {class_names[c][:18]}" for c in classes]


def _finish_heatmap(fig: go.Figure, columns: list[str], classes: Sequence[int], n_layers: int, *, title: str,
                    marks: Mapping[str, int | None] | None, k: int | None) -> go.Figure:
    """Axes, title, outlined true/softmax/REGroup columns and the band of the k voting layers."""
    many = len(columns) > 60
    fig.update_xaxes(title_text="class" + (" (hover for names)" if many else ""), type="category",
                     tickangle=-45 if len(columns) > 12 else 0, showticklabels=not many,
                     tickfont={"size": 11 if len(columns) <= 30 else 9})
    _layer_axis(fig, n_layers)
    fig.update_yaxes(tickfont={"size": 11 if n_layers <= 30 else 9})
    fig.update_layout(title={"text": title, "y": 0.99, "yanchor": "top"})
    entries = _marks(fig, columns, marks, {c: j for j, c in enumerate(classes)}) if marks else []
    entries += _voter_band(fig, n_layers, k)
    _key_line(fig, entries)
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
    fig = go.Figure(go.Heatmap(z=diff, x=columns, y=list(layers), zmin=-bound, zmax=bound, zmid=0,
                               colorscale="RdBu_r", text=clean, customdata=adversarial,
                               xgap=1 if len(columns) <= 60 else 0,
                               hovertemplate="%{y}<br>class %{x}<br>rank %{text} → %{customdata} (%{z:+d})"
                                             "<extra></extra>",
                               colorbar={"title": "rank change<br>(adversarial − clean)",
                                         "tickvals": [-bound, 0, bound],
                                         "ticktext": [f"−{bound}: moved up<br>(toward 1st)", "0: same rank",
                                                      f"+{bound}: moved down"]}))
    return _finish_heatmap(fig, columns, classes, len(layers), title=title, marks=marks, k=k)


def score_bars(labels: Sequence[str], values: Sequence[float], *, title: str, value_title: str,
               highlight: int | None = None, color: str = REGROUP_COLOR) -> go.Figure:
    """Horizontal bars, best at the top (top-5 softmax probabilities or Borda counts), in the
    classifier's colour; the true class (``highlight``) is outlined in green and named."""
    labels = [f"{lab} (true)" if i == highlight else str(lab) for i, lab in enumerate(labels)]
    fig = go.Figure(go.Bar(x=list(values), y=labels, orientation="h", marker_color=color,
                           marker_line_color=[TRUE_COLOR if i == highlight else color for i in range(len(labels))],
                           marker_line_width=[4 if i == highlight else 0 for i in range(len(labels))],
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
    marked: dict[int, list[str]] = {}
    for label, c in (marks or {}).items():
        if c is not None:
            marked.setdefault(int(c), []).append(label)
    fig = go.Figure()
    for c in classes:
        width = 4 if c in marked else 1.5
        # a marked class in its mark's colour (true green, softmax orange, REGroup blue) as in the heatmaps
        color = (MARK_COLORS.get(marked[c][0]) if c in marked else None) or (
            class_color(c) if len(class_names) <= len(CLASS_PALETTE) else None)
        fig.add_trace(go.Scatter(
            x=ks, y=buildup[:, c], mode="lines+markers", name=f"{class_names[c]}"
            + (f" ({', '.join(marked[c])})" if c in marked else ""),
            line={"width": width, "color": color},
            customdata=np.array(top_layers)[:len(ks)],
            hovertemplate=f"class {class_names[c]}<br>k=%{{x}} (adds %{{customdata}})<br>Borda %{{y}}<extra></extra>"))
    fig.add_vline(x=chosen_k, line_dash="dash", annotation_text=f"chosen k = {chosen_k}")
    fig.update_xaxes(title_text="k (highest layers voting)", dtick=1 if len(ks) <= 20 else 5)
    fig.update_yaxes(title_text="Borda total (pos + neg voters)")
    fig.update_layout(title="How the Borda total builds up as k grows", height=380,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def tsne_scatter(points: np.ndarray, *, labels: Sequence[int], adversarial: Sequence[bool],
                 class_names: Sequence[str], title: str, regroup_labels: Sequence[int] | None = None,
                 origins: Sequence[int] | None = None) -> go.Figure:
    """t-SNE points (WebGL): clean images as circles coloured by their class, drawn last so they
    stay visible; adversarial images as crosses coloured by the class REGroup gives them, each
    joined to its clean original by a thin grey line. ``customdata`` = the point's index.

    Args:
        regroup_labels: REGroup's class for every point (used for the adversarial ones).
        origins: for every point, the index of its clean original (itself for clean points).
    """
    points = np.asarray(points)
    labels = np.asarray(labels)
    adversarial = np.asarray(adversarial, dtype=bool)
    regroup = labels if regroup_labels is None else np.asarray(regroup_labels)
    fig = go.Figure()
    adv_idx = np.flatnonzero(adversarial)
    if origins is not None and adv_idx.size:
        origins = np.asarray(origins)
        xs = np.full(3 * adv_idx.size, np.nan, dtype=np.float32)
        ys = np.full(3 * adv_idx.size, np.nan, dtype=np.float32)
        xs[0::3], ys[0::3] = points[origins[adv_idx], 0], points[origins[adv_idx], 1]
        xs[1::3], ys[1::3] = points[adv_idx, 0], points[adv_idx, 1]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line={"color": "rgba(90,90,90,0.35)", "width": 1},
                                   hoverinfo="skip", name="adversarial ↔ its original", showlegend=True))
    for c in sorted(set(regroup[adv_idx].tolist())):
        idx = adv_idx[regroup[adv_idx] == c]
        fig.add_trace(go.Scattergl(
            x=points[idx, 0], y=points[idx, 1], mode="markers", customdata=idx, legendgroup="adv",
            legendgrouptitle_text="adversarial: REGroup says", name=f"{class_names[c]}",
            marker={"color": class_color(c), "size": 7, "symbol": "x", "opacity": 0.55, "line": {"width": 0}},
            text=[class_names[t] for t in labels[idx]],
            hovertemplate=f"adversarial image of a %{{text}}<br>REGroup says {class_names[c]}"
                          "<br>point %{customdata}<extra></extra>"))
    clean_idx = np.flatnonzero(~adversarial)
    for c in sorted(set(labels[clean_idx].tolist())):
        idx = clean_idx[labels[clean_idx] == c]
        fig.add_trace(go.Scattergl(
            x=points[idx, 0], y=points[idx, 1], mode="markers", customdata=idx, legendgroup="clean",
            legendgrouptitle_text="clean: true class", name=f"{class_names[c]}",
            marker={"color": class_color(c), "size": 9, "symbol": "circle", "opacity": 1.0,
                    "line": {"width": 0.8, "color": "rgba(0,0,0,0.55)"}},
            hovertemplate=f"clean image of a {class_names[c]}<br>point %{{customdata}}<extra></extra>"))
    _tsne_axes(fig)
    # No dragmode here: Streamlit then pans by default with clicks selecting a point ("event+select");
    # a figure's dragmode "select" would make it switch clicks to plain events, and a click would
    # select nothing. Box and lasso stay in the chart's toolbar.
    fig.update_layout(title=title, height=520, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"groupclick": "toggleitem"})
    return fig


def _tsne_axes(fig: go.Figure) -> None:
    fig.update_xaxes(title_text="t-SNE 1", showticklabels=False)
    fig.update_yaxes(title_text="t-SNE 2", showticklabels=False)


def tsne_grid(panels: Mapping[str, np.ndarray], *, labels: Sequence[int], adversarial: Sequence[bool],
              class_names: Sequence[str], title: str, regroup_labels: Sequence[int] | None = None,
              origins: Sequence[int] | None = None) -> go.Figure:
    """Several t-SNE maps (pos, neg, pos+neg: the paper's Fig. 5) side by side in one figure with one
    shared legend (clicking a legend entry hides that class in every map) and one selection."""
    from plotly.subplots import make_subplots

    names = list(panels)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[f"{n} accumulators" for n in names],
                        horizontal_spacing=0.03)
    for j, name in enumerate(names):
        one = tsne_scatter(panels[name], labels=labels, adversarial=adversarial, class_names=class_names, title="",
                           regroup_labels=regroup_labels, origins=origins)
        for trace in one.data:
            # one legend entry per (kind, class) for all maps: clicking it toggles that group in every map
            kind = {"adv": "adversarial, REGroup says", "clean": "clean"}.get(trace.legendgroup or "")
            if kind:
                trace.name = f"{kind} {trace.name}"
            trace.legendgroup = f"{trace.legendgroup or 'line'}-{trace.name}"
            trace.legendgrouptitle = None
            trace.showlegend = j == 0 and trace.showlegend is not False
            fig.add_trace(trace, row=1, col=j + 1)
    _tsne_axes(fig)
    fig.update_yaxes(title_text=None)
    fig.update_yaxes(title_text="t-SNE 2", row=1, col=1)
    fig.update_layout(title=title, height=560, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "y": -0.08, "groupclick": "togglegroup"})
    return fig


def _error_bars(y: Sequence[float], interval: tuple[Sequence[float], Sequence[float]] | None) -> dict | None:
    if interval is None:
        return None
    lo, hi = interval
    return {"type": "data", "symmetric": False, "array": [h - v for v, h in zip(y, hi)],
            "arrayminus": [v - low for v, low in zip(y, lo)], "thickness": 1.2, "width": 4}


def _value_text(v: float, percent: bool) -> str:
    """A bar's label: percentages to one decimal; whole-number scores (counts, Borda points) as integers."""
    return f"{v:.0f}" if not percent and float(v).is_integer() else f"{v:.1f}"


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _band(fig: go.Figure, x: Sequence[float], interval: tuple[Sequence[float], Sequence[float]], *, name: str,
          color: str) -> None:
    """A series' 95 % interval as a light band behind its line (error bars of several series on a
    small sample tangle into one another)."""
    lo, hi = interval
    fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                             fillcolor=_rgba(color, 0.12), line={"width": 0}, hoverinfo="skip", showlegend=False,
                             legendgroup=name, name=f"{name} (95 % interval)"))


def line_chart(x: Sequence[float], series: Mapping[str, Sequence[float]], *, title: str, x_title: str,
               y_title: str, percent: bool = True, vline: float | None = None, vline_text: str = "",
               intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> go.Figure:
    """One line per series (accuracy curves: k-ablation, ε sweep), softmax and REGroup in their
    colours; ``intervals`` (series → (low, high)) draw 95 % intervals as light bands behind the lines."""
    fig = go.Figure()
    families: dict[str, str] = {}  # "REGroup, clean" and "REGroup, pgd": one family, one colour
    used: set[str] = set()
    for name, y in series.items():
        family = name.split(",")[0].strip()
        color = series_color(name) or families.get(family) or OTHER_LINE_COLORS[len(families) % len(OTHER_LINE_COLORS)]
        families.setdefault(family, color)
        # a second series in the same colour (clean / attacked) is dashed; colours are explicit so a
        # downloaded report (no Streamlit theme) draws them alike
        line = {"color": color, **({"dash": "dash"} if color in used else {})}
        used.add(color)
        if (intervals or {}).get(name) is not None:
            _band(fig, x, intervals[name], name=name, color=color)
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name, line=line, legendgroup=name,
                                 hovertemplate=f"{name}<br>{x_title} %{{x}}<br>{y_title} %{{y:.1f}}<extra></extra>"))
    if vline is not None:
        fig.add_vline(x=vline, line_dash="dash", annotation_text=vline_text)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, range=[0, 101] if percent else None)
    fig.update_layout(title=title, height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str,
                 x_title: str, y_title: str, percent: bool = True,
                 intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                 texts: Mapping[str, Sequence[str]] | None = None) -> go.Figure:
    """Grouped bars (pos / neg / pos+neg accuracy per attack; softmax vs REGroup), with 95 % error bars.
    Bar labels: ``texts`` (series → labels, e.g. counts "1/7" for small groups), else the value
    (with ``percent=False``, whole numbers without decimals: counts and Borda points)."""
    fig = go.Figure()
    for name, y in series.items():
        color = series_color(name)
        labels = (texts or {}).get(name) or [_value_text(float(v), percent) for v in y]
        fig.add_trace(go.Bar(x=list(categories), y=list(y), name=name, text=list(labels),
                             textposition="inside", insidetextanchor="start",
                             marker_color=color, error_y=_error_bars(list(y), (intervals or {}).get(name)),
                             hovertemplate=f"{name}<br>{x_title} %{{x}}<br>{y_title} %{{y:.1f}}<extra></extra>"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, range=[0, 105] if percent else None)
    fig.update_layout(title=title, barmode="group", height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def voter_points(points: np.ndarray, *, voters: Sequence[str], classes: Sequence[int], class_names: Sequence[str],
                 marks: Mapping[str, int | None] | None = None) -> go.Figure:
    """Stacked bars: each voter's Borda points (M − rank) for each class; the stack is the Borda count.

    Args:
        points: (V, C) points of the V voters for the shown classes.
    """
    points = np.asarray(points)
    columns = _class_columns(classes, class_names)
    fig = go.Figure()
    blues = ("#08306b", "#2171b5", "#6baed6", "#9ecae1")    # pos voters, one shade per layer
    purples = ("#3f007d", "#6a51a3", "#9e9ac8", "#cbc9e2")  # neg voters
    for v, name in enumerate(voters):
        shades = purples if "(neg)" in name else blues
        fig.add_trace(go.Bar(x=columns, y=points[v], name=name, marker_color=shades[(v // 2) % len(shades)],
                             hovertemplate=f"{name}<br>class %{{x}}: %{{y}} points<extra></extra>"))
    totals = points.sum(0)
    fig.add_trace(go.Scatter(x=columns, y=totals, mode="text", text=[str(int(t)) for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack", height=380, title="Borda count = the sum of every voter's points",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"title": "voter"})
    fig.update_xaxes(title_text="class", type="category")
    fig.update_yaxes(title_text="Borda points (M − rank)", range=[0, float(totals.max()) * 1.15 + 1])
    if marks:
        _key_line(fig, _marks(fig, columns, marks, {c: j for j, c in enumerate(classes)}))
    return fig


def pmf_lines(curves: Mapping[str, np.ndarray], *, title: str, colors: Mapping[str, str] | None = None) -> go.Figure:
    """PMFs over a layer's channels (a test image's PMF against class mixtures)."""
    fig = go.Figure()
    for name, y in curves.items():
        y = np.asarray(y)
        fig.add_trace(go.Scatter(x=np.arange(len(y)), y=y, mode="lines+markers" if len(y) <= 32 else "lines", name=name,
                                 line={"color": (colors or {}).get(name), "width": 2 if "image" in name else 1.5},
                                 hovertemplate=f"{name}<br>channel %{{x}}: %{{y:.4f}}<extra></extra>"))
    fig.update_xaxes(title_text="channel (unit) of the layer")
    fig.update_yaxes(title_text="share of the layer's response")
    fig.update_layout(title=title, height=320, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig
