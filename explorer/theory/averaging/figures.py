"""Figures of exact model averaging (the Theory page): where the approximations differ, and MC error against k.

Pure functions from plain arrays to plotly dict figures, in the look of
``explorer.core.figures``; the four decision maps themselves are
``figures.boundary_figure``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from explorer.core.figures import CLASS_COLORS, RUN_COLORS, Figure, base_layout, colorbar, make_figure

MAP_HEIGHT = 250
DIFF_SCALE = [[0.0, CLASS_COLORS[0]], [0.5, "#ffffff"], [1.0, CLASS_COLORS[1]]]  # more orange < exact < more blue
FLOOR = 1e-16  # errors are drawn on a log axis: an exact 0 (no dropout) sits on this floor
STEPS = [m * 10.0**e for e in range(-16, 4) for m in (1, 2, 5)]  # log-axis ticks: …, 0.01, 0.02, 0.05, 0.1, …


def side_by_side(panels: Sequence[Figure], title: str = "", height: int = MAP_HEIGHT, gap: float = 0.025) -> Figure:
    """Figures of one x/y axis pair each as the panels of one figure, their titles above them.

    One chart instead of several: a live page redraws one plot, not four.
    """
    n = len(panels)
    width = (1.0 - gap * (n - 1)) / n
    traces: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    annotations = []
    for i, panel in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        traces += [{**t, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"} for t in panel["data"]]
        layout = panel["layout"]
        x, y = ({**layout[a], "ticks": ""} if layout[a].get("showticklabels") is False else layout[a]
                for a in ("xaxis", "yaxis"))  # a bare map axis: no tick marks either
        axes[f"xaxis{suffix}"] = {**x, "domain": [x0, x0 + width], "anchor": f"y{suffix}"}
        square = {"scaleanchor": f"x{suffix}"} if "scaleanchor" in y else {}
        axes[f"yaxis{suffix}"] = {**y, "anchor": f"x{suffix}"} | square
        annotations.append(dict(text=layout["title"]["text"], x=x0 + width / 2, xref="paper", y=1.0, yref="paper",
                                yanchor="bottom", xanchor="center", showarrow=False, font=dict(size=15)))
    return make_figure(traces, base_layout(title, height, **axes, annotations=annotations, showlegend=False,
                                           margin=dict(l=10, r=10, t=60 if title else 30, b=10)))


def difference_panel(xs: np.ndarray, ys: np.ndarray, diff: np.ndarray, exact: np.ndarray, top: float, name: str,
                     scale: bool) -> Figure:
    """One approximation's P(blue) minus the exact mean's on the colour scale ±``top``, under the exact 0.5 contour."""
    bare = dict(showgrid=False, zeroline=False, showticklabels=False)
    traces = [
        dict(type="heatmap", x=xs, y=ys, z=np.asarray(diff, dtype=np.float32), zmin=-top, zmax=top, zmid=0,
             colorscale=DIFF_SCALE, showscale=scale, colorbar=colorbar("P − P<sub>exact</sub>", tickformat=".2g"),
             hovertemplate=name + ": %{z:+.2e}<extra></extra>"),
        dict(type="contour", x=xs, y=ys, z=exact, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
             line=dict(color="#333333", width=1.5), showscale=False, hoverinfo="skip", showlegend=False),
    ]
    return make_figure(traces, base_layout(f"{name} · max |Δ| {np.abs(diff).max():.1e}", MAP_HEIGHT,
                                           xaxis=dict(bare, range=[xs[0], xs[-1]]),
                                           yaxis=dict(bare, range=[ys[0], ys[-1]])))


def difference_figure(xs: np.ndarray, ys: np.ndarray, diffs: Mapping[str, np.ndarray], exact: np.ndarray,
                      title: str = "Where each approximation departs from the exact mean", height: int = 300) -> Figure:
    """P(blue) of each approximation minus the exact mean's, panels side by side on one shared colour scale.

    ``diffs`` maps a panel's name to its (res, res) difference; ``exact`` is the
    exact mean's P(blue). One scale for all panels, symmetric around 0, so a
    faint panel really is a small difference.
    """
    top = max((float(np.abs(d).max()) for d in diffs.values()), default=0.0) or 1e-9
    last = len(diffs) - 1
    return side_by_side([difference_panel(xs, ys, d, exact, top, name, i == last)
                         for i, (name, d) in enumerate(diffs.items())], title, height)


def mc_error_figure(error: np.ndarray, weight_scaling: float, geometric: float, k: int, points: int,
                    title: str = "MC averaging error against the number of sampled networks k",
                    height: int = 380) -> Figure:
    """Mean |P_MC,k − P_exact| for k = 1 … K: the draws' mean, a 10–90 % band, weight scaling's error as a line.

    ``error`` is (draws, K); log–log axes, on which MC's 1/√k decay is a straight line.
    """
    error = np.maximum(np.asarray(error, dtype=float), FLOOR)
    ks = np.arange(1, error.shape[1] + 1)
    mean = error.mean(0)
    lo, hi = np.percentile(error, 10, axis=0), np.percentile(error, 90, axis=0)
    flat = dict(type="scatter", mode="lines", x=[1, ks[-1]])
    traces: list[dict[str, Any]] = [
        dict(type="scatter", x=np.concatenate([ks, ks[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
             fillcolor=RUN_COLORS[0], opacity=0.15, line=dict(width=0), hoverinfo="skip",
             name=f"10–90 % of {len(error)} draws"),
        dict(type="scatter", mode="lines", x=ks, y=mean, name="MC average of k networks",
             line=dict(color=RUN_COLORS[0], width=3), hovertemplate="k = %{x}: %{y:.2e}<extra>MC</extra>"),
        dict(flat, y=[max(weight_scaling, FLOOR)] * 2, name="weight scaling",
             line=dict(color=RUN_COLORS[1], width=3, dash="dash"),
             hovertemplate="weight scaling: %{y:.2e}<extra></extra>"),
        dict(flat, y=[max(geometric, FLOOR)] * 2, name="geometric mean",
             line=dict(color=RUN_COLORS[2], width=2, dash="dot"),
             hovertemplate="geometric mean: %{y:.2e}<extra></extra>"),
        dict(type="scatter", mode="markers", x=[k], y=[mean[k - 1]], name=f"k = {k} (the maps)",
             marker=dict(size=12, color=RUN_COLORS[0], line=dict(color="white", width=2)),
             hovertemplate="k = %{x}: %{y:.2e}<extra></extra>"),
    ]
    layout = base_layout(
        title, height,
        xaxis=dict(type="log", title=dict(text="k, thinned networks sampled and averaged"), gridcolor="#eeeeee",
                   tickvals=[v for v in STEPS if v <= ks[-1]], range=[-0.03, np.log10(ks[-1]) + 0.03]),
        yaxis=dict(type="log", title=dict(text=f"mean |P − P<sub>exact</sub>| ({points} val. points)"),
                   gridcolor="#eeeeee", tickvals=STEPS, ticktext=[f"{v:g}" for v in STEPS]),
        legend=dict(orientation="v", x=0.01, xanchor="left", y=0.02, yanchor="bottom",
                    bgcolor="rgba(255,255,255,0.85)"),
    )
    return make_figure(traces, layout)

