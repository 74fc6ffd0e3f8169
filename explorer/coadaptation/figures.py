"""The Co-adaptation page's figures, as plotly dict figures built from the analyses' plain results.

Each takes what ``explorer.coadaptation.analysis`` computed (a report dict, arrays) and
returns a figure; nothing here touches a model. Sized for two charts side by
side in the main column at 1280×720.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from explorer.core.figures import (RUN_COLORS, WEIGHT_SCALE, Figure, activation_histogram_figure, base_layout, colorbar,
                              image_axes, make_figure)

GRID = "#eeeeee"
MATRIX_HEIGHT = 330
LOSS_SCALE = 1000.0  # one unit moves the loss by about 0.001: Δ × 1000 reads as 0.4, not 0.00 or 4e-04


def shown_units(n: int, most: int) -> np.ndarray:
    """At most ``most`` positions spread evenly along a clustered order: a big matrix drawn small keeps its blocks."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


PANELS = ([0.0, 0.44], [0.5, 0.94])  # two panels side by side, room on the right for the shared colour bar


def _panel_title(text: str, domain: list[float]) -> dict[str, Any]:
    return dict(text=text, x=sum(domain) / 2, xref="paper", xanchor="center", y=1.0, yref="paper",
                yanchor="bottom", showarrow=False, font=dict(size=15))


