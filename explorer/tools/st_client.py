"""One browser tab of the app without the browser: Streamlit's websocket protocol, spoken as its front end does.

Why a protocol client: a load test of a live page must put on the server what
a student's tab puts on it (script runs, fragment reruns on the page's timer,
the frames they send back), and 30 headless browsers would load the 2-core
test machine far more than the server under test. What the tab does, read from
Streamlit 1.67's own front end (``static/js/index.*.js``) and server
(``web/server/starlette/starlette_websocket.py``):

* handshake: a websocket to ``/_stcore/stream`` with the subprotocols
  ``["streamlit", <xsrf token or "PLACEHOLDER_AUTH_TOKEN">]``; the server
  echoes ``streamlit``. The tab then sends a ``rerun_script`` BackMsg with the
  page's name taken from the URL path (no page hash yet) and the query string;
  later runs name the page by the hash that ``new_session``, then
  ``navigation`` (st.navigation's page that ran), reported and carry the
  query string the server last set (``page_info_changed``).
* a click on a button: a ``rerun_script`` whose widget states hold the
  button's id with ``trigger_value`` true (a button outside a fragment: no
  ``fragment_id``, so a full run). The ids come from the ``button`` elements
  in the deltas.
* ``st.fragment(run_every=...)``: the server sends ``auto_rerun`` (interval,
  fragment id) when the fragment is defined; the tab keeps one
  ``setInterval`` per fragment (a second ``auto_rerun`` with the same interval
  keeps the running timer) that sends ``rerun_script`` with that
  ``fragment_id`` and ``is_auto_rerun`` every interval, whether or not the
  previous run has finished: the server coalesces queued auto-reruns, so a
  slow frame delays the next rather than piling them up. A full run's
  ``new_session`` (no fragment ids in its metadata) and ``stop_auto_rerun``
  clear the timers, so Pause (a full run that defines the fragment without
  ``run_every``) stops them.
* the message cache: large ``new_element`` deltas are marked cacheable; the
  tab keeps them by hash, lists the hashes in every rerun request and the
  server then sends a short ``ref_hash`` message instead of the element.
  Entries age by finished runs and expire after ``max_cached_message_age``
  (a fragment run ages only its own fragment's entries), as in the front end.

An update is a fragment run that finished (``FINISHED_FRAGMENT_RUN_SUCCESSFULLY``).
When runs follow each other back to back, the server may start the next before
the last one's messages were sent; it then drops that frame's unsent deltas and
reports its finish as ``FINISHED_EARLY_FOR_RERUN``: counted apart, as superseded.

Not replicated: rendering, and the values of the page's other widgets (a tab
sends every widget's current value with each rerun, 18 on the Playground; this
client sends only a pressed button's trigger, and the server keeps the other
widgets' values from the previous run, which is what an untouched widget holds
anyway). A browser's timer ticks also wait while its main thread renders a
frame, so a browser short of CPU asks for fewer frames than the page's
interval; this client asks on time, as a browser on its own computer would.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.tools.page_tree import BadDeltaPath, PageTree

SUBPROTOCOLS = ["streamlit", "PLACEHOLDER_AUTH_TOKEN"]  # the front end's when it has no XSRF cookie
FINISHED = ForwardMsg.ScriptFinishedStatus
# The live pages' status caption (pages/ui/controls.status, pages/lab.py): "Epoch 3 of 500 · step 42 · training ..."
STATUS = re.compile(r"Epoch (\d+) of (\d+) · step (\d+)\b.*?· (training|paused|finished|waiting for a seat)")
# The Sweeps page's progress bar: "30 models (3 seeds per point) · 40% of their steps · 12 s · training"
SWEEP_STATUS = re.compile(r"(\d+)% of their steps · \d+ s · (training|paused|finished|waiting for a seat)")
WAITING = "waiting for a seat"  # the status of a Train press queued for a seat (pages.ui.controls)
UPDATES = re.compile(r"([\d.]+) updates/s")


class SessionClosed(ConnectionError):
    """The server closed the websocket (or it was never opened) while something was awaited."""


def stream_url(base_url: str) -> str:
    """The websocket address of an app served at ``base_url`` (http → ws, https → wss)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/_stcore/stream"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def rerun_message(*, page_script_hash: str = "", page_name: str = "", query_string: str = "",
                  trigger: str | None = None, fragment_id: str = "", is_auto_rerun: bool = False,
                  cached_hashes: list[str] | tuple[str, ...] = (), url: str = "") -> BackMsg:
    """The ``rerun_script`` BackMsg the front end sends: a page named by hash (or by its URL path before the
    first ``new_session``), the query string, a pressed button's trigger, the fragment a timer reruns."""
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query_string
    state.page_script_hash = page_script_hash
    state.page_name = "" if page_script_hash else page_name
    state.fragment_id = fragment_id
    state.is_auto_rerun = is_auto_rerun
    state.cached_message_hashes.extend(cached_hashes)
    state.widget_states.SetInParent()
    if trigger is not None:
        widget = state.widget_states.widgets.add()
        widget.id = trigger
        widget.trigger_value = True
    state.context_info.timezone = "UTC"
    state.context_info.timezone_offset = 0
    state.context_info.locale = "en-US"
    state.context_info.url = url
    return msg


