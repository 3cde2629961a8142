"""Plotly figure builders for the Calibrate, Compare and Review pages (data in, figure out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

_MARGIN = dict(l=10, r=10, t=40, b=10)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _layout(fig: go.Figure, title: str, *, height: int = 380, **kw) -> go.Figure:
    kw.setdefault("margin", _MARGIN)
    fig.update_layout(title=dict(text=title), height=height, **kw)
    return fig


def scatter(points: pd.DataFrame, curves: dict[str, tuple[np.ndarray, np.ndarray]], lo: float, hi: float, *,
            labeler: str) -> go.Figure:
    """Labeler score (y) against the human gold (x), jittered, with the identity line and corrections."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=points["x"], y=points["y"], mode="markers", name="items",
                             marker=dict(size=6, opacity=0.45, color=PALETTE[0]),
                             customdata=points[["item_id", "gold_num", "pred_num"]].to_numpy(),
                             hovertemplate="%{customdata[0]}<br>gold %{customdata[1]}<br>labeler %{customdata[2]}"
                                           "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity",
                             line=dict(color="#888", dash="dash")))
    for i, (name, (gx, gy)) in enumerate(curves.items()):
        # a correction maps the labeler's score to the expected human score: draw it as x = f(y)
        fig.add_trace(go.Scatter(x=gy, y=gx, mode="lines", name=f"correction: {name}",
                                 line=dict(color=PALETTE[(i + 1) % len(PALETTE)], width=2.5)))
    pad = 0.05 * (hi - lo)
    fig.update_xaxes(title_text="human gold", range=[lo - pad, hi + pad])
    fig.update_yaxes(title_text=f"{labeler} score", range=[lo - pad, hi + pad])
    return _layout(fig, f"{labeler} vs human gold", height=460, margin=dict(l=10, r=10, t=40, b=90),
                   legend=dict(orientation="h", yanchor="top", y=-0.18))


def heatmap(matrix: pd.DataFrame, title: str, *, x_title: str, y_title: str, zmin=None, zmax=None,
            fmt: str = "d", colorscale: str = "Blues") -> go.Figure:
    z = matrix.to_numpy(dtype=float)
    text = [[("" if np.isnan(v) else (f"{v:{fmt}}" if fmt != "d" else f"{int(v)}")) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[str(c) for c in matrix.columns], y=[str(i) for i in matrix.index],
                               text=text, texttemplate="%{text}", colorscale=colorscale, zmin=zmin, zmax=zmax,
                               hovertemplate=f"{y_title} %{{y}}<br>{x_title} %{{x}}<br>%{{text}}<extra></extra>"))
    fig.update_xaxes(title_text=x_title, side="bottom", type="category")
    fig.update_yaxes(title_text=y_title, autorange="reversed", type="category")
    return _layout(fig, title, height=max(300, 60 * len(matrix) + 120))


def reliability_diagram(bins: pd.DataFrame, ece: float, *, labeler: str) -> go.Figure:
    b = bins[bins["n"] > 0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color="#888", dash="dash")))
    fig.add_trace(go.Scatter(x=b["mean_confidence"], y=b["accuracy"], mode="lines+markers", name=labeler,
                             marker=dict(size=np.clip(4 + 2 * np.sqrt(b["n"]), 6, 24)),
                             customdata=b[["n"]].to_numpy(),
                             hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>n %{customdata[0]}"
                                           "<extra></extra>"))
    fig.update_xaxes(title_text="stated confidence", range=[0, 1.02])
    fig.update_yaxes(title_text="share right", range=[0, 1.02])
    return _layout(fig, f"Reliability of {labeler}'s confidence (ECE {ece:.3f})", height=400,
                   margin=dict(l=10, r=10, t=40, b=70), legend=dict(orientation="h", yanchor="top", y=-0.2))


def slice_bars(table: pd.DataFrame, *, column: str, signed_error: bool) -> go.Figure:
    """Per slice: mean signed error (or agreement) with its CI."""
    if signed_error:
        y, lo, hi = table["mean_signed_error"], table["error_ci_low"], table["error_ci_high"]
        label = "mean signed error"
    else:
        y, lo, hi, label = table["agreement"], table["agreement_ci_low"], table["agreement_ci_high"], "agreement"
    fig = go.Figure(go.Bar(x=table["slice"].astype(str), y=y, marker_color=PALETTE[0],
                           error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo),
                           customdata=table[["n"]].to_numpy(),
                           hovertemplate="%{x}<br>" + label + " %{y:.3f}<br>n %{customdata[0]}<extra></extra>"))
    if signed_error:
        fig.add_hline(y=0, line=dict(color="#888", dash="dash"))
    fig.update_xaxes(title_text=column, type="category")
    fig.update_yaxes(title_text=label)
    return _layout(fig, f"{label.capitalize()} by {column} (95% CI)", height=340)


def distribution_bars(llm_share: pd.Series, human_share: pd.Series, *, labeler: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[str(i) for i in human_share.index], y=human_share.to_numpy(), name="human gold",
                         marker_color="#7f7f7f"))
    fig.add_trace(go.Bar(x=[str(i) for i in llm_share.index], y=llm_share.to_numpy(), name=labeler,
                         marker_color=PALETTE[0]))
    fig.update_xaxes(title_text="label", type="category")
    fig.update_yaxes(title_text="share", rangemode="tozero")
    return _layout(fig, "Label distributions", height=320, barmode="group")


def agreement_matrix(matrix: pd.DataFrame, families: dict[str, str], *, metric: str) -> go.Figure:
    """Rater-by-rater agreement; axis labels carry each rater's family, family blocks outlined."""
    names = [f"{r} ({families.get(r, '')})" if families.get(r) else r for r in matrix.index]
    m = matrix.copy()
    m.index, m.columns = names, names
    off = matrix.to_numpy(dtype=float)[~np.eye(len(matrix), dtype=bool)]
    low = float(np.floor(np.nanmin(off) * 10) / 10) if off.size and not np.isnan(off).all() else 0.0
    fig = heatmap(m, f"Pairwise {metric}", x_title="rater", y_title="rater", zmin=low, zmax=1, fmt=".2f",
                  colorscale="Viridis")
    order = list(matrix.index)
    fams = [families.get(r, r) for r in order]
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or fams[i] != fams[start]:
            if i - start > 1:  # outline a family of several raters
                fig.add_shape(type="rect", x0=start - 0.5, x1=i - 0.5, y0=start - 0.5, y1=i - 0.5,
                              line=dict(color="white", width=3))
            start = i
    return fig
