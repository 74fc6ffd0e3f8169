"""The L2 part's figures (plotly dict form), from plain data: the weights and penalties per feature, the distance
to the closed form."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from explorer.core.figures import RUN_COLORS, Figure, base_layout, make_figure

GRID = "#eeeeee"
WEIGHT_COLORS = ("#9aa0a6", RUN_COLORS[1], RUN_COLORS[0], RUN_COLORS[2])  # OLS grey, decay red, closed blue, trained green


def _feature_axis(scales: np.ndarray) -> dict:
    """Features along x, each labelled with its scale: the penalty of dropout grows with it."""
    return dict(tickvals=list(range(len(scales))), title=dict(text="feature (its scale below)", standoff=4),
                ticktext=[f"x{j + 1}<br>×{s:.2g}" for j, s in enumerate(scales)], showgrid=False)


def _bars(series: Mapping[str, np.ndarray], colors: Sequence[str], hover: str, **extra: object) -> list[dict]:
    return [dict(type="bar", name=name, legendgroup=name, x=np.arange(len(values)), y=np.asarray(values, dtype=float),
                 marker=dict(color=color), hovertemplate=f"x%{{x}}: %{{y:.3g}}{hover}<extra>{name}</extra>", **extra)
            for (name, values), color in zip(series.items(), colors)]


def ridge_figure(weights: Mapping[str, np.ndarray], dropout_penalties: np.ndarray, decay: float,
                 scales: np.ndarray, height: int = 340) -> Figure:
    """Left, each feature's weight under the four fits (``weights``: least squares, weight decay, the closed form,
    trained; colours in that order); right, the penalty each puts on a weight, log scale: dropout's
    λ_j = (q/k)Γ_jj² grows with the feature's scale, weight decay's one λ (their mean) does not."""
    names = list(weights)
    penalties = {names[1]: np.full(len(scales), decay), names[2]: np.asarray(dropout_penalties, dtype=float)}
    traces = _bars(weights, WEIGHT_COLORS, "") + _bars(penalties, WEIGHT_COLORS[1:3], " × w̃ⱼ²", xaxis="x2",
                                                        yaxis="y2", showlegend=False)
    title = dict(font=dict(size=16), showarrow=False, xanchor="left", xref="paper", y=1.0, yanchor="bottom",
                 yref="paper")
    layout = base_layout(
        "", height, barmode="group", bargap=0.25,
        xaxis=_feature_axis(scales) | dict(domain=[0.0, 0.6], anchor="y"),
        yaxis=dict(title=dict(text="weight w̃ⱼ"), gridcolor=GRID, zerolinecolor="#9aa0a6", anchor="x"),
        xaxis2=dict(domain=[0.7, 1.0], anchor="y2", tickvals=list(range(len(scales))), showgrid=False,
                    ticktext=[f"x{j + 1}" for j in range(len(scales))], title=dict(text="feature", standoff=4)),
        yaxis2=dict(title=dict(text="penalty λⱼ (log)"), type="log", dtick=1, gridcolor=GRID, anchor="x2"),
        annotations=[dict(title, text="Weights per feature", x=0.0),
                     dict(title, text="Penalty on each weight", x=0.7)],
    )
    layout["margin"]["t"], layout["legend"]["y"] = 30, -0.3
    return make_figure(traces, layout)


def distance_figure(history: Sequence[Mapping[str, float]], burn_in: int, height: int = 300) -> Figure:
    """Relative distance to the closed form per epoch (log scale): the running average falls, the last iterate
    stays at its noise level; the burn-in (before averaging) shaded."""
    steps = np.array([r["step"] for r in history], dtype=float)
    traces = [
        dict(type="scatter", mode="lines", x=steps, y=np.array([r["last_relative_distance"] for r in history]),
             name="last iterate", line=dict(color="#9aa0a6", width=1.5)),
        dict(type="scatter", mode="lines", x=steps, y=np.array([r["relative_distance"] for r in history]),
             name="running average (the trained weights)", line=dict(color=RUN_COLORS[2], width=3)),
    ]
    shapes = []
    if history and burn_in:
        end = next((r["step"] for r in history if r["epoch"] == burn_in), steps[-1])
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=0, x1=end, y0=0, y1=1, line=dict(width=0),
                           fillcolor="rgba(0,0,0,0.06)", layer="below"))
    layout = base_layout("Distance to the closed form, ‖w − w̃_ridge‖ / ‖w̃_ridge‖", height, shapes=shapes,
                         xaxis=dict(title=dict(text="training step (shaded: burn-in, not averaged)"), gridcolor=GRID,
                                    rangemode="tozero"),
                         yaxis=dict(title=dict(text="relative distance (log)"), type="log", gridcolor=GRID,
                                    dtick="D2", tickformat=".2~%"))
    layout["legend"] |= dict(y=-0.38)
    return make_figure(traces, layout)
