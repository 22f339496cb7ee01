"""Strictness checks that every provchain Ed25519 verification applies before the library verify.

OpenSSL (through ``cryptography``) already rejects a non-canonical scalar ``S``; libsodium also rejects
small-order public keys and ``R`` values and non-canonical point encodings. To give the same verdict in
every verifier, provchain rejects, before calling the library:

* a public key or ``R`` whose encoded y-coordinate is not reduced (y >= p);
* a public key or ``R`` that is a point of small order (order 1, 2, 4 or 8), in any encoding;
* ``S >= L`` (the group order).

The small-order encodings are computed here from the curve equation, not copied from a table.
"""

from __future__ import annotations

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, P - 2, P)) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)


def _sqrt(a: int) -> int | None:
    """A square root of ``a`` mod p, or None when ``a`` is not a square."""
    a %= P
    r = pow(a, (P + 3) // 8, P)
    if (r * r - a) % P != 0:
        r = r * _SQRT_M1 % P
    if (r * r - a) % P != 0:
        return None
    return r


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
    inv_d = pow(_D, P - 2, P)
    root = _sqrt(1 + _D)
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


def _y_reduced(enc: bytes) -> bool:
    return (int.from_bytes(enc, "little") & ((1 << 255) - 1)) < P


def acceptable(public_key: bytes, signature: bytes) -> bool:
    """True if the key and signature pass the strictness rules (lengths are checked by the caller)."""
    r, s = signature[:32], signature[32:]
    if int.from_bytes(s, "little") >= L:
        return False
    for enc in (public_key, r):
        if enc in SMALL_ORDER or not _y_reduced(enc):
            return False
    return True