@dataclass
class Status:
    """A live page's status caption, parsed."""

    epoch: int
    epochs: int
    step: int
    state: str
    updates_per_s: float | None  # the page's own figure (over its last 20 frames), while training

    @classmethod
    def parse(cls, text: str) -> Status | None:
        """A live page's status caption, or the Sweeps page's progress (its percent as epoch and step, of 100)."""
        match = STATUS.search(text)
        if match is None:
            sweep = SWEEP_STATUS.search(text)
            return None if sweep is None else cls(int(sweep[1]), 100, int(sweep[1]), sweep[2], None)
        updates = UPDATES.search(text)
        return cls(int(match[1]), int(match[2]), int(match[3]), match[4], float(updates[1]) if updates else None)


class MessageCache:
    """The front end's ForwardMsg cache: cacheable elements by hash, aged by finished runs."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[ForwardMsg, int, str]] = {}  # hash → (message, run count at last use, fragment)
        self._runs = 0
        self.misses = 0

    def hashes(self) -> list[str]:
        return list(self._entries)

    def resolve(self, msg: ForwardMsg) -> ForwardMsg | None:
        """Store a cacheable message; turn a ``ref_hash`` into the message it names (None: not held)."""
        if msg.WhichOneof("type") == "ref_hash":
            entry = self._entries.get(msg.ref_hash)
            if entry is None:
                self.misses += 1
                return None
            self._entries[msg.ref_hash] = (entry[0], self._runs, entry[2])
            full = ForwardMsg()
            full.CopyFrom(entry[0])
            full.metadata.CopyFrom(msg.metadata)
            return full
        if msg.metadata.cacheable and msg.hash:
            old = self._entries.get(msg.hash)
            self._entries[msg.hash] = (old[0] if old else msg, self._runs, msg.delta.fragment_id)
        return msg

    def run_finished(self, max_age: int, fragment_ids: list[str]) -> None:
        """Age the entries after a run; a fragment run only expires its own fragments' entries."""
        self._runs += 1
        for key, (_, last, fragment) in list(self._entries.items()):
            if fragment_ids and fragment not in fragment_ids:
                continue
            if self._runs - last > max_age:
                del self._entries[key]


@dataclass
class Button:
    id: str
    disabled: bool


@dataclass
class Run:
    """One script run as the client saw it."""

    started: float
    fragment: bool
    finished: float | None = None
    status: int | None = None
    timer_set: bool = False  # an auto_rerun arrived during it
    charts: int = 0  # live charts (custom components) drawn by it


