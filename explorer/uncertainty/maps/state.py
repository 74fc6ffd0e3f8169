"""MC-dropout uncertainty (Gal & Ghahramani 2016) on a 1-D regression and on 2-D maps, and the live state of both.

Keep dropout sampling at test time, run the trained network T times on the
same input, and read the spread of the passes as the model's uncertainty:
their standard deviation for a regression, the predictive entropy and the
mutual information (its epistemic part) for a classifier. Every look uses a
mask generator of its own, seeded the same at every frame: the sampled curves
move only because the weights do, and looking never changes what training
draws next.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from explorer.uncertainty.regression import figures as fu
from explorer import settings
from explorer.core.boundary import extent, grid_points
from explorer.core.datasets import make_toy
from explorer.core.experiment import Experiment, defaults_for
from explorer.core.figures import Figure
from explorer.core.live_runs import LiveRuns, locked
from explorer.core.mc import mc_probabilities, predictive_summary, sampling
from explorer.uncertainty.regression.analysis import LIVE_REGRESSION_FIELDS, RegressionConfig, RegressionTrainer, true_function

LOOK_SEED = 10_007  # added to a run's seed: the masks of every MC look, a stream apart from training's
FAR = 1.0           # map points farther than this from every training point count as "away from the data"

# The classification part's defaults: few points of moons, so the network has room to be unsure.
MAPS_DEFAULT = replace(defaults_for("moons"), train_size=40, val_size=200, noise=0.15, label_noise=0.0,
                       hidden=(64, 64), p=0.3, batch_size=8, epochs=2000)


# --- regression ------------------------------------------------------------------

@torch.no_grad()
def mc_regression(model: torch.nn.Module, x: torch.Tensor, samples: int, seed: int) -> tuple[torch.Tensor, ...]:
    """``samples`` stochastic passes over x (N, 1): the passes (T, N), their mean and standard deviation (N,).

    The T passes go through as one batch of T copies of x: every row draws its
    own mask, exactly as T separate passes would, at a fraction of the calls.
    The population standard deviation (divide by T): with T = 1 it is 0, not undefined.
    """
    with sampling(model, seed):
        passes = model(x.repeat(samples, 1))[:, 0].reshape(samples, len(x))
    return passes, passes.mean(0), passes.std(0, correction=0)


def region_std(x: np.ndarray, std: np.ndarray, gap: tuple[float, float]) -> dict[str, float]:
    """Mean predictive std in the gap, on the stretches the training x cover, and beyond them."""
    r = settings.UNC_REG_HALF_RANGE
    in_gap = (x > gap[0]) & (x < gap[1])
    beyond = np.abs(x) > r
    return {"gap": float(std[in_gap].mean()), "data": float(std[~in_gap & ~beyond].mean()),
            "beyond": float(std[beyond].mean())}


class RegressionLive:
    """The regression part's live state: a ``live_runs.LiveTraining`` for pages/ui/controls.py."""

    compare = False

    def __init__(self, exp: RegressionConfig, compare: bool = False) -> None:
        self.exp = exp
        self.lock = threading.RLock()
        self.run = RegressionTrainer(exp)
        half = settings.UNC_REG_PLOT_HALF_RANGE
        self.xs = torch.linspace(-half, half, settings.UNC_REG_POINTS)[:, None]
        self.numbers: dict[str, float] = {}

    @property
    def done(self) -> bool:
        return self.run.done

    @locked
    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
        return self.run.run(max_steps=max_steps, max_seconds=max_seconds)

    @locked
    def apply(self, exp: RegressionConfig, compare: bool) -> bool:
        """Drop rate, learning rate and epochs change in place at the next step; anything else needs a new run."""
        changed = exp.changed(self.exp)
        if compare or not changed <= set(LIVE_REGRESSION_FIELDS):
            return False
        if "p" in changed:
            self.run.set_rates(exp.p)
        if changed & {"lr", "epochs"}:
            self.run.retune(lr=exp.lr, epochs=exp.epochs)
        self.exp = exp
        return True

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
        return {"fit": fit, "mse": fu.mse_figure(self.run.history)}


