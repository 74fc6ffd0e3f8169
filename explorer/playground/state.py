"""The Playground's state: a run on toy data, its optional no-dropout twin, and the figures of one frame.

Kept free of streamlit so the page stays thin and the same frame can be timed
by the benchmark or built in a notebook.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Callable, Hashable

from explorer import settings
from explorer.core import figures
from explorer.core.boundary import decision_grid, extent
from explorer.core.datasets import Dataset, make_toy
from explorer.core.experiment import Experiment
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES, LiveRuns
from explorer.core.training import Trainer


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    BOUNDARY = "boundary"
    NETWORK = "network"
    KEPT = "kept"
    TWIN = "twin"
    CURVES = CURVES


class Playground(LiveRuns):
    """A run with dropout on 2-D points and, if ``compare``, a twin without it: a generated toy set, or ``data``
    (an uploaded file's points, ``explorer.core.points``)."""

    def __init__(self, exp: Experiment, compare: bool = True, data: Dataset | None = None) -> None:
        super().__init__(exp, data if data is not None else make_toy(exp.data_config()), compare)
        self.box = extent(self.data.x_train)
        self.uploaded = data is not None

    def share_key(self) -> Hashable | None:
        """Tabs training the same settings on a generated set share one run (``shared_runs``); an upload's not."""
        return None if self.uploaded else ("playground", self.exp, self.compare)

    def boundary_figure(self, trainer: Trainer, title: str) -> Figure:
        """The map with every training point and the first MAP_VAL_POINTS validation points (a random sample)."""
        grid = decision_grid(trainer.model, self.box, settings.BOUNDARY_RESOLUTION)
        d, shown = self.data, settings.MAP_VAL_POINTS
        return figures.boundary_figure(grid.xs, grid.ys, grid.probs, d.x_train.numpy(), d.y_train.numpy(),
                                       d.x_val[:shown].numpy(), d.y_val[:shown].numpy(), title=title,
                                       class_names=d.class_names)

    def network_figure(self) -> Figure:
        model = self.run.model
        trace = model.last_trace()
        if trace is None:
            keep = [[True] * n for n in model.layer_sizes[:-1]]
            title = "Network (no step yet)"
        else:
            keep = [trace.input_mask[0].numpy()] + [layer.mask[0].numpy() for layer in trace.layers]
            title = "This step's thinned network"
        return figures.network_figure(model.layer_sizes, keep, settings.DIAGRAM_UNITS, title=title)

    def kept_figure(self) -> Figure:
        model = self.run.model
        trace = model.last_trace()
        names = ["input", *[f"hidden {i}" for i in range(1, len(model.cfg.hidden) + 1)]]
        expected = [d.expected_kept for d in model.dropouts]
        if trace is None:
            kept = [1.0] * len(names)
        else:
            masks = [trace.input_mask] + [layer.mask for layer in trace.layers]
            kept = [m.float().mean().item() for m in masks]
        return figures.kept_fraction_figure(names, kept, expected)

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        builders: dict[str, Callable[[], Figure]] = {
            Fig.BOUNDARY: lambda: self.boundary_figure(self.run, f"Dropout q = {self.run.model.hidden_rate:g}"),
            Fig.NETWORK: self.network_figure,
            Fig.KEPT: self.kept_figure,
            **super().figure_builders(),
        }
        if self.twin is not None:
            builders[Fig.TWIN] = lambda: self.boundary_figure(self.twin, "No dropout (twin)")
        return builders
