"""A page's state between script runs: one dataclass per page in ``st.session_state``, under one key.

What a page keeps that no widget holds (its run, whether it trains, the link's
warnings…) is a field of its dataclass, so a name is checked where it is read
and not matched by hand between modules. Widgets keep their own keys (the page's
prefix and the ``Experiment`` field, such as "pg_p"): Streamlit stores a widget's
value under its key and nowhere else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import streamlit as st

from explorer import settings

R = TypeVar("R")  # a live_runs.LiveRun, or the Sweeps page's Sweep: the fragment needs only done and advance
T = TypeVar("T")


@dataclass
class LiveState(Generic[R]):
    """What the live controls (``pages.ui.controls``) keep of a page or part with a run to train."""

    run: R | None = None  # made on the first run, rebuilt when a change needs new weights
    running: bool = False  # Train pressed and not yet paused: the fragment's timer is on
    clock: deque = field(default_factory=lambda: deque(maxlen=20))  # (time, epoch) of the last frames: the rates shown
    draw_seconds: float = 0.0  # training frames' drawing time (moving average), which their slices leave free
    draw_cpus: deque = field(default_factory=lambda: deque(maxlen=settings.COST_FRAMES))  # CPU s of the last frames
    trained_frames: int = 0  # training frames drawn: before the first, the draw times are the paused page's
    least_train: float = 0.0  # the least a frame trains (CPU seconds): the last frame's training if it overran its slice
    warnings: list[str] = field(default_factory=list)  # the link's parameters not used, shown on every run
    touched: float = 0.0  # time.monotonic() of the page's last full run: a click, a changed widget, a visit
    forgotten: bool = False  # paused by the server after settings.IDLE_PAUSE_SECONDS without a click
    pins: list = field(default_factory=list)  # live_runs.Pin: earlier runs drawn beside this one (Playground, Inside)
    notice: str = ""  # what the last load of a weights file did, or why it did not
    choices: list = field(default_factory=list)  # the networks of a loaded file of several that fit the page's one

    @property
    def draw_cpu(self) -> float:
        """The mean CPU seconds of the last frames' drawing: what the session's seat counts."""
        return sum(self.draw_cpus) / len(self.draw_cpus) if self.draw_cpus else 0.0


def page_state(key: str, kind: type[T]) -> T:
    """The session's state stored under ``key``, made as ``kind()`` on first use.

    The object is kept as it is, not checked against ``kind``: a page script
    defines its classes anew on every run. Changing its fields changes the
    session's state (a callback's ``args`` hold the same object).
    """
    if key not in st.session_state:
        st.session_state[key] = kind()
    return st.session_state[key]
