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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ._internal.validate import ErrorFactory, check_int
from .errors import ConsistencyError, InclusionError, InputError, ProofError

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

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

LEAF_PREFIX = b"\x00"
"""Domain separation byte put before a leaf's data (RFC 9162 section 2.1.1)."""

NODE_PREFIX = b"\x01"
"""Domain separation byte put before the two child hashes of an interior node."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of the empty string."""

NodeReader = Callable[[int, int], bytes]
"""``read(level, index)`` returns the 32-byte hash of the complete node ``(level, index)``."""

_sha256 = hashlib.sha256  # the one hash primitive; every hash in this module goes through this name


# --- hashing ------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 hash of a leaf: ``SHA-256(0x00 || data)``."""
    if not isinstance(data, bytes):
        raise InputError(f"leaf data must be bytes, not {type(data).__name__}")
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``; both children are 32 bytes."""
    _need_hash(left, "the left child hash", InputError)
    _need_hash(right, "the right child hash", InputError)
    return _children(left, right)


def _children(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


# --- argument checks ----------------------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _need_count(value: object, what: str, error: ErrorFactory) -> int:
    return check_int(value, what, error, 0, message=f"{what} must be a non-negative integer, not {value!r}")


def _need_hash(value: object, what: str, error: type[Exception]) -> bytes:
    if not isinstance(value, bytes):
        raise error(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return value


def _need_proof(proof: object, error: type[ProofError]) -> list[bytes]:
    if isinstance(proof, bytes | bytearray | memoryview | str) or not isinstance(proof, Sequence):
        raise error(f"a proof must be a sequence of hashes, not {type(proof).__name__}")
    return [_need_hash(h, f"proof element {i}", error) for i, h in enumerate(proof)]


def _need_reader(read: object) -> None:
    if not callable(read):
        raise InputError("read must be a function (level, index) -> 32-byte hash")


def _read(read: NodeReader, level: int, index: int) -> bytes:
    h = read(level, index)
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        got = f"{len(h)} bytes" if isinstance(h, bytes) else type(h).__name__
        raise InputError(f"the node reader gave {got} for node ({level}, {index}), not a {HASH_SIZE}-byte hash")
    return h


# --- proof shape --------------------------------------------------------------------------------


def _split(width: int) -> int:
    """The largest power of two strictly below ``width`` (``width >= 2``): where ``MTH`` splits."""
    return 1 << ((width - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _path_shape(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the proof for leaf ``index`` in a tree of ``size`` leaves.

    The paths from the root to ``index`` and to ``size - 1`` share every level from ``inner`` up; below it
    they differ. Above that point the path runs down the tree's right edge, where a level contributes a
    (left) sibling exactly when the corresponding bit of ``index`` is set.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _climb(seed: bytes, index: int, inner: Sequence[bytes], border: Sequence[bytes]) -> bytes:
    h = seed
    for level, sibling in enumerate(inner):
        h = _children(sibling, h) if (index >> level) & 1 else _children(h, sibling)
    for sibling in border:
        h = _children(sibling, h)
    return h


# --- verification -------------------------------------------------------------------------------


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` puts ``leaf_hash`` at ``index`` in the ``size``-leaf tree whose root is ``root``.

    Returns ``None`` on success; raises :class:`~provchain.errors.InclusionError` on any failure.
    """
    index = _need_count(index, "the leaf index", InclusionError)
    size = _need_count(size, "the tree size", InclusionError)
    if index >= size:
        raise InclusionError(f"leaf index {index} is not inside a tree of {size} leaves")
    _need_hash(leaf_hash, "the leaf hash", InclusionError)
    _need_hash(root, "the root", InclusionError)
    path = _need_proof(proof, InclusionError)
    inner, border = _path_shape(index, size)
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
    size1 = _need_count(size1, "size1", ConsistencyError)
    size2 = _need_count(size2, "size2", ConsistencyError)
    if size1 > size2:
        raise ConsistencyError(f"size1 ({size1}) is larger than size2 ({size2}): a log never shrinks")
    _need_hash(root1, "root1", ConsistencyError)
    _need_hash(root2, "root2", ConsistencyError)
    path = _need_proof(proof, ConsistencyError)
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
    size1 = _need_count(size1, "size1", ConsistencyError)
    size2 = _need_count(size2, "size2", ConsistencyError)
    if not 0 < size1 < size2:
        raise ConsistencyError(f"consistency roots need 0 < size1 < size2, not {size1} and {size2}")
    path = _need_proof(proof, ConsistencyError)
    if size1 & (size1 - 1) == 0:
        if root1 is None:
            raise ConsistencyError(f"the proof from a tree of {size1} leaves (a power of two) does not hold its root")
        _need_hash(root1, "root1", ConsistencyError)
    return _consistency_roots(size1, size2, path, root1)


