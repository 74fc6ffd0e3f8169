"""Numbers the pages quote from finished runs, kept in one generated file so that their prose cannot go stale.

A reading guide that says "on the default run after 20 epochs, 0.214 with
dropout vs 0.234 without" reads its numbers from ``assets/reference_numbers.json``.
``python -m explorer.tools.reference`` reruns the runs and rewrites the file (on one
torch thread, as the test suite: the thread count changes the last digits of a
20-epoch run); tests/test_reference_numbers.py reruns them too and fails, naming
that command, when the file no longer says what the code measures.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from explorer import settings
from explorer.core.analysis import load_analysis
from explorer.core.experiment import to_params

PATH = Path(__file__).resolve().parents[2] / "assets" / "reference_numbers.json"
COMMAND = "python -m explorer.tools.reference"
THREADS = "1"  # EXPLORER_THREADS for the runs behind the file, here and in its test

# Per page: the analysis (``analyze --what``) whose defaults are the quoted run, and the numbers its prose quotes.
QUOTED = {
    "coadaptation": ("coadaptation", ("mean_abs_r", "decov", "auc_random", "auc_importance", "top_share",
                                      "mean_abs_interaction", "leaning_share")),
}


def measure() -> dict[str, Any]:
    """Train every quoted run from its page's defaults and return the file's content (plain JSON data)."""
    pages = {}
    for page, (analysis, keys) in QUOTED.items():
        module = load_analysis(analysis)
        exp = module.analysis_defaults()
        result = module.analyze(exp)
        networks = {name: {k: result[name][k] for k in keys} for name in ("dropout", "no_dropout")}
        pages[page] = {"dataset": exp.dataset, "epochs": exp.epochs, "settings": to_params(exp), **networks}
    return {"command": COMMAND, "threads": int(THREADS), **pages}


@functools.cache
def load() -> dict[str, Any]:
    """The generated file's content (read once per process; treat it as read-only)."""
    return json.loads(PATH.read_text())


def main() -> None:
    os.environ["EXPLORER_THREADS"] = THREADS
    settings.configure_torch()
    PATH.write_text(json.dumps(measure(), indent=2) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
