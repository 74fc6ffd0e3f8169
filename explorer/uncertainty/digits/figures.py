"""Figures of the Uncertainty page's MNIST part, from the plain results of ``explorer.uncertainty.digits.analysis``.

Pure functions returning plotly dict figures, built with the shared pieces of
``explorer.core.figures``; sized for a 1280×720 projector.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from explorer.core.figures import (GRAY_SCALE, RUN_COLORS, TOP_LEGEND, Figure, band_traces, base_layout, colorbar,
                              image_axes, make_figure, tile_images)

SCALED_COLOR = RUN_COLORS[1]
GRID = "#eeeeee"
PROB_SCALE = [[0.0, "#ffffff"], [1.0, RUN_COLORS[0]]]


def averaging_figure(result: Mapping[str, Any], height: int = 380) -> Figure:
    """Srivastava et al. Fig. 11: error of the mean of k sampled thinned networks against k, a band of ± one std
    over orderings of one fixed set of passes (how much the order matters, not sampling error), the weight-scaled
    network's error as a horizontal line, the matching k marked."""
    k, error, std = (np.asarray(result[name], dtype=float) for name in ("k", "error", "std"))
    scaled = float(result["weight_scaling_error"])
    traces = band_traces(k, error, std, "MC averaging of k thinned networks", RUN_COLORS[0])
    traces[-1]["mode"] = "lines"  # a hundred markers would hide the band
    traces.append(dict(type="scatter", mode="lines", x=[k[0], k[-1]], y=[scaled, scaled],
                       name=f"weight scaling (inference network): {scaled:.1%}",
                       line=dict(color=SCALED_COLOR, width=2, dash="dash"), hoverinfo="skip"))
    match = result.get("k_matching")
    shapes = []
    if match is not None:
        shapes.append(dict(type="line", xref="x", yref="paper", x0=match, x1=match, y0=0, y1=1,
                           line=dict(color="#5f6368", width=1, dash="dot")))
        traces.append(dict(type="scatter", mode="markers", x=[match], y=[float(error[match - 1])],
                           name=f"MC matches weight scaling at k = {match}",
                           marker=dict(size=11, color="#5f6368", symbol="circle-open", line=dict(width=2))))
    title = (f"Validation error vs thinned networks averaged · {result['digits']} digits · "
             f"computed at step {result['step']}")
    layout = base_layout(
        title, height, shapes=shapes,
        xaxis=dict(title=dict(text="k, the number of sampled thinned networks averaged"), range=[0, k[-1] + 1],
                   gridcolor=GRID, zeroline=False),
        yaxis=dict(title=dict(text="validation error"), tickformat=".1%", gridcolor=GRID, rangemode="tozero"),
    )
    layout["legend"] |= dict(y=-0.3)  # below the axis title, clear of a curve that starts high
    return make_figure(traces, layout)


def _degrees(angles: np.ndarray) -> list[str]:
    return [f"{a:g}°" for a in angles]


def rotated_digits_figure(rotation: Mapping[str, Any], height: int = 150) -> Figure:
    """The digit at every angle, side by side, the angle under each."""
    images = np.asarray(rotation["images"], dtype=np.float32)
    n, _, w = images.shape
    gap = 3
    grid = tile_images(images, n, gap=gap)
    axes = image_axes(grid.shape)
    axes["xaxis"] |= dict(showticklabels=True, tickvals=np.arange(n) * (w + gap) + (w - 1) / 2,
                          ticktext=_degrees(rotation["angles"]), tickfont=dict(size=13))
    heat = dict(type="heatmap", z=grid, zmin=0, zmax=1, colorscale=GRAY_SCALE, showscale=False,
                hovertemplate="pixel %{z:.2f}<extra></extra>")
    return make_figure([heat], base_layout(f"The digit {rotation['digit']}, rotated step by step", height, **axes,
                                           plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=40, b=30)))


