"""A variant's own parameter, declared once with the variant that reads it.

The command line's flag and help, the URL parser, the lab's widget and the
pages' refusals are all derived from a ``Param``, so a range or a default is
written in one place (the variant's module) and cannot drift between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from explorer.core import parsing

WIDGETS = ("slider", "number", "radio", "select")


@dataclass(frozen=True)
class Param:
    """One ``Experiment`` field a variant, a schedule or an inference mode reads.

    ``lo``/``hi``/``step`` bound a number (``odd``: odd values only, a block
    side); ``choices`` make it a choice instead. ``label`` is the widget's
    (short, with the symbol the formulas use), ``help`` one line for the
    command line, the catalogue and the widget's tooltip. ``widget`` is the
    kind of control a page draws for it.
    """

    name: str
    label: str
    help: str
    default: Any
    lo: float = 0
    hi: float = 0
    step: float = 1
    odd: bool = False
    choices: tuple[str, ...] = ()
    widget: str = "slider"

    def __post_init__(self) -> None:
        if self.widget not in WIDGETS:
            raise ValueError(f"param {self.name!r}: widget must be one of {', '.join(WIDGETS)}")
        if not self.choices and not self.lo <= self.default <= self.hi:
            raise ValueError(f"param {self.name!r}: default {self.default} outside [{self.lo}, {self.hi}]")

    @property
    def parse(self) -> Callable[[str], Any]:
        """Text (a flag, a URL parameter) to a checked value; ``ValueError`` says what is wrong."""
        if self.choices:
            return parsing.choice(self.choices)
        if self.odd:
            return parsing.odd(int(self.lo), int(self.hi))
        if isinstance(self.default, int):
            return parsing.whole(int(self.lo), int(self.hi))
        return parsing.number(self.lo, self.hi)

    def options(self) -> tuple:
        """The values a stepped control offers: the choices, or the odd sizes."""
        if self.choices:
            return self.choices
        if self.odd:
            return tuple(range(int(self.lo), int(self.hi) + 1, 2))
        raise ValueError(f"param {self.name!r} is a range, not a list of options")
