"""Seats for training sessions: beyond what the cores can keep live, a Train press waits in a visible queue.

Turns (``explorer.core.turns``) share the cores fairly among the sessions that
train, but past a point every one of them crawls: thirty sessions on two cores
each got a screen update every two seconds or so (issue #13). A training
session needs a frame a second: its drawing (measured in CPU time, and very
different between a Playground and six lab lanes) plus a minimal slice of
training. An ``Admission`` seats sessions while their frames fit in ``budget``
CPU seconds a second (``settings.training_budget()``, from the cores);
a Train press beyond that waits its turn, first come, first served, told how
many runs are ahead of it and about how long, and starts by itself when a seat
frees. A heavy page takes more of the budget, so no student takes more than a
fair share whatever the page. While others wait, a seat is held for at most
``hold`` seconds, then its session goes to the back of the queue, so a long run
cannot keep a class waiting. A session that stops asking (its tab closed) loses
its place after ``timeout`` seconds.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable


@dataclass(frozen=True)
class Place:
    """A session's answer: seated (it trains now), or how many runs wait before it and about how long."""

    seated: bool
    ahead: int = 0        # sessions before this one in the queue
    wait_s: float = 0.0   # about how long until it has a seat
    rotated: bool = False  # it had a seat and gave it up for those waiting


@dataclass
class _Entry:
    seen: float                     # when the session last asked
    cost: float = 0.0               # CPU seconds its frame takes (one frame a second)
    since: float = 0.0              # when it took its seat (seated) or joined the queue (waiting)
    remaining: float | None = None  # seconds its run still needed when it last asked, if known
    rotated: bool = False
    guessed: bool = False           # its cost is an upper bound, not yet measured


class Admission:
    """Sessions seated while their frames' costs fit in ``budget``; the rest in a queue, in arrival order. A
    session alone is always seated, however costly. Thread-safe."""

    def __init__(self, budget: float, hold: float, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not budget > 0:
            raise ValueError(f"an admission needs a budget above 0 s, got {budget}")
        self.budget, self.hold, self.timeout, self._clock = budget, hold, timeout, clock
        self._lock = threading.Lock()
        self._seats: dict[Hashable, _Entry] = {}
        self._queue: OrderedDict[Hashable, _Entry] = OrderedDict()

    def ask(self, who: Hashable, cost: float, remaining: float | None = None, guessed: bool = False) -> Place:
        """``who`` wants to train (asked every frame while seated, every poll while waiting): its place now.

        ``cost``: CPU seconds its frame takes; ``remaining``: seconds its run still needs, if known (a
        better wait estimate for those behind it). ``guessed``: the cost is an upper bound, not measured (a kind
        of page that has not trained here yet): the session is seated if the seats have room at all, so the
        budget is overrun by at most that one guess, instead of waiting for a cost its frames will not reach.
        """
        with self._lock:
            now = self._clock()
            self._forget_silent(now)
            entry = self._seats.get(who) or self._queue.get(who)
            if entry is None:
                entry = self._queue[who] = _Entry(seen=now, since=now)
            entry.seen, entry.cost, entry.remaining, entry.guessed = now, cost, remaining, guessed
            if who in self._seats and self._queue and now - entry.since >= self.hold:
                del self._seats[who]  # its time is up while others wait: to the back of the queue
                self._queue[who] = _Entry(seen=now, cost=cost, since=now, remaining=remaining, rotated=True,
                                          guessed=guessed)
            self._fill(now)
            if who in self._seats:
                return Place(seated=True)
            ahead = list(self._queue).index(who)
            return Place(False, ahead, self._wait(ahead, now), self._queue[who].rotated)

    def leave(self, who: Hashable) -> None:
        """``who`` stopped training (paused, finished, forgotten): its seat or place goes to the next."""
        with self._lock:
            self._seats.pop(who, None)
            self._queue.pop(who, None)
            self._fill(self._clock())

    @property
    def seated(self) -> int:
        return len(self._seats)

    @property
    def load(self) -> float:
        """CPU seconds a second that the seated sessions' frames take, one frame a second each."""
        return sum(e.cost for e in self._seats.values())

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _forget_silent(self, now: float) -> None:
        for line in (self._seats, self._queue):
            for who in [w for w, e in line.items() if now - e.seen > self.timeout]:
                del line[who]

    def _fill(self, now: float) -> None:
        while self._queue and (not self._seats or self._fits(next(iter(self._queue.values())))):
            who, entry = self._queue.popitem(last=False)
            entry.since = now
            self._seats[who] = entry

    def _fits(self, entry: _Entry) -> bool:
        return self.load + (0.0 if entry.guessed else entry.cost) <= self.budget

    def _held_for(self, entry: _Entry) -> float:
        """How long a waiting session will keep the seat it takes, while others wait."""
        return self.hold if entry.remaining is None else min(self.hold, entry.remaining)

    def _wait(self, ahead: int, now: float) -> float:
        """Seconds until the queue's ``ahead``-th session is seated: seats free as their holds (or runs) end, and
        each session before it holds the seat it takes for its own hold (as many seats as are taken now)."""
        free = [max(0.0, min(s.since + self.hold, s.seen + (s.remaining if s.remaining is not None else self.hold))
                     - now) for s in self._seats.values()] or [0.0]
        heapq.heapify(free)
        for entry in list(self._queue.values())[:ahead]:
            heapq.heappush(free, heapq.heappop(free) + self._held_for(entry))
        return free[0]
