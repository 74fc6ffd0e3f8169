"""Identical runs trained once: a class on one lesson shares one run.

A lesson's link gives thirty students the same settings and seed, so their
runs would be the same numbers computed thirty times, each at a thirtieth of
the server. Instead, a run that starts training untouched joins the run of the
same settings that other tabs are training now (``Classroom.join``): every
tab's training slice advances that one run, and each draws it its own way (its
layer, its digit, its pins). Before that, tabs opened on the same settings show
one untrained run (``Classroom.fresh``), built, drawn and analysed once.
Whatever would make one tab's run differ (Pause, Step, a slider, loaded
weights, a forgotten tab) first gives that tab a copy of its own
(``Core.copy``), so no one changes another's run, and the copy goes on with
the same numbers the shared run would have had.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, TypeVar

from explorer import settings

F = TypeVar("F", bound=Callable[..., Any])


def locked(method: F) -> F:
    """Run under the instance's lock.

    Streamlit starts a new script run on a widget change without waiting for
    the previous one, which may still be inside a training slice: two threads
    would then step the same network at once.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        while True:
            lock = self.lock
            with lock:
                if lock is self.lock:  # not taken from a shared run (``Shareable.own``) while this thread waited
                    return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(eq=False)
class Core:
    """What tabs training the same run share: its networks, how to replay it, the lock that keeps one step or one
    frame on them at a time, and who trained it lately."""

    run: Any  # a training.Trainer, or what trains like one (a BoundedRun, a Sweep: with ``data``, ``step``, ``done``)
    twin: Any  # the run's no-dropout twin, or None
    record: Any  # how to replay the run (an export.RunRecord, ...): what changed at which step
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        # What the tabs' views derive from the run and may share (an analysis of its current step, by name); a
        # copy starts without.
        self.memo: dict[str, Any] = {}
        self.fresh = False  # an untrained run that tabs opened on one link show (``Classroom.fresh``)
        self._holders: weakref.WeakSet = weakref.WeakSet()  # the tabs' views of it (a closed tab's goes with it)
        self._trained_by: dict[int, float] = {}  # a view's id → time.monotonic() of its last training slice
        self._guard = threading.Lock()  # tabs' script threads join, leave and train it at once

    def hold(self, tab: object) -> None:
        with self._guard:
            self._holders.add(tab)

    def release(self, tab: object) -> None:
        with self._guard:
            self._holders.discard(tab)
            self._trained_by.pop(id(tab), None)

    def held(self) -> bool:
        with self._guard:
            return len(self._holders) > 0

    def joinable(self) -> bool:
        """Unfinished, held by a tab that pressed Train and did not pause, and just started or trained lately
        (not the run of a tab closed while it trained)."""
        return not self.run.done and self.held() and (self.run.step == 0 or bool(self.training()))

    def shared(self, tab: object) -> bool:
        """Whether tabs other than ``tab`` hold it (training, or waiting for a seat to)."""
        with self._guard:
            return any(holder is not tab for holder in self._holders)

    def trained(self, tab: object) -> None:
        with self._guard:
            self._trained_by[id(tab)] = time.monotonic()

    def training(self) -> set[int]:
        """The tabs holding it that trained it in the last settings.ACTIVE_SECONDS (the ids of their views)."""
        now, within = time.monotonic(), settings.ACTIVE_SECONDS
        with self._guard:
            for tab in [t for t, at in self._trained_by.items() if now - at > within]:
                del self._trained_by[tab]
            return {id(holder) for holder in self._holders} & set(self._trained_by)

    def copy(self) -> Core:
        """A private copy as it is now: networks, optimisers, generators and history (the data is shared
        read-only, not copied), so it trains on to the very numbers this one would."""
        with self.lock:
            data = self.run.data
            run, twin, record = copy.deepcopy((self.run, self.twin, self.record), {id(data): data})
        return Core(run, twin, record)


class Classroom:
    """The runs that tabs of one server process may share, by their settings: untrained ones that tabs show
    (``fresh``) and those that tabs train (``join``)."""

    def __init__(self) -> None:
        self._fresh: dict[Hashable, weakref.ref[Core]] = {}
        self._training: dict[Hashable, weakref.ref[Core]] = {}
        self._lock = threading.Lock()

    def fresh(self, key: Hashable, core: Core) -> Core:
        """The untrained run of these settings that other tabs show (opened on their link, not trained), if any;
        else ``core``, which later tabs then show. Identical until trained, it is built, drawn and analysed once
        for all of them; a tab that trains it alone first takes a copy (``Shareable.leave_fresh``)."""
        with self._lock:
            other = _alive(self._fresh, key)
            if other is not None and other.fresh:
                return other
            core.fresh = True
            self._fresh[key] = weakref.ref(core)
            return core

    def training(self, key: Hashable) -> Core | None:
        """The run of these settings that other tabs train (``Core.joinable``), if any."""
        with self._lock:
            other = _alive(self._training, key)
            return other if other is not None and other.joinable() else None

    def join(self, key: Hashable, core: Core) -> Core:
        """The run of these settings that other tabs train (``Core.joinable``), if any; else ``core``, which
        later tabs then join."""
        with self._lock:
            other = _alive(self._training, key)
            if other is not None and other is not core and other.joinable():
                return other
            self._training[key] = weakref.ref(core)
            return core

    def close(self, core: Core) -> None:
        """No more tabs show or join ``core`` (its one tab trains it alone, or paused it: a paused run stays as it
        was)."""
        with self._lock:
            core.fresh = False
            for registry in (self._fresh, self._training):
                for key in [k for k, ref in registry.items() if ref() is core]:
                    del registry[key]

    def clear(self) -> None:
        with self._lock:
            self._fresh.clear()
            self._training.clear()


