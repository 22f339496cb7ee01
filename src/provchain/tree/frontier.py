"""The one incremental tree: the right edge of an RFC 9162 tree, grown leaf by leaf.

:class:`Frontier` keeps, per level, the newest complete node. That is exactly what the next leaf's new
parents need (the left sibling of each) and what the root of the current size folds (the nodes of
``subtree_nodes(0, size)``): O(log n) hashes, O(1) amortized hashing per leaf. Every builder of the
tree uses it: the ledger's append path (through the store-backed :class:`provchain._internal.tree.
StoredTree`, which fetches what a reopened frontier lacks), the export and import, the auditor's replay
and the ledger's re-check of the bodies before it signs.

A frontier may also start empty above a leaf it has never seen (a ledger reopened at size ``n``): then
:meth:`Frontier.missing` names the left siblings the next leaf needs, and the caller supplies them
(:meth:`Frontier.learn`) or hands :meth:`Frontier.add` a function that fetches them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..errors import InputError
from .hashing import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, _sha256, is_count, need_hash
from .nodes import NodeKey, subtree_nodes

__all__ = ["Fetch", "Frontier"]

Fetch = Callable[[Sequence[NodeKey]], Mapping[NodeKey, bytes]]
"""``fetch(keys)``: the stored hashes of the complete nodes ``keys`` (each must be there, 32 bytes)."""


class Frontier:
    """The right edge of an RFC 9162 tree built leaf by leaf: O(log n) hashes, O(1) amortized per leaf.

    It keeps, per level, the newest complete node: exactly what the root of the current size and the
    parents of the next leaf need. ``size`` is the number of leaves added so far (the index of the last
    one, plus one). A frontier that lacks a left sibling (one started at a leaf it has not seen, as a
    reopened ledger's) names it with :meth:`missing` and takes it with :meth:`learn`, or fetches it
    through the function given to :meth:`add`.
    """

    __slots__ = ("_edge", "size")

    def __init__(self) -> None:
        self._edge: dict[int, tuple[int, bytes]] = {}  # level -> (index, hash) of its newest complete node
        self.size = 0

    @classmethod
    def resume(cls, size: int, nodes: Mapping[NodeKey, bytes]) -> Frontier:
        """The frontier of a tree of ``size`` leaves from the hashes of its complete subtrees
        ``subtree_nodes(0, size)`` (the only nodes the next leaves and the root read)."""
        if not is_count(size):
            raise InputError(f"a tree size must be a non-negative integer, not {size!r}")
        frontier = cls()
        if size:
            for key in subtree_nodes(0, size):
                frontier._edge[key[0]] = (key[1], need_hash(nodes.get(key), f"node {key}", InputError))
        frontier.size = size
        return frontier

    def clear(self) -> None:
        """Forget every node (after a failed write, whose nodes a rollback undid)."""
        self._edge.clear()
        self.size = 0

    def missing(self, index: int) -> list[NodeKey]:
        """The left siblings that leaf ``index`` needs and the frontier does not hold, bottom up."""
        edge = self._edge
        out = []
        level, i = 0, index
        while i & 1:
            have = edge.get(level)
            if have is None or have[0] != i - 1:
                out.append((level, i - 1))
            level += 1
            i >>= 1
        return out

    def held(self) -> dict[int, tuple[int, bytes]]:
        """The nodes the frontier holds, ``level -> (index, hash)`` (the newest complete node of each level it
        knows; after leaves it has not seen, some are older than the current edge)."""
        return dict(self._edge)

    def learn(self, nodes: Mapping[NodeKey, bytes]) -> None:
        """Take ``nodes`` (stored complete nodes, such as :meth:`missing` named) as the newest of their levels."""
        for key, h in nodes.items():
            self._edge[key[0]] = (key[1], need_hash(h, f"node {key}", InputError))

    def add(self, index: int, leaf: bytes, fetch: Fetch | None = None) -> bytes:
        """Add leaf ``index``; return the hashes of the nodes it completes (levels 1, 2, ... bottom up),
        concatenated, as a store keeps them with the leaf's entry.

        The left siblings come from the frontier; those it lacks (see :meth:`missing`) from ``fetch``, in
        one call; without ``fetch`` a lack raises :class:`~provchain.errors.InputError`. Nothing changes
        on an error.
        """
        if type(leaf) is not bytes or len(leaf) != HASH_SIZE or type(index) is not int or index < 0:
            _refuse(index, leaf)
        if not index & 1:  # an even leaf completes nothing
            self._edge[0] = (index, leaf)
            self.size = index + 1
            return b""
        return b"".join(self._parents(index, leaf, fetch))

    def add_run(self, first: int, leaves: Sequence[bytes], fetch: Fetch | None = None) -> list[bytes]:
        """:meth:`add` of leaves ``first``, ``first + 1``, ... in turn (one call for a bulk append); the nodes
        each completes, as :meth:`add` returns them. On an error, the leaves before the one refused stay added."""
        out: list[bytes] = []
        edge = self._edge
        for index, leaf in enumerate(leaves, first):
            if type(leaf) is not bytes or len(leaf) != HASH_SIZE or type(index) is not int or index < 0:
                _refuse(index, leaf)
            if not index & 1:
                edge[0] = (index, leaf)
                self.size = index + 1
                out.append(b"")
            else:
                parts = self._parents(index, leaf, fetch)
                out.append(parts[0] if len(parts) == 1 else b"".join(parts))
        return out

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add the next leaf (index :attr:`size`); return ``(level, index, hash)`` of the nodes that became
        complete, bottom up."""
        index = self.size
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            _refuse(index, leaf_hash)
        if not index & 1:
            self._edge[0] = (index, leaf_hash)
            self.size = index + 1
            return []
        parts = self._parents(index, leaf_hash, None)
        if len(parts) == 1:  # half the odd leaves complete one node
            return [(1, index >> 1, parts[0])]
        return [(level, index >> level, h) for level, h in enumerate(parts, 1)]

    def _parents(self, index: int, leaf: bytes, fetch: Fetch | None) -> list[bytes]:
        """Add the odd leaf ``index`` (checked); the hashes of the nodes it completes, bottom up."""
        edge = self._edge
        sha, prefix = _sha256, NODE_PREFIX
        while True:
            parts = []
            h = leaf
            level, i = 0, index
            while i & 1:
                left = edge.get(level)
                if left is None or left[0] != i - 1:
                    break
                h = sha(prefix + left[1] + h).digest()
                parts.append(h)
                level += 1
                i >>= 1
            else:
                break
            lacking = self.missing(index)
            if fetch is None:
                raise InputError(f"the frontier lacks node {lacking[0]}, a left sibling of leaf {index}")
            got = fetch(lacking)
            self.learn({k: got.get(k, b"") for k in lacking})
            fetch = None  # the second pass finds them all
        edge[0] = (index, leaf)
        for level, h in enumerate(parts, 1):
            edge[level] = (index >> level, h)
        self.size = index + 1
        return parts

    def add_subtree(self, level: int, h: bytes) -> list[tuple[int, int, bytes]]:
        """Append a whole complete subtree of ``2**level`` leaves with hash ``h`` (the size must be a
        multiple of ``2**level``), as the auditor's workers hand them over; return ``(level, index, hash)``
        of the nodes above it that became complete, bottom up."""
        if type(level) is not int or not 0 <= level < 64 or self.size & ((1 << level) - 1):
            raise InputError(f"a subtree of level {level!r} cannot follow {self.size} leaves")
        need_hash(h, "the subtree hash", InputError)
        edge = self._edge
        i = self.size >> level
        self.size += 1 << level
        created = []
        while i & 1:
            left = edge.get(level)
            if left is None or left[0] != i - 1:
                raise InputError(f"the frontier lacks node {(level, i - 1)}, a left sibling of the subtree")
            h = _sha256(NODE_PREFIX + left[1] + h).digest()
            level += 1
            i >>= 1
            created.append((level, i, h))
        edge[level] = (i, h)
        return created

    def subtrees(self) -> list[bytes]:
        """The hashes of the complete subtrees the tree of :attr:`size` leaves decomposes into, left to
        right (``subtree_nodes(0, size)``; each must be held)."""
        size = self.size
        return [self._edge[lv][1] for lv in range(size.bit_length() - 1, -1, -1) if size >> lv & 1]

    def root(self) -> bytes:
        """The root of the tree of the leaves added so far (every node it folds must be held)."""
        size = self.size
        if not size:
            return EMPTY_ROOT
        edge = self._edge
        h = b""
        for level in range(size.bit_length()):  # subtree_nodes(0, size), folded from the right
            if (size >> level) & 1:
                node = edge.get(level)
                if node is None or node[0] != (size >> level) - 1:
                    raise InputError(f"the frontier lacks node {(level, (size >> level) - 1)} of the root")
                h = node[1] if not h else _sha256(NODE_PREFIX + node[1] + h).digest()
        return h


def _refuse(index: object, leaf: object) -> None:
    need_hash(leaf, "the leaf hash", InputError)
    raise InputError(f"a leaf index must be a non-negative integer, not {index!r}")
