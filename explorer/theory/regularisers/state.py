"""Dropout vs weight decay vs early stopping on one overfitting problem.

Three lanes of the Variants lab's ``Lab`` (trained in turns, the same network,
data, initial weights and batch order): (i) no regularisation, (ii) dropout at
the experiment's rates, (iii) weight decay (the experiment's ``weight_decay``,
an L2 term the optimiser adds to the gradient) without dropout. Early stopping
is not a run of its own: it is lane (i) stopped at its best validation-loss
epoch, marked on its curves.

One ``Experiment`` describes the comparison: its ``p``/``input_p`` are the
dropout lane's and its ``weight_decay`` the decay lane's; everything else is shared.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from explorer.theory.regularisers import figures as figures_theory
from explorer.core.datasets import Dataset
from explorer.core.experiment import Experiment, defaults_for
from explorer.core.figures import Figure
from explorer.lab.state import DROPOUT_FIELDS, Lab
from explorer.core.live_runs import CURVES
from explorer.core.shared_runs import locked
from explorer.core.training import Trainer

DEFAULT_DATASET = "moons"


def comparison_defaults(dataset: str | None = None) -> Experiment:
    """Settings where each regulariser visibly helps: a 2-128-128-2 net on 100 noisy moons with 10% of the
    labels flipped, Adam at 0.003 for 300 epochs (the unregularised run's validation loss turns up after ~40;
    measured: final validation loss 0.39 plain, 0.28 dropout q = 0.5, 0.21 weight decay 0.003, early stopping
    0.21); on the MNIST subset 1,000 training digits, 784-256-256-10, SGD 0.05 for 30 epochs (measured: 0.56
    plain, 0.33 dropout q = 0.5 with input 0.2, 0.45 weight decay 0.001, early stopping 0.44 at epoch 5; ~4 s)."""
    base = defaults_for(dataset or DEFAULT_DATASET)
    if base.is_mnist:
        return replace(base, hidden=(256, 256), train_size=1000, epochs=30, weight_decay=1e-3)
    return replace(base, train_size=100, noise=0.25, label_noise=0.1, lr=0.003, epochs=300, weight_decay=3e-3)


def comparison_lanes(exp: Experiment) -> list[Experiment]:
    """No regularisation, dropout only, weight decay only."""
    plain = replace(exp.without_dropout(), weight_decay=0.0)
    return [plain, replace(exp, weight_decay=0.0), replace(plain, weight_decay=exp.weight_decay)]


def lane_labels(exp: Experiment) -> list[str]:
    rates = f"q={exp.p:g}" + (f", input {exp.input_p:g}" if exp.input_p else "")
    return ["no regularisation", f"dropout {rates}", f"weight decay {exp.weight_decay:g}"]


def best_epoch(history: list[dict[str, float]]) -> dict[str, float] | None:
    """The history's row of lowest validation loss (the first of equals): where early stopping stops."""
    return min(history, key=lambda row: row["val_loss"]) if history else None


class Comparison(Lab):
    """The three lanes, with the controls' view of one run: ``exp`` the comparison, ``run`` the first lane."""

    varying_fields = (*DROPOUT_FIELDS, "weight_decay")

    def __init__(self, exp: Experiment, data: Dataset) -> None:
        super().__init__(comparison_lanes(exp), data)
        self.base, self.labels = exp, lane_labels(exp)

    @property
    def exp(self) -> Experiment:  # type: ignore[override]
        return self.base

    @property
    def run(self) -> Trainer:
        """The unregularised lane: every lane steps in turn with it, so its epoch and step are the lanes'."""
        return self.trainers[0]

    def apply(self, exp: Experiment, compare: bool = False) -> bool:  # type: ignore[override]
        return exp == self.base

    def early_stopping(self) -> dict[str, float] | None:
        return best_epoch(self.run.history)

    @locked
    def table(self) -> list[dict[str, Any]]:
        """Per lane the last epoch's and the best validation numbers (None before the first epoch); early
        stopping's final numbers are the unregularised lane's at its chosen epoch."""
        rows = [_row(label, t.history) for label, t in zip(self.labels, self.trainers)]
        early = self.early_stopping()
        return rows + [_row("early stopping (no regularisation, stopped)", [early] if early else [])]

    def curves_figure(self) -> Figure:
        runs = {label: t.history for label, t in zip(self.labels, self.trainers)}
        return figures_theory.regularisers_figure(runs, self.early_stopping())

    def figure_builders(self) -> dict[str, Callable[[], Figure]]:
        return {CURVES: self.curves_figure}

    @locked
    def frame(self) -> dict[str, Figure]:  # type: ignore[override]
        return {place: build() for place, build in self.figure_builders().items()}


def _row(label: str, history: list[dict[str, float]]) -> dict[str, Any]:
    last, best = (history[-1] if history else {}), best_epoch(history) or {}
    return {"run": label, "epoch": last.get("epoch"), "final_val_loss": last.get("val_loss"),
            "final_val_acc": last.get("val_acc"), "best_val_loss": best.get("val_loss"),
            "best_epoch": best.get("epoch"), "best_val_acc": max((r["val_acc"] for r in history), default=None)}
