"""RFC 9162 Merkle tree hashing, proofs and proof verification: pure functions of bytes and ints.

The tree is the one of RFC 9162 section 2.1 (the same as RFC 6962): SHA-256, a leaf is hashed as
``SHA-256(0x00 || data)``, an interior node as ``SHA-256(0x01 || left || right)``, and ``MTH(D[n])``
splits the ``n`` leaves at ``k``, the largest power of two smaller than ``n``.

Node addressing
    A stored node ``(level, index)`` is the complete, aligned subtree that covers the leaves
    ``[index << level, (index + 1) << level)``; level 0 holds the leaf hashes. Only complete subtrees are ever
    stored: the hash of a ragged right edge ("ephemeral" node) is always recomputed from complete ones.

Allowed ranges
    :func:`subtree_nodes` and :func:`range_hash` accept a leaf range ``[begin, end)`` when
    ``0 <= begin < end`` and ``begin`` is a multiple of ``p``, the largest power of two ``<= end - begin``.
    Such a range is the concatenation of the complete aligned subtrees given by the binary digits of
    ``end - begin`` (largest first), and its RFC 9162 hash folds them from the right. Every range that appears
    as a tree root (``[0, n)``) or as an element of an inclusion or consistency proof satisfies this rule:
    in the recursion of ``MTH``, a left part is a complete subtree aligned to its size, and a right part
    ``[a + k, b)`` starts at a multiple of ``k >= b - (a + k)``.

Edge rules
    * Size 0: the root of the empty tree is :data:`EMPTY_ROOT`, ``SHA-256("")``. The empty tree has no
      leaves, so an inclusion proof for it cannot be generated (:class:`~provchain.errors.InputError`) and
      :func:`verify_inclusion` with ``size == 0`` always raises.
    * ``size1 == size2``: the consistency proof is empty; verification requires an empty proof and
      ``root1 == root2`` (and, when both sizes are 0, that the roots are :data:`EMPTY_ROOT`).
    * ``size1 == 0 < size2``: no proof exists. RFC 9162 defines consistency proofs for ``0 < size1`` only,
      and the transparency-dev/merkle test vectors demand failure for every such case ("size1 is zero and
      size2 is not zero", "consistency check on empty tree (size1 is zero) is useless"). Generation raises
      :class:`~provchain.errors.InputError`; :func:`verify_consistency` always raises. Every tree extends the
      empty tree, so a caller holding a size-0 checkpoint has nothing to check and should not ask.
    * Hash lengths: every hash given to a verifier (leaf hash, roots, proof elements) must be exactly 32
      bytes. This is stricter than transparency-dev/merkle, which accepts two equal 12-byte "roots" for
      ``size1 == size2 == 1``.

Verification
    :func:`verify_inclusion` and :func:`verify_consistency` return ``None`` on success and raise
    :class:`~provchain.errors.InclusionError` or :class:`~provchain.errors.ConsistencyError` on any failure:
    a wrong type, an index or size out of range, a hash that is not 32 bytes, a proof of the wrong length,
    or a computed root that does not match. Types, sizes, hash lengths and the exact proof length are all
    checked before anything is hashed, and every proof element takes part in the computation.

    A proof for a node at ``index`` in a tree of ``size`` leaves splits in two parts (the decomposition used
    by transparency-dev/merkle): the *inner* part, the levels below the point where the paths to ``index``
    and to the last leaf ``size - 1`` meet, where a sibling may sit on either side; and the *border* part,
    above it, where the path runs down the right edge of the tree and every sibling is on the left.

Storage planning
    A store that keeps every complete node as a row keyed by ``(level, index)`` plans a proof with
    :func:`inclusion_ranges` / :func:`consistency_ranges` and :func:`subtree_nodes` (or directly
    :func:`inclusion_nodes` / :func:`consistency_nodes`, and ``subtree_nodes(0, size)`` for a root), fetches
    those rows in one query, and hands a reader over them to :func:`root_from`, :func:`inclusion_proof_from`
    or :func:`consistency_proof_from`. When leaf ``index`` is appended, :func:`parent_nodes` names the rows
    that become complete and :func:`parent_hashes` computes them. The list-based :func:`root`,
    :func:`inclusion_proof` and :func:`consistency_proof` build all complete nodes in memory and run the same
    planning code over them.

Where the code lives
    Hashing, node ids, the plans and the incremental tree are written once, in :mod:`provchain.tree`,
    which every store, the export and the auditor use; this module is their public face (the names below
    are those of :mod:`provchain.tree`), plus the proof verifiers and the in-memory trees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .errors import ConsistencyError, InclusionError, InputError
from .tree.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_PREFIX,
    NODE_PREFIX,
    NodeReader,
    fold,
    leaf_hash,
    levels,
    need_count,
    need_hash,
    need_proof,
    node_hash,
)
from .tree.nodes import left_siblings, parent_nodes, path_shape, subtree_nodes, trailing_zeros
from .tree.plans import (
    assemble,
    consistency_nodes,
    consistency_plan,
    consistency_proof_from,
    consistency_ranges,
    inclusion_nodes,
    inclusion_plan,
    inclusion_proof_from,
    inclusion_ranges,
    parent_hashes,
    range_hash,
    root_from,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "NodeReader",
    "assemble",
    "consistency_nodes",
    "consistency_plan",
    "consistency_proof",
    "consistency_proof_from",
    "consistency_ranges",
    "consistency_roots",
    "fold",
    "inclusion_nodes",
    "inclusion_plan",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_ranges",
    "leaf_hash",
    "left_siblings",
    "node_hash",
    "parent_hashes",
    "parent_nodes",
    "range_hash",
    "root",
    "root_from",
    "subtree_nodes",
    "verify_consistency",
    "verify_inclusion",
]


# --- verification -------------------------------------------------------------------------------

_sha256 = hashlib.sha256  # every hash a verifier computes goes through this name (the tests watch it)


def _children(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def _climb(seed: bytes, index: int, inner: Sequence[bytes], border: Sequence[bytes]) -> bytes:
    h = seed
    for level, sibling in enumerate(inner):
        h = _children(sibling, h) if (index >> level) & 1 else _children(h, sibling)
    for sibling in border:
        h = _children(sibling, h)
    return h


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` puts ``leaf_hash`` at ``index`` in the ``size``-leaf tree whose root is ``root``.

    Returns ``None`` on success; raises :class:`~provchain.errors.InclusionError` on any failure.
    """
    index = need_count(index, "the leaf index", InclusionError)
    size = need_count(size, "the tree size", InclusionError)
    if index >= size:
        raise InclusionError(f"leaf index {index} is not inside a tree of {size} leaves")
    need_hash(leaf_hash, "the leaf hash", InclusionError)
    need_hash(root, "the root", InclusionError)
    path = need_proof(proof, InclusionError)
    inner, border = path_shape(index, size)
    if len(path) != inner + border:
        raise InclusionError(
            f"an inclusion proof for leaf {index} of {size} has {inner + border} hashes, not {len(path)}"
        )
    if _climb(leaf_hash, index, path[:inner], path[inner:]) != root:
        raise InclusionError(f"the inclusion proof for leaf {index} does not lead to the root of {size} leaves")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that ``proof`` shows the ``size2``-leaf tree ``root2`` extends the ``size1``-leaf tree ``root1``.

    Returns ``None`` on success; raises :class:`~provchain.errors.ConsistencyError` on any failure, including
    ``size1 > size2`` and ``size1 == 0 < size2`` (see the module notes).
    """
    size1 = need_count(size1, "size1", ConsistencyError)
    size2 = need_count(size2, "size2", ConsistencyError)
    if size1 > size2:
        raise ConsistencyError(f"size1 ({size1}) is larger than size2 ({size2}): a log never shrinks")
    need_hash(root1, "root1", ConsistencyError)
    need_hash(root2, "root2", ConsistencyError)
    path = need_proof(proof, ConsistencyError)
    if size1 == size2:
        if path:
            raise ConsistencyError(f"trees of equal size need an empty consistency proof, not {len(path)}")
        if root1 != root2:
            raise ConsistencyError(f"two trees of {size1} leaves have different roots")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ConsistencyError("the root of the empty tree must be SHA-256 of the empty string")
        return
    if size1 == 0:
        raise ConsistencyError("there is no consistency proof from the empty tree (RFC 9162 needs 0 < size1)")

    old, new = _consistency_roots(size1, size2, path, root1)
    if old != root1:
        raise ConsistencyError(f"the consistency proof does not lead to the root of the {size1}-leaf tree")
    if new != root2:
        raise ConsistencyError(f"the consistency proof does not lead to the root of the {size2}-leaf tree")


def consistency_roots(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes | None = None
) -> tuple[bytes, bytes]:
    """The roots ``(old, new)`` of the ``size1``- and ``size2``-leaf trees that a consistency proof implies.

    For ``0 < size1 < size2``. When ``size1`` is a power of two the old tree is a subtree the proof leaves
    out: give its root as ``root1`` (it is returned as ``old``). Used to show what a log's prefix *is* when
    it differs from a checkpoint (:mod:`provchain.equivocation`); raises :class:`ConsistencyError` when the
    proof has the wrong length, or ``root1`` is needed and missing.
    """
    size1 = need_count(size1, "size1", ConsistencyError)
    size2 = need_count(size2, "size2", ConsistencyError)
    if not 0 < size1 < size2:
        raise ConsistencyError(f"consistency roots need 0 < size1 < size2, not {size1} and {size2}")
    path = need_proof(proof, ConsistencyError)
    if size1 & (size1 - 1) == 0:
        if root1 is None:
            raise ConsistencyError(f"the proof from a tree of {size1} leaves (a power of two) does not hold its root")
        need_hash(root1, "root1", ConsistencyError)
    return _consistency_roots(size1, size2, path, root1)


def _consistency_roots(size1: int, size2: int, path: list[bytes], root1: bytes | None) -> tuple[bytes, bytes]:
    # The last complete subtree of the old tree, node (level, node) ending at size1, is the seed. If size1
    # is a power of two that subtree is the old tree itself, root1, and the proof leaves it out. The rest
    # of the proof is that node's inclusion path in the new tree.
    level = trailing_zeros(size1)
    node = (size1 - 1) >> level
    inner, border = path_shape(size1 - 1, size2)
    inner -= level  # levels below `level` lie inside the seed subtree
    start = 0 if node == 0 else 1
    if len(path) != start + inner + border:
        raise ConsistencyError(
            f"a consistency proof from {size1} to {size2} leaves has {start + inner + border} hashes, "
            f"this one has {len(path)}"
        )
    seed = path[0] if node else root1
    assert seed is not None
    rest = path[start:]
    old = new = seed
    for i, sibling in enumerate(rest[:inner]):
        if (node >> i) & 1:  # a left sibling: inside the old tree too
            old = _children(sibling, old)
            new = _children(sibling, new)
        else:  # a right sibling: leaves at or past size1, only in the new tree
            new = _children(new, sibling)
    for sibling in rest[inner:]:
        old = _children(sibling, old)
        new = _children(sibling, new)
    return old, new


# --- in-memory trees ----------------------------------------------------------------------------


def _leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``leaf_hashes`` as a list, after checking that it is a sequence of 32-byte hashes."""
    if isinstance(leaf_hashes, bytes | bytearray | memoryview | str) or not isinstance(leaf_hashes, Sequence):
        raise InputError(f"leaf hashes must be a sequence of hashes, not {type(leaf_hashes).__name__}")
    leaves = list(leaf_hashes)
    for i, h in enumerate(leaves):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            need_hash(h, f"leaf hash {i}", InputError)
    return leaves


def _memory_reader(leaves: list[bytes]) -> NodeReader:
    nodes = levels(leaves)

    def read(level: int, index: int) -> bytes:
        return nodes[level][index]

    return read


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of the tree whose leaves have these 32-byte hashes; :data:`EMPTY_ROOT` when there are none."""
    leaves = _leaves(leaf_hashes)
    return root_from(len(leaves), _memory_reader(leaves))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The RFC 9162 inclusion proof for leaf ``index`` in the tree over ``leaf_hashes``.

    Raises :class:`~provchain.errors.InputError` unless ``0 <= index < len(leaf_hashes)``.
    """
    leaves = _leaves(leaf_hashes)
    inclusion_ranges(index, len(leaves))  # check the index before hashing anything
    return inclusion_proof_from(index, len(leaves), _memory_reader(leaves))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the first ``size1`` leaves to all of ``leaf_hashes``.

    Raises :class:`~provchain.errors.InputError` if ``size1 > len(leaf_hashes)`` or
    ``size1 == 0 < len(leaf_hashes)``.
    """
    leaves = _leaves(leaf_hashes)
    consistency_ranges(size1, len(leaves))  # check size1 before hashing anything
    return consistency_proof_from(size1, len(leaves), _memory_reader(leaves))
