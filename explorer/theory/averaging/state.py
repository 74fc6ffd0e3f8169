"""The averaging part's live state: a tiny network training on toy data, seen through all its thinned networks.

The enumeration, the averages and MC are ``analysis``; what lives here holds a
lock, keeps the last analysis while training moves on, and draws the page's
frame. The ``analyze --what averaging`` trio is here too: ``analyze`` trains it to the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Callable, Hashable

import numpy as np
import torch

from explorer import settings
from explorer.core import figures
from explorer.theory.averaging import figures as figures_averaging
from explorer.theory.averaging.analysis import (ANALYSIS_KS, DEFAULT_DATASET, KEPT_SCALE, Averages, MCCurve,
                                                ThinnedNetworks, accuracy, compare, droppable_units, exact_averages,
                                                mc_curve, sampled_probabilities, thinned_networks)
from explorer.core.boundary import extent
from explorer.core.datasets import TOY_DATASETS, Dataset
from explorer.core.experiment import CSV, Experiment, Problem, check, defaults_for, flag, make_data
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES, LiveRuns
from explorer.core.shared_runs import locked

DEFAULT_K = 10


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    MAPS = "maps"
    DIFFERENCE = "difference"
    MC_CURVE = "mc_curve"
    CURVES = CURVES


@dataclass
class Analysis:
    """One moment of the run seen through all its thinned networks: the maps' grid, the validation points, MC."""

    key: tuple[int, tuple[float, ...]]  # the step and the drop rates it was computed at
    at: float                           # when (time.monotonic)
    seconds: float                      # what computing it took
    nets: ThinnedNetworks
    grid: Averages
    val: Averages
    curve: MCCurve
    mc_maps: dict[int, torch.Tensor] = field(default_factory=dict)  # k → the MC map's probabilities


class AveragingRuns(LiveRuns):
    """A tiny network training live with dropout on toy data, seen through all its thinned networks.

    ``select(k, slow_seconds)`` sets the MC sample count of the map and the
    table, and how old the analysis may get while training moves on (it is
    recomputed at once when the rates change). The numbers are computed on
    the first ``val_points`` validation points (``None``: all).
    """

    REBUILDABLE = ("_analysis",)

    def __init__(self, exp: Experiment, compare: bool = False,
                 val_points: int | None = settings.AVERAGING_VAL_POINTS, data: Dataset | None = None) -> None:
        problems = check(exp) + analysis_problems(exp)
        if problems:
            raise ValueError(problems[0])
        data = data if data is not None else make_data(exp)  # uploaded points, or a toy set (or a CSV file's)
        if data.n_classes != 2:
            raise ValueError(f"exact averaging compares the probability of one class of two; {data.name} has "
                             f"{data.n_classes} classes")
        super().__init__(exp, data, compare=False)  # a twin has nothing to average
        res = settings.AVERAGING_RESOLUTION
        box = extent(self.data.x_train)
        self.xs, self.ys = np.linspace(box[0], box[1], res), np.linspace(box[2], box[3], res)
        gx, gy = np.meshgrid(self.xs, self.ys)
        self.grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float64)
        self.val_x, self.val_y = self.data.x_val[:val_points], self.data.y_val[:val_points]
        self.k, self.slow_seconds = DEFAULT_K, 0.0
        self._analysis = None

    def share_key(self) -> Hashable | None:
        """Tabs training the same settings share one run (``shared_runs``), and the analysis of its current step
        (every thinned network, ~0.2 s at 12 units) with it; not on uploaded points (two files may share a name)."""
        return None if self.exp.dataset == CSV else ("averaging", self.exp, len(self.val_y))

    @property
    def _analysis(self) -> Analysis | None:
        return self.core.memo.get("analysis")

    @_analysis.setter
    def _analysis(self, analysis: Analysis | None) -> None:
        self.core.memo["analysis"] = analysis

    @locked
    def apply(self, exp: Experiment, compare: bool) -> bool:
        """As ``LiveRuns.apply``, but never to settings exact averaging cannot enumerate."""
        return not analysis_problems(exp) and super().apply(exp, False)

    @locked
    def select(self, k: int, slow_seconds: float = 0.0) -> None:
        self.k = min(max(int(k), 1), settings.AVERAGING_MAX_K)
        self.slow_seconds = slow_seconds

    @locked
    def analysis(self) -> Analysis:
        """The enumeration and MC draws, kept until a step is ``slow_seconds`` old or the rates change."""
        key = (self.run.step, tuple(d.p for d in self.run.model.dropouts))
        now, last = time.monotonic(), self._analysis
        if last is None or last.key[1] != key[1] or (last.key != key and now - last.at >= self._wait(last)):
            model = self.run.model
            nets = thinned_networks(model)
            val = exact_averages(model, self.val_x, nets)
            curve = mc_curve(model, self.val_x, self.val_y, val.arithmetic, settings.AVERAGING_MAX_K,
                             settings.AVERAGING_MC_DRAWS, seed=self.exp.seed * 1_000_003 + self.run.step)
            grid = exact_averages(model, self.grid, nets)
            self._analysis = Analysis(key, now, time.monotonic() - now, nets, grid, val, curve)
        return self._analysis

    def _wait(self, last: Analysis) -> float:
        """How old an analysis may get while training: ``slow_seconds``, and at least 3× what it cost, so that
        4,096 networks (about a second here) never take more than a quarter of the time from training."""
        return max(self.slow_seconds, 3 * last.seconds) if self.slow_seconds else 0.0

    @locked
    def mc_grid(self) -> torch.Tensor:
        """The MC map: the first k sampled networks of draw 0, averaged on the grid."""
        a = self.analysis()
        if self.k not in a.mc_maps:
            a.mc_maps[self.k] = sampled_probabilities(self.run.model, self.grid, a.curve.masks[0, : self.k]).mean(0)
        return a.mc_maps[self.k]

    @locked
    def report(self, ks: tuple[int, ...] = ANALYSIS_KS) -> dict[str, Any]:
        """The numbers the page shows (and ``analyze`` prints), on the validation points."""
        a = self.analysis()
        val, y = a.val, self.val_y
        weight_scaling = compare(val.weight_scaled, val.arithmetic, y)
        return {
            "networks": a.nets.count,
            "units": a.nets.units,
            "val_points": len(y),
            "exact_arithmetic": {"val_acc": accuracy(val.arithmetic, y)},
            "exact_geometric": compare(val.geometric, val.arithmetic, y),
            "weight_scaling": weight_scaling,
            "geometric_vs_weight_scaling_max_diff": float((val.geometric - val.weight_scaled).abs().max()),
            "mc": [a.curve.at(k) for k in ks if k <= a.curve.error.shape[1]],
            "mc_matches_weight_scaling_at_k": a.curve.first_k_within(weight_scaling["mean_abs_diff"]),
        }

    # --- one frame -------------------------------------------------------
    def _map(self, probs: torch.Tensor, title: str) -> Figure:
        res = len(self.xs)
        return figures.boundary_figure(self.xs, self.ys, probs[:, 1].reshape(res, res).numpy(),
                                       self.data.x_train.numpy(), self.data.y_train.numpy(), title=title)

    def maps_figure(self) -> Figure:
        """The four predictions side by side: exact arithmetic mean, exact geometric mean, weight scaling, MC."""
        a = self.analysis()
        return figures_averaging.side_by_side([
            self._map(a.grid.arithmetic, f"Exact mean of all {a.nets.count:,}"),
            self._map(a.grid.geometric, "Exact geometric mean"),
            self._map(a.grid.weight_scaled, "Weight scaling"),
            self._map(self.mc_grid(), f"MC average of k = {self.k}"),
        ])

    def difference_figure(self) -> Figure:
        g, res = self.analysis().grid, len(self.xs)
        panels = {"weight scaling": g.weight_scaled, "geometric mean": g.geometric, f"MC, k = {self.k}": self.mc_grid()}
        diffs = {name: (p - g.arithmetic)[:, 1].reshape(res, res).numpy() for name, p in panels.items()}
        exact = g.arithmetic[:, 1].reshape(res, res).numpy()
        return figures_averaging.difference_figure(self.xs, self.ys, diffs, exact)

    def curve_figure(self) -> Figure:
        report = self.report(())
        return figures_averaging.mc_error_figure(
            self.analysis().curve.error, report["weight_scaling"]["mean_abs_diff"],
            report["exact_geometric"]["mean_abs_diff"], self.k, report["val_points"])

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        return {Fig.MAPS: self.maps_figure, Fig.DIFFERENCE: self.difference_figure,
                Fig.MC_CURVE: self.curve_figure, **super().figure_builders()}


