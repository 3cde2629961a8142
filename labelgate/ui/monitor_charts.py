"""Plotly figures of the Monitor page: per-batch trends, blocked batches marked in red."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labelgate.ui.figures import text

BLOCKED = "#d62728"


def _blocked_marks(fig: go.Figure, frame: pd.DataFrame, y: pd.Series, *, row=None, col=None) -> None:
    b = frame[frame["blocked"]]
    if b.empty:
        return
    trace = go.Scatter(x=b["batch"].map(text), y=y.loc[b.index], mode="markers", name="blocked batch",
                       marker={"symbol": "x", "size": 12, "color": BLOCKED, "line": {"width": 2}},
                       hovertext=["<br>".join(text(x) for x in r) for r in b["breaches"]], hoverinfo="text+x",
                       showlegend=row in (None, 1))
    if row is None:
        fig.add_trace(trace)
    else:
        fig.add_trace(trace, row=row, col=col)


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title={"text": title, "font": {"size": 15}}, height=height, margin={"l": 50, "r": 20, "t": 50,
                                                                                           "b": 40},
                      legend={"orientation": "h", "y": -0.25}, hovermode="x unified")
    fig.update_xaxes(type="category", title=None)
    return fig


def _threshold(fig: go.Figure, value, label: str, *, row=None, col=None) -> None:
    if value is None:
        return
    kw = {"row": row, "col": col} if row is not None else {}
    fig.add_hline(y=value, line={"dash": "dash", "color": BLOCKED, "width": 1}, annotation_text=text(label),
                  annotation_position="top left", **kw)


def distribution_figure(frame: pd.DataFrame, counts: pd.DataFrame, thresholds) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if not counts.empty:
        share = counts.div(counts.sum(axis=1), axis=0)
        for label in share.columns:
            fig.add_trace(go.Bar(x=[text(b) for b in share.index], y=share[label], name=f"label {text(label)}",
                                 opacity=0.75),
                          secondary_y=False)
    fig.add_trace(go.Scatter(x=frame["batch"].map(text), y=frame["entropy"], name="entropy (bits)",
                             mode="lines+markers",
                             line={"color": "black"}), secondary_y=True)
    _blocked_marks(fig, frame, frame["entropy"].fillna(0))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="share of labels", range=[0, 1], secondary_y=False)
    fig.update_yaxes(title_text="entropy", rangemode="tozero", secondary_y=True)
    return _layout(fig, "Label distribution and entropy")


def lines_figure(frame: pd.DataFrame, series: dict[str, str], title: str, *, thresholds: dict | None = None,
                 y_range=(0, 1), mark: str | None = None) -> go.Figure:
    fig = go.Figure()
    for col, name in series.items():
        if col in frame and frame[col].notna().any():
            fig.add_trace(go.Scatter(x=frame["batch"].map(text), y=frame[col], name=text(name), mode="lines+markers",
                                     connectgaps=False))
    for label, value in (thresholds or {}).items():
        _threshold(fig, value, label)
    if mark and mark in frame:
        _blocked_marks(fig, frame, frame[mark])
    if y_range:
        fig.update_yaxes(range=list(y_range))
    return _layout(fig, title)
