"""The load test's model of the browser's element tree (explorer.tools.page_tree) against what the browser did.

The reference is the crash recorded in Chromium when the Uncertainty page went
blank (pages/ui/message_queue.py): a full run drew the live fragment at
[0, 4] with ten elements; a fragment run drew three of them, finished, and the
front end dropped the other seven; the next fragment run's first element was
followed by a cached chart at [0, 4, 6]. Chromium's console: "Bad delta path
index 6 (should be between [0, 3])".
"""

from __future__ import annotations

import pytest

from explorer.tools.page_tree import BadDeltaPath, PageTree
from tests.test_message_queue import FRAGMENT, _block, _text

def _full_run(tree: PageTree, run: str) -> None:
    """Four elements, the fragment's ten at [0, 4], one in the sidebar."""
    for i in range(4):
        tree.apply(run, _text([0, i]))
    tree.apply(run, _text([1, 0]))
    tree.apply(run, _block([0, 4], FRAGMENT))
    for i in range(10):
        tree.apply(run, _text([0, 4, i], FRAGMENT))
    tree.finished(run, [])


def _children(tree: PageTree, *path: int) -> int:
    node = tree.roots[path[0]]
    for i in path[1:]:
        node = node.children[i]
    return len(node.children)


def test_the_recorded_crash():
    tree = PageTree()
    _full_run(tree, "full")
    for i in range(3):  # a fragment run whose last seven elements were dropped unsent: it finishes with three
        tree.apply("fragment 1", _text([0, 4, i], FRAGMENT))
    tree.finished("fragment 1", [FRAGMENT])
    assert _children(tree, 0, 4) == 3
    tree.apply("fragment 2", _block([0, 4], FRAGMENT))
    tree.apply("fragment 2", _text([0, 4, 0], FRAGMENT))
    with pytest.raises(BadDeltaPath, match=r"Bad delta path index 6 \(should be between \[0, 3\]\)"):
        tree.apply("fragment 2", _text([0, 4, 6], FRAGMENT))


def test_a_full_run_drops_what_it_did_not_draw():
    tree = PageTree()
    _full_run(tree, "one")
    tree.apply("two", _text([0, 0]))
    tree.finished("two", [])
    assert _children(tree, 0) == 1 and _children(tree, 1) == 0


def test_a_fragment_run_keeps_what_is_outside_the_fragment():
    tree = PageTree()
    _full_run(tree, "one")
    tree.apply("two", _block([0, 4], FRAGMENT))
    tree.apply("two", _text([0, 4, 0], FRAGMENT))
    tree.finished("two", [FRAGMENT])
    assert _children(tree, 0) == 5 and _children(tree, 1) == 1 and _children(tree, 0, 4) == 1


def test_elements_are_appended_in_order_and_replaced_in_place():
    tree = PageTree()
    tree.apply("one", _text([0, 0]))
    tree.apply("one", _text([0, 1]))
    tree.apply("one", _text([0, 0]))
    assert _children(tree, 0) == 2
    with pytest.raises(BadDeltaPath, match="Bad delta path index 3"):
        tree.apply("one", _text([0, 3]))


def test_a_block_of_another_kind_starts_empty():
    tree = PageTree()
    tree.apply("one", _block([0, 0]))
    tree.apply("one", _text([0, 0, 0]))
    tree.apply("one", _block([0, 0]))
    assert _children(tree, 0, 0) == 1  # the same kind keeps its children (widget state, React state)
    tree.apply("one", _block([0, 0], kind="horizontal"))
    assert _children(tree, 0, 0) == 0


def test_no_path_through_an_element_or_past_the_end():
    tree = PageTree()
    tree.apply("one", _text([0, 0]))
    with pytest.raises(BadDeltaPath, match="ElementNode"):
        tree.apply("one", _text([0, 0, 0]))
    with pytest.raises(BadDeltaPath, match="Cannot set a node"):
        tree.apply("one", _text([0, 1, 0]))
