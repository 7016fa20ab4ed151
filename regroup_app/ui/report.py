"""An evaluation report as one self-contained HTML file: the settings, the tables and the
interactive Plotly figures of a Benchmark or Ablations view, with plotly.js inlined once, so the
file opens offline, years later, on any machine."""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

__all__ = ["Section", "csv_bytes", "html_report", "without_paths"]

_PATH = re.compile(r"(?<![\w:/.~-])(?:~|[A-Za-z]:)?[/\\](?:[^\s\"',;:/\\]+[/\\])+([^\s\"',;:/\\]+)")
"""An absolute server path inside any text (not a URL's path): keep only its last part."""


def without_paths(value: object) -> object:
    """``value`` with every absolute server path (a classifier file, the cache folder) cut to its file
    name, in strings, lists and mappings alike: a downloaded report says which file, not where the
    server keeps it."""
    if isinstance(value, str):
        return _PATH.sub(r"\1", value)
    if isinstance(value, Mapping):
        return {k: without_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_paths(v) for v in value]
    return value

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; }
th { background: #f4f6fa; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: .9rem; } pre { background: #f7f7f7; padding: .8rem; overflow-x: auto;
       font-size: .8rem; }
"""


class Section:
    """One part of a report: a heading, an optional note, tables and figures."""

    def __init__(self, title: str, *, note: str = "", tables: Sequence[pd.DataFrame] = (),
                 figures: Sequence[go.Figure] = ()) -> None:
        self.title, self.note = title, note
        self.tables, self.figures = list(tables), list(figures)


def _table(df: pd.DataFrame) -> str:
    """A plain HTML table: numbers to one decimal, '–' for anything missing (never 'None' or 'nan')."""
    shown = df.astype(object).where(df.notna(), None).map(
        lambda v: "–" if v is None else (f"{v:.1f}" if isinstance(v, float) else without_paths(v)))
    return shown.to_html(index=False, border=0, escape=True)


def _standalone(fig: go.Figure) -> go.Figure:
    """A copy with room for its axis labels: the app's figures use tight margins that Streamlit's
    chart frame makes up for; on a plain page they would cut off tick labels and titles."""
    out = go.Figure(fig)
    out.update_xaxes(automargin=True)
    out.update_yaxes(automargin=True)
    out.update_layout(margin={"l": 80, "r": 30, "t": 70, "b": 90})
    return out


def html_report(title: str, sections: Sequence[Section], *, settings: Mapping[str, object],
                intro: str = "") -> str:
    """The report as an HTML string (plotly.js included once, inline: no network needed to view it)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='note'>REGroup Explorer report, written {_dt.datetime.now().isoformat(timespec='seconds')}."
             f"</p>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    first_figure = True
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        parts += [_table(df) for df in section.tables]
        for fig in section.figures:
            fig = _standalone(fig)
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first_figure else False,
                                     config={"displaylogo": False}))
            first_figure = False
    shown = without_paths(json.loads(json.dumps(settings, default=str)))
    parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(shown, indent=2)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as CSV, nested cells (robust-accuracy curves, intervals) written as JSON rather
    than Python's repr, so any CSV reader plus a JSON parser gets them back."""
    def cell(v: object) -> object:
        return without_paths(json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v)

    return df.map(cell).to_csv(index=False).encode()
