"""Early and late dropout: a schedule on the drop rate around any variant (Liu et al. 2023).

A schedule does not change what a dropout layer does, only when it does it:
early dropout keeps the rate until a cutoff epoch and then switches off
(at once, or falling linearly to 0 on the way), late dropout starts at 0 and
switches on at the cutoff. ``RateSchedule`` is a trainer callback that sets the
rates before every step, from the epochs elapsed (fractional, so a linear
schedule falls step by step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from explorer import settings
from explorer.dropout.base import VARIANTS
from explorer.dropout.params import Param

if TYPE_CHECKING:
    from explorer.core.training import Trainer

SHAPES = ("constant", "linear")


@dataclass(frozen=True)
class Schedule:
    """What the app and the command line need to know about a schedule (as ``Variant`` for layers)."""

    key: str
    name: str
    rule: str          # LaTeX: the rate in effect after t epochs
    explanation: str
    reference: str
    params: tuple[Param, ...] = ()


# Importing this module imports the package first, so every variant is registered by now.
BASE_VARIANT = Param("base_variant", "Of the variant", "the dropout variant the schedule switches on and off",
                     default="standard", choices=tuple(VARIANTS), widget="select")
CUTOFF = Param("schedule_cutoff", "Cutoff epoch T",
               "the epoch at which the schedule switches (0 = a quarter of the epochs)", default=0,
               lo=0, hi=settings.MAX_EPOCHS, widget="number")
SHAPE = Param("schedule_shape", "Shape", "constant (switch off at the cutoff) or linear (fall to 0 by it)",
              default="constant", choices=SHAPES, widget="radio")
_REFERENCE = "Liu, Xu, Jin, Shen, Darrell (2023), Dropout Reduces Underfitting, ICML"

SCHEDULES: dict[str, Schedule] = {
    "early": Schedule(
        key="early",
        name="Early dropout",
        rule=(r"q_t = \begin{cases} q & t < T \\ 0 & t \ge T \end{cases}\quad\text{or, linear: }"
              r"q_t = q\,\max(0,\, 1 - t/T)"),
        explanation=(
            "Dropout only at the start of training, up to a cutoff epoch T, then none. Early in "
            "training, dropout makes the mini-batch gradients agree better with the gradient of the "
            "whole training set, which helps a model that underfits; once it is off, the model fits "
            "the data at full capacity. The linear form lowers the rate gradually to 0 at T."
        ),
        reference=_REFERENCE,
        params=(BASE_VARIANT, CUTOFF, SHAPE),
    ),
    "late": Schedule(
        key="late",
        name="Late dropout",
        rule=r"q_t = \begin{cases} 0 & t < T \\ q & t \ge T \end{cases}",
        explanation=(
            "No dropout at first, so the model fits the data quickly; from the cutoff epoch T on, "
            "dropout at rate q regularises it. Meant for models that overfit, where dropout is "
            "needed at the end of training rather than at the start."
        ),
        reference=_REFERENCE,
        params=(BASE_VARIANT, CUTOFF),
    ),
}


def scheduled_rate(key: str, shape: str, rate: float, cutoff: float, epochs: float) -> float:
    """The drop rate in effect after ``epochs`` epochs (fractional) of training."""
    if key == "late":
        return rate if epochs >= cutoff else 0.0
    if shape == "linear":
        return rate * max(0.0, 1.0 - epochs / cutoff) if cutoff > 0 else 0.0
    return rate if epochs < cutoff else 0.0


@dataclass
class RateSchedule:
    """A trainer callback (``on_step_begin``) that sets the hidden and input rates from the schedule."""

    key: str
    shape: str
    cutoff: float
    p: float
    input_p: float

    def rates_at(self, epochs: float) -> tuple[float, float]:
        return tuple(scheduled_rate(self.key, self.shape, r, self.cutoff, epochs) for r in (self.p, self.input_p))

    def __call__(self, trainer: Trainer) -> None:
        per_epoch = math.ceil(len(trainer.data.y_train) / trainer.cfg.batch_size)
        p, input_p = self.rates_at(trainer.step / per_epoch)
        trainer.set_rates(p=p, input_p=input_p)
