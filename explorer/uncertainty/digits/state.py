"""The digits part's live state: a dropout MLP learning MNIST digits, seen through MC averaging and a rotated digit.

The analyses are ``analysis``; what lives here holds a lock, caches the
costly averaging curve while training moves on, and draws the page's frame.
The ``analyze --what mc`` trio is here too: ``analyze`` trains it to the end.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Callable, Hashable

from explorer import settings
from explorer.uncertainty import with_look
from explorer.uncertainty.digits import figures as figures_mc_digits
from explorer.dropout import variants_for
from explorer.dropout.schedules import SCHEDULES
from explorer.uncertainty.digits.analysis import MILESTONES, averaging_analysis, rotation_analysis, rotation_angles
from explorer.inside import analysis as inside
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, Problem, check, defaults_for, make_data
from explorer.core.mnist import MNIST_DATASETS
from explorer.core.figures import Figure
from explorer.core.live_runs import LiveRuns
from explorer.core.shared_runs import locked

DEFAULT_DIGIT = 3  # upright it is sure of it; turned past 45° its passes disagree: the uncertainty shows


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    AVERAGING = "averaging"
    ROTATED = "rotated"
    PREDICTIVE = "predictive"
    UNCERTAINTY = "uncertainty"


class DigitsUncertainty(LiveRuns):
    """A dropout MLP learning MNIST digits, seen through MC averaging (Fig. 11) and one rotated digit.

    The averaging curve costs 100 passes over MC_DIGITS_EVAL digits (~0.8 s):
    it is computed once per training step at most, and while
    training at most every ``refresh`` seconds (``select``); the figure says
    the step it belongs to. The rotated digit is cheap and follows every frame.
    """

    REBUILDABLE = ("_averaging",)

    def __init__(self, exp: Experiment, data: Dataset) -> None:
        super().__init__(exp, data, compare=False)
        n = min(settings.MC_DIGITS_EVAL, len(data.y_val))
        self.eval_x, self.eval_y = data.x_val[:n], data.y_val[:n]
        probes = inside.pick_digits(data.y_val, 10)
        self.probe_x, self.probe_y = data.x_val[probes], data.y_val[probes]
        self.angles = rotation_angles()
        labels = self.digit_labels
        self.digit = labels.index(DEFAULT_DIGIT) if DEFAULT_DIGIT in labels else 0
        self.samples, self.refresh, self.look_every = settings.MC_DIGITS_SAMPLES, 0.0, 0.0
        self.numbers: dict[str, Any] = {}  # the latest frame's analyses, for the page to print

    def share_key(self) -> Hashable:
        """Tabs training the same settings share one run (``shared_runs``) and its averaging curve, the costly
        analysis; each tab's digit and T are its own."""
        return "mc-digits", self.exp

    @property
    def _averaging(self) -> tuple[tuple[float, ...], float, float, dict[str, Any]] | None:
        """The latest averaging curve (with the step and rates it is of, when, and what it cost): kept with the
        run, so the tabs sharing it compute it once."""
        return self.core.memo.get("averaging")

    @_averaging.setter
    def _averaging(self, kept: tuple[tuple[float, ...], float, float, dict[str, Any]] | None) -> None:
        self.core.memo["averaging"] = kept

    @property
    def digit_labels(self) -> list[int]:
        return [int(y) for y in self.probe_y]

    @locked
    def select(self, digit: int, samples: int, refresh: float, look_every: float = 0.0) -> None:
        """The probe digit (an index into ``digit_labels``, clamped), T, how stale the curve may get (s), and
        the rotated digit's analysis (``look_every``: training, under a class's load, it need not follow every
        step)."""
        self.digit = min(max(int(digit), 0), len(self.probe_y) - 1)
        self.samples = min(max(int(samples), 1), settings.MAX_MC_SAMPLES)
        self.refresh, self.look_every = float(refresh), float(look_every)

    def _key(self) -> tuple[float, ...]:
        """What the analyses of the network depend on: its step and drop rates."""
        return self.run.step, *(d.p for d in self.run.model.dropouts)

    @locked
    def averaging(self) -> dict[str, Any]:
        """``averaging_analysis`` of the current network, cached by step and rates, plus ``step`` and ``epoch``;
        while training (``refresh`` > 0) kept for ``refresh`` seconds, and at least its own cost over
        settings.MC_DIGITS_ANALYSIS_SHARE: on a busy server, where it takes longer, it is redone less often."""
        key, now = self._key(), time.monotonic()
        cached = self._averaging
        if cached is not None:
            done_key, done_at, cost, result = cached
            wait = max(self.refresh, cost / settings.MC_DIGITS_ANALYSIS_SHARE) if self.refresh > 0 else 0.0
            if done_key == key or now - done_at < wait:
                return result
        result = averaging_analysis(self.run.model, self.eval_x, self.eval_y, settings.MC_DIGITS_PASSES,
                                    settings.MC_DIGITS_ORDERINGS, seed=self.exp.seed)
        result |= {"step": self.run.step, "epoch": self.run.epoch}
        done = time.monotonic()
        self._averaging = (key, done, done - now, result)
        return result

    @locked
    def rotation(self) -> dict[str, Any]:
        """``rotation_analysis`` of the chosen digit with T passes (masks seeded by the run's seed: no flicker),
        kept with the run by digit and T: tabs that share the run and look at the same digit (a class on one
        link) compute it once for its step, or while training once every ``look_every`` seconds."""
        key, look, now = self._key(), (self.digit, self.samples), time.monotonic()
        kept = self.core.memo.get("rotation", {})
        if look in kept and (kept[look][0] == key or now - kept[look][1] < self.look_every):
            return kept[look][2]
        result = rotation_analysis(self.run.model, self.probe_x[self.digit], self.angles, self.samples,
                                   seed=self.exp.seed)
        result |= {"digit": int(self.probe_y[self.digit]), "samples": self.samples}
        self.core.memo["rotation"] = with_look(kept, look, (key, now, result))
        return result

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        """The frame's figures; the analyses they show are left in ``numbers`` for the page to print."""
        def averaging() -> dict[str, Any]:
            self.numbers["averaging"] = self.averaging()
            return self.numbers["averaging"]

        shared: dict[str, Any] = {}

        def rotated() -> dict[str, Any]:  # one analysis for the three rotation figures of a frame
            if not shared:
                shared.update(self.rotation())
                self.numbers["rotation"] = shared
            return shared

        return {
            Fig.AVERAGING: lambda: figures_mc_digits.averaging_figure(averaging()),
            Fig.ROTATED: lambda: figures_mc_digits.rotated_digits_figure(rotated()),
            Fig.PREDICTIVE: lambda: figures_mc_digits.predictive_figure(rotated()),
            Fig.UNCERTAINTY: lambda: figures_mc_digits.uncertainty_figure(rotated()),
        }


