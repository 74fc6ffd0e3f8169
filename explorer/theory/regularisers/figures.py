"""The regularisers part's figure (plotly dict form), from plain data: the lanes' curves, early stopping marked."""

from __future__ import annotations

from typing import Mapping, Sequence

from explorer.core.figures import RUN_COLORS, Figure, curves_figure


def regularisers_figure(runs: Mapping[str, Sequence[Mapping[str, float]]], early: Mapping[str, float] | None,
                        height: int = 360) -> Figure:
    """The runs' loss and accuracy curves (``curves_figure``), with early stopping's epoch marked on the first run
    (the unregularised one): a dotted line on both panels and a star at its validation loss and accuracy."""
    fig = curves_figure(runs, height=height, per_run_legend=True)
    fig["layout"]["legend"] |= dict(orientation="h", x=0, xanchor="left", y=-0.3, yanchor="top")  # full-width plots
    if early is None:
        return fig
    color = RUN_COLORS[0]
    for axis, metric in (("", "val_loss"), ("2", "val_acc")):
        fig["data"].append(dict(
            type="scatter", mode="markers", x=[early["epoch"]], y=[early[metric]], xaxis=f"x{axis}", yaxis=f"y{axis}",
            name=f"early stopping (epoch {early['epoch']:g})", legendgroup="early", showlegend=not axis,
            marker=dict(symbol="star", size=16, color=color, line=dict(color="white", width=1)),
            hovertemplate=f"early stopping: epoch %{{x}}, {metric.replace('_', ' ')} %{{y:.3f}}<extra></extra>"))
        fig["layout"].setdefault("shapes", []).append(dict(
            type="line", xref=f"x{axis}", yref=f"y{axis} domain", x0=early["epoch"], x1=early["epoch"], y0=0, y1=1,
            line=dict(color=color, width=1.5, dash="dot")))
    return fig