def _consistency_roots(size1: int, size2: int, path: list[bytes], root1: bytes | None) -> tuple[bytes, bytes]:
    # The last complete subtree of the old tree, node (level, node) ending at size1, is the seed. If size1
    # is a power of two that subtree is the old tree itself, root1, and the proof leaves it out. The rest
    # of the proof is that node's inclusion path in the new tree.
    level = _trailing_zeros(size1)
    node = (size1 - 1) >> level
    inner, border = _path_shape(size1 - 1, size2)
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


# --- planning -----------------------------------------------------------------------------------


def subtree_nodes(begin: int, end: int) -> list[tuple[int, int]]:
    """The complete aligned subtrees ``(level, index)`` that make up leaves ``[begin, end)``, left to right.

    The range must satisfy ``0 <= begin < end`` with ``begin`` a multiple of the largest power of two
    ``<= end - begin`` (every root and proof range does); otherwise :class:`~provchain.errors.InputError`.
    """
    if not (_is_count(begin) and _is_count(end) and begin < end):
        raise InputError(f"a leaf range needs integers 0 <= begin < end, got [{begin!r}, {end!r})")
    width = end - begin
    top = width.bit_length() - 1
    if begin & ((1 << top) - 1):
        raise InputError(
            f"the leaf range [{begin}, {end}) is not aligned: begin must be a multiple of {1 << top}, "
            "the largest power of two not above its width"
        )
    nodes = []
    pos = begin
    for level in range(top, -1, -1):
        if (width >> level) & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def range_hash(begin: int, end: int, read: NodeReader) -> bytes:
    """``MTH(D[begin:end])``, combined from the hashes ``read(level, index)`` of its :func:`subtree_nodes`."""
    _need_reader(read)
    return fold([_read(read, level, index) for level, index in subtree_nodes(begin, end)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf range ``[a, b)`` of each inclusion proof element for ``index`` in ``size``, in proof order.

    This is RFC 9162 ``PATH(index, D[size])``, bottom up. Raises :class:`~provchain.errors.InputError` unless
    ``0 <= index < size``.
    """
    if not (_is_count(index) and _is_count(size) and index < size):
        raise InputError(f"leaf index {index!r} is out of range for a tree of {size!r} leaves")
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
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
    if not (_is_count(size1) and _is_count(size2)):
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
        mid = lo + _split(hi - lo)
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


def _decompose(begin: int, end: int) -> list[tuple[int, int]]:
    """:func:`subtree_nodes` without the argument checks, for ranges the planners produced."""
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


def inclusion_plan(index: int, size: int) -> list[list[tuple[int, int]]]:
    """For each inclusion proof element, in proof order, the stored nodes whose hashes :func:`fold` into it.

    Planning once and assembling from the plan lets a store fetch every node in one query and build the
    proof without planning it again. The plan is read off the bits: below the level where the paths to
    ``index`` and to ``size - 1`` part (the *inner* part), each sibling is a complete subtree, except the
    highest, which is everything right of ``index``'s subtree up to ``size``; above it (the *border*),
    a left sibling for each set bit of ``index``. :func:`inclusion_ranges` computes the same ranges the
    slow way, and the tests hold the two to each other.
    """
    if not (_is_count(index) and _is_count(size) and index < size):
        raise InputError(f"leaf index {index!r} is out of range for a tree of {size!r} leaves")
    inner = (index ^ (size - 1)).bit_length()
    plan: list[list[tuple[int, int]]] = [[(level, (index >> level) ^ 1)] for level in range(inner - 1)]
    if inner:
        top = inner - 1
        plan.append(_decompose(((index >> top) + 1) << top, size))
    for level in range(inner, size.bit_length()):
        if (index >> level) & 1:
            plan.append([(level, (index >> level) ^ 1)])
    return plan


def consistency_plan(size1: int, size2: int) -> list[list[tuple[int, int]]]:
    """For each consistency proof element, in proof order, the stored nodes that :func:`fold` into it."""
    return [_decompose(a, b) for a, b in consistency_ranges(size1, size2)]


def fold(hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a leaf range from the hashes of its complete subtrees, given left to right (a right fold)."""
    if not isinstance(hashes, list | tuple) or not hashes:
        raise InputError("fold takes a non-empty list of subtree hashes")
    for n, value in enumerate(hashes):
        _need_hash(value, f"subtree hash {n}", InputError)
    h: bytes = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = _children(left, h)
    return h


def assemble(plan: Sequence[Sequence[tuple[int, int]]], read: NodeReader) -> list[bytes]:
    """The proof elements of a plan, from the node hashes ``read(level, index)`` (each length-checked)."""
    _need_reader(read)
    if not isinstance(plan, list | tuple) or not all(
        isinstance(nodes, list | tuple)
        and nodes
        and all(isinstance(n, tuple) and len(n) == 2 and _is_count(n[0]) and _is_count(n[1]) for n in nodes)
        for nodes in plan
    ):
        raise InputError("a plan is a list of non-empty lists of (level, index) pairs, as inclusion_plan makes")
    return [fold([_read(read, level, i) for level, i in nodes]) for nodes in plan]


def inclusion_nodes(index: int, size: int) -> list[tuple[int, int]]:
    """Every stored node :func:`inclusion_proof_from` reads for ``index`` in ``size``: one query's worth."""
    return [n for nodes in inclusion_plan(index, size) for n in nodes]


def consistency_nodes(size1: int, size2: int) -> list[tuple[int, int]]:
    """Every stored node that :func:`consistency_proof_from` reads for ``size1`` to ``size2``."""
    return [n for nodes in consistency_plan(size1, size2) for n in nodes]


def root_from(size: int, read: NodeReader) -> bytes:
    """The root of the tree of ``size`` leaves, from the nodes ``subtree_nodes(0, size)``."""
    if not _is_count(size):
        raise InputError(f"the tree size must be a non-negative integer, not {size!r}")
    return EMPTY_ROOT if size == 0 else range_hash(0, size, read)


def inclusion_proof_from(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The inclusion proof for leaf ``index`` in the tree of ``size`` leaves, from stored nodes."""
    return assemble(inclusion_plan(index, size), read)


def consistency_proof_from(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """The consistency proof from the tree of ``size1`` leaves to the one of ``size2``, from stored nodes."""
    return assemble(consistency_plan(size1, size2), read)


def parent_nodes(index: int) -> list[tuple[int, int]]:
    """The nodes ``(level, index)`` that become complete when leaf ``index`` is appended, bottom up.

    The leaf itself, ``(0, index)``, is not included. There is one node per trailing 1 bit of ``index``.
    """
    if not _is_count(index):
        raise InputError(f"a leaf index must be a non-negative integer, not {index!r}")
    nodes = []
    level = 1
    while (index >> (level - 1)) & 1:
        nodes.append((level, index >> level))
        level += 1
    return nodes


def left_siblings(index: int) -> list[tuple[int, int]]:
    """The nodes :func:`parent_hashes` reads for leaf ``index``: the left child of each parent node."""
    return [(level - 1, 2 * i) for level, i in parent_nodes(index)]


def parent_hashes(index: int, leaf_hash: bytes, read: NodeReader) -> list[tuple[int, int, bytes]]:
    """``(level, index, hash)`` of each node of :func:`parent_nodes`, given the new leaf's hash.

    ``read`` must return the left siblings named by :func:`left_siblings` (already stored).
    """
    h = _need_hash(leaf_hash, "the leaf hash", InputError)
    if not _is_count(index):
        raise InputError(f"a leaf index must be a non-negative integer, not {index!r}")
    # parent_nodes, walked in place: every append and every audited entry comes through here
    out = []
    level, i = 0, index
    while i & 1:
        left = read(level, i - 1)
        if type(left) is not bytes or len(left) != HASH_SIZE:
            _read(read, level, i - 1)  # raises the reader error, with its message
        h = _sha256(NODE_PREFIX + left + h).digest()
        level += 1
        i >>= 1
        out.append((level, i, h))
    return out


# --- in-memory trees ----------------------------------------------------------------------------


def _leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``leaf_hashes`` as a list, after checking that it is a sequence of 32-byte hashes."""
    if isinstance(leaf_hashes, bytes | bytearray | memoryview | str) or not isinstance(leaf_hashes, Sequence):
        raise InputError(f"leaf hashes must be a sequence of hashes, not {type(leaf_hashes).__name__}")
    leaves = list(leaf_hashes)
    for i, h in enumerate(leaves):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            _need_hash(h, f"leaf hash {i}", InputError)
    return leaves


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete node of the tree over the (checked) ``leaves``: ``levels[level][index]``."""
    current = leaves
    levels = [current]
    sha, prefix = _sha256, NODE_PREFIX
    while len(current) > 1:
        current = [sha(prefix + a + b).digest() for a, b in zip(current[0::2], current[1::2], strict=False)]
        levels.append(current)
    return levels


def _memory_reader(levels: list[list[bytes]]) -> NodeReader:
    def read(level: int, index: int) -> bytes:
        return levels[level][index]

    return read


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of the tree whose leaves have these 32-byte hashes; :data:`EMPTY_ROOT` when there are none."""
    leaves = _leaves(leaf_hashes)
    return root_from(len(leaves), _memory_reader(_levels(leaves)))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The RFC 9162 inclusion proof for leaf ``index`` in the tree over ``leaf_hashes``.

    Raises :class:`~provchain.errors.InputError` unless ``0 <= index < len(leaf_hashes)``.
    """
    leaves = _leaves(leaf_hashes)
    inclusion_ranges(index, len(leaves))  # check the index before hashing anything
    return inclusion_proof_from(index, len(leaves), _memory_reader(_levels(leaves)))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the first ``size1`` leaves to all of ``leaf_hashes``.

    Raises :class:`~provchain.errors.InputError` if ``size1 > len(leaf_hashes)`` or
    ``size1 == 0 < len(leaf_hashes)``.
    """
    leaves = _leaves(leaf_hashes)
    consistency_ranges(size1, len(leaves))  # check size1 before hashing anything
    return consistency_proof_from(size1, len(leaves), _memory_reader(_levels(leaves)))
