"""A fix of Streamlit 1.67: a fragment's rerun drops that fragment's unsent cached-chart references too.

When a fragment reruns before the server has sent the last run's messages,
``ForwardMsgQueue.clear`` drops the fragment's unsent elements (the rerun draws
them anew) but keeps any that were sent as a *reference* to a message the
browser has cached (``ref_hash``: an element of 10 kB or more identical to one
sent before, such as a live chart whose figure has not changed). A reference
carries no fragment id, so the queue takes it for an element outside the
fragment. The browser then gets, say, the fragment's element 6 after only 0-2
and stops with "Bad delta path index 6 (should be between [0, 3])": React
unmounts the app and the tab is blank until reloaded. Seen on the Uncertainty
page's digits part, whose Train frame is long while fragment reruns queue
behind it: one browser test in about twelve, and once in CI; the load test's
model of the browser (``explorer/tools/page_tree.py``) finds it too.

The patched queue learns where each fragment's container is (``st.fragment``
opens one: the first element of a fragment at a new place; a fragment that was
there before has left) and drops the references inside it with the rest.
``tests/test_message_queue.py`` says when Streamlit no longer needs it.
"""

from __future__ import annotations

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

Path = tuple[int, ...]


def _inside(path: Path, container: Path) -> bool:
    return len(path) > len(container) and path[:len(container)] == container


def _containers(queue: ForwardMsgQueue) -> dict[str, Path]:
    """The queue's fragment id → its container's delta path (kept across flushes, as long as the session)."""
    return vars(queue).setdefault("_fragment_containers", {})


def _enqueue(self: ForwardMsgQueue, msg: ForwardMsg) -> None:
    if msg.HasField("delta") and msg.delta.fragment_id:
        # A fragment's first element outside the container last known is its new container (or in it); a
        # fragment that was there before (a waiting tab's queue line, where the live part now is) is not any more.
        containers, path, fragment = _containers(self), tuple(msg.metadata.delta_path), msg.delta.fragment_id
        known = containers.get(fragment)
        if known is None or not _inside(path, known):
            place = path if msg.delta.WhichOneof("type") == "add_block" else path[:-1]
            for other in [f for f, c in containers.items() if f != fragment and (c == place or _inside(c, place))]:
                del containers[other]
            containers[fragment] = place
    self._streamlit_enqueue(msg)


def _clear(self: ForwardMsgQueue, retain_lifecycle_msgs: bool = False,
           fragment_ids_this_run: list[str] | None = None) -> None:
    if retain_lifecycle_msgs and fragment_ids_this_run:
        rerun = [c for f, c in _containers(self).items() if f in fragment_ids_this_run]
        self._queue = [m for m in self._queue if not (
            m.HasField("ref_hash") and any(_inside(tuple(m.metadata.delta_path), c) for c in rerun))]
    self._streamlit_clear(retain_lifecycle_msgs, fragment_ids_this_run)


def install() -> None:
    """Fix the queue of every session of this server process, those open already too (idempotent)."""
    if hasattr(ForwardMsgQueue, "_streamlit_clear"):
        return
    ForwardMsgQueue._streamlit_enqueue, ForwardMsgQueue._streamlit_clear = ForwardMsgQueue.enqueue, ForwardMsgQueue.clear
    ForwardMsgQueue.enqueue, ForwardMsgQueue.clear = _enqueue, _clear
