"""Figures of the Uncertainty page's classification part: the MC maps of a 2-D classifier.

Pure functions from plain arrays to plotly dict figures, in the look of
``explorer.core.figures``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from explorer.core.figures import BOUNDARY_SCALE, CLASS_COLORS, Figure, base_layout, classes_map, colorbar, make_figure

if TYPE_CHECKING:
    from explorer.uncertainty.maps.analysis import MCGrid

ENTROPY_SCALE = [[0.0, "#ffffff"], [1.0, "#6a1b9a"]]
MI_SCALE = [[0.0, "#ffffff"], [1.0, "#00695c"]]


def maps_figure(grid: MCGrid, x_train: np.ndarray, y_train: np.ndarray, height: int = 420,
                class_names: tuple[str, ...] = ()) -> Figure:
    """The three MC maps side by side: mean P(blue), predictive entropy, mutual information; training points on each.

    One figure with three panels, not three charts: one chart for the browser
    to load and redraw. Probability and entropy have fixed scales (0–1, 0–ln k
    nats, the most a prediction of k classes can have); MI's scale follows its
    largest value, as it is usually a small part of ln k and would not show on that scale.
    More than two classes (an uploaded file): the first map is the MC mean's
    likeliest class, paler where it is unsure.
    """
    k = len(grid.probs)
    mean = (grid.probs[1], "Mean probability P(blue)", BOUNDARY_SCALE, 1.0, "P(blue)") if k == 2 else \
        (None, "Likeliest class of the MC mean", None, 1.0, "")
    panels = (
        mean,
        (grid.entropy, "Predictive entropy H[ȳ]", ENTROPY_SCALE, float(np.log(k)), "entropy (nats)"),
        (grid.mutual_information, "Mutual information (epistemic)", MI_SCALE,
         max(float(grid.mutual_information.max()), 0.01), "MI (nats)"),
    )
    gap = 0.04
    width = (1 - 2 * gap) / len(panels)
    bare = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", constrain="domain")
    title = dict(font=dict(size=16), showarrow=False, xref="paper", yref="paper", y=1.0, yanchor="bottom")
    traces: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    annotations = []
    for i, (z, name, scale, zmax, bar) in enumerate(panels):
        left, n = i * (width + gap), "" if i == 0 else str(i + 1)
        on = dict(xaxis=f"x{n}", yaxis=f"y{n}")
        if z is None:
            traces += classes_map(grid.xs, grid.ys, grid.probs, class_names or [str(c) for c in range(k)], **on)
        else:
            traces.append(dict(
                type="heatmap", x=grid.xs, y=grid.ys, z=z.astype(np.float32), zmin=0.0, zmax=zmax, colorscale=scale,
                zsmooth="best", hovertemplate=bar + " = %{z:.3f}<extra></extra>", **on,
                colorbar=colorbar(bar, orientation="h", x=left + width / 2, xanchor="center", y=-0.04, yanchor="top",
                                  len=width, thickness=10) | {"title": dict(text=bar, side="bottom")},
            ))
        for c in range(k):
            pts = x_train[y_train == c]
            traces.append(dict(type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False,
                               hoverinfo="skip", marker=dict(size=7, color=CLASS_COLORS[c], line=dict(color="white", width=1)),
                               **on))
        axes[f"xaxis{n}"] = dict(bare, domain=[left, left + width], range=[grid.xs[0], grid.xs[-1]], anchor=f"y{n}")
        axes[f"yaxis{n}"] = dict(bare, range=[grid.ys[0], grid.ys[-1]], anchor=f"x{n}", scaleanchor=f"x{n}", scaleratio=1)
        annotations.append(dict(title, text=name, x=left + width / 2, xanchor="center"))
    return make_figure(traces, base_layout("", height, **axes, annotations=annotations, showlegend=False,
                                           margin=dict(l=10, r=10, t=30, b=70)))
