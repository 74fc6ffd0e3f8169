"""Shared test setup: make the repository importable however pytest is started, and keep torch on one thread.

``python -m pytest`` already puts the working directory on ``sys.path``; a bare
``pytest`` started elsewhere does not, so the repository root is added here.

The tests train tiny networks, for which torch's thread pool costs more than it
gives, and on a busy two-core box a second thread makes them many times slower.
``EXPLORER_THREADS=1`` (read by ``explorer.settings.torch_threads``) is set for
this process and inherited by the command-line subprocesses; an explicit value
in the environment wins. ``EXPLORER_TRAINING_BUDGET`` is set high for the same
process: many AppTests press Train and never Pause, and their seats
(``explorer.core.admission``) would keep later tests waiting in the queue until
they time out; the queue's own tests set their seats themselves. Tabs training
identical settings share one run (``explorer.core.shared_runs``): each test
starts with no run to join, so one test's AppTest never trains another's. Keep
this file small: every test module relies on it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("EXPLORER_THREADS", "1")
os.environ.setdefault("EXPLORER_TRAINING_BUDGET", "1000")
torch.set_num_threads(int(os.environ["EXPLORER_THREADS"]))


@pytest.fixture(autouse=True)
def _no_runs_to_join() -> None:
    from explorer.core.shared_runs import CLASSROOM
    CLASSROOM.clear()
