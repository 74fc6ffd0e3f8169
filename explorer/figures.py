"""Plotly figures built from plain data (numpy arrays, lists, dicts): no model, no streamlit.

Each function returns a figure in plotly's dict form (``{"data": [...],
"layout": {...}}``), which plotly.js, ``st.plotly_chart`` and
``plotly.io.to_json`` all take as it is; ``go.Figure(spec)`` gives the object
API and validates it, as the tests do for every figure. The live pages rebuild
every figure several times a second, and building ``go.Figure`` objects (their
validation and deep copies) cost nearly half of each frame.

Pages call these with what the backend computed, so every chart can also be
built in a notebook or a test. Sizes and fonts are chosen to stay readable on
a projector at 1280×720.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

CLASS_COLORS = ("#e8710a", "#1a73e8")          # class 0 orange, class 1 blue
BOUNDARY_SCALE = [[0.0, "#f6b26b"], [0.5, "#ffffff"], [1.0, "#6fa8dc"]]
RUN_COLORS = ("#1a73e8", "#d93025", "#188038", "#9334e6", "#e37400", "#12858a")
DROPPED = "#c7c7c7"
FONT = dict(size=14)

Figure = dict[str, Any]  # plotly's dict form of a figure: {"data": [...], "layout": {...}}


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    return {"data": traces, "layout": layout}


def _layout(title: str, height: int, **axes: Any) -> dict[str, Any]:
    """The look every figure shares, plus its own axes."""
    return dict(
        title=dict(text=title, x=0.01, font=dict(size=16)),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=FONT,
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="left", x=0),
        uirevision="keep",  # keep zoom and legend clicks across live updates
    ) | axes


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    prob: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    title: str = "Decision boundary",
    height: int = 340,
) -> Figure:
    """P(class 1) as a heatmap, the 0.5 contour, training points solid and validation points faint.

    No legend or colour bar: they would squeeze a square map in a narrow
    column; the page says in one line what the shades and dots mean.
    """
    traces: list[dict[str, Any]] = [
        dict(
            type="heatmap", x=xs, y=ys, z=prob, zmin=0, zmax=1, colorscale=BOUNDARY_SCALE, showscale=False,
            hovertemplate="P(blue) = %{z:.2f}<extra></extra>",
        ),
        dict(
            type="contour", x=xs, y=ys, z=prob, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
            line=dict(color="#333333", width=2), showscale=False, hoverinfo="skip", showlegend=False,
        ),
    ]
    if x_val is not None and y_val is not None:
        for c in (0, 1):
            pts = x_val[y_val == c]
            traces.append(dict(
                type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False, hoverinfo="skip",
                marker=dict(size=5, color=CLASS_COLORS[c], opacity=0.35),
            ))
    for c in (0, 1):
        pts = x_train[y_train == c]
        traces.append(dict(
            type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(size=8, color=CLASS_COLORS[c], line=dict(color="white", width=1)),
        ))
    bare = dict(showgrid=False, zeroline=False, showticklabels=False)
    return _figure(traces, _layout(title, height, xaxis=dict(bare, range=[xs[0], xs[-1]]),
                                     yaxis=dict(bare, range=[ys[0], ys[-1]], scaleanchor="x", scaleratio=1)))


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, float]]], height: int = 320) -> Figure:
    """Loss and accuracy per epoch; each run a colour, training solid and validation dashed.

    Two panels side by side, laid out as make_subplots(1, 2, horizontal_spacing=0.08)
    would; the series go to plotly as numpy arrays, which it copies and encodes
    far faster than lists.
    """
    traces: list[dict[str, Any]] = []
    for i, (name, history) in enumerate(runs.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        epochs = np.array([r["epoch"] for r in history])
        for panel, metric in (("", "loss"), ("2", "acc")):
            for split, dash in (("train", "solid"), ("val", "dash")):
                traces.append(dict(
                    type="scatter", mode="lines",
                    x=epochs, y=np.array([r[f"{split}_{metric}"] for r in history], dtype=float),
                    name=f"{name} · {'training' if split == 'train' else 'validation'}",
                    legendgroup=f"{name}{split}", showlegend=not panel,
                    line=dict(color=color, dash=dash, width=2), xaxis=f"x{panel}", yaxis=f"y{panel}",
                ))
    panel_title = dict(font=dict(size=16), showarrow=False, xanchor="center", xref="paper",
                       y=1.0, yanchor="bottom", yref="paper")
    layout = _layout(
        "", height,
        xaxis=dict(anchor="y", domain=[0.0, 0.46], title=dict(text="epoch"), gridcolor="#eeeeee"),
        yaxis=dict(anchor="x", domain=[0.0, 1.0], gridcolor="#eeeeee", rangemode="tozero"),
        xaxis2=dict(anchor="y2", domain=[0.54, 1.0], title=dict(text="epoch"), gridcolor="#eeeeee"),
        yaxis2=dict(anchor="x2", domain=[0.0, 1.0], gridcolor="#eeeeee"),
        annotations=[dict(panel_title, text="Loss (cross-entropy)", x=0.23), dict(panel_title, text="Accuracy", x=0.77)],
    )
    layout["margin"]["t"], layout["legend"]["y"] = 30, -0.22
    return _figure(traces, layout)


def network_figure(
    layer_sizes: Sequence[int],
    keep: Sequence[np.ndarray],
    max_units: int = 10,
    title: str = "This step's thinned network",
    height: int = 320,
) -> Figure:
    """Units as dots, dropped ones grey with a cross; edges only between units that are both on.

    ``keep`` holds one bool vector per droppable layer (inputs, then each
    hidden layer); the output layer is never dropped. Wide layers show their
    first ``max_units`` units, marked with * after their size.
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
                target["x"] += [li, li + 1, np.nan]  # nan breaks the line between segments
                target["y"] += [ya, yb, np.nan]
    # numpy arrays travel as one binary block; a list is walked value by value
    edge_on = {axis: np.array(v, dtype=float) for axis, v in edge_on.items()}
    edge_off = {axis: np.array(v, dtype=float) for axis, v in edge_off.items()}

    edge = dict(type="scatter", mode="lines", hoverinfo="skip", showlegend=False)
    traces: list[dict[str, Any]] = [
        dict(edge, **edge_off, line=dict(color="#eeeeee", width=1)),
        dict(edge, **edge_on, line=dict(color="#9aa0a6", width=1)),
    ]
    kept_x, kept_y, drop_x, drop_y = [], [], [], []
    for li in range(n_layers):
        for u, y in enumerate(ys[li]):
            (kept_x if on[li][u] else drop_x).append(li)
            (kept_y if on[li][u] else drop_y).append(y)
    traces.append(dict(type="scatter", x=kept_x, y=kept_y, mode="markers", name="kept",
                       marker=dict(size=16, color="#1a73e8", line=dict(color="white", width=2))))
    traces.append(dict(type="scatter", x=drop_x, y=drop_y, mode="markers", name="dropped",
                       marker=dict(size=16, color=DROPPED, symbol="x", line=dict(color="#9aa0a6", width=1))))
    names = ["input", *[f"h{i}" for i in range(1, n_layers - 1)], "output"]
    labels = [f"{name}<br>{n}" + ("*" if n > max_units else "") for name, n in zip(names, layer_sizes)]
    return _figure(traces, _layout(
        title, height,
        xaxis=dict(tickvals=list(range(n_layers)), ticktext=labels, tickangle=0, showgrid=False, zeroline=False,
                   range=[-0.4, n_layers - 0.6]),
        yaxis=dict(visible=False, range=[-1.2, 1.2]),
        showlegend=False,  # blue = kept, grey cross = dropped: said beside the chart
        margin=dict(l=10, r=10, t=40, b=50),  # room for the two-line layer labels
    ))


def kept_fraction_figure(
    layer_names: Sequence[str], kept: Sequence[float], expected: Sequence[float], height: int = 230
) -> Figure:
    """Fraction of units kept in this step's batch, per layer, against the keep probability 1 − q."""
    return _figure([
        dict(type="bar", x=list(kept), y=list(layer_names), orientation="h", name="kept this step",
             marker=dict(color="#1a73e8"), text=[f"{k:.0%}" for k in kept], textposition="inside"),
        dict(type="scatter", x=list(expected), y=list(layer_names), mode="markers", name="expected (1 − q)",
             marker=dict(symbol="line-ns", size=26, line=dict(width=3, color="#d93025"))),
    ], _layout("Units kept per layer", height, xaxis=dict(range=[0, 1], tickformat=".0%", gridcolor="#eeeeee"),
               yaxis=dict(autorange="reversed", automargin=True)))