def _alive(registry: dict[Hashable, weakref.ref[Core]], key: Hashable) -> Core | None:
    """The run ``registry`` holds under ``key`` if it still exists (the registry forgets those that do not)."""
    for dead in [k for k, ref in registry.items() if ref() is None]:
        del registry[dead]
    ref = registry.get(key)
    return ref() if ref is not None else None


CLASSROOM = Classroom()  # one per server process


class Shareable:
    """A live page's state whose run tabs on the same settings may share: it holds the run through ``core`` (the
    run, its twin, its record and their lock) and is one tab's view of it. A state opts in with ``share_key``;
    the live controls call ``share`` on Train and ``own`` before any change."""

    core: Core

    @property
    def lock(self) -> threading.RLock:
        return self.core.lock

    def share_key(self) -> Hashable | None:
        """What a run that others may join is known by (its kind and settings), or None: never shared. Only runs
        whose data the settings make (not an uploaded file's) and whose frames read nothing but the networks and
        the tab's own choices can be shared."""
        return None

    def changed(self) -> bool:
        """Whether a setting changed in place or weights were loaded (the record says)."""
        raise NotImplementedError

    @locked
    def advance(self, max_seconds: float | None = None, max_steps: int | None = None) -> int:
        """Train a bounded slice (``train_slice``) of the run, which counts this tab among those training it
        (``sharers``, ``Core.joinable``); the steps taken."""
        self.leave_fresh()
        self.core.trained(self)
        return self.train_slice(max_seconds, max_steps)

    def train_slice(self, max_seconds: float | None, max_steps: int | None) -> int:
        """The state's own training: a bounded slice of its networks, under the lock."""
        raise NotImplementedError

    def _untouched_key(self) -> Hashable | None:
        """``share_key`` while the run is untouched (not stepped, nothing changed or loaded), else None: only
        such a run is shown to or trained with other tabs."""
        key = self.share_key()
        return key if key is not None and self.core.run.step == 0 and not self.changed() else None

    def show(self) -> None:
        """A new run (opened from a link, or reset): show the untrained run of these settings that other tabs
        show, if there is one, else let them show this one."""
        if (key := self._untouched_key()) is not None:
            self.hold(CLASSROOM.fresh(key, self.core))

    def share(self) -> None:
        """Train from now on the run of these settings that other tabs train, if there is one, else let them
        join this one: only an untouched run (Train pressed on a fresh one) is shared."""
        if (key := self._untouched_key()) is None:
            return
        core = CLASSROOM.training(key)
        if core is None:  # the first to train: the run it showed stays untrained for the tabs that show it
            self.leave_fresh()
            core = CLASSROOM.join(key, self.core)
        self.hold(core)

    def leave_fresh(self) -> None:
        """Before this tab trains: an untrained run that tabs only show becomes its own (a copy, if others
        show it)."""
        if self.core.fresh:
            self.own()

    @property
    def sharers(self) -> int:
        """How many other tabs train this run now."""
        return len(self.core.training() - {id(self)})

    def own(self) -> None:
        """Make the run this tab's own before it changes it (Pause, Step, a new rate, loaded weights): a copy of
        the shared one as it is now, which goes on as it would have; a run no one else trains is closed to others
        (until its next untouched Train: never, once trained)."""
        if self.core.shared(self):
            self.hold(self.core.copy())
        else:
            CLASSROOM.close(self.core)

    def hold(self, core: Core) -> None:
        """View ``core`` from now on (at first, the run this state made)."""
        old = getattr(self, "core", None)
        if core is not old:
            if old is not None:
                old.release(self)
            core.hold(self)
            self.core = core


class Private:
    """A live page's state whose run is never shared (the L2 part's regression, trained in about a second): what
    the live controls call on a ``Shareable`` does nothing here."""

    sharers = 0

    def share(self) -> None:
        """Nothing to join: the run stays this tab's."""

    def own(self) -> None:
        """The run is this tab's already."""

    def show(self) -> None:
        """Nothing to show with other tabs."""
