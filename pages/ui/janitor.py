"""The server's janitor: closes the sessions of tabs that went away, and gives their memory back.

Streamlit keeps a closed tab's session (its runs, its widgets) in storage for
``server.disconnectedSessionTTL`` so that a tab whose connection dropped can
come back to it. An expired session is removed only by the next disconnect and
is never shut down, so a server that a class has left keeps its memory for as
long as nobody else comes and goes (measured in issue #13: 965 MB, flat, for
minutes after 30 students closed their tabs). One janitor thread per server
process looks every ``settings.JANITOR_SECONDS``: a session seen disconnected
for ``settings.release_seconds()`` is closed through Streamlit's own
``Runtime.close_session`` (on the event loop, as it requires), and then the
freed memory is handed back to the system (``explorer.core.heap``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, Iterable

from streamlit import config
from streamlit.logger import get_logger
from streamlit.runtime import Runtime
from streamlit.runtime.runtime import RuntimeState

from explorer import settings
from explorer.core import heap

_LOG = get_logger(__name__)  # Streamlit's handler and level: the line shows in the server's log


class Janitor:
    """Which sessions to close: those seen disconnected, without a break, for ``release_after`` seconds."""

    def __init__(self, release_after: float) -> None:
        self.release_after = release_after
        self._gone_since: dict[str, float] = {}  # session id → when it was first seen disconnected

    def due(self, disconnected: Iterable[str], now: float) -> list[str]:
        """The sessions to close now, given those disconnected now (a session that came back is forgotten)."""
        gone = set(disconnected)
        self._gone_since = {sid: self._gone_since.get(sid, now) for sid in gone}
        due = [sid for sid, since in self._gone_since.items() if now - since >= self.release_after]
        for sid in due:
            del self._gone_since[sid]
        return due


def _disconnected(runtime: Runtime) -> list[str]:
    # Streamlit has no public list of stored sessions; its session manager's (pinned Streamlit version).
    return [info.session.id for info in runtime._session_mgr.list_sessions()
            if not runtime.is_active_session(info.session.id)]


def _sweep(runtime: Runtime, janitor: Janitor) -> int:
    """One look, on the event loop: close the sessions due; returns how many were closed."""
    due = janitor.due(_disconnected(runtime), time.monotonic())
    for sid in due:
        runtime.close_session(sid)
    return len(due)


def _loop(runtime: Runtime, janitor: Janitor, every: float, on_event_loop: Callable) -> None:
    while runtime.state not in (RuntimeState.STOPPING, RuntimeState.STOPPED):
        time.sleep(every)
        try:
            closed = on_event_loop(lambda: _sweep(runtime, janitor))
        except Exception:  # a janitor that stops would let memory grow again: log and look again next time
            _LOG.exception("the janitor's look at the sessions failed")
            continue
        if closed:
            heap.give_back()
            _LOG.info("closed %d session(s) of tabs that went away; memory given back", closed)


def start() -> bool:
    """Start the janitor of this server process (once: call it from a ``st.cache_resource``); False without a
    Streamlit server: a bare script has no Runtime, and AppTest's is a mock whose event loop never runs a job (a
    janitor there would wait 30 s on every look, for as long as the test process lives)."""
    if not Runtime.exists() or config.get_option("global.appTest"):
        return False
    runtime = Runtime.instance()
    loop = runtime._get_async_objs().eventloop  # close_session must run on Streamlit's event loop

    def on_event_loop(job: Callable[[], int]) -> int:
        async def run() -> int:
            return job()
        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    threading.Thread(target=_loop, name="explorer-janitor", daemon=True,
                     args=(runtime, Janitor(settings.release_seconds()), settings.JANITOR_SECONDS,
                           on_event_loop)).start()
    return True
