"""Numbers the pages quote from finished runs, kept in one generated file so that their prose cannot go stale.

A reading guide that says "on the default run after 20 epochs, 0.214 with
dropout vs 0.234 without" reads its numbers from ``assets/reference_numbers.json``.
``python -m explorer.tools.reference`` reruns the runs and rewrites the file (on one
torch thread, as the test suite). The digits are this machine's: another CPU's
kernels (AVX-512 or AVX2) or thread count round sums in another order, and
twenty epochs amplify that (the dropout network's blue share was 0.041 on one
machine, 0.051 and 0.009 on another). So tests/test_reference_numbers.py reruns
the runs and checks the story the prose tells, not the digits: each number on
the same side of its twin's, and within ``TOLERANCE`` of the larger of the two;
it fails naming the command when the code has moved them further.
"""

from __future__ import annotations

import argparse
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
TOLERANCE = 0.2  # of the larger of a pair: what two machines were seen to differ by is under 0.16

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
    argparse.ArgumentParser(prog=COMMAND, description="Rerun the runs whose numbers the pages quote and rewrite "
                            f"{PATH.relative_to(PATH.parents[1])} (one torch thread; about 30 s).").parse_args()
    os.environ["EXPLORER_THREADS"] = THREADS
    settings.configure_torch()
    PATH.write_text(json.dumps(measure(), indent=2) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
