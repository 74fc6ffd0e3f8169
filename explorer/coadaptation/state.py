"""The Co-adaptation page's state: a run with dropout and its no-dropout twin, seen through their last hidden layer.

Both networks are analysed on the same fixed validation examples
(settings.COADAPT_EXAMPLES). The last hidden layer feeds the output layer
directly, so removing its units is exact and cheap (one pass of the output
layer per mask); removing units of an earlier layer would need a pass through
every later layer per mask and example, too slow for a live page. The
analyses are cached by step and rates, and while training redone at most
every ``max_age`` seconds (and no more often than their cost allows); mean
|r| and DeCov are also recorded at the end of every epoch (a callback on each
trainer), so they can be followed over time.

``analyze`` trains the same pair to the end and returns the page's numbers for
``python -m explorer analyze --what coadaptation``.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Callable, Hashable

import numpy as np

from explorer import settings
from explorer.coadaptation import analysis as coadaptation
from explorer.coadaptation import figures as figures_coadaptation
from explorer.core.datasets import Dataset
from explorer.dropout import variants_for
from explorer.core.experiment import CSV, Experiment, Problem, defaults_for, make_data
from explorer.core.figures import Figure
from explorer.core.live_runs import CURVES, RUN_NAMES, LiveRuns
from explorer.core.shared_runs import locked
from explorer.core.training import Trainer

DEFAULT_DATASET = "mnist"
Report = dict[str, Any]


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    CORRELATION = "correlation"
    TRACKED = "tracked"
    INTERACTION = "interaction"
    ROBUSTNESS = "robustness"
    IMPORTANCE = "importance"
    CURVES = CURVES


def analysis_defaults(dataset: str | None = None) -> Experiment:
    """The page's defaults: on the MNIST subset the reference run (784-512-512-10, input 0.2, hidden 0.5,
    SGD 0.05, 20 epochs); on a toy dataset its usual defaults."""
    return defaults_for(dataset or DEFAULT_DATASET)


def analysis_problems(exp: Experiment) -> list[Problem]:
    """What the co-adaptation analyses cannot take, beyond ``experiment.check``."""
    problems = []
    if exp.is_mnist and exp.dataset != "mnist":
        problems.append(Problem(("dataset",), f"--dataset {exp.dataset}: the co-adaptation analyses run on the MNIST subset (mnist) "
                        "or a toy dataset"))
    if exp.model != "mlp":
        problems.append(Problem(("model",), f"--model {exp.model}: the co-adaptation analyses look at an MLP's hidden "
                                "units; use mlp"))
    allowed = variants_for("mlp", unit_masks=True)
    if exp.variant not in allowed:
        problems.append(Problem(("variant",), f"--variant {exp.variant}: the co-adaptation analyses need a dropout of "
                                f"whole units: choose from {', '.join(allowed)}"))
    if exp.inference != "standard":
        problems.append(Problem(("inference",), f"--inference {exp.inference}: the analyses measure the inference "
                                "network; use standard"))
    if exp.hidden[-1] < 2:
        problems.append(Problem.flagged("hidden", "the last hidden layer needs at least 2 units to correlate"))
    return problems


class Coupling:
    """A trainer's ``on_epoch_end`` callback that records mean |r| and DeCov of its last hidden layer on the first
    settings.COADAPT_EXAMPLES validation examples, from the initial weights on. It belongs to the trainer, so a
    run shared by several tabs records once, and a tab's copy of it (``shared_runs``) copies what it recorded."""

    def __init__(self, data: Dataset, trainer: Trainer) -> None:
        self.data = data  # the probe examples are read from it each time: a copy of the run shares the data
        self.rows: list[dict[str, float]] = []
        self(trainer)  # epoch 0: the twins' shared initial weights

    def __call__(self, trainer: Trainer) -> None:
        h, _, _ = coadaptation.last_hidden(trainer.model, self.data.x_val[: settings.COADAPT_EXAMPLES])
        self.rows.append({"epoch": trainer.epoch, **coadaptation.coupling(h)})


