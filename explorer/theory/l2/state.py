"""The L2 part's live state: one regression, its closed forms and the masked run, for the pages' controls.

The maths, the data and the trainer are ``analysis``; what lives here holds a
lock, trains in bounded slices and draws the page's frame. The ``analyze --what ridge``
trio and the link's parser are here too: they train and read what the page does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from enum import StrEnum
from typing import Any, Callable, Mapping

import numpy as np

from explorer import settings
from explorer.theory.l2 import figures as figures_theory
from explorer.theory.l2.analysis import (CONVENTION, FIELDS, MaskedRegression, dropout_penalties, keep, make_regression,
                                         ols, relative_distance, weight_decay, weight_decay_strength)
from explorer.core.experiment import PARSERS, Experiment, Problem, flag, format_field, parse_field
from explorer.core.figures import Figure
from explorer.core.shared_runs import Private, locked


class Fig(StrEnum):
    """The places of a frame's figures (the keys of ``frame()``), as the page reads them."""

    WEIGHTS = "weights"
    DISTANCE = "distance"


class DropoutL2(Private):
    """The live state of the page's part: one regression, its closed forms and the masked run.

    A ``live_runs.LiveTraining`` for the pages' controls; any change of
    setting (a new rate is a new closed form) makes a new instance.
    """

    compare = False

    def __init__(self, exp: Experiment, compare: bool = False) -> None:
        problems = analysis_problems(exp)
        if problems:
            raise ValueError(problems[0])
        self.exp, self.lock = exp, threading.RLock()
        self.data = make_regression(exp.train_size, exp.noise, exp.seed)
        self.run = MaskedRegression(self.data, exp.input_p, exp.lr, exp.batch_size, exp.epochs, exp.seed)
        self.closed_form, self.ols, self.weight_decay = self.run.target, ols(self.data), weight_decay(self.data, exp.input_p)

    @property
    def done(self) -> bool:
        return self.run.done

    @locked
    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
        """Train a bounded slice. A live slice (``max_seconds`` given) takes at most RIDGE_FRAME_STEPS steps:
        the whole run would otherwise take a second, too fast to watch the distance fall."""
        if max_seconds is not None:
            max_steps = min(max_steps or settings.RIDGE_FRAME_STEPS, settings.RIDGE_FRAME_STEPS)
        return self.run.run(max_steps=max_steps, max_seconds=max_seconds)

    def shed(self) -> None:
        self.run.shed()

    def apply(self, exp: Experiment, compare: bool = False) -> bool:
        return exp == self.exp

    @locked
    def summary(self) -> dict[str, Any]:
        """The numbers the page shows, as plain JSON-ready data."""
        q, trained = self.exp.input_p, self.run.weights
        return {
            "rate": q, "keep": keep(q), "convention": CONVENTION,
            "features": len(self.data.scales), "examples": len(self.data.y),
            "scales": self.data.scales.tolist(), "penalties": dropout_penalties(self.data, q).tolist(),
            "weight_decay_lambda": weight_decay_strength(self.data, q),
            "closed_form": self.closed_form.tolist(), "trained": trained.tolist(), "last_iterate": self.run.last.tolist(),
            "ols": self.ols.tolist(), "weight_decay": self.weight_decay.tolist(),
            "distance": float(np.linalg.norm(trained - self.closed_form)),
            "relative_distance": relative_distance(trained, self.closed_form),
            "last_iterate_relative_distance": relative_distance(self.run.last, self.closed_form),
            "ols_relative_distance": relative_distance(self.ols, self.closed_form),
            "weight_decay_relative_distance": relative_distance(self.weight_decay, self.closed_form),
            "epochs": self.run.epoch, "steps": self.run.step, "averaged_steps": self.run.averaged,
        }

    # --- one frame ---------------------------------------------------------
    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        weights = {"least squares": self.ols, "weight decay (same total λ)": self.weight_decay,
                   "dropout ridge (closed form)": self.closed_form, "trained with masks": self.run.weights}
        return {
            Fig.WEIGHTS: lambda: figures_theory.ridge_figure(
                weights, dropout_penalties(self.data, self.exp.input_p),
                weight_decay_strength(self.data, self.exp.input_p), self.data.scales),
            Fig.DISTANCE: lambda: figures_theory.distance_figure(self.run.history, self.run.burn_in),
        }

    @locked
    def frame(self) -> dict[str, Figure]:
        return {place: build() for place, build in self.figure_builders().items()}


