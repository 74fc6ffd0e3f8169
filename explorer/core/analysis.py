"""What ``python -m explorer analyze --what KEY`` runs: one page's backend module per key, imported when asked.

An analysis trains what its page trains and returns the page's numbers as
plain data. ``Analysis`` writes its contract down: the module offers the
page's defaults for a dataset, the rules it adds to ``experiment.check``, and
``analyze``. The modules are named here, not imported, so the command line
starts without loading every page's backend.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, cast, runtime_checkable

from explorer.core.experiment import Experiment, Problem

ANALYSES = {
    "coadaptation": "explorer.coadaptation.state",
    "mc": "explorer.uncertainty.digits.state",
    "ridge": "explorer.theory.l2.state",
    "averaging": "explorer.theory.averaging.state",
}


@runtime_checkable
class Analysis(Protocol):
    """A module that ``analyze --what`` can run."""

    def analysis_defaults(self, dataset: str | None = None) -> Experiment:
        """The page's defaults, for ``dataset`` when given (``ValueError`` if the analysis does not take it)."""

    def analysis_problems(self, exp: Experiment) -> list[Problem]:
        """What the analysis cannot take beyond ``experiment.check``."""

    def analyze(self, exp: Experiment) -> dict[str, Any]:
        """Train to the end of ``exp.epochs`` and return the page's numbers, JSON-ready."""


def load_analysis(key: str) -> Analysis:
    """The module behind ``analyze --what key``."""
    return cast(Analysis, importlib.import_module(ANALYSES[key]))