def analysis_defaults(dataset: str | None = None) -> Experiment:
    """The page's defaults: the MNIST reference run (784-512-512-10, input drop 0.2, hidden 0.5, 20 epochs)."""
    dataset = dataset or "mnist"
    if dataset not in MNIST_DATASETS:
        raise ValueError(f"--dataset {dataset}: the MC analysis runs on {', '.join(MNIST_DATASETS)} (28×28 digits)")
    return defaults_for(dataset)


def analysis_problems(exp: Experiment) -> list[Problem]:
    """What this analysis needs beyond ``experiment.check``: MNIST digits, the MLP, a per-unit stochastic variant."""
    problems = []
    if exp.dataset not in MNIST_DATASETS:
        problems.append(Problem.flagged("dataset", f"the MC analysis rotates 28×28 digits: use {', '.join(MNIST_DATASETS)}"))
    if exp.model != "mlp":
        problems.append(Problem.flagged("model", "the MC analysis trains the MLP (as the Uncertainty page does); use "
                                                 "--model mlp"))
    unit_variants = variants_for("mlp", unit_masks=True)
    if exp.variant in SCHEDULES or exp.variant not in unit_variants:
        problems.append(Problem.flagged("variant", "the MC analysis needs noise of one mask or factor per unit at a "
                                                   f"fixed rate: choose from {', '.join(unit_variants)}"))
    if exp.p == 0 and exp.input_p == 0:
        problems.append(Problem.flagged(("p", "input_p"), "with both drop rates 0 every stochastic pass is the same "
                                                          "network; there is nothing to average"))
    return problems


def analyze(exp: Experiment) -> dict[str, Any]:
    """Train what the page trains to the end of ``exp.epochs``; the numbers the page shows, JSON-ready.

    ``k_matching`` is the first k from which the MC error stays within one
    digit (1 / ``eval_digits``) of the weight-scaling error; null if even
    k = 100 is not. Entropy and mutual information are in nats.
    """

    problems = check(exp) + analysis_problems(exp)
    if problems:
        raise ValueError(problems[0])
    start = time.perf_counter()
    state = DigitsUncertainty(exp, make_data(exp))
    state.advance()
    averaging, rotation = state.averaging(), state.rotation()
    top = rotation["mean"].argmax(1)
    at = {int(k): i for i, k in enumerate(averaging["k"])}
    return {
        "weight_scaling_error": averaging["weight_scaling_error"],
        "mc_error": [{"k": int(k), "error": float(e), "std": float(s)}
                     for k, e, s in zip(averaging["k"], averaging["error"], averaging["std"])],
        "mc_error_at": {str(k): float(averaging["error"][at[k]]) for k in MILESTONES if k in at},
        "k_matching": averaging["k_matching"],
        "eval_digits": averaging["digits"],
        "rotation": [{"angle": float(a), "entropy": float(h), "mutual_information": float(mi),
                      "top_class": int(c), "top_prob": float(rotation["mean"][i, c]),
                      "weight_scaled_class": int(rotation["weight_scaled"][i].argmax())}
                     for i, (a, h, mi, c) in enumerate(zip(rotation["angles"], rotation["entropy"],
                                                           rotation["mutual_information"], top))],
        "digit": rotation["digit"],
        "rotation_samples": rotation["samples"],
        "val_acc": float(state.run.final()["val_acc"]),
        "seconds": time.perf_counter() - start,
    }
