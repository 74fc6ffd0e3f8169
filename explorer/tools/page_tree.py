"""The browser's tree of a page's elements, as Streamlit's front end keeps it: whether a page would go blank.

Streamlit's front end (``frontend/lib/src/render-tree``: ``AppRoot``,
``SetNodeByDeltaPathVisitor``, ``ClearStaleNodeVisitor``, Streamlit 1.67) puts
every element at its delta path, a block's index at each level, and throws on a
path that does not exist ("Bad delta path index 6 (should be between [0, 3])"):
React then unmounts the whole app and the tab shows a blank page until it is
reloaded. After a successful run it drops what that run did not draw (after a
fragment's run, only inside that fragment). This module keeps that tree,
reduced to what decides whether a path exists, so that the load test can count
the tabs that would have gone blank (``pages/ui/message_queue.py`` fixes the
two causes it has found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOTS = 4  # main, sidebar, event, bottom: the first index of every delta path


class BadDeltaPath(ValueError):
    """A delta the front end would throw on: the tab goes blank."""


@dataclass(eq=False)
class Node:
    run: str                             # the script run that last drew it (or a block on the way to a child)
    fragment: str = ""                   # the fragment that drew it, if any
    children: list[Node] | None = None   # a block's; None for an element
    kind: str = ""                       # a block's type (vertical, column, …): a block of the same type keeps them


@dataclass
class PageTree:
    """One tab's elements; ``apply`` each delta with the id of the run it belongs to, ``finished`` after a run."""

    roots: list[Node] = field(default_factory=lambda: [Node("", children=[]) for _ in range(ROOTS)])

    def apply(self, run: str, msg: ForwardMsg) -> None:
        """Place a ``new_element`` or ``add_block`` delta; raises BadDeltaPath where the browser would throw."""
        delta, path = msg.delta, list(msg.metadata.delta_path)
        kind = delta.WhichOneof("type")
        if kind == "new_element":
            self._set(path, Node(run, delta.fragment_id), run)
        elif kind == "add_block":
            block = delta.add_block.WhichOneof("type") or ""
            old = self._get(path)
            keep = old.children if old is not None and old.children is not None and old.kind == block else []
            self._set(path, Node(run, delta.fragment_id, keep, block), run)

    def finished(self, run: str, fragment_ids: list[str]) -> None:
        """A run that finished successfully: drop what it did not draw (a fragment's run: inside that fragment)."""
        self.roots = [_cleared(root, run, fragment_ids, "") or Node(run, children=[]) for root in self.roots]

    def _get(self, path: list[int]) -> Node | None:
        if not path or not 0 <= path[0] < ROOTS:
            return None
        node = self.roots[path[0]]
        for index in path[1:]:
            if node.children is None or not 0 <= index < len(node.children):
                return None
            node = node.children[index]
        return node

    def _set(self, path: list[int], node: Node, run: str) -> None:
        if not path or not 0 <= path[0] < ROOTS:
            raise BadDeltaPath(f"no root container {path[:1]}")
        parent = self.roots[path[0]]
        for depth, index in enumerate(path[1:], start=1):
            if parent.children is None:
                raise BadDeltaPath(f"'setIn' cannot be called on an ElementNode (path {path})")
            parent.run = run  # the front end rebuilds every block on the way with the current run's id
            if not 0 <= index <= len(parent.children):
                raise BadDeltaPath(f"Bad delta path index {index} (should be between [0, {len(parent.children)}]) "
                                   f"at {path}")
            last = depth == len(path) - 1
            if index == len(parent.children):
                if not last:
                    raise BadDeltaPath(f"Cannot set a node at a delta path {path}")
                parent.children.append(node)
                return
            if last:
                parent.children[index] = node
                return
            parent = parent.children[index]
        raise BadDeltaPath(f"a delta at a root container itself ({path})")


def _cleared(node: Node, run: str, fragments: list[str], fragment_of_block: str) -> Node | None:
    """``ClearStaleNodeVisitor``: the node as the run leaves it, or None when it is stale."""
    if node.children is None:
        if fragments and (not node.fragment or not fragment_of_block or node.run == run):
            return node
        return node if node.run == run else None
    inner = fragment_of_block
    if not fragments:
        if node.run != run:
            return None
    else:
        if fragment_of_block and node.run != run:
            return None
        if node.fragment and node.fragment in fragments and node.run == run:
            inner = node.fragment
    children = [c for c in (_cleared(child, run, fragments, inner) for child in node.children) if c is not None]
    return Node(run, node.fragment, children, node.kind)
