"""Turns at the server's cores, one per session per round: how live sessions share one process fairly.

Every live page trains and draws in its fragment, one Python thread per
session. Left alone, thirty such threads contend for the interpreter's lock
together with the thread that answers the websockets, which then flushes a
frame so late that the session's next run has already discarded it, and a new
visitor's page waits behind them all (measured: issue #13). A ``Turns`` lets at
most ``slots`` sessions compute at once and queues the rest: the next turn goes
to the session whose last turn began longest ago (a new one's arrival counts
as its last), so every session gets one turn per round and its turns come a
round apart, whatever its page, and the server's own thread always finds the
lock free part of the time. (First come, first served, a session whose turns
are long, such as the lab's five lanes, queued again later than the others
after each one and drew fewer frames: about 1 - 1/slots of its turn later every
round.)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator

POLL_SECONDS = 0.05  # how often a waiting session asks whether it still wants its turn


class Turns:
    """A fair gate with ``slots`` places; ``turn()`` is a context manager that waits for one.

    Urgent turns (a click's answer: a paused page drawn once) queue ahead of the
    training frames, first come first served among themselves.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a gate needs at least one slot, got {slots}")
        self.slots = slots
        self._lock = threading.Condition()
        self._queue: list[tuple[float, int, object]] = []  # (when its session's last turn began, arrival, ticket)
        self._urgent: deque[object] = deque()
        self._arrivals = itertools.count()
        self._busy = 0
        self._began: dict[Hashable, float] = {}  # who → when their last turn began
        self._last_turn: dict[Hashable, float] = {}  # who → when their last turn ended

    @contextmanager
    def turn(self, who: Hashable = None, check: Callable[[], None] | None = None,
             urgent: bool = False) -> Iterator[None]:
        """Wait for a place: the session ``who`` whose last turn began longest ago goes first (an unnamed one,
        or a session's first turn, by its arrival); the place is freed on exit.

        ``who`` also names the session for ``sessions`` (an urgent turn counts
        for no session). ``check`` is called every POLL_SECONDS while waiting:
        an exception it raises (the session's Pause arrived) leaves the queue,
        so a click never waits for a turn it no longer wants.
        """
        ticket = object()
        with self._lock:
            now = time.perf_counter()
            entry = ticket if urgent else (self._began.get(who, now) if who is not None else now,
                                           next(self._arrivals), ticket)
            line: Any = self._urgent if urgent else self._queue
            line.append(entry)
            try:
                while self._busy >= self.slots or self._next() is not ticket:
                    self._lock.wait(POLL_SECONDS if check else None)
                    if check:
                        check()
            except BaseException:
                line.remove(entry)
                self._lock.notify_all()
                raise
            line.remove(entry)
            self._busy += 1
            if not urgent and who is not None:
                self._began[who] = time.perf_counter()
            self._lock.notify_all()  # the next in line may take a free place too
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                if not urgent:
                    self._last_turn[who] = time.perf_counter()
                self._lock.notify_all()

    def _next(self) -> object:
        return self._urgent[0] if self._urgent else min(self._queue)[2]

    @property
    def waiting(self) -> int:
        """Turns queued now."""
        return len(self._queue) + len(self._urgent)

    def sessions(self, within: float) -> int:
        """Sessions that had a turn in the last ``within`` seconds, or are having one: those sharing the slots."""
        now = time.perf_counter()
        with self._lock:
            for who in [w for w, end in self._last_turn.items() if now - end > within]:
                del self._last_turn[who]  # a session that stopped (paused, closed) is forgotten
                self._began.pop(who, None)
            return max(len(self._last_turn), self._busy + len(self._queue))

    @property
    def busy(self) -> int:
        """Sessions computing now."""
        return self._busy
