"""The ledger's Merkle tree over a store: a thin layer that gives the one incremental tree
(:class:`provchain.tree.Frontier`) and the proof plans of :mod:`provchain.tree` their stored nodes.

Every complete subtree of level >= 1 is stored once, written with the entry whose leaf completes it
(level 0 is the entry's leaf hash; :func:`provchain.tree.blocks.node_place` tells where the SQLite store
keeps each). :class:`StoredTree` keeps what makes that cheap:

* the *frontier*: the newest complete node of each level, which is the left sibling of every node the
  next leaves complete, so appending never reads the store (after a reopen, the few it lacks are
  fetched in one read);
* a cache of committed nodes of level >= 4 (immutable once written; read by every proof).

Anything cached may describe rows a failed transaction rolled back: :meth:`StoredTree.reset` forgets it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import StorageError
from ..store.base import NodeKey, Store
from ..tree.frontier import Frontier
from ..tree.hashing import HASH_SIZE, fold

__all__ = ["StoredTree"]

_SHIFT = 40  # cache key: level << 40 | index (ints and bytes are not tracked by the garbage collector)


class StoredTree:
    """The Merkle tree of one ledger's store (see the module docstring)."""

    # Nodes of level >= 4 cover 16+ entries. At most 200k are cached (about 25 MB): every such node of
    # 1.6M entries.
    CACHE_LEVEL = 4
    CACHE_MAX = 200_000

    def __init__(self, store: Store) -> None:
        self._store = store
        self._frontier = Frontier()
        self._cache: dict[int, bytes] = {}

    def reset(self) -> None:
        """Forget every cached node (after a failed write transaction)."""
        self._frontier.clear()
        self._cache.clear()

    def add_leaf(self, index: int, leaf: bytes) -> bytes:
        """Record leaf ``index``; return the hashes of the nodes it completes (levels 1, 2, ... bottom up),
        which the store writes in the entry's row. The left siblings the frontier lacks (after a reopen:
        a leaf that completes a 16-entry block needs 4) are read in one query, not one by one."""
        return self._frontier.add(index, leaf, self.nodes)

    def held(self) -> dict[int, tuple[int, bytes]]:
        """The frontier's nodes, ``level -> (index, hash)``: hashes this tree computed, or read and checked."""
        return self._frontier.held()

    def add_sequenced(self, index: int, leaf: bytes, siblings: bytes | None) -> None:
        """Record leaf ``index`` that the store placed and hashed into the tree itself, with the left siblings
        it used (bottom up, checked by the store against the nodes it stored); without them (None) the
        frontier is forgotten, and read again when next needed."""
        if siblings is None:
            self._frontier.clear()
            return
        self._frontier.learn(
            {(level, (index >> level) - 1): siblings[HASH_SIZE * level : HASH_SIZE * (level + 1)]
             for level in range(len(siblings) // HASH_SIZE)}
        )  # fmt: skip
        self._frontier.add(index, leaf)

    def add_leaves(self, first: int, leaves: Sequence[bytes]) -> list[bytes]:
        """:meth:`add_leaf` of leaves ``first``, ``first + 1``, ... (a bulk append): the nodes each completes."""
        return self._frontier.add_run(first, leaves, self.nodes)

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The hashes of ``keys`` in one query (high nodes from the cache), each checked to be present and
        32 bytes before anything is hashed with it.

        Every node of a cached level that the store returns is cached, not only those asked for: the SQLite
        store returns a high node's 15 siblings with it (they share a row), so a server answering proofs for
        random entries fills the cache 16 nodes at a time.
        """
        return self._fetch(keys, False)[1]

    def _fetch(self, keys: Sequence[NodeKey], with_size: bool) -> tuple[int, dict[NodeKey, bytes]]:
        """:meth:`nodes`, and with ``with_size`` the store's size from the same read (else -1)."""
        cache = self._cache
        get = cache.get
        found: dict[NodeKey, bytes] = {}
        missing = []
        for k in keys:
            h = get((k[0] << _SHIFT) | k[1])
            if h is None:
                missing.append(k)
            else:
                found[k] = h
        if not missing:
            return (self._store.size() if with_size else -1), found
        size, fetched = self._store.size_and_nodes(missing) if with_size else (-1, self._store.nodes(missing))
        for k in missing:
            h = fetched.get(k)
            if h is None or len(h) != HASH_SIZE:
                raise StorageError(f"the ledger's Merkle tree lacks node {k} or it is damaged")
            found[k] = h
        room = self.CACHE_MAX - len(cache)
        if room > 0:
            level = self.CACHE_LEVEL
            for k, h in fetched.items():
                if k[0] >= level and len(h) == HASH_SIZE:
                    cache[(k[0] << _SHIFT) | k[1]] = h
                    room -= 1
                    if not room:
                        break
        return size, found

    def assemble(self, plan: Sequence[Sequence[NodeKey]]) -> list[bytes]:
        """The proof elements of a :mod:`provchain.tree.plans` plan, from one fetch of its nodes."""
        return self._elements(plan, self.nodes([k for nodes in plan for k in nodes]))

    def assemble_with_size(self, plan: Sequence[Sequence[NodeKey]]) -> tuple[int, list[bytes]]:
        """:meth:`assemble`, and the store's size read together with the nodes (see
        :meth:`provchain.ledger.Ledger.inclusion_proof`)."""
        size, found = self._fetch([k for nodes in plan for k in nodes], True)
        return size, self._elements(plan, found)

    @staticmethod
    def _elements(plan: Sequence[Sequence[NodeKey]], found: dict[NodeKey, bytes]) -> list[bytes]:
        # Most elements are one complete subtree: its node is the element, with nothing to fold.
        return [found[nodes[0]] if len(nodes) == 1 else fold([found[k] for k in nodes]) for nodes in plan]
