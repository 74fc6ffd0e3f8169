"""The numbers the pages quote from finished runs (assets/reference_numbers.json) are what the code measures now.

Reruns every quoted run (the co-adaptation page's: about 30 s on one thread) and compares. A failure names the
command that regenerates the file; a change that moves the numbers must update the file and so the prose.
"""

from __future__ import annotations

import os

import pytest
import torch

from explorer.tools import reference


def test_the_quoted_numbers_are_what_the_runs_measure_now():
    assert os.environ.get("EXPLORER_THREADS") == reference.THREADS and torch.get_num_threads() == 1, \
        "the file's runs use one torch thread; tests/conftest.py sets it"
    stored, fresh = reference.load(), reference.measure()
    assert set(stored) == set(fresh)
    for page in reference.QUOTED:
        assert stored[page]["settings"] == fresh[page]["settings"], (
            f"{page}: the page's defaults changed since the file was written; regenerate: {reference.COMMAND}")
        for network in ("dropout", "no_dropout"):
            for key, value in fresh[page][network].items():
                assert stored[page][network][key] == pytest.approx(value, rel=1e-6), (
                    f"{page} {network} {key}: the file says {stored[page][network][key]:.6g}, the code measures "
                    f"{value:.6g}; regenerate with: {reference.COMMAND}")
