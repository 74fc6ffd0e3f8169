"""The Sweeps page's run, which tabs on one link share: thirty students on lesson 5's link train one sweep.

A sweep (``state.Sweep``) is dozens of models trained for a minute or more; a
class on one link would train the same seeded sweep thirty times over, each at
a thirtieth of the server, holding thirty stacks of weights. ``SharedSweep`` is
one tab's view of a sweep that tabs pressing Run on the same settings train
together (``explorer.core.shared_runs``); a tab that pauses or is forgotten
first takes a copy of its own (the models so far and their saved weights),
which goes on to the very numbers the shared sweep would have.
"""

from __future__ import annotations

from typing import Any, Hashable

from explorer import settings
from explorer.core.experiment import CSV
from explorer.core.shared_runs import Core, Shareable, locked
from explorer.sweep.state import Sweep, SweepSpec


class SharedSweep(Shareable):
    """A page's sweep as its live controls drive it (``live_runs.LiveRun``): the sweep is ``core.run``."""

    compare = False
    # Its stacks' batched products gain from a second torch thread (the 4-variant MNIST sweep: 1.6x on two cores):
    # a sweep training alone on the server uses every core and its frames' idle gap (``pages.ui.controls``).
    threaded = True

    def __init__(self, sweep: Sweep) -> None:
        self.hold(Core(sweep, None, None))

    @property
    def sweep(self) -> Sweep:
        return self.core.run

    def share_key(self) -> Hashable | None:
        """A sweep of generated data is known by its spec and what it keeps; one on uploaded points never shared."""
        s = self.sweep
        return None if s.spec.base.dataset == CSV else ("sweep", s.spec, s.evaluations, s.saved is not None)

    def changed(self) -> bool:
        return False  # nothing changes a sweep in place: other settings are another sweep

    @property
    def exp(self) -> SweepSpec:
        return self.sweep.spec

    def apply(self, exp: SweepSpec, compare: bool = False) -> bool:
        return exp == self.sweep.spec

    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
        """As ``Shareable.advance``; but a live slice (``max_seconds``) of a sweep that another tab trains this
        instant trains nothing and returns at once: the sweep goes on all the same, and this tab's frame draws the
        results of its last slice. (A sweep's step is long: thirty tabs waiting for each other's slices in turn
        drew a frame every three seconds.)"""
        self.leave_fresh()
        if max_seconds is None or not self.core.shared(self):
            return super().advance(max_seconds, max_steps)
        self.core.trained(self)
        lock = self.lock  # taken by training alone: drawing reads the results kept in ``core.memo``
        if not lock.acquire(blocking=False):
            return 0
        try:
            # The slices of the tabs that only drew are this one's, up to what leaves it a frame a second.
            seconds = min(max_seconds * (1 + self.sharers), (1 - settings.IDLE_SHARE) / settings.FRAME_FLOOR)
            return self.train_slice(seconds, max_steps) if lock is self.lock else 0
        finally:
            lock.release()

    def train_slice(self, max_seconds: float | None, max_steps: int | None) -> int:
        """Train for about ``max_seconds`` (a sweep trains by time; ``max_steps`` given: one step of the stack
        in training); the steps taken."""
        before = self.sweep.step
        self.sweep.advance(max_seconds if max_steps is None else 0.0)
        self.core.memo["results"] = self.sweep.results()
        return self.sweep.step - before

    @locked
    def shed(self) -> None:
        self.own()
        self.sweep.shed()

    # --- what the page reads, of the sweep it views now ------------------------------
    @property
    def spec(self) -> SweepSpec:
        return self.sweep.spec

    @property
    def done(self) -> bool:
        return self.sweep.done

    def results(self) -> dict[str, Any]:
        """The results as of the last training slice, kept with the run: tabs draw them while another trains
        (``Shareable.advance``), without waiting for its lock."""
        kept = self.core.memo.get("results")
        return kept if kept is not None else self.sweep.results()

    def weights_problem(self, limit: int | None = None) -> str | None:
        return self.sweep.weights_problem(limit)

    def weights(self, limit: int | None = None) -> bytes:
        return self.sweep.weights(limit)