class CoadaptationRuns(LiveRuns):
    """A run with dropout and its twin (same data, weights and batches), their last hidden layers compared."""

    REBUILDABLE = ("_cache",)

    def __init__(self, exp: Experiment, data: Dataset) -> None:
        problems = analysis_problems(exp)
        if problems:
            raise ValueError(problems[0])
        super().__init__(exp, data, compare=True)
        self.probe_x = data.x_val[: settings.COADAPT_EXAMPLES]
        self.probe_y = data.y_val[: settings.COADAPT_EXAMPLES]
        self.layer = f"hidden {len(exp.hidden)}"
        for trainer in self.trainers:
            trainer.add_callback("on_epoch_end", Coupling(data, trainer))
        self._cache: tuple[tuple, float, float, dict[str, Report]] | None = None  # key, when, cost, reports

    def share_key(self) -> Hashable | None:
        """Tabs training the same settings share one run (``shared_runs``), but not on uploaded points (two files
        of one name are two datasets): what each epoch recorded is the trainers' (``Coupling``), the analyses
        each tab's own."""
        return None if self.exp.dataset == CSV else ("coadaptation", self.exp)

    @property
    def tracked(self) -> dict[str, list[dict[str, float]]]:
        """Mean |r| and DeCov of each network's last hidden layer, from epoch 0 to the latest epoch's end."""
        return {name: next(c for c in trainer.callbacks("on_epoch_end") if isinstance(c, Coupling)).rows
                for name, trainer in self.named_trainers().items()}

    # --- the analyses --------------------------------------------------------
    @locked
    def analyses(self, max_age: float = 0.0) -> dict[str, Report]:
        """Correlations and removals of both networks, per name; redone when the run has moved on and the
        last ones are older than ``max_age`` seconds (0: whenever the run has moved on), or while training
        (``max_age`` > 0) older than their own cost over settings.COADAPT_ANALYSIS_SHARE: on a busy server,
        where they take longer, they are redone less often instead of taking a larger share of its time."""
        key = (self.run.step, *(d.p for d in self.run.model.dropouts))
        if self._cache is not None:
            done_key, done_at, cost, reports = self._cache
            wait = max(max_age, cost / settings.COADAPT_ANALYSIS_SHARE) if max_age > 0 else 0.0
            if done_key == key or time.monotonic() - done_at < wait:
                return reports
        start = time.monotonic()
        reports = {name: self._report(trainer) for name, trainer in self.named_trainers().items()}
        done = time.monotonic()
        self._cache = (key, done, done - start, reports)
        return reports

    def _report(self, trainer: Trainer) -> Report:
        h, feed, out = coadaptation.last_hidden(trainer.model, self.probe_x)
        removal = coadaptation.removal_report(
            out, feed, self.probe_y, settings.COADAPT_TOP_UNITS, settings.COADAPT_REMOVAL_STEPS,
            settings.COADAPT_RANDOM_ORDERS, seed=self.exp.seed)
        return coadaptation.correlation_stats(h) | removal

    def numbers(self, max_age: float = 0.0) -> dict[str, dict[str, float]]:
        """The numbers a teacher points at, per network: plain floats and ints."""
        trainers = self.named_trainers()
        return {name: summary(report, trainers[name]) for name, report in self.analyses(max_age).items()}

    # --- one frame -----------------------------------------------------------
    def figure_builders(self, max_age: float = 0.0) -> dict[str, Callable[[], Figure]]:
        fig = figures_coadaptation
        return {
            Fig.CORRELATION: lambda: fig.correlation_figure(self.analyses(max_age), self.layer,
                                                            settings.COADAPT_MATRIX_UNITS),
            Fig.INTERACTION: lambda: fig.interaction_figure(self.analyses(max_age)),
            Fig.IMPORTANCE: lambda: fig.importance_figure(
                {name: r["delta"] for name, r in self.analyses(max_age).items()}, self.layer),
            Fig.ROBUSTNESS: lambda: fig.robustness_figure(self.analyses(max_age), self.layer),
            Fig.TRACKED: lambda: fig.tracked_figure(self.tracked),
            **super().figure_builders(),
        }

    @locked
    def frame(self, max_age: float = 0.0) -> dict[str, Figure]:
        """Every figure of the page; the analyses behind them at most ``max_age`` seconds old."""
        return {place: build() for place, build in self.figure_builders(max_age).items()}


def summary(report: Report, trainer: Trainer) -> dict[str, float]:
    """A network's numbers: correlations, removal, and its validation metrics on the whole validation set."""
    final = trainer.final()
    return {
        "mean_abs_r": report["mean_abs_r"], "decov": report["decov"], "dead_units": report["dead_units"],
        "auc_random": report["auc_random"], "auc_importance": report["auc_importance"],
        "top_share": report["top_share"], "mean_abs_interaction": report["mean_abs_interaction"],
        "leaning_share": report["leaning_share"],
        "acc_half_removed": float(np.interp(0.5, report["fractions"], report["acc_random"])),
        "probe_acc": report["base_acc"], "probe_loss": report["base_loss"],
        "val_acc": final.get("val_acc", report["base_acc"]), "val_loss": final.get("val_loss", report["base_loss"]),
    }


def analyze(exp: Experiment) -> dict[str, Any]:
    """Train the page's pair to the end of ``exp.epochs`` and return the page's numbers, JSON-ready.

    ``ValueError`` if ``exp`` breaks a rule (``experiment.check`` or ``analysis_problems``).
    """
    start = time.perf_counter()
    runs = CoadaptationRuns(exp, make_data(exp))
    while not runs.done:
        runs.advance(max_seconds=5.0)
    numbers = runs.numbers()
    tracked = [{"epoch": row["epoch"], **{_key(n): {k: v for k, v in runs.tracked[n][i].items() if k != "epoch"}
                                          for n in RUN_NAMES}}
               for i, row in enumerate(runs.tracked[RUN_NAMES[0]])]
    return {
        **{_key(name): values for name, values in numbers.items()},
        "tracked": tracked,
        "layer": runs.layer,
        "units": exp.hidden[-1],
        "examples": len(runs.probe_y),
        "seconds": time.perf_counter() - start,
    }


def _key(name: str) -> str:
    return name.replace(" ", "_")
