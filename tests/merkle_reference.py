"""A slow, literal reading of RFC 9162 section 2.1, to cross-check :mod:`provchain.merkle`.

Everything here follows the RFC's own definitions, recursion for recursion, with no shortcuts: ``MTH``
(2.1.1), ``PATH`` (2.1.3.1), ``PROOF`` / ``SUBPROOF`` (2.1.4.1), and the two verification algorithms as the
RFC states them step by step (2.1.3.2 and 2.1.4.2). It works on the leaf *inputs* ``D[n]``, as the RFC does,
so it also checks leaf hashing. It is deliberately quadratic-ish and must only be used on small trees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 section 2.1.1."""
    n = len(d)
    if n == 0:
        return _hash(b"")
    if n == 1:
        return _hash(b"\x00" + d[0])
    k = _k(n)
    return _hash(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 section 2.1.3.1: the inclusion proof for leaf ``m``."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def path_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The leaf range covered by each element of PATH(m - lo, D[lo:hi]), in the same recursion as :func:`path`."""
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m - lo < k:
        return [*path_ranges(m, lo, lo + k), (lo + k, hi)]
    return [*path_ranges(m, lo + k, hi), (lo, lo + k)]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 section 2.1.4.1."""
    return subproof(m, d, True)


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 section 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int]]:
    """The leaf range of each element of SUBPROOF(m - lo, D[lo:hi], b), following :func:`subproof`."""
    if m == hi:
        return [] if b else [(lo, hi)]
    k = _k(hi - lo)
    if m - lo <= k:
        return [*subproof_ranges(m, lo, lo + k, b), (lo + k, hi)]
    return [*subproof_ranges(m, lo + k, hi, False), (lo, lo + k)]


def _lsb(x: int) -> bool:
    return x & 1 == 1


def rfc_verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, inclusion_path: Sequence[bytes], root_hash: bytes
) -> bool:
    """The inclusion verification algorithm of RFC 9162 section 2.1.3.2, step by step."""
    # 1.
    if leaf_index >= tree_size:
        return False
    # 2.
    fn, sn = leaf_index, tree_size - 1
    # 3.
    r = leaf_hash
    # 4.
    for p in inclusion_path:
        if sn == 0:  # a.
            return False
        if _lsb(fn) or fn == sn:  # b.
            r = _hash(b"\x01" + p + r)
            if not _lsb(fn):
                while not (_lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _hash(b"\x01" + r + p)
        fn >>= 1  # c.
        sn >>= 1
    # 5.
    return sn == 0 and r == root_hash


def rfc_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency_path: Sequence[bytes]
) -> bool:
    """The consistency verification algorithm of RFC 9162 section 2.1.4.2 (defined for ``0 < first < second``)."""
    assert 0 < first < second
    path_ = list(consistency_path)
    # 1.
    if not path_:
        return False
    # 2.
    if first & (first - 1) == 0:
        path_.insert(0, first_hash)
    # 3.
    fn, sn = first - 1, second - 1
    # 4.
    while _lsb(fn):
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path_[0]
    # 6.
    for c in path_[1:]:
        if sn == 0:  # a.
            return False
        if _lsb(fn) or fn == sn:  # b.
            fr = _hash(b"\x01" + c + fr)
            sr = _hash(b"\x01" + c + sr)
            if not _lsb(fn):
                while not (_lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _hash(b"\x01" + sr + c)
        fn >>= 1  # c.
        sn >>= 1
    # 7.
    return fr == first_hash and sr == second_hash and sn == 0
