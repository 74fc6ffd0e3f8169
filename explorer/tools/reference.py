"""Numbers the pages quote from finished runs, kept in one generated file so that their prose cannot go stale.

A reading guide that says "on the default run after 20 epochs, 0.214 with
dropout vs 0.234 without" reads its numbers from ``assets/reference_numbers.json``.
``python -m explorer.tools.reference`` reruns the runs and rewrites the file;
tests/test_reference_numbers.py reruns them and checks the story the prose
tells: each number on the same side of its twin's, and within ``TOLERANCE`` of
the larger of the two; it fails naming the command when the code has moved them.

Twenty epochs amplify rounding: another CPU's kernels sum in another order, and
the dropout network's blue share came out 0.041 on one machine, 0.158 on an AMD
EPYC, 0.009 with MKL's portable kernels alone. So the runs behind the file train
in a process of their own on one torch thread with portable kernels (``PINNED``:
MKL's compatible code path and ATen's default one, about twice as slow): the
same numbers on any x86 CPU.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from explorer import settings
from explorer.core.analysis import load_analysis
from explorer.core.experiment import to_params

PATH = Path(__file__).resolve().parents[2] / "assets" / "reference_numbers.json"
COMMAND = "python -m explorer.tools.reference"
THREADS = "1"  # EXPLORER_THREADS for the runs behind the file, here and in its test
# The runs' environment: one thread, and kernels that round alike on every x86 CPU (read when torch starts)
PINNED = {"EXPLORER_THREADS": THREADS, "MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
TOLERANCE = 0.2  # of the larger of a pair: a change to the code may move the numbers this much and tell the same story

# Per page: the analysis (``analyze --what``) whose defaults are the quoted run, and the numbers its prose quotes.
QUOTED = {
    "coadaptation": ("coadaptation", ("mean_abs_r", "decov", "auc_random", "auc_importance", "top_share",
                                      "mean_abs_interaction", "leaning_share")),
}


def measure() -> dict[str, Any]:
    """The file's content (plain JSON data), measured in a process of its own with ``PINNED`` kernels."""
    done = subprocess.run([sys.executable, "-m", "explorer.tools.reference", "--print"], cwd=PATH.parents[1],
                          env={**os.environ, **PINNED}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the reference runs failed:\n{done.stderr}")
    return json.loads(done.stdout)


def _measure_here() -> dict[str, Any]:
    """Train every quoted run from its page's defaults, in this process."""
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
    parser = argparse.ArgumentParser(prog=COMMAND, description="Rerun the runs whose numbers the pages quote and "
                                     f"rewrite {PATH.relative_to(PATH.parents[1])} (one torch thread, portable "
                                     "kernels; about 30 s).")
    parser.add_argument("--print", action="store_true", help="print the numbers as JSON instead (the runs' own "
                        "process, started with the pinned kernels)")
    if parser.parse_args().print:
        if any(os.environ.get(name) != value for name, value in PINNED.items()):
            parser.error("--print measures in a process started with " + " ".join(f"{k}={v}" for k, v in
                                                                                   PINNED.items()))
        settings.configure_torch()
        print(json.dumps(_measure_here()))
        return
    PATH.write_text(json.dumps(measure(), indent=2) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