@dataclass
class Session:
    """One tab on one page: ``await open()``, ``press("Train")``, ``wait_paused(...)``, ``close()``.

    ``path`` is the page's URL path (``playground``; empty for the home page),
    ``query`` its query string without ``?``.
    """

    base_url: str
    path: str = ""
    query: str = ""
    clock: Callable[[], float] = time.monotonic
    page_script_hash: str = ""
    buttons: dict[str, Button] = field(default_factory=dict)
    status: Status | None = None
    errors: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    # Times of fragment runs that drew the page's live charts and finished successfully (a waiting tab's
    # queue line, a fragment without charts, is not a screen update).
    fragment_finishes: list[float] = field(default_factory=list)
    states: list[tuple[float, str]] = field(default_factory=list)  # (time, status state) at each change of state
    # Fragment runs reported as FINISHED_EARLY_FOR_RERUN: the server computed the frame, but the next run started
    # before the frame's messages went out, so it dropped the unsent ones (ForwardMsgQueue.clear).
    fragment_superseded: list[float] = field(default_factory=list)
    # Fragment runs whose live charts reached the tab, however they finished: what a student saw change.
    fragment_frames: list[float] = field(default_factory=list)
    bytes_received: int = 0
    timers: dict[str, tuple[float, asyncio.Task]] = field(default_factory=dict)
    cache: MessageCache = field(default_factory=MessageCache)
    tree: PageTree = field(default_factory=PageTree)  # the elements as the browser holds them
    blank: str | None = None  # why the browser would have thrown the page away, if it would
    closed: bool = False

    def __post_init__(self) -> None:
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._max_age = 2
        self._new_session_since_rerun = False
        self._run_id = ""  # the script run the deltas belong to (the last new_session's)

    # --- connection ---------------------------------------------------------------

    async def open(self, timeout: float = 60.0) -> float:
        """Connect and request the page as a tab does on load; returns the seconds until that page was fully sent
        (its first full run finished successfully)."""
        start = self.clock()
        try:
            self._ws = await asyncio.wait_for(
                websockets.connect(stream_url(self.base_url), subprotocols=SUBPROTOCOLS, max_size=None,
                                   open_timeout=None, ping_interval=None), timeout)
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as err:
            self.closed = True
            raise SessionClosed(f"cannot open {stream_url(self.base_url)}: {err}") from err
        self._reader = asyncio.create_task(self._read(), name=f"read {self.path or 'home'}")
        await self._rerun()
        await self.wait(lambda: any(r.status == FINISHED.FINISHED_SUCCESSFULLY for r in self.runs),
                        timeout - (self.clock() - start))
        return self.clock() - start

    async def close(self) -> None:
        """Close the tab: timers stop, the websocket closes."""
        self._clear_timers()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.closed = True

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                self.handle(data)
        except websockets.ConnectionClosed:
            pass
        except Exception as err:  # a message this client cannot read: the session ends, and says why
            self.errors.append(f"client: {type(err).__name__}: {err}")
        finally:
            self.closed = True
            self._clear_timers()
            self._changed.set()

    async def _send(self, msg: BackMsg) -> None:
        if self.closed or self._ws is None:
            raise SessionClosed("the session is closed")
        try:
            await self._ws.send(msg.SerializeToString())
        except websockets.ConnectionClosed as err:
            raise SessionClosed(str(err)) from err

    async def _rerun(self, trigger: str | None = None, fragment_id: str = "", is_auto_rerun: bool = False) -> None:
        self._new_session_since_rerun = False
        await self._send(rerun_message(
            page_script_hash=self.page_script_hash, page_name=self.path, query_string=self.query,
            trigger=trigger, fragment_id=fragment_id, is_auto_rerun=is_auto_rerun,
            cached_hashes=self.cache.hashes(), url=f"{self.base_url.rstrip('/')}/{self.path}"))

    # --- what a person does --------------------------------------------------------

    async def press(self, label: str) -> float:
        """Click the enabled button labelled ``label``; returns the time the click was sent."""
        button = self.buttons.get(label)
        if button is None or button.disabled:
            raise LookupError(f"no enabled {label!r} button on {self.path or 'home'} ({self.describe()})")
        sent = self.clock()
        await self._rerun(trigger=button.id)
        return sent

    async def wait(self, done: Callable[[], bool], timeout: float) -> None:
        """Until ``done()`` holds after some message; SessionClosed if the server closes first."""
        deadline = self.clock() + timeout
        while not done():
            if self.closed:
                raise SessionClosed(f"{self.path or 'home'}: the server closed the session")
            left = deadline - self.clock()
            if left <= 0:
                raise asyncio.TimeoutError(f"{self.path or 'home'}: not done within {timeout:.0f} s ({self.describe()})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def paused_at(self, since: float) -> float | None:
        """When the page stopped rerunning itself after ``since`` (Pause sent): the last full run since then had
        ended and left no fragment timer. A full run's ``new_session`` clears the timers and a run that keeps
        training sets one again. The server does not always report a run's end (a request that reaches a
        ScriptRunner as it shuts down gets a new one, and the old one's last events are dropped), so the start of
        the next run also ends it."""
        if self.timers:
            return None
        full = [i for i, run in enumerate(self.runs) if run.started >= since and not run.fragment]
        if not full:
            return None
        run = self.runs[full[-1]]
        if run.finished is not None:
            return run.finished
        return self.runs[full[-1] + 1].started if full[-1] + 1 < len(self.runs) else None

    def seconds_in(self, state: str, start: float, end: float) -> float:
        """Seconds of [start, end] during which the status line read ``state``."""
        marks = [*self.states, (end, "")]
        return sum(max(0.0, min(t1, end) - max(t0, start))
                   for (t0, s), (t1, _) in zip(marks, marks[1:]) if s == state)

    def describe(self) -> str:
        """The state in a line, for a timeout's message: status, timers, buttons, the last runs."""
        now = self.clock()
        runs = ", ".join(f"{'fragment' if r.fragment else 'full'} {now - r.started:.1f} s ago "
                         f"{'running' if r.finished is None else FINISHED.Name(r.status)}" for r in self.runs[-5:])
        state = self.status.state if self.status else "no status"
        errors = f", page error: {self.errors[0][:200]}" if self.errors else ""
        return f"{state}, {len(self.timers)} timer(s), buttons {sorted(self.buttons)}, last runs: {runs}{errors}"

    async def wait_paused(self, since: float, timeout: float = 60.0) -> float:
        """Seconds from ``since`` (Pause sent) until the run it caused had ended with no fragment timer left."""
        await self.wait(lambda: self.paused_at(since) is not None, timeout)
        return self.paused_at(since) - since

    # --- messages ---------------------------------------------------------------

    def handle(self, data: bytes) -> None:
        """Apply one ForwardMsg from the server, as the front end would."""
        self.bytes_received += len(data)
        msg = ForwardMsg()
        msg.ParseFromString(data)
        msg = self.cache.resolve(msg)
        if msg is None:
            return
        kind = msg.WhichOneof("type")
        now = self.clock()
        if kind == "new_session":
            self._new_session_since_rerun = True
            self._run_id = msg.metadata.run.script_run_id
            fragment = bool(msg.metadata.run.fragment_ids)
            if msg.new_session.HasField("config"):
                self._max_age = msg.new_session.config.max_cached_message_age
            if msg.new_session.page_script_hash:
                self.page_script_hash = msg.new_session.page_script_hash
            if not fragment:
                self._clear_timers()  # the front end's cleanupAutoReruns
                self.buttons = {}
            self.runs.append(Run(started=now, fragment=fragment))
            self._changed.set()
        elif kind == "delta":
            self._delta(msg)
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_script_hash = msg.navigation.page_script_hash  # st.navigation names the page that runs
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            if self.runs:
                self.runs[-1].timer_set = True
            self._set_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self._clear_timer(fragment_id)
        elif kind == "script_finished":
            self._finished(msg, now)

    def _delta(self, msg: ForwardMsg) -> None:
        if self.blank is None:
            try:
                self.tree.apply(self._run_id, msg)
            except BadDeltaPath as err:  # the front end throws, React unmounts the app: reported as a page error
                self.blank = str(err)
                self.errors.append(f"the tab would go blank: the browser rejects a delta ({err})")
        if msg.delta.WhichOneof("type") != "new_element":
            return
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "button":
            self.buttons[element.button.label] = Button(element.button.id, element.button.disabled)
        elif kind in ("markdown", "progress"):
            status = Status.parse(element.markdown.body if kind == "markdown" else element.progress.text)
            if status is not None:
                if not self.states or self.states[-1][1] != status.state:
                    self.states.append((self.clock(), status.state))
                self.status = status
        elif kind == "exception":
            self.errors.append(f"{element.exception.type}: {element.exception.message}")
        elif kind == "component_instance" and self.runs and self.runs[-1].finished is None:
            self.runs[-1].charts += 1

    def _finished(self, msg: ForwardMsg, now: float) -> None:
        status = msg.script_finished
        run = self.runs[-1] if self.runs and self.runs[-1].finished is None else None
        if run is not None:
            run.finished, run.status = now, status
            if run.fragment and run.charts:
                self.fragment_frames.append(now)
        if status in (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
            self.tree.finished(self._run_id, list(msg.metadata.run.fragment_ids)
                               if status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY else [])
        if status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and (run is None or run.charts):
            self.fragment_finishes.append(now)
        elif status == FINISHED.FINISHED_EARLY_FOR_RERUN and msg.metadata.run.fragment_ids:
            self.fragment_superseded.append(now)
        elif status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
            self.errors.append("the script failed to compile")
        if status != FINISHED.FINISHED_EARLY_FOR_RERUN and self._new_session_since_rerun:
            self.cache.run_finished(self._max_age, list(msg.metadata.run.fragment_ids))
        self._changed.set()

    # --- fragment timers (the front end's handleAutoRerun) ---------------------------

    def _set_timer(self, fragment_id: str, interval: float) -> None:
        if not fragment_id or interval <= 0:
            return
        current = self.timers.get(fragment_id)
        if current is not None and current[0] == interval:
            return  # the same timer keeps running
        self._clear_timer(fragment_id)
        task = asyncio.get_running_loop().create_task(self._tick(fragment_id, interval), name=f"timer {fragment_id}")
        self.timers[fragment_id] = (interval, task)

    def _clear_timer(self, fragment_id: str) -> None:
        entry = self.timers.pop(fragment_id, None)
        if entry is not None:
            entry[1].cancel()

    def _clear_timers(self) -> None:
        for fragment_id in list(self.timers):
            self._clear_timer(fragment_id)

    async def _tick(self, fragment_id: str, interval: float) -> None:
        """setInterval: a rerun of the fragment every ``interval`` s, whatever the previous run is doing."""
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        try:
            while True:
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._rerun(fragment_id=fragment_id, is_auto_rerun=True)
                due = max(due + interval, loop.time())
        except SessionClosed:
            pass
