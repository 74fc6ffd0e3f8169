"""The dropout-as-L2 run, out and back: its settings as a file that ``train --config`` replays exactly.

Any change of setting makes the part a new problem and a new run, so the file
holds the settings alone (the fields the ridge problem reads, as its link writes
them); the run trained from them has every number of the page's history
(tests/test_regression_files.py).
"""

from __future__ import annotations

from explorer.core.experiment import Experiment, format_field
from explorer.core.export import VERSION, config_values, dump, load, refuse
from explorer.theory.l2.analysis import FIELDS
from explorer.theory.l2.state import DropoutL2, analysis_defaults, from_params

FORMAT = "dropout-explorer/ridge"


def ridge_json(exp: Experiment) -> str:
    return dump({"format": FORMAT, "version": VERSION,
                 "config": {name: format_field(getattr(exp, name)) for name in FIELDS}}, None)


def read_ridge(text: str, source: str = "the file") -> Experiment:
    """A ridge file's settings, checked as the part's link is; ``ConfigError`` says what is wrong (nothing falls
    back to a default, unlike a link)."""
    doc, _ = load(text, source, FORMAT)
    exp, warnings = from_params(config_values(doc, source, FIELDS), analysis_defaults())
    refuse(f"{source}: config.", warnings)
    return exp


def replay(exp: Experiment) -> DropoutL2:
    """The part's run trained again to its last epoch (or until it diverges, as the page's would)."""
    run = DropoutL2(exp)
    run.advance()
    return run
