"""Node ids and the shapes of ranges: which complete subtrees make up a range, which nodes a new leaf
completes, and how a proof path splits.

A node ``(level, index)`` is the complete, aligned subtree over the leaves
``[index << level, (index + 1) << level)``; level 0 holds the leaf hashes. Only complete subtrees are
ever stored; the hash of a ragged right edge is recomputed from complete ones. The planners pass plain
``(level, index)`` tuples (:data:`NodeKey`, what stores key their rows by); :class:`NodeID` is the same
pair with names and its family (parent, sibling, children, leaves) for code that walks the tree.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InputError
from .hashing import is_count

__all__ = [
    "NodeID",
    "NodeKey",
    "decompose",
    "left_siblings",
    "parent_nodes",
    "path_shape",
    "split",
    "subtree_nodes",
    "trailing_zeros",
]

NodeKey = tuple[int, int]
"""A node as the plain pair ``(level, index)``."""


class NodeID(NamedTuple):
    """The complete subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``. A tuple,
    so it equals (and hashes as) the plain pair."""

    level: int
    index: int  # type: ignore[assignment]  # the node's index, in place of tuple.index (never searched)

    def parent(self) -> NodeID:
        """The node one level up that holds this one."""
        return NodeID(self.level + 1, self.index >> 1)

    def sibling(self) -> NodeID:
        """The other child of :meth:`parent`."""
        return NodeID(self.level, self.index ^ 1)

    def children(self) -> tuple[NodeID, NodeID]:
        """The left and right child (for ``level >= 1``)."""
        if self.level < 1:
            raise InputError("a leaf has no children")
        return NodeID(self.level - 1, 2 * self.index), NodeID(self.level - 1, 2 * self.index + 1)

    def leaves(self) -> tuple[int, int]:
        """The leaf range ``[begin, end)`` the node covers."""
        return self.index << self.level, (self.index + 1) << self.level


def split(width: int) -> int:
    """The largest power of two strictly below ``width`` (``width >= 2``): where ``MTH`` splits."""
    return 1 << ((width - 1).bit_length() - 1)


def trailing_zeros(n: int) -> int:
    """The number of trailing zero bits of ``n > 0``."""
    return (n & -n).bit_length() - 1


def path_shape(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the proof for leaf ``index`` in a tree of ``size`` leaves.

    The paths from the root to ``index`` and to ``size - 1`` share every level from ``inner`` up; below it
    they differ. Above that point the path runs down the tree's right edge, where a level contributes a
    (left) sibling exactly when the corresponding bit of ``index`` is set.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def decompose(begin: int, end: int) -> list[NodeKey]:
    """:func:`subtree_nodes` without the argument checks, for ranges a planner produced."""
    width = end - begin
    if not width & (width - 1):  # a complete subtree (most proof elements): one node
        level = width.bit_length() - 1
        return [(level, begin >> level)]
    nodes = []
    pos = begin
    for level in range(width.bit_length() - 1, -1, -1):
        if (width >> level) & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def subtree_nodes(begin: int, end: int) -> list[NodeKey]:
    """The complete aligned subtrees ``(level, index)`` that make up leaves ``[begin, end)``, left to right.

    The range must satisfy ``0 <= begin < end`` with ``begin`` a multiple of the largest power of two
    ``<= end - begin`` (every root and proof range does); otherwise :class:`~provchain.errors.InputError`.
    """
    if not (is_count(begin) and is_count(end) and begin < end):
        raise InputError(f"a leaf range needs integers 0 <= begin < end, got [{begin!r}, {end!r})")
    top = (end - begin).bit_length() - 1
    if begin & ((1 << top) - 1):
        raise InputError(
            f"the leaf range [{begin}, {end}) is not aligned: begin must be a multiple of {1 << top}, "
            "the largest power of two not above its width"
        )
    return decompose(begin, end)


def parent_nodes(index: int) -> list[NodeKey]:
    """The nodes ``(level, index)`` that become complete when leaf ``index`` is appended, bottom up.

    The leaf itself, ``(0, index)``, is not included. There is one node per trailing 1 bit of ``index``.
    """
    if not is_count(index):
        raise InputError(f"a leaf index must be a non-negative integer, not {index!r}")
    nodes: list[NodeKey] = []
    node = NodeID(0, index)
    while node.index & 1:
        node = node.parent()
        nodes.append(node)
    return nodes


def left_siblings(index: int) -> list[NodeKey]:
    """The nodes the parents of leaf ``index`` need besides it: the left child of each node of
    :func:`parent_nodes`."""
    return [NodeID(*n).children()[0] for n in parent_nodes(index)]
