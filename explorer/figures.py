"""Plotly figures built from plain data (numpy arrays, lists, dicts): no model, no streamlit.

Pages call these with what the backend computed, so every chart can also be
built in a notebook or a test. Sizes and fonts are chosen to stay readable on
a projector at 1280×720.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CLASS_COLORS = ("#e8710a", "#1a73e8")          # class 0 orange, class 1 blue
BOUNDARY_SCALE = [[0.0, "#f6b26b"], [0.5, "#ffffff"], [1.0, "#6fa8dc"]]
RUN_COLORS = ("#1a73e8", "#d93025", "#188038", "#9334e6", "#e37400", "#12858a")
DROPPED = "#c7c7c7"
FONT = dict(size=14)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=16)),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=FONT,
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        uirevision="keep",  # keep zoom and legend clicks across live updates
    )
    return fig


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    prob: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    title: str = "Decision boundary",
    height: int = 380,
) -> go.Figure:
    """P(class 1) as a heatmap, the 0.5 contour, training points solid and validation points faint."""
    traces: list[go.BaseTraceType] = [
        go.Heatmap(
            x=xs, y=ys, z=prob, zmin=0, zmax=1, colorscale=BOUNDARY_SCALE, hoverinfo="skip",
            colorbar=dict(title=dict(text="P(blue)", side="right"), thickness=12, len=0.8),
        ),
        go.Contour(
            x=xs, y=ys, z=prob, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
            line=dict(color="#333333", width=2), showscale=False, hoverinfo="skip",
        ),
    ]
    if x_val is not None and y_val is not None:
        for c in (0, 1):
            pts = x_val[y_val == c]
            traces.append(go.Scatter(
                x=pts[:, 0], y=pts[:, 1], mode="markers", name="validation" if c else None, showlegend=bool(c),
                legendgroup="val", marker=dict(size=5, color=CLASS_COLORS[c], opacity=0.35),
                hoverinfo="skip",
            ))
    for c in (0, 1):
        pts = x_train[y_train == c]
        traces.append(go.Scatter(
            x=pts[:, 0], y=pts[:, 1], mode="markers", name="training" if c else None, showlegend=bool(c),
            legendgroup="train", marker=dict(size=8, color=CLASS_COLORS[c], line=dict(color="white", width=1)),
            hoverinfo="skip",
        ))
    fig = go.Figure(traces)
    fig.update_xaxes(range=[xs[0], xs[-1]], showgrid=False, zeroline=False, showticklabels=False)
    fig.update_yaxes(range=[ys[0], ys[-1]], showgrid=False, zeroline=False, showticklabels=False,
                     scaleanchor="x", scaleratio=1)
    return _layout(fig, title, height)


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, float]]], height: int = 320) -> go.Figure:
    """Loss and accuracy per epoch; each run a colour, training solid and validation dashed."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (cross-entropy)", "Accuracy"), horizontal_spacing=0.08)
    for i, (name, history) in enumerate(runs.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        epochs = [r["epoch"] for r in history]
        for col, metric in ((1, "loss"), (2, "acc")):
            for split, dash in (("train", "solid"), ("val", "dash")):
                fig.add_trace(
                    go.Scatter(
                        x=epochs, y=[r[f"{split}_{metric}"] for r in history], mode="lines",
                        name=f"{name} · {'training' if split == 'train' else 'validation'}",
                        legendgroup=f"{name}{split}", showlegend=col == 1,
                        line=dict(color=color, dash=dash, width=2),
                    ),
                    row=1, col=col,
                )
    fig.update_xaxes(title_text="epoch", gridcolor="#eeeeee")
    fig.update_yaxes(gridcolor="#eeeeee")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_layout(legend=dict(y=-0.25, yanchor="top", x=0, xanchor="left"))
    _layout(fig, "", height)
    fig.update_layout(margin=dict(t=30), legend=dict(orientation="h", y=-0.22, yanchor="top", x=0, xanchor="left"))
    return fig


def network_figure(
    layer_sizes: Sequence[int],
    keep: Sequence[np.ndarray],
    max_units: int = 10,
    title: str = "This step's thinned network (one example)",
    height: int = 360,
) -> go.Figure:
    """Units as dots, dropped ones grey with a cross; edges only between units that are both on.

    ``keep`` holds one bool vector per droppable layer (inputs, then each
    hidden layer); the output layer is never dropped. Wide layers show their
    first ``max_units`` units and say how many more there are.
    """
    n_layers = len(layer_sizes)
    on: list[np.ndarray] = [np.asarray(k[:max_units], dtype=bool) for k in keep]
    on.append(np.ones(min(layer_sizes[-1], max_units), dtype=bool))
    ys = [np.linspace(1, -1, min(n, max_units)) if min(n, max_units) > 1 else np.zeros(1) for n in layer_sizes]

    edge_on: dict[str, list] = {"x": [], "y": []}
    edge_off: dict[str, list] = {"x": [], "y": []}
    for li in range(n_layers - 1):
        for a, ya in enumerate(ys[li]):
            for b, yb in enumerate(ys[li + 1]):
                target = edge_on if on[li][a] and on[li + 1][b] else edge_off
                target["x"] += [li, li + 1, None]
                target["y"] += [ya, yb, None]

    traces: list[go.BaseTraceType] = [
        go.Scatter(**edge_off, mode="lines", line=dict(color="#eeeeee", width=1), hoverinfo="skip", showlegend=False),
        go.Scatter(**edge_on, mode="lines", line=dict(color="#9aa0a6", width=1), hoverinfo="skip", showlegend=False),
    ]
    kept_x, kept_y, drop_x, drop_y = [], [], [], []
    for li in range(n_layers):
        for u, y in enumerate(ys[li]):
            (kept_x if on[li][u] else drop_x).append(li)
            (kept_y if on[li][u] else drop_y).append(y)
    traces.append(go.Scatter(x=kept_x, y=kept_y, mode="markers", name="kept",
                             marker=dict(size=16, color="#1a73e8", line=dict(color="white", width=2))))
    traces.append(go.Scatter(x=drop_x, y=drop_y, mode="markers", name="dropped",
                             marker=dict(size=16, color=DROPPED, symbol="x", line=dict(color="#9aa0a6", width=1))))
    fig = go.Figure(traces)
    names = ["input", *[f"hidden {i}" for i in range(1, n_layers - 1)], "output"]
    labels = [f"{name}<br>{n} units" + (f" ({max_units} shown)" if n > max_units else "") for name, n in zip(names, layer_sizes)]
    fig.update_xaxes(tickvals=list(range(n_layers)), ticktext=labels, showgrid=False, zeroline=False, range=[-0.4, n_layers - 0.6])
    fig.update_yaxes(visible=False, range=[-1.2, 1.2])
    return _layout(fig, title, height)


def kept_fraction_figure(
    layer_names: Sequence[str], kept: Sequence[float], expected: Sequence[float], height: int = 240
) -> go.Figure:
    """Fraction of units kept in this step's batch, per layer, against the keep probability 1 − q."""
    fig = go.Figure([
        go.Bar(x=list(kept), y=list(layer_names), orientation="h", name="kept this step",
               marker_color="#1a73e8", text=[f"{k:.0%}" for k in kept], textposition="inside"),
        go.Scatter(x=list(expected), y=list(layer_names), mode="markers", name="expected (1 − q)",
                   marker=dict(symbol="line-ns", size=26, line=dict(width=3, color="#d93025"))),
    ])
    fig.update_xaxes(range=[0, 1], tickformat=".0%", gridcolor="#eeeeee")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Units kept per layer", height)