def _two_heatmaps(heats: Sequence[dict[str, Any]], titles: Sequence[str], title: str, height: int,
                  axes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> Figure:
    """Two heatmaps (the dropout network's, then the twin's) on one canvas sharing one colour bar: one chart to
    load instead of two, and one scale for both by construction."""
    traces, layout = [], base_layout(title, height, annotations=[
        _panel_title(text, domain) for text, domain in zip(titles, PANELS)])
    layout["margin"]["t"] = 70 if title else 30
    for i, (heat, (xaxis, yaxis), domain) in enumerate(zip(heats, axes, PANELS)):
        suffix = "" if i == 0 else str(i + 1)
        traces.append(heat | dict(xaxis=f"x{suffix}", yaxis=f"y{suffix}", showscale=i == 0))
        layout[f"xaxis{suffix}"] = xaxis | dict(domain=domain, anchor=f"y{suffix}", automargin=True)
        layout[f"yaxis{suffix}"] = yaxis | dict(anchor=f"x{suffix}", automargin=True)
        if "scaleanchor" in yaxis:
            layout[f"yaxis{suffix}"]["scaleanchor"] = f"x{suffix}"
    return make_figure(traces, layout)


def correlation_figure(reports: Mapping[str, Mapping[str, Any]], layer: str, most: int,
                       height: int = MATRIX_HEIGHT + 20) -> Figure:
    """Each network's clustered correlation matrix of its live units (``coadaptation.correlation_stats``), side
    by side, red +1, blue −1.

    Wide layers show ``most`` units spread evenly along the clustered order,
    said in the panel titles: the blocks stay, the bytes per frame stay small.
    No title of its own: the page's heading above says what it is.
    """
    heats, titles, axes = [], [], []
    for name, report in reports.items():
        corr = np.asarray(report["corr"])
        pick = shown_units(len(corr), most)
        z = corr[np.ix_(pick, pick)].astype(np.float32)
        heats.append(dict(type="heatmap", z=z, zmin=-1, zmax=1, zmid=0, colorscale=WEIGHT_SCALE,
                          colorbar=colorbar("r", tickvals=[-1, 0, 1]) | dict(title=dict(text="r", side="top")),
                          hovertemplate="r = %{z:.2f}<extra>" + name + "</extra>"))
        titles.append(f"{name} · {len(pick)} of {len(corr)} live units" if len(pick) < len(corr)
                      else f"{name} · {len(corr)} live units")
        image = image_axes(z.shape)
        axes.append((image["xaxis"], image["yaxis"]))
    return _two_heatmaps(heats, [f"{layer} · {t}" for t in titles], "", height, axes)


def interaction_figure(reports: Mapping[str, Mapping[str, Any]], height: int = MATRIX_HEIGHT) -> Figure:
    """Δ_ij − Δ_i − Δ_j (× LOSS_SCALE) between each network's most important units, most important first, side
    by side on one colour scale; red = the two back each other up, blue = they lean on each other. The diagonal
    (a unit with itself) is blank."""
    inters = {name: np.array(r["interaction"], dtype=float) * LOSS_SCALE for name, r in reports.items()}
    scale = max((float(np.abs(v).max(initial=0.0)) for v in inters.values()), default=0.0) or 1.0
    heats, axes = [], []
    for (name, report), inter in zip(reports.items(), inters.values()):
        np.fill_diagonal(inter, np.nan)
        labels = [f"u{u}" for u in report["top_units"]]
        heats.append(dict(type="heatmap", z=inter, x=labels, y=labels, zmin=-scale, zmax=scale, zmid=0,
                          colorscale=WEIGHT_SCALE, xgap=1, ygap=1, colorbar=colorbar(f"Δ loss × {LOSS_SCALE:g}"),
                          hovertemplate="%{y} with %{x}: %{z:+.3f}<extra>" + name + "</extra>"))
        axis = dict(showgrid=False, zeroline=False, tickfont=dict(size=11), type="category")
        axes.append((dict(axis, tickangle=-90), dict(axis, autorange="reversed")))
    top = len(next(iter(reports.values()))["top_units"])
    return _two_heatmaps(heats, list(reports), f"Pairwise interaction of the {top} most important units", height,
                         axes)


def importance_figure(deltas: Mapping[str, np.ndarray], layer: str, height: int = 320) -> Figure:
    """How much each unit matters: the histogram of Δ_i × LOSS_SCALE (loss increase when the unit is removed),
    per network."""
    scaled = {name: np.asarray(d, dtype=float) * LOSS_SCALE for name, d in deltas.items()}
    figure = activation_histogram_figure(scaled, title=f"Importance of each unit of {layer}",
                                         xaxis_title=f"Δ loss × {LOSS_SCALE:g} when the unit is removed", bins=30,
                                         log_y=True, height=height)
    figure["layout"]["legend"] |= dict(y=1.0, yanchor="bottom", bgcolor="rgba(0,0,0,0)")  # above the bars, not on them
    figure["layout"]["legend"]["orientation"] = "h"
    return figure


def robustness_figure(reports: Mapping[str, Mapping[str, Any]], layer: str, height: int = 400) -> Figure:
    """Accuracy as a growing fraction of units is removed: random order (solid) and most important first (dashed),
    each network a colour, the area under each curve in the legend."""
    traces: list[dict[str, Any]] = []
    for i, (name, r) in enumerate(reports.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        for curve, auc, order, dash in (("acc_random", "auc_random", "random order", "solid"),
                                        ("acc_importance", "auc_importance", "most important first", "dash")):
            traces.append(dict(
                type="scatter", mode="lines+markers", x=np.asarray(r["fractions"], dtype=float),
                y=np.asarray(r[curve], dtype=float), name=f"{name} · {order} · AUC {r[auc]:.2f}",
                line=dict(color=color, dash=dash, width=2), marker=dict(size=5, color=color),
                hovertemplate=f"{name}, {order}: " + "%{y:.1%} with %{x:.0%} removed<extra></extra>"))
    layout = base_layout(
        f"Validation accuracy as units of {layer} are removed", height,
        xaxis=dict(title=dict(text=f"fraction of the units of {layer} removed"), tickformat=".0%", gridcolor=GRID,
                   range=[0, 1]),
        yaxis=dict(title=dict(text="accuracy"), tickformat=".0%", range=[0, 1.02], gridcolor=GRID),
    )
    layout["legend"] |= dict(y=-0.3)  # below the axis title
    return make_figure(traces, layout)


def tracked_figure(tracked: Mapping[str, Sequence[Mapping[str, float]]], height: int = 300) -> Figure:
    """Mean |r| (left) and DeCov (right) after every epoch for each network (``CoadaptationRuns.tracked``);
    epoch 0 is the shared initial weights."""
    traces = []
    for i, (name, rows) in enumerate(tracked.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        epochs = np.array([r["epoch"] for r in rows], dtype=float)
        for panel, metric in (("", "mean_abs_r"), ("2", "decov")):
            traces.append(dict(type="scatter", mode="lines+markers" if len(rows) <= 30 else "lines", name=name,
                               x=epochs, y=np.array([r[metric] for r in rows], dtype=float), legendgroup=name,
                               showlegend=not panel, line=dict(color=color, width=2), marker=dict(size=6, color=color),
                               xaxis=f"x{panel}", yaxis=f"y{panel}"))
    axis = dict(gridcolor=GRID, rangemode="tozero")
    layout = base_layout(
        "", height,
        xaxis=dict(axis, domain=[0.0, 0.45], anchor="y", title=dict(text="epoch")),
        yaxis=dict(axis, anchor="x"),
        xaxis2=dict(axis, domain=[0.55, 1.0], anchor="y2", title=dict(text="epoch")),
        yaxis2=dict(axis, anchor="x2"),
        annotations=[_panel_title("mean |r| between units", [0.0, 0.45]), _panel_title("DeCov", [0.55, 1.0])],
    )
    layout["legend"] |= dict(y=1.12, yanchor="bottom", x=1.0, xanchor="right")  # above the right panel's title
    layout["margin"]["t"] = 50
    return make_figure(traces, layout)
