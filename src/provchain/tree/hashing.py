"""RFC 9162 hashing: the two domain-separated hashes, the fold of a range, and the argument checks.

A leaf is hashed as ``SHA-256(0x00 || data)``, an interior node as ``SHA-256(0x01 || left || right)``;
the empty tree's root is ``SHA-256("")``. Every hash of the tree goes through :func:`children` or
:func:`leaf_hash` here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from .._internal.validate import ErrorFactory, check_int
from ..errors import InputError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "NodeReader",
    "children",
    "fold",
    "is_count",
    "leaf_hash",
    "levels",
    "need_count",
    "need_hash",
    "need_proof",
    "need_reader",
    "node_hash",
    "read_checked",
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

_sha256 = hashlib.sha256  # the one hash primitive; every hash of the tree goes through this name


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 hash of a leaf: ``SHA-256(0x00 || data)``."""
    if not isinstance(data, bytes):
        raise InputError(f"leaf data must be bytes, not {type(data).__name__}")
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``; both children are 32 bytes."""
    need_hash(left, "the left child hash", InputError)
    need_hash(right, "the right child hash", InputError)
    return _sha256(NODE_PREFIX + left + right).digest()


def children(left: bytes, right: bytes) -> bytes:
    """:func:`node_hash` without the checks, for hashes already known to be 32 bytes."""
    return _sha256(NODE_PREFIX + left + right).digest()


def fold(hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a leaf range from the hashes of its complete subtrees, given left to right (a right fold)."""
    if not isinstance(hashes, list | tuple) or not hashes:
        raise InputError("fold takes a non-empty list of subtree hashes")
    for n, value in enumerate(hashes):
        need_hash(value, f"subtree hash {n}", InputError)
    h: bytes = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = _sha256(NODE_PREFIX + left + h).digest()
    return h


def levels(row: list[bytes]) -> list[list[bytes]]:
    """Every complete node over the (checked) hashes of one level, given left to right: ``out[r][j]`` is the
    node ``r`` levels up, ``j``-th from the left (an odd hash out at the right of a row has no parent)."""
    out = [row]
    sha, prefix = _sha256, NODE_PREFIX
    while len(row) > 1:
        row = [sha(prefix + a + b).digest() for a, b in zip(row[0::2], row[1::2], strict=False)]
        out.append(row)
    return out


# --- argument checks ----------------------------------------------------------------------------


def is_count(value: object) -> bool:
    """Is ``value`` a non-negative integer (and not a bool)?"""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def need_count(value: object, what: str, error: ErrorFactory) -> int:
    """``value`` if it is a non-negative integer, else ``error``."""
    return check_int(value, what, error, 0, message=f"{what} must be a non-negative integer, not {value!r}")


def need_hash(value: object, what: str, error: type[Exception]) -> bytes:
    """``value`` if it is a 32-byte hash, else ``error`` saying what it is instead."""
    if not isinstance(value, bytes):
        raise error(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return value


def need_proof(proof: object, error: type[ProofError]) -> list[bytes]:
    """A proof as a list of 32-byte hashes, else ``error``."""
    if isinstance(proof, bytes | bytearray | memoryview | str) or not isinstance(proof, Sequence):
        raise error(f"a proof must be a sequence of hashes, not {type(proof).__name__}")
    return [need_hash(h, f"proof element {i}", error) for i, h in enumerate(proof)]


def need_reader(read: object) -> None:
    """Refuse a node reader that is not callable."""
    if not callable(read):
        raise InputError("read must be a function (level, index) -> 32-byte hash")


def read_checked(read: NodeReader, level: int, index: int) -> bytes:
    """``read(level, index)``, checked to be a 32-byte hash (:class:`~provchain.errors.InputError`)."""
    h = read(level, index)
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        got = f"{len(h)} bytes" if isinstance(h, bytes) else type(h).__name__
        raise InputError(f"the node reader gave {got} for node ({level}, {index}), not a {HASH_SIZE}-byte hash")
    return h