# --- classification maps ---------------------------------------------------------

@dataclass
class MCGrid:
    xs: np.ndarray                  # (resolution,)
    ys: np.ndarray                  # (resolution,)
    prob: np.ndarray                # (resolution, resolution): MC mean of P(class 1), rows follow ys
    entropy: np.ndarray             # predictive entropy H[ȳ] (nats)
    mutual_information: np.ndarray  # H[ȳ] − mean_t H[y_t] (nats)
    distance: np.ndarray            # to the nearest training point


@torch.no_grad()
def mc_grid(model: torch.nn.Module, box: tuple[float, float, float, float], resolution: int, samples: int,
            seed: int, x_train: torch.Tensor) -> MCGrid:
    """The MC version of ``boundary.decision_grid``: ``samples`` stochastic passes over every grid point."""
    xs, ys, points = grid_points(box, resolution)
    summary = predictive_summary(mc_probabilities(model, points, samples, seed))
    shape = (resolution, resolution)
    return MCGrid(
        xs.numpy(), ys.numpy(), summary["mean"][:, 1].reshape(shape).numpy(),
        summary["entropy"].reshape(shape).numpy(), summary["mutual_information"].reshape(shape).numpy(),
        torch.cdist(points, x_train).min(1).values.reshape(shape).numpy(),
    )


def map_numbers(grid: MCGrid, at_data: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean entropy and MI at the training points and over the map's points away from every one of them."""
    far = grid.distance > FAR
    none = float("nan")
    return {
        "entropy_data": float(at_data["entropy"].mean()), "mi_data": float(at_data["mutual_information"].mean()),
        "entropy_far": float(grid.entropy[far].mean()) if far.any() else none,
        "mi_far": float(grid.mutual_information[far].mean()) if far.any() else none,
    }


class MCMapsLive(LiveRuns):
    """A run on a 2-D toy dataset (no twin) and its MC maps: mean probability, entropy, mutual information.

    The maps cost T passes over the whole grid, so while training they are
    recomputed at most every ``every`` seconds; a new T or drop rate redraws them at once.
    """

    def __init__(self, exp: Experiment, compare: bool = False) -> None:
        super().__init__(exp, make_toy(exp.data_config()), compare=False)
        self.box = extent(self.data.x_train, settings.UNC_MAP_MARGIN)
        self.numbers: dict[str, float] = {}
        self._maps: tuple[tuple, float, MCGrid] | None = None

    def apply(self, exp: Experiment, compare: bool) -> bool:
        return not compare and super().apply(exp, compare)

    def maps(self, samples: int, every: float = 0.0) -> MCGrid:
        model, seed = self.run.model, self.exp.seed + LOOK_SEED
        key = (self.run.step, samples, model.hidden_rate)
        now = time.monotonic()
        if self._maps is not None:
            last_key, last_time, grid = self._maps
            if last_key == key or (last_key[1:] == key[1:] and now - last_time < every):
                return grid
        grid = mc_grid(model, self.box, settings.UNC_MAP_RESOLUTION, samples, seed, self.data.x_train)
        at_data = predictive_summary(mc_probabilities(model, self.data.x_train, samples, seed))
        self.numbers = map_numbers(grid, at_data)
        self._maps = (key, now, grid)
        return grid

    @locked
    def frame(self, samples: int = settings.UNC_DEFAULT_SAMPLES, every: float = 0.0) -> dict[str, Figure]:
        """The three maps (``samples`` passes; see ``maps`` for ``every``) and the training curves."""
        grid = self.maps(samples, every)
        return {"maps": fu.maps_figure(grid, self.data.x_train.numpy(), self.data.y_train.numpy()),
                "curves": self.curves_figure()}
