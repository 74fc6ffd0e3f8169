"""The fix of Streamlit's message queue (pages.ui.message_queue): a fragment's rerun drops its cached references.

Built from the messages recorded when the Uncertainty page went blank: the
fragment's container at [0, 4], its elements, a chart sent as a reference to a
cached message at [0, 4, 6], and an element outside the fragment.
"""

from __future__ import annotations

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

from pages.ui import message_queue

FRAGMENT = "6edec530092b322712aa264e2ef0ee15"


def _block(path: list[int], fragment: str = FRAGMENT, kind: str = "vertical") -> ForwardMsg:
    msg = ForwardMsg()
    getattr(msg.delta.add_block, kind).SetInParent()
    msg.delta.fragment_id = fragment
    msg.metadata.delta_path[:] = path
    return msg


def _text(path: list[int], fragment: str = "") -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = f"at {path}"
    msg.delta.fragment_id = fragment
    msg.metadata.delta_path[:] = path
    return msg


def _reference(path: list[int]) -> ForwardMsg:
    """What Streamlit sends for an element the browser has cached: a hash and a place, no fragment id."""
    msg = ForwardMsg()
    msg.ref_hash = f"hash of {path}"
    msg.metadata.delta_path[:] = path
    return msg


def _finished() -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    return msg


def _queued(messages: list[ForwardMsg], queue: ForwardMsgQueue | None = None) -> ForwardMsgQueue:
    queue = ForwardMsgQueue() if queue is None else queue
    for msg in messages:
        queue.enqueue(msg)
    return queue


def _places(queue: ForwardMsgQueue) -> list[tuple[str, list[int]]]:
    return [(m.WhichOneof("type"), list(m.metadata.delta_path)) for m in queue._queue]


def _a_fragment_run() -> list[ForwardMsg]:
    return [_block([0, 4]), _text([0, 4, 0], FRAGMENT), _text([0, 4, 5], FRAGMENT), _reference([0, 4, 6]),
            _text([1, 9]), _reference([1, 10]), _finished()]


@pytest.fixture(autouse=True)
def installed():
    message_queue.install()


def test_streamlit_still_keeps_a_fragments_references():
    """The bug itself, on Streamlit's own clear: when this fails, Streamlit fixed it and that part of
    pages/ui/message_queue.py can go."""
    queue = _queued(_a_fragment_run())
    ForwardMsgQueue._streamlit_clear(queue, retain_lifecycle_msgs=True, fragment_ids_this_run=[FRAGMENT])
    assert ("ref_hash", [0, 4, 6]) in _places(queue)


def test_a_fragments_rerun_drops_its_references_and_keeps_the_rest():
    queue = _queued(_a_fragment_run())
    queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=[FRAGMENT])
    assert _places(queue) == [("delta", [1, 9]), ("ref_hash", [1, 10]), ("script_finished", [])]


def test_another_fragments_rerun_keeps_them():
    queue = _queued(_a_fragment_run())
    queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=["another fragment"])
    assert ("ref_hash", [0, 4, 6]) in _places(queue)


def test_the_container_is_remembered_after_its_messages_went_out():
    queue = _queued([_block([0, 4]), _text([0, 4, 0], FRAGMENT)])
    queue.flush()
    _queued([_text([0, 4, 5], FRAGMENT), _reference([0, 4, 6]), _reference([0, 5])], queue)
    queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=[FRAGMENT])
    assert _places(queue) == [("ref_hash", [0, 5])]  # the element after the fragment stays


def test_a_fragment_that_moved_is_followed():
    """A full run that put a queue line above the fragment moves its container from [0, 4] to [0, 5]."""
    queue = _queued([_block([0, 4]), _text([0, 4, 0], FRAGMENT)])
    queue.flush()
    _queued([_text([0, 4], ""), _block([0, 5]), _text([0, 5, 0], FRAGMENT), _reference([0, 5, 3])], queue)
    queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=[FRAGMENT])
    assert _places(queue) == [("delta", [0, 4])]


def test_a_full_clear_is_streamlits():
    queue = _queued(_a_fragment_run())
    queue.clear()
    assert queue.is_empty()



def test_a_fragment_that_left_a_place_drops_nothing_there():
    """A waiting tab's queue line had the place [0, 4]; seated, the live part is drawn there. A rerun of the queue
    line that was asked for before (it no longer exists) must not drop the live part's chart: the load test's model
    of the browser found that tab blank ("Bad delta path index 7") with the first version of the fix."""
    queue = _queued([_block([0, 4], "queue line"), _text([0, 4, 0], "queue line")])
    queue.flush()
    _queued([_block([0, 4]), _text([0, 4, 5], FRAGMENT), _reference([0, 4, 6]), _text([0, 4, 7], FRAGMENT)], queue)
    queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=["queue line"])
    assert ("ref_hash", [0, 4, 6]) in _places(queue)
