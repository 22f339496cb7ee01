"""Strictness checks that every provchain Ed25519 verification applies before the library verify.

The backends disagree on edge cases: OpenSSL (through ``cryptography``) accepts small-order and
mixed-order keys and ``R`` values as long as the cofactorless equation holds; libsodium rejects
small-order points by a blocklist and keys with a torsion component. So that a signature gets the same
verdict from every verifier (OpenSSL, libsodium, or one written from the spec), provchain rejects,
before calling the library (see docs/notes/ed25519.md):

* ``S >= L`` (the group order);
* a public key ``A`` that is not the canonical encoding of a point of the prime-order subgroup other
  than the identity: encoded ``y >= p``, not on the curve, ``x = 0`` with the sign bit set, small order,
  or mixed order (a non-zero torsion component);
* an ``R`` whose encoded ``y >= p`` or that is one of the 14 encodings of the 8 small-order points.

The library then checks the cofactorless equation ``encode([S]B - [k]A) == R``. Because ``A`` has no
torsion component, that equation also rejects every ``R`` with a torsion component, so the verdict is
the same as the cofactored equation ``[8]R == [8]([S]B - [k]A)`` plus "``R`` is in the prime-order
subgroup".

The key check costs one scalar multiplication in pure Python (about a millisecond); its result is
cached per key, and the few keys of a ledger are checked once. The ``R`` and ``S`` checks are a set
lookup and two integer comparisons. Everything here is computed from the curve equation, not copied
from a table.
"""

from __future__ import annotations

from functools import lru_cache

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
_D2 = 2 * D % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]
"""A point in extended twisted Edwards coordinates ``(X, Y, Z, T)``: ``x = X/Z, y = Y/Z, xy = T/Z``."""

IDENTITY: Point = (0, 1, 1, 0)


def _sqrt(a: int) -> int | None:
    """A square root of ``a`` mod p, or None when ``a`` is not a square."""
    a %= P
    r = pow(a, (P + 3) // 8, P)
    if (r * r - a) % P != 0:
        r = r * _SQRT_M1 % P
    if (r * r - a) % P != 0:
        return None
    return r


def recover_x(y: int, sign: int) -> int | None:
    """The x-coordinate with parity ``sign`` of the curve point with y-coordinate ``y``, or None."""
    y2 = y * y % P
    x = _sqrt((y2 - 1) * pow(D * y2 + 1, P - 2, P))
    if x is None or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return x


def decode_point(enc: bytes) -> Point | None:
    """Decode a 32-byte point encoding strictly (RFC 8032 section 5.1.3), or None if it is not canonical.

    Rejects ``y >= p``, values of ``y`` that are not on the curve, and ``x = 0`` with the sign bit set.
    """
    if len(enc) != 32:
        return None
    n = int.from_bytes(enc, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P:
        return None
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def point_add(p: Point, q: Point) -> Point:
    """``p + q`` (complete formula for a = -1, valid for doubling too)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * _D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_mul(k: int, p: Point) -> Point:
    """``[k]p`` by double-and-add (variable time: only ever used on public data)."""
    q = IDENTITY
    while k > 0:
        if k & 1:
            q = point_add(q, p)
        p = point_add(p, p)
        k >>= 1
    return q


def is_identity(p: Point) -> bool:
    """True if ``p`` is the neutral element."""
    x, y, z, _ = p
    return x % P == 0 and (y - z) % P == 0


def _encodings(y: int) -> set[bytes]:
    """Both sign-bit encodings of the y-coordinate ``y`` (the sign bit is the top bit)."""
    b = bytearray(y.to_bytes(32, "little"))
    out = {bytes(b)}
    b[31] |= 0x80
    out.add(bytes(b))
    return out


def _small_order_encodings() -> frozenset[bytes]:
    ys = {1, P - 1, 0}  # order 1 (identity), order 2, order 4 (x = +-sqrt(-1), y = 0)
    # order 8: 2P has y = 0, so x = +-i*y, hence d*y^4 + 2*y^2 - 1 = 0.
    inv_d = pow(D, P - 2, P)
    root = _sqrt(1 + D)
    if root is not None:
        for s in (root, P - root):
            y2 = (-1 + s) * inv_d % P
            y = _sqrt(y2)
            if y is not None:
                ys.update({y, P - y})
    out: set[bytes] = set()
    for y in ys:
        out |= _encodings(y)
        if y + P < 2**255:  # a non-reduced encoding of the same y
            out |= _encodings(y + P)
    return frozenset(out)


SMALL_ORDER = _small_order_encodings()
"""The 14 encodings (8 points, 6 of them also in a non-canonical form) of the points of order 1, 2, 4, 8."""


def _y_reduced(enc: bytes) -> bool:
    return (int.from_bytes(enc, "little") & ((1 << 255) - 1)) < P


@lru_cache(maxsize=4096)
def _key_acceptable(public_key: bytes) -> bool:
    a = decode_point(public_key)
    if a is None or public_key in SMALL_ORDER:
        return False
    return is_identity(point_mul(L, a))


def key_acceptable(public_key: bytes) -> bool:
    """True if ``public_key`` is the canonical encoding of a point of the prime-order subgroup, not the identity.

    This rejects small-order keys and mixed-order keys (a prime-order point plus a torsion component),
    which libsodium rejects and OpenSSL accepts. The result is cached per key.
    """
    return isinstance(public_key, bytes) and len(public_key) == 32 and _key_acceptable(public_key)


def signature_acceptable(signature: bytes) -> bool:
    """True if ``S < L`` and ``R`` has a reduced y-coordinate and is not a small-order point."""
    r, s = signature[:32], signature[32:]
    return int.from_bytes(s, "little") < L and r not in SMALL_ORDER and _y_reduced(r)


def acceptable(public_key: bytes, signature: bytes) -> bool:
    """True if the key and signature pass the strictness rules (lengths are checked by the caller)."""
    return signature_acceptable(signature) and key_acceptable(public_key)
