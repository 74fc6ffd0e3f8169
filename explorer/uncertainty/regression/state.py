"""The regression part's live state: the trainer in bounded slices, and each frame's MC bands drawn from it.

Every look uses a mask generator of its own, seeded the same at every frame
(``LOOK_SEED``): the sampled curves move only because the weights do, and
looking never changes what training draws next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Hashable

import torch

from explorer import settings
from explorer.uncertainty import LOOK_SEED
from explorer.uncertainty.regression import figures as fu
from explorer.uncertainty.regression.analysis import (LIVE_REGRESSION_FIELDS, RegressionConfig, RegressionTrainer,
                                                      mc_regression, region_std, true_function)
from explorer.uncertainty.regression.files import Change, regression_json, take
from explorer.core.figures import Figure
from explorer.core.shared_runs import Core, Shareable, locked


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    FIT = "fit"
    MSE = "mse"


@dataclass
class Record:
    """How to replay a regression run: what ``apply`` changed in place, with the step (the file replays them), and
    the weights files loaded into it, with the step (a replay cannot)."""

    changes: list[Change] = field(default_factory=list)
    loaded: list[dict[str, Any]] = field(default_factory=list)


class RegressionLive(Shareable):
    """The regression part's live state: a ``live_runs.LiveTraining`` for pages/ui/controls.py. Tabs training the
    same settings share its run (``shared_runs``)."""

    compare = False

    def __init__(self, exp: RegressionConfig, compare: bool = False) -> None:
        self.exp = self.start = exp
        self.hold(Core(RegressionTrainer(exp), None, Record()))
        half = settings.UNC_REG_PLOT_HALF_RANGE
        self.xs = torch.linspace(-half, half, settings.UNC_REG_POINTS)[:, None]
        self.numbers: dict[str, float] = {}

    @property
    def run(self) -> RegressionTrainer:
        return self.core.run

    @property
    def changes(self) -> list[Change]:
        return self.core.record.changes

    @property
    def loaded(self) -> list[dict[str, Any]]:
        return self.core.record.loaded

    def changed(self) -> bool:
        return bool(self.changes or self.loaded)

    def share_key(self) -> Hashable:
        return "regression", self.exp

    @property
    def done(self) -> bool:
        return self.run.done

    def train_slice(self, max_seconds: float | None, max_steps: int | None) -> int:
        return self.run.run(max_steps=max_steps, max_seconds=max_seconds)

    @locked
    def shed(self) -> None:
        self.own()
        self.run.shed()

    @locked
    def apply(self, exp: RegressionConfig, compare: bool) -> bool:
        """Drop rate, learning rate and epochs change in place at the next step; anything else needs a new run."""
        changed = exp.changed(self.exp)
        if compare or not changed <= set(LIVE_REGRESSION_FIELDS):
            return False
        if changed:
            self.own()
            change = {name: getattr(exp, name) for name in LIVE_REGRESSION_FIELDS if name in changed}
            take(self.run, change)
            self.changes.append({"step": self.run.step, **change})
        self.exp = exp
        return True

    @locked
    def experiment_json(self) -> str:
        """The file that replays this run: ``python -m explorer train --config FILE``."""
        return regression_json(self.start, self.changes, self.loaded)

    def networks(self) -> dict[str, RegressionTrainer]:
        """The network whose weights are saved and loaded, by name (the export row's)."""
        return {"dropout": self.run}

    def note_loaded(self, file: str) -> None:
        self.loaded.append({"step": self.run.step, "file": file})

    @locked
    def frame(self, samples: int) -> dict[str, Figure]:
        """The fit with its MC bands (``samples`` passes) and the MSE curves; ``numbers`` gets the stds by region."""
        passes, mean, std = mc_regression(self.run.model, self.xs, samples, self.exp.seed + LOOK_SEED)
        x = self.xs[:, 0].numpy()
        self.numbers = region_std(x, std.numpy(), self.exp.gap)
        d = self.run.data
        fit = fu.regression_figure(
            x, mean.numpy(), std.numpy(), passes[: settings.UNC_CURVES_SHOWN].numpy(), true_function(self.xs)[:, 0].numpy(),
            d.x_train[:, 0].numpy(), d.y_train[:, 0].numpy(), self.exp.gap, settings.UNC_REG_HALF_RANGE,
            title=f"MC dropout, T = {samples} passes, drop rate q = {self.run.model.hidden_rate:g}",
        )
        return {Fig.FIT: fit, Fig.MSE: fu.mse_figure(self.run.history)}
