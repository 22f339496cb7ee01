"""Proof plans: for each element of a root, inclusion or consistency proof, the stored complete subtrees
whose hashes fold into it; and the folds that turn fetched nodes into the elements.

A store plans a proof (:func:`inclusion_plan`, :func:`consistency_plan`, or ``subtree_nodes(0, size)`` for
a root), fetches every node of the plan in one read, and folds (:func:`assemble`); the in-memory trees of
:mod:`provchain.merkle` run the same code over a list of levels. :func:`inclusion_ranges` and
:func:`consistency_ranges` follow RFC 9162's recursions literally and serve as the slow reference the
plans are tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError
from .hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeReader,
    children,
    fold,
    is_count,
    need_hash,
    need_reader,
    read_checked,
)
from .nodes import NodeKey, decompose, split, subtree_nodes

__all__ = [
    "assemble",
    "consistency_nodes",
    "consistency_plan",
    "consistency_proof_from",
    "consistency_ranges",
    "inclusion_nodes",
    "inclusion_plan",
    "inclusion_proof_from",
    "inclusion_ranges",
    "parent_hashes",
    "range_hash",
    "root_from",
]

Plan = list[list[NodeKey]]


def _need_index(index: object, size: object) -> None:
    if not (is_count(index) and is_count(size) and index < size):  # type: ignore[operator]
        raise InputError(f"leaf index {index!r} is out of range for a tree of {size!r} leaves")


def range_hash(begin: int, end: int, read: NodeReader) -> bytes:
    """``MTH(D[begin:end])``, combined from the hashes ``read(level, index)`` of its subtree nodes."""
    need_reader(read)
    return fold([read_checked(read, level, index) for level, index in subtree_nodes(begin, end)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf range ``[a, b)`` of each inclusion proof element for ``index`` in ``size``, in proof order.

    This is RFC 9162 ``PATH(index, D[size])``, bottom up. Raises :class:`~provchain.errors.InputError` unless
    ``0 <= index < size``.
    """
    _need_index(index, size)
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf range ``[a, b)`` of each consistency proof element from ``size1`` to ``size2``, in order.

    This is RFC 9162 ``PROOF(size1, D[size2])``; empty when ``size1 == size2``. Raises
    :class:`~provchain.errors.InputError` if ``size1 > size2`` or ``size1 == 0 < size2``.
    """
    if not (is_count(size1) and is_count(size2)):
        raise InputError(f"tree sizes must be non-negative integers, got {size1!r} and {size2!r}")
    if size1 > size2:
        raise InputError(f"size1 ({size1}) is larger than the tree size ({size2})")
    if size1 == size2:
        return []
    if size1 == 0:
        raise InputError("there is no consistency proof from the empty tree (RFC 9162 needs 0 < size1)")
    ranges = []
    lo, hi = 0, size2
    whole = True  # is [lo, hi)'s old part still the whole old tree (whose root the verifier already has)?
    while size1 != hi:
        mid = lo + split(hi - lo)
        if size1 <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_plan(index: int, size: int) -> Plan:
    """For each inclusion proof element, in proof order, the stored nodes whose hashes fold into it.

    Planning once and assembling from the plan lets a store fetch every node in one query and build the
    proof without planning it again. The plan is read off the bits: below the level where the paths to
    ``index`` and to ``size - 1`` part (the *inner* part), each sibling is a complete subtree, except the
    highest, which is everything right of ``index``'s subtree up to ``size``; above it (the *border*),
    a left sibling for each set bit of ``index``. :func:`inclusion_ranges` computes the same ranges the
    slow way, and the tests hold the two to each other.
    """
    _need_index(index, size)
    inner = (index ^ (size - 1)).bit_length()
    plan: Plan = [[(level, (index >> level) ^ 1)] for level in range(inner - 1)]
    if inner:
        top = inner - 1
        plan.append(decompose(((index >> top) + 1) << top, size))
    for level in range(inner, size.bit_length()):
        if (index >> level) & 1:
            plan.append([(level, (index >> level) ^ 1)])
    return plan


def consistency_plan(size1: int, size2: int) -> Plan:
    """For each consistency proof element, in proof order, the stored nodes that fold into it."""
    return [decompose(a, b) for a, b in consistency_ranges(size1, size2)]


def assemble(plan: Sequence[Sequence[NodeKey]], read: NodeReader) -> list[bytes]:
    """The proof elements of a plan, from the node hashes ``read(level, index)`` (each length-checked)."""
    need_reader(read)
    if not isinstance(plan, list | tuple) or not all(
        isinstance(nodes, list | tuple)
        and nodes
        and all(isinstance(n, tuple) and len(n) == 2 and is_count(n[0]) and is_count(n[1]) for n in nodes)
        for nodes in plan
    ):
        raise InputError("a plan is a list of non-empty lists of (level, index) pairs, as inclusion_plan makes")
    return [fold([read_checked(read, level, i) for level, i in nodes]) for nodes in plan]


def inclusion_nodes(index: int, size: int) -> list[NodeKey]:
    """Every stored node :func:`inclusion_proof_from` reads for ``index`` in ``size``: one query's worth."""
    return [n for nodes in inclusion_plan(index, size) for n in nodes]


def consistency_nodes(size1: int, size2: int) -> list[NodeKey]:
    """Every stored node that :func:`consistency_proof_from` reads for ``size1`` to ``size2``."""
    return [n for nodes in consistency_plan(size1, size2) for n in nodes]


def root_from(size: int, read: NodeReader) -> bytes:
    """The root of the tree of ``size`` leaves, from the nodes ``subtree_nodes(0, size)``."""
    if not is_count(size):
        raise InputError(f"the tree size must be a non-negative integer, not {size!r}")
    return EMPTY_ROOT if size == 0 else range_hash(0, size, read)


def inclusion_proof_from(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The inclusion proof for leaf ``index`` in the tree of ``size`` leaves, from stored nodes."""
    return assemble(inclusion_plan(index, size), read)


def consistency_proof_from(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """The consistency proof from the tree of ``size1`` leaves to the one of ``size2``, from stored nodes."""
    return assemble(consistency_plan(size1, size2), read)


def parent_hashes(index: int, leaf_hash: bytes, read: NodeReader) -> list[tuple[int, int, bytes]]:
    """``(level, index, hash)`` of each node that leaf ``index`` completes, bottom up, given its hash.

    ``read`` must return the left siblings (already stored) that ``left_siblings(index)`` names. The
    incremental tree (:class:`~provchain.tree.frontier.Frontier`) keeps those itself; this form is for
    callers holding the nodes elsewhere.
    """
    h = need_hash(leaf_hash, "the leaf hash", InputError)
    if not is_count(index):
        raise InputError(f"a leaf index must be a non-negative integer, not {index!r}")
    out = []
    level, i = 0, index
    while i & 1:
        left = read(level, i - 1)
        if type(left) is not bytes or len(left) != HASH_SIZE:
            read_checked(read, level, i - 1)  # raises the reader error, with its message
        h = children(left, h)
        level += 1
        i >>= 1
        out.append((level, i, h))
    return out