def _angle_axis(angles: np.ndarray) -> dict[str, Any]:
    step = 30 if angles[-1] > 90 else 15
    return dict(title=dict(text="rotation (degrees)"), tickvals=np.arange(0, angles[-1] + 1, step), ticksuffix="°",
                range=[angles[0] - 7.5, angles[-1] + 7.5], gridcolor=GRID, zeroline=False)


def predictive_figure(rotation: Mapping[str, Any], height: int = 400) -> Figure:
    """MC dropout's predictive distribution (mean of T passes) per angle as a heatmap, angles × classes;
    the weight-scaled network's predicted class at each angle marked over it."""
    angles = np.asarray(rotation["angles"], dtype=float)
    mean, scaled = np.asarray(rotation["mean"]), np.asarray(rotation["weight_scaled"])
    classes = np.arange(mean.shape[1])
    scaled_top = scaled.argmax(1)
    traces = [
        dict(type="heatmap", x=angles, y=classes, z=mean.T.astype(np.float32), zmin=0, zmax=1, colorscale=PROB_SCALE,
             colorbar=colorbar("probability", tickformat=".0%"), xgap=2, ygap=2,
             hovertemplate="%{x}°, class %{y}: %{z:.0%}<extra>MC mean</extra>"),
        dict(type="scatter", mode="markers", x=angles, y=scaled_top, name="weight-scaled network's class",
             customdata=scaled[np.arange(len(angles)), scaled_top],
             marker=dict(symbol="x-thin", size=12, line=dict(color=SCALED_COLOR, width=3)),
             hovertemplate="%{x}°: inference network says %{y} (%{customdata:.0%})<extra></extra>"),
    ]
    return make_figure(traces, base_layout(
        f"Predictive distribution · mean of T = {rotation['samples']} passes", height, legend=TOP_LEGEND,
        xaxis=_angle_axis(angles),
        yaxis=dict(title=dict(text="class"), tickvals=classes, range=[-0.5, len(classes) - 0.5], showgrid=False,
                   zeroline=False),
        margin=dict(l=10, r=10, t=50, b=10),
    ))


def uncertainty_figure(rotation: Mapping[str, Any], height: int = 400) -> Figure:
    """Predictive entropy and mutual information of the T passes against the angle, with the entropy of the
    weight-scaled network's softmax for comparison (it has no epistemic part to show)."""
    angles = np.asarray(rotation["angles"], dtype=float)
    scaled = np.asarray(rotation["weight_scaled"], dtype=float)
    scaled_entropy = -(scaled * np.log(np.clip(scaled, 1e-12, None))).sum(1)
    series = [("predictive entropy (MC)", rotation["entropy"], RUN_COLORS[0], "solid"),
              ("mutual information (MC)", rotation["mutual_information"], RUN_COLORS[2], "solid"),
              ("entropy of the weight-scaled network", scaled_entropy, SCALED_COLOR, "dash")]
    traces = [dict(type="scatter", mode="lines+markers", x=angles, y=np.asarray(y, dtype=float), name=name,
                   line=dict(color=color, width=2, dash=dash), marker=dict(size=7, color=color),
                   hovertemplate="%{x}°: %{y:.2f} nats<extra>" + name + "</extra>")
              for name, y, color, dash in series]
    top = math.log(np.asarray(rotation["mean"]).shape[1])
    layout = base_layout(
        "Uncertainty vs rotation", height, xaxis=_angle_axis(angles),
        yaxis=dict(title=dict(text="nats"), range=[0, top * 1.12], gridcolor=GRID, zeroline=False),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=top, y1=top,
                     line=dict(color="#9aa0a6", width=1, dash="dot"))],
        annotations=[dict(xref="paper", x=0.01, xanchor="left", yref="y", y=top, yanchor="bottom", showarrow=False,
                          text=f"ln {len(np.asarray(rotation['mean'])[0])}: all classes equally likely",
                          font=dict(size=12, color="#5f6368"))],
    )
    layout["legend"] |= dict(y=-0.3)  # below the axis title
    layout["margin"]["b"] = 10
    return make_figure(traces, layout)