def analysis_defaults(dataset: str | None = None) -> Experiment:
    """The page's tiny network on a small noisy toy set: 2-10-2 ReLU, hidden drop 0.5, no input dropout.

    ``ValueError`` for a dataset that is not a 2-D toy set or your own points (csv: used as they are).
    """
    dataset = dataset or DEFAULT_DATASET
    if dataset not in (*TOY_DATASETS, CSV):
        raise ValueError(f"--dataset {dataset}: exact averaging runs on the 2-D toy datasets ({', '.join(TOY_DATASETS)})"
                         " or your own points (csv)")
    noise = (0.0, 0.0) if dataset == CSV else (0.3, 0.05)
    return replace(defaults_for(dataset), train_size=100, noise=noise[0], label_noise=noise[1], hidden=(10,), p=0.5,
                   input_p=0.0, epochs=300, lr=0.01, batch_size=32)


def analysis_problems(exp: Experiment) -> list[Problem]:
    """What exact averaging needs beyond ``experiment.check``."""
    problems = []
    if exp.dataset not in (*TOY_DATASETS, CSV):
        problems.append(Problem.flagged("dataset", f"exact averaging runs on the 2-D toy datasets "
                                                   f"({', '.join(TOY_DATASETS)}) or your own points (csv)"))
    if exp.model != "mlp":
        problems.append(Problem.flagged("model", "exact averaging enumerates an MLP's thinned networks; use --model mlp"))
    if exp.variant not in KEPT_SCALE:
        problems.append(Problem.flagged("variant", f"exact averaging needs one Bernoulli keep-mask per unit: "
                                                   f"{' or '.join(KEPT_SCALE)}, not {exp.variant}"))
    n = droppable_units(exp)
    if n > settings.MAX_AVERAGING_UNITS:
        problems.append(Problem.flagged(
            ("hidden", "p", "input_p"), f"exact averaging enumerates 2^n thinned networks, at most "
            f"{settings.MAX_AVERAGING_UNITS} droppable units (2^{settings.MAX_AVERAGING_UNITS} = "
            f"{2**settings.MAX_AVERAGING_UNITS:,} networks); {flag('hidden')} {','.join(map(str, exp.hidden))} with "
            f"--p {exp.p:g} and --input-p {exp.input_p:g} gives {n}"))
    return problems


def analyze(exp: Experiment) -> dict[str, Any]:
    """Train what the page trains to the end of ``exp.epochs``; the page's numbers on the whole validation set."""

    start = time.perf_counter()
    state = AveragingRuns(exp, val_points=None)
    while not state.done:
        state.advance(max_seconds=1.0)
    report = state.report(ANALYSIS_KS)
    report["seconds"] = time.perf_counter() - start
    return report