def analysis_defaults(dataset: str | None = None) -> Experiment:
    """The page's and ``analyze``'s defaults: q = 0.5 on the inputs, 200 examples, σ = 1, 400 epochs of
    batches of 10 at half the stable step. ``dataset`` is not used: the regression makes its own data."""
    return replace(Experiment(), input_p=0.5, p=0.0, train_size=200, noise=1.0, epochs=400, lr=0.5,
                   batch_size=10, optimizer="sgd")


def analysis_problems(exp: Experiment) -> list[Problem]:
    """What the ridge problem cannot take, beyond ``experiment.check``."""
    d, problems = settings.RIDGE_FEATURES, []
    if exp.dataset != Experiment.dataset:
        problems.append(Problem.flagged("dataset", "the ridge problem draws its own regression data (leave it out)"))
    if not 2 * d <= exp.train_size <= settings.RIDGE_MAX_TRAIN:
        problems.append(Problem.flagged("train_size", f"the ridge problem takes {2 * d} to {settings.RIDGE_MAX_TRAIN} "
                                                      f"examples for its {d} features, got {exp.train_size}"))
    if exp.epochs > settings.RIDGE_MAX_EPOCHS:
        problems.append(Problem.flagged("epochs", f"at most {settings.RIDGE_MAX_EPOCHS} for the ridge problem, got "
                                                  f"{exp.epochs}"))
    if exp.lr > 1.0:
        problems.append(Problem.flagged("lr", f"the ridge trainer's step is lr × the stable step: at most 1, got "
                                              f"{exp.lr:g}"))
    if exp.batch_size > exp.train_size:
        problems.append(Problem.flagged("batch_size", f"at most the {exp.train_size} examples (--train-size)"))
    return problems


def analyze(exp: Experiment) -> dict[str, Any]:
    """Train the masked regression to the end of ``exp.epochs``; the page's numbers and the training time."""
    lab = DropoutL2(exp)
    start = time.perf_counter()
    lab.advance()
    if lab.run.diverged:
        raise ValueError(f"{flag('lr')} {exp.lr:g}: training diverged at epoch {lab.run.epoch}; use a smaller step "
                         f"or a larger {flag('batch_size')}")
    return lab.summary() | {"seconds": time.perf_counter() - start}


def from_params(params: Mapping[str, str], base: Experiment) -> tuple[Experiment, list[str]]:
    """A link's settings of the ridge problem over ``base``, and one warning per parameter not used.

    The fields it reads are parsed as everywhere (``experiment.parse_field``);
    any other field is refused, and a value that breaks ``analysis_problems``
    falls back to ``base``'s. ``experiment.check`` is not asked: its size limits
    are a toy dataset's, which this part does not show, and these rules are tighter.
    """
    values, warnings = {}, []
    for key, text in params.items():
        if key not in FIELDS:
            warnings.append(f"{key}: the ridge problem does not use it (a linear model with input dropout)"
                            if key in PARSERS else f"unknown parameter {key!r} ignored")
            continue
        try:
            values[key] = parse_field(key, text)
        except ValueError as err:
            warnings.append(f"{key}: {err}; using {format_field(getattr(base, key))}")
    exp = replace(base, **values)
    while culprit := _changed_culprit(exp, base):
        name, reason = culprit
        exp = replace(exp, **{name: getattr(base, name)})
        warnings.append(f"{name}: {reason}; using {format_field(getattr(base, name))}")
    return exp, warnings


def _changed_culprit(exp: Experiment, base: Experiment) -> tuple[str, str] | None:
    """The first broken rule whose first field differs from ``base``: that field and the rule's reason. Each rule
    names the field that goes first (``--batch-size`` at most ``--train-size``: the batch size goes)."""
    for problem in analysis_problems(exp):
        name = problem.fields[0]
        if name in FIELDS and getattr(exp, name) != getattr(base, name):
            return name, problem.reason
    return None
