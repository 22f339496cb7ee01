"""The one Merkle tree: hashing, node ids, proof plans, the incremental tree and the tile layouts.

Everything that knows the shape of the RFC 9162 tree lives here, once (docs/design.md, *One tree*):

* :mod:`.hashing`: the leaf and node hashes, the fold of a range, the argument checks;
* :mod:`.nodes`: node ids ``(level, index)``, the subtrees of a range, the nodes a new leaf completes;
* :mod:`.plans`: proof plans (the stored nodes behind each proof element) and their assembly;
* :mod:`.frontier`: :class:`Frontier`, the one incremental tree every builder uses;
* :mod:`.blocks`: the layout stores keep nodes in (tiles of 16 leaves, rows of 16 high siblings);
* :mod:`.tlog_tiles`: the C2SP tlog-tiles arithmetic of published logs.

It is provchain's internal core: its public face is :mod:`provchain.merkle` (hashing, proofs, their
verification), whose names stay as they are. It imports no store and no ledger, so the verifier layer,
which imports it through :mod:`provchain.merkle`, stays light.
"""

from __future__ import annotations

from .frontier import Frontier
from .hashing import EMPTY_ROOT, HASH_SIZE, NodeReader, fold, leaf_hash, node_hash
from .nodes import NodeID, NodeKey, parent_nodes, subtree_nodes

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "NodeID",
    "NodeKey",
    "NodeReader",
    "fold",
    "leaf_hash",
    "node_hash",
    "parent_nodes",
    "subtree_nodes",
]
