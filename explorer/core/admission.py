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

CPU costs are a model; what a student sees is frames a second. With a
``floor`` the seats also watch it: every seated session's last ``window``
drawn frames give its rate, and the load the seats carried meanwhile at that
rate says what load the cores keep at ``floor`` frames a second (the measured
capacity). A newcomer is seated only while the load stays ``margin`` below it
(and within the budget: the rates only ever hold seats back, since a light
load's rate says little about a heavy one). When the rates fall well under the
floor (``slack``: the CPU model over-admitted, as with 50 students on two
cores), the newest seats, as many as the rates fall short, go back to the head
of the queue, at most once every ``settle`` seconds. Just under the floor they
stay: a seat taken back (and given again) costs a full page redraw each time,
which slows every other session too.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
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
    frames: deque = field(default_factory=deque)  # when its last training frames were drawn (seated)


@dataclass(frozen=True)
class Floor:
    """The frames a second every seated session keeps: the measured side of the seats."""

    rate: float            # frames a second
    margin: float = 1.02   # a newcomer is seated while the load stays this many times below the measured capacity
    slack: float = 0.9     # seats are taken back only when the rates fall below this share of the floor's
    window: int = 8        # a session's rate is measured over its last this many frames
    settle: float = 10.0   # seats are taken back at most this often: the rates show the change a window later
    quorum: int = 3        # sessions with a whole window (or every seat, if fewer) before the measure counts

    def __post_init__(self) -> None:
        if not (self.rate > 0 and 0 < self.slack <= 1 <= self.margin and self.window >= 2):
            raise ValueError(f"a floor needs a rate above 0, 0 < slack <= 1 <= margin and a window of 2 or more "
                             f"frames, got {self}")


class Admission:
    """Sessions seated while their frames' costs fit in ``budget`` (and, with a ``floor``, the measured capacity);
    the rest in a queue, in arrival order. A session alone is always seated, however costly. Thread-safe."""

    def __init__(self, budget: float, hold: float, timeout: float,
                 clock: Callable[[], float] = time.monotonic, floor: Floor | None = None) -> None:
        if not budget > 0:
            raise ValueError(f"an admission needs a budget above 0 s, got {budget}")
        self.budget, self.hold, self.timeout, self.floor, self._clock = budget, hold, timeout, floor, clock
        self._lock = threading.Lock()
        self._seats: dict[Hashable, _Entry] = {}
        self._queue: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._load_avg, self._load_at = 0.0, None  # the seats' load, averaged over about a window of frames
        self._taken_at = -math.inf                 # when seats were last taken back
        self._measured = (math.inf, -math.inf)     # the last capacity measured, and when

    def ask(self, who: Hashable, cost: float, remaining: float | None = None, guessed: bool = False) -> Place:
        """``who`` wants to train (asked every frame while seated, every poll while waiting): its place now.

        ``cost``: CPU seconds its frame takes; ``remaining``: seconds its run still needs, if known (a
        better wait estimate for those behind it). ``guessed``: the cost is an upper bound, not measured (a kind
        of page that has not trained here yet): the session is seated if the seats have room at all, so the
        budget is overrun by at most that one guess, instead of waiting for a cost its frames will not reach.
        """
        with self._lock:
            now = self._clock()
            self._track_load(now)
            self._forget_silent(now)
            entry = self._seats.get(who) or self._queue.get(who)
            if entry is None:
                entry = self._queue[who] = _Entry(seen=now, since=now)
            entry.seen, entry.cost, entry.remaining, entry.guessed = now, cost, remaining, guessed
            if who in self._seats and self._queue and now - entry.since >= self.hold:
                del self._seats[who]  # its time is up while others wait: to the back of the queue
                self._queue[who] = _Entry(seen=now, cost=cost, since=now, remaining=remaining, rotated=True,
                                          guessed=guessed)
            self._take_back(now, self._measure(now))
            self._fill(now)
            if who in self._seats:
                return Place(seated=True)
            ahead = list(self._queue).index(who)
            return Place(False, ahead, self._wait(ahead, now), self._queue[who].rotated)

    def drew(self, who: Hashable) -> None:
        """A seated ``who`` drew a training frame (what its rate counts: a frame that a click cut short before
        it was drawn is not one its student saw)."""
        with self._lock:
            entry = self._seats.get(who)
            if entry is not None and self.floor is not None:
                entry.frames.append(self._clock())
                if len(entry.frames) > self.floor.window:
                    entry.frames.popleft()

    def leave(self, who: Hashable) -> None:
        """``who`` stopped training (paused, finished, forgotten): its seat or place goes to the next."""
        with self._lock:
            now = self._clock()
            self._track_load(now)
            self._seats.pop(who, None)
            self._queue.pop(who, None)
            self._fill(now)

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

    def _capacity(self, now: float) -> float | None:
        """The load the seats would carry at the floor's rate, as last measured (``_measure``, at every ask). It
        stands for two settles while there is no new measure (seats just taken back or given: too few whole
        windows), then the CPU budget alone seats again."""
        capacity, when = self._measured
        return capacity if self.floor is not None and now - when <= 2 * self.floor.settle else None

    def _measure(self, now: float) -> float | None:
        """The seated sessions' frames a second, a tenth of them slower, and with it the capacity: the load the
        seats carried lately times that rate over the floor's. None before half of the seats (and the floor's
        quorum, or every seat if fewer) have a whole window of frames (a class just arrived is not at its pace)."""
        if self.floor is None:
            return None
        rates = sorted(_rate(e.frames, now) for e in self._seats.values() if len(e.frames) >= self.floor.window)
        if not rates or len(rates) < max(min(self.floor.quorum, len(self._seats)), len(self._seats) / 2):
            return None
        low = rates[len(rates) // 10]
        self._measured = (self._load_avg * low / self.floor.rate, now)
        return low

    def _track_load(self, now: float) -> None:
        """Average the seats' load (as it stood since the last change) over about half a window of frames."""
        if self.floor is None:
            return
        if self._load_at is None:
            self._load_avg = self.load
        else:
            weight = 1.0 - math.exp(-(now - self._load_at) * 2 * self.floor.rate / self.floor.window)
            self._load_avg += weight * (self.load - self._load_avg)
        self._load_at = now

    def _take_back(self, now: float, low: float | None) -> None:
        """Below the floor (``low``: the rate measured now), the newest seats go back to the head of the queue:
        as many as the rates fall short (a tenth below the floor, a tenth of the seats), at least one, never the
        last."""
        if (low is None or low >= self.floor.slack * self.floor.rate or len(self._seats) < 2
                or now - self._taken_at < self.floor.settle):
            return
        self._taken_at = now
        newest = sorted(self._seats, key=lambda w: self._seats[w].since, reverse=True)
        for who in newest[:min(len(newest) - 1, math.ceil(len(newest) * (1 - low / self.floor.rate)))]:
            entry = self._seats.pop(who)
            entry.since = now
            entry.frames.clear()
            self._queue[who] = entry
            self._queue.move_to_end(who, last=False)

    def _forget_silent(self, now: float) -> None:
        for line in (self._seats, self._queue):
            for who in [w for w, e in line.items() if now - e.seen > self.timeout]:
                del line[who]

    def _fill(self, now: float) -> None:
        capacity = self._capacity(now)
        limit = self.budget if capacity is None else min(self.budget, capacity / self.floor.margin)
        while self._queue and (not self._seats or self._fits(next(iter(self._queue.values())), limit)):
            who, entry = self._queue.popitem(last=False)
            entry.since = now
            entry.frames.clear()
            self._seats[who] = entry

    def _fits(self, entry: _Entry, limit: float) -> bool:
        return self.load + (0.0 if entry.guessed else entry.cost) <= limit

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


def _rate(frames: deque, now: float) -> float:
    """Frames a second over a window of frame times; a frame overdue now counts as if it came now."""
    first, last = frames[0], frames[-1]
    if last <= first:
        return math.inf
    return min((len(frames) - 1) / (last - first), len(frames) / max(now - first, last - first))
