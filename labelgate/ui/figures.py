"""Plotly figure builders for the Calibrate, Compare and Review pages (data in, figure out).

Plotly reads every text it draws (titles, axis titles and ticks, legend names, hover text,
annotations) as a subset of HTML: <a href> becomes a link, <b>, <br>, <span style> apply. Every
string that comes from data (labeler, task, rater, class label, slice, column, item id) goes
through `text` first, so that it is drawn exactly as written.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

_MARGIN = dict(l=10, r=10, t=40, b=10)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def text(value) -> str:
    """`value` as Plotly draws it literally: &, < and > as character references (which Plotly
    decodes back to the characters), so no tag in it is ever interpreted."""
    return html.escape(str(value), quote=False)


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
                             customdata=np.column_stack([points["item_id"].map(text).to_numpy(dtype=object),
                                                         points["gold_num"].to_numpy(dtype=object),
                                                         points["pred_num"].to_numpy(dtype=object)]),
                             hovertemplate="%{customdata[0]}<br>gold %{customdata[1]}<br>labeler %{customdata[2]}"
                                           "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity",
                             line=dict(color="#888", dash="dash")))
    for i, (name, (gx, gy)) in enumerate(curves.items()):
        # a correction maps the labeler's score to the expected human score: draw it as x = f(y)
        fig.add_trace(go.Scatter(x=gy, y=gx, mode="lines", name=f"correction: {text(name)}",
                                 line=dict(color=PALETTE[(i + 1) % len(PALETTE)], width=2.5)))
    pad = 0.05 * (hi - lo)
    fig.update_xaxes(title_text="human gold", range=[lo - pad, hi + pad])
    fig.update_yaxes(title_text=f"{text(labeler)} score", range=[lo - pad, hi + pad])
    return _layout(fig, f"{text(labeler)} vs human gold", height=460, margin=dict(l=10, r=10, t=40, b=90),
                   legend=dict(orientation="h", yanchor="top", y=-0.18))


def heatmap(matrix: pd.DataFrame, title: str, *, x_title: str, y_title: str, zmin=None, zmax=None,
            fmt: str = "d", colorscale: str = "Blues") -> go.Figure:
    """A matrix with its values written in the cells; `title`, the axis titles and the row and
    column names may come from data (they are drawn literally)."""
    title, x_title, y_title = text(title), text(x_title), text(y_title)
    z = matrix.to_numpy(dtype=float)
    cells = [[("" if np.isnan(v) else (f"{v:{fmt}}" if fmt != "d" else f"{int(v)}")) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[text(c) for c in matrix.columns], y=[text(i) for i in matrix.index],
                               text=cells, texttemplate="%{text}", colorscale=colorscale, zmin=zmin, zmax=zmax,
                               hovertemplate=f"{y_title} %{{y}}<br>{x_title} %{{x}}<br>%{{text}}<extra></extra>"))
    fig.update_xaxes(title_text=x_title, side="bottom", type="category")
    fig.update_yaxes(title_text=y_title, autorange="reversed", type="category")
    return _layout(fig, title, height=max(300, 60 * len(matrix) + 120))


def reliability_diagram(bins: pd.DataFrame, ece: float, *, labeler: str) -> go.Figure:
    b = bins[bins["n"] > 0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color="#888", dash="dash")))
    fig.add_trace(go.Scatter(x=b["mean_confidence"], y=b["accuracy"], mode="lines+markers", name=text(labeler),
                             marker=dict(size=np.clip(4 + 2 * np.sqrt(b["n"]), 6, 24)),
                             customdata=b[["n"]].to_numpy(),
                             hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>n %{customdata[0]}"
                                           "<extra></extra>"))
    fig.update_xaxes(title_text="stated confidence", range=[0, 1.02])
    fig.update_yaxes(title_text="share right", range=[0, 1.02])
    return _layout(fig, f"Reliability of {text(labeler)}'s confidence (ECE {ece:.3f})", height=400,
                   margin=dict(l=10, r=10, t=40, b=70), legend=dict(orientation="h", yanchor="top", y=-0.2))


def slice_bars(table: pd.DataFrame, *, column: str, signed_error: bool) -> go.Figure:
    """Per slice: mean signed error (or agreement) with its CI."""
    if signed_error:
        y, lo, hi = table["mean_signed_error"], table["error_ci_low"], table["error_ci_high"]
        label = "mean signed error"
    else:
        y, lo, hi, label = table["agreement"], table["agreement_ci_low"], table["agreement_ci_high"], "agreement"
    fig = go.Figure(go.Bar(x=table["slice"].map(text), y=y, marker_color=PALETTE[0],
                           error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo),
                           customdata=table[["n"]].to_numpy(),
                           hovertemplate="%{x}<br>" + label + " %{y:.3f}<br>n %{customdata[0]}<extra></extra>"))
    if signed_error:
        fig.add_hline(y=0, line=dict(color="#888", dash="dash"))
    fig.update_xaxes(title_text=text(column), type="category")
    fig.update_yaxes(title_text=label)
    return _layout(fig, f"{label.capitalize()} by {text(column)} (95% CI)", height=340)


def distribution_bars(llm_share: pd.Series, human_share: pd.Series, *, labeler: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[text(i) for i in human_share.index], y=human_share.to_numpy(), name="human gold",
                         marker_color="#7f7f7f"))
    fig.add_trace(go.Bar(x=[text(i) for i in llm_share.index], y=llm_share.to_numpy(), name=text(labeler),
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


def learning_curves(preview) -> go.Figure:
    """Macro-F1 of each arm of a qc.student.StudentPreview against its training rows, with CI bands."""
    fig = go.Figure()
    for i, arm in enumerate(a for a in preview.arms if a.curve):
        color = PALETTE[i % len(PALETTE)]
        x = [p.n_train for p in arm.curve]
        est = [p.macro_f1.estimate for p in arm.curve]
        lo = [p.macro_f1.ci_low for p in arm.curve]
        hi = [p.macro_f1.ci_high for p in arm.curve]
        fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=color, opacity=0.15,
                                 line=dict(width=0), hoverinfo="skip", showlegend=False))
        label = text(arm.name) + (" (plateaued)" if arm.plateaued else "")
        fig.add_trace(go.Scatter(x=x, y=est, mode="lines+markers", name=label, line=dict(color=color, width=2),
                                 hovertemplate="%{x:,.0f} training rows<br>macro-F1 %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="training rows per fold")
    fig.update_yaxes(title_text="macro-F1 against gold")
    return _layout(fig, "Learning curves", height=420, margin=dict(l=10, r=10, t=40, b=110),
                   legend=dict(orientation="h", yanchor="top", y=-0.2))


def strategy_yield(table: pd.DataFrame, *, labeler: str) -> go.Figure:
    """Errors found per 100 items labeled by each review strategy (labelgate.targeted.compare_strategies),
    with 95% CIs, beside the random control."""
    shown = table.dropna(subset=["per_100"])
    base = float(shown.loc[shown["strategy"] == "random", "per_100"].iloc[0])
    fig = go.Figure(go.Bar(
        x=[text(s) for s in shown["strategy"]], y=shown["per_100"],
        error_y=dict(type="data", symmetric=False, array=shown["ci_high"] - shown["per_100"],
                     arrayminus=shown["per_100"] - shown["ci_low"]),
        marker_color=[PALETTE[1] if s == "random" else PALETTE[0] for s in shown["strategy"]],
        hovertemplate="%{x}: %{y:.1f} errors per 100 items<extra></extra>"))
    fig.add_hline(y=base, line_dash="dash", line_color="gray", annotation_text="random control",
                  annotation_position="top left")
    fig.update_yaxes(title_text="errors found per 100 items labeled", rangemode="tozero")
    return _layout(fig, f"Review strategies for {text(labeler)} on the gold", height=340)


def cost_vs_agreement(rows: list[dict], *, metric: str, metric_label: str) -> go.Figure:
    """Labelers on the dev split: cost per item (x) against one agreement metric (y) with its 95% CI,
    the Pareto front (no other labeler is cheaper and at least as good) joined and marked."""
    shown = [r for r in rows if r["cost_per_item_usd"] is not None and metric in r["metrics"]]
    fig = go.Figure()
    for on, name, color in ((False, "dominated", PALETTE[7]), (True, "Pareto front", PALETTE[0])):
        part = [r for r in shown if r["pareto"] == on]
        if not part:
            continue
        est = [r["metrics"][metric]["estimate"] for r in part]
        fig.add_trace(go.Scatter(
            x=[r["cost_per_item_usd"] for r in part], y=est, mode="markers+text", name=name,
            text=["\u2003" + text(r["name"]) for r in part], textposition="middle right", cliponaxis=False,
            marker=dict(size=11, color=color, symbol="diamond" if on else "circle"),
            error_y=dict(type="data", symmetric=False,
                         array=[r["metrics"][metric]["ci_high"] - e for r, e in zip(part, est, strict=True)],
                         arrayminus=[e - r["metrics"][metric]["ci_low"] for r, e in zip(part, est, strict=True)]),
            hovertemplate="%{text}<br>$%{x:.6f} per item<br>" + metric_label + " %{y:.3f}<extra></extra>"))
    front = sorted((r for r in shown if r["pareto"]), key=lambda r: r["cost_per_item_usd"])
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[r["cost_per_item_usd"] for r in front],
                                 y=[r["metrics"][metric]["estimate"] for r in front], mode="lines",
                                 line=dict(color=PALETTE[0], dash="dot"), hoverinfo="skip", showlegend=False))
    costs = [r["cost_per_item_usd"] for r in shown]
    if costs and min(costs) > 0 and max(costs) / min(costs) > 20:   # costs over orders of magnitude: a log axis
        fig.update_xaxes(type="log", tickformat="$.1~g", dtick=1)   # a tick per power of ten
    else:
        fig.update_xaxes(tickformat="$.2~g", rangemode="tozero")
    fig.update_xaxes(title_text="cost per dev item (US$)")
    fig.update_yaxes(title_text=f"{metric_label} on dev")
    return _layout(fig, f"Cost against {metric_label} on the dev split", height=420,
                   margin=dict(l=10, r=120, t=40, b=90), legend=dict(orientation="h", yanchor="top", y=-0.18))
