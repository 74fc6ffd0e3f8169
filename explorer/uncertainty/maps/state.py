"""The classification part's live state: a run on a 2-D toy dataset and its MC maps, recomputed as it trains.

Every look uses a mask generator of its own, seeded the same at every frame
(``LOOK_SEED``): the maps change only because the weights do, and looking
never changes what training draws next.
"""

from __future__ import annotations

import time
from dataclasses import replace
from enum import StrEnum
from typing import Hashable

from explorer import settings
from explorer.uncertainty import LOOK_SEED, with_look
from explorer.uncertainty.maps import figures as fu
from explorer.uncertainty.maps.analysis import MCGrid, map_numbers, mc_grid
from explorer.core.boundary import extent
from explorer.core.datasets import Dataset, make_toy
from explorer.core.experiment import CSV, Experiment, defaults_for
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES, LiveRuns
from explorer.core.shared_runs import locked
from explorer.core.mc import mc_probabilities, predictive_summary

# The classification part's defaults: few points of moons, so the network has room to be unsure.
MAPS_DEFAULT = replace(defaults_for("moons"), train_size=40, val_size=200, noise=0.15, label_noise=0.0,
                       hidden=(64, 64), p=0.3, batch_size=8, epochs=2000)


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    MAPS = "maps"
    CURVES = CURVES


class MCMapsLive(LiveRuns):
    """A run on a 2-D toy dataset (no twin) and its MC maps: mean probability, entropy, mutual information.

    The maps cost T passes over the whole grid, so while training they are
    recomputed at most every ``every`` seconds; a new T or drop rate redraws them at once.
    """

    REBUILDABLE = ("_maps",)

    def __init__(self, exp: Experiment, compare: bool = False, data: Dataset | None = None) -> None:
        super().__init__(exp, data if data is not None else make_toy(exp.data_config()), compare=False)
        self.box = extent(self.data.x_train, settings.UNC_MAP_MARGIN)
        self.numbers: dict[str, float] = {}

    def share_key(self) -> Hashable | None:
        """Tabs training the same settings share one run (``shared_runs``) and its maps of each T; not on
        uploaded points (two files may share a name)."""
        return None if self.exp.dataset == CSV else ("mc-maps", self.exp)

    @property
    def _maps(self) -> dict[int, tuple[tuple, float, MCGrid, dict[str, float]]] | None:
        """The latest maps of each T (with the step and rate they are of, when, and their numbers): kept with
        the run, so the tabs sharing it compute them once."""
        return self.core.memo.get("maps")

    @_maps.setter
    def _maps(self, maps: dict[int, tuple[tuple, float, MCGrid, dict[str, float]]] | None) -> None:
        self.core.memo["maps"] = maps

    def apply(self, exp: Experiment, compare: bool) -> bool:
        return not compare and super().apply(exp, compare)

    def maps(self, samples: int, every: float = 0.0) -> MCGrid:
        model, seed = self.run.model, self.exp.seed + LOOK_SEED
        key = (self.run.step, model.hidden_rate)
        now, kept = time.monotonic(), self._maps or {}
        if samples in kept:
            last_key, last_time, grid, numbers = kept[samples]
            if last_key == key or (last_key[1] == key[1] and now - last_time < every):
                self.numbers = numbers
                return grid
        grid = mc_grid(model, self.box, settings.UNC_MAP_RESOLUTION, samples, seed, self.data.x_train)
        at_data = predictive_summary(mc_probabilities(model, self.data.x_train, samples, seed))
        self.numbers = map_numbers(grid, at_data)
        self._maps = with_look(kept, samples, (key, now, grid, self.numbers))
        return grid

    @locked
    def frame(self, samples: int = settings.UNC_DEFAULT_SAMPLES, every: float = 0.0) -> dict[str, Figure]:
        """The three maps (``samples`` passes; see ``maps`` for ``every``) and the training curves."""
        grid = self.maps(samples, every)
        return {Fig.MAPS: fu.maps_figure(grid, self.data.x_train.numpy(), self.data.y_train.numpy(),
                                         class_names=self.data.class_names),
                Fig.CURVES: self.curves_figure()}
