"""Figures of the Uncertainty page's regression part: MC-dropout bands on a 1-D regression, and its MSE curves.

Pure functions from plain arrays to plotly dict figures, in the look of
``explorer.core.figures``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from explorer.core.figures import CLASS_COLORS, RUN_COLORS, Figure, base_layout, make_figure

BAND = RUN_COLORS[0]
GRID = "#eeeeee"
NO_DATA = "rgba(95, 99, 104, 0.10)"


def _band(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, name: str, opacity: float) -> dict[str, Any]:
    """The region between two curves, as one closed polygon."""
    return dict(type="scatter", x=np.concatenate([x, x[::-1]]), y=np.concatenate([upper, lower[::-1]]),
                fill="toself", fillcolor=BAND, opacity=opacity, line=dict(width=0), name=name, hoverinfo="skip")


def _joined(x: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many curves as one line broken by NaN: one trace instead of one per curve, far cheaper to redraw."""
    k = len(curves)
    xs = np.tile(np.append(x, np.nan), k)
    ys = np.concatenate([np.append(c, np.nan) for c in curves]) if k else np.array([])
    return xs, ys


def regression_figure(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, curves: np.ndarray, truth: np.ndarray,
    x_train: np.ndarray, y_train: np.ndarray, gap: tuple[float, float], data_half_range: float,
    title: str, height: int = 430,
) -> Figure:
    """Predictive mean ± 1 and ± 2 std over a few sampled passes drawn faintly behind, the data, the truth dashed.

    The gap and the stretches beyond the training range are shaded grey. The
    y-axis is fixed by the true function, so frames compare and a wild guess
    far from the data runs off the chart instead of squashing it.
    """
    cx, cy = _joined(x, curves)
    traces = [
        dict(type="scatter", x=cx, y=cy, mode="lines", name=f"{len(curves)} sampled passes", hoverinfo="skip",
             line=dict(color="#5f6368", width=1), opacity=0.3),
        _band(x, mean - 2 * std, mean + 2 * std, "± 2 std", 0.15),
        _band(x, mean - std, mean + std, "± 1 std", 0.25),
        dict(type="scatter", x=x, y=truth, mode="lines", name="true x·sin x", hoverinfo="skip",
             line=dict(color="#202124", width=2, dash="dash")),
        dict(type="scatter", x=x, y=mean, mode="lines", name="predictive mean", line=dict(color=BAND, width=3),
             customdata=std, hovertemplate="x = %{x:.2f}: %{y:.2f} ± %{customdata:.2f}<extra></extra>"),
        dict(type="scatter", x=x_train, y=y_train, mode="markers", name="training points", hoverinfo="skip",
             marker=dict(size=6, color=CLASS_COLORS[0], line=dict(color="white", width=1))),
    ]
    shade = dict(type="rect", xref="x", yref="paper", y0=0, y1=1, fillcolor=NO_DATA, line=dict(width=0), layer="below")
    label = dict(xref="x", yref="paper", y=1.0, yanchor="top", showarrow=False, font=dict(size=13, color="#5f6368"))
    lo, hi = float(x[0]), float(x[-1])
    shapes = [dict(shade, x0=gap[0], x1=gap[1]), dict(shade, x0=lo, x1=-data_half_range),
              dict(shade, x0=data_half_range, x1=hi)]
    annotations = [dict(label, x=(gap[0] + gap[1]) / 2, text="gap"),
                   dict(label, x=(lo - data_half_range) / 2, text="no data"),
                   dict(label, x=(hi + data_half_range) / 2, text="no data")]
    span = float(truth.max() - truth.min())
    layout = base_layout(
        title, height, shapes=shapes, annotations=annotations,
        xaxis=dict(title=dict(text="x"), range=[lo, hi], gridcolor=GRID, zeroline=False),
        yaxis=dict(title=dict(text="y"), range=[float(truth.min()) - 0.35 * span, float(truth.max()) + 0.35 * span],
                   gridcolor=GRID, zeroline=False),
    )
    layout["legend"] |= dict(orientation="v", x=1.01, xanchor="left", y=1.0, yanchor="top")
    return make_figure(traces, layout)


def mse_figure(history: Sequence[Mapping[str, float]], height: int = 260) -> Figure:
    """Training and validation MSE per epoch (dropout off), on a log scale: the fit's progress at a glance."""
    epochs = np.array([r["epoch"] for r in history])
    traces = [
        dict(type="scatter", mode="lines", x=epochs, y=np.array([r[f"{split}_mse"] for r in history], dtype=float),
             name=name, line=dict(color=RUN_COLORS[0], width=2, dash=dash))
        for split, name, dash in (("train", "training", "solid"), ("val", "validation", "dash"))
    ]
    layout = base_layout("Mean squared error (dropout off)", height,
                         xaxis=dict(title=dict(text="epoch"), gridcolor=GRID),
                         yaxis=dict(type="log", dtick=1, gridcolor=GRID))  # a label per decade, no minor digits
    layout["legend"] |= dict(orientation="h", x=1.0, xanchor="right", y=1.0, yanchor="bottom")
    return make_figure(traces, layout)
