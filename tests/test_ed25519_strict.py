"""One Ed25519 verdict whatever the backend: OpenSSL (cryptography) or libsodium (PyNaCl), or a verifier
written from the policy in docs/notes/ed25519.md.

Data: tests/vectors/ed25519/ (C2SP/CCTV edge cases and RFC 8032 section 7.1; see SOURCE.md there).
A slow reference implementation of the policy, written here from the curve equations, cross-checks
``provchain.keys.verify_signature`` on every vector.
"""

from __future__ import annotations

import collections
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain._internal import ed25519_strict as strict
from provchain._internal.ed25519_strict import L, P, Point
from provchain.errors import KeyFormatError, SignatureError
from provchain.keys import KeyPair, verify_signature

try:
    import nacl.exceptions
    import nacl.signing

    HAVE_NACL = True
except ImportError:  # PyNaCl is optional; the libsodium half of the agreement tests needs it
    HAVE_NACL = False

needs_nacl = pytest.mark.skipif(not HAVE_NACL, reason="PyNaCl (libsodium) is not installed")

VECTORS = Path(__file__).parent / "vectors" / "ed25519"
CCTV_SHA256 = "b38e84caf3e7e89170ff520292dbeae421b0a794c27408ce5ce973018fe3d7f9"
ACCEPTED_BY_POLICY = {305}  # the only CCTV vector without any flag


@dataclass(frozen=True)
class Case:
    number: int
    key: bytes
    msg: bytes
    sig: bytes
    flags: frozenset[str]


def _load_cctv() -> list[Case]:
    raw = json.loads((VECTORS / "ed25519vectors.json").read_text("utf-8"))
    return [
        Case(
            v["number"],
            bytes.fromhex(v["key"]),
            v["msg"].encode(),
            bytes.fromhex(v["sig"]),
            frozenset(v["flags"] or ()),
        )
        for v in raw
    ]


CCTV = _load_cctv()
RFC8032 = json.loads((VECTORS / "rfc8032.json").read_text("utf-8"))["vectors"]


# --- the backends, raw ------------------------------------------------------------------------------


def openssl_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def libsodium_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
    except nacl.exceptions.CryptoError:  # BadSignatureError and friends
        return False
    return True


def provchain_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        verify_signature(pk, msg, sig)
    except SignatureError:
        return False
    return True


# --- a slow reference implementation of the policy ------------------------------------------------

B = strict.decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))
assert B is not None


def same(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def neg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def encode(p: Point) -> bytes:
    zi = pow(p[2], P - 2, P)
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode_loose(enc: bytes) -> Point | None:
    """ZIP215-style decoding: y is taken mod p, and x = 0 with the sign bit set is allowed."""
    n = int.from_bytes(enc, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    x = strict.recover_x(y, 0)
    if x is None:
        return None
    if x & 1 != sign:
        x = (P - x) % P
    return (x, y, 1, x * y % P)


@cache
def _doublings(enc: bytes | None) -> tuple[Point, ...]:
    """[2^i]X for i < 256, where X is the loosely decoded ``enc`` (or B when ``enc`` is None)."""
    p = B if enc is None else decode_loose(enc)
    assert p is not None
    out = []
    for _ in range(256):
        out.append(p)
        p = strict.point_add(p, p)
    return tuple(out)


def mul(k: int, enc: bytes | None) -> Point:
    """[k]X with a cached table of doublings of X (X = decode_loose(enc), or B)."""
    q = strict.IDENTITY
    for i, p in enumerate(_doublings(enc)):
        if k >> i & 1:
            q = strict.point_add(q, p)
    return q


@cache
def order_facts(enc: bytes) -> tuple[bool, bool]:
    """(small order, has a torsion component) for the loosely decoded point ``enc``."""
    small = strict.is_identity(mul(8, enc))
    torsion = not strict.is_identity(mul(L, enc))
    return small, torsion


def challenge(r: bytes, a: bytes, msg: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + msg).digest(), "little") % L


def spec_accepts(pk: bytes, msg: bytes, sig: bytes, *, cofactored: bool) -> bool:
    """The documented policy, from the curve equations (no blocklist, no library).

    ``cofactored`` selects the equation: [8]([S]B) == [8](R + [k]A) with R required to be torsion-free,
    or the cofactorless encode([S]B - [k]A) == R. The policy says the two must agree.
    """
    if len(pk) != 32 or len(sig) != 64:
        return False
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    if s >= L or strict.decode_point(pk) is None or strict.decode_point(r) is None:
        return False
    a_small, a_torsion = order_facts(pk)
    r_small, r_torsion = order_facts(r)
    if a_small or a_torsion or r_small:
        return False
    k = challenge(r, pk, msg)
    if cofactored:
        if r_torsion:
            return False
        lhs = mul(8 * s, None)
        rhs = strict.point_add(mul(8, r), mul(8 * k, pk))
        return same(lhs, rhs)
    return encode(strict.point_add(mul(s, None), neg(mul(k, pk)))) == r


# --- the data ---------------------------------------------------------------------------------------


def test_cctv_file_is_the_published_one() -> None:
    data = (VECTORS / "ed25519vectors.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CCTV_SHA256
    assert [c.number for c in CCTV] == list(range(914))


def test_cctv_flags_match_the_curve() -> None:
    for c in CCTV:
        r = c.sig[:32]
        a_small, a_torsion = order_facts(c.key)
        r_small, r_torsion = order_facts(r)
        assert ("low_order_A" in c.flags) == a_small, c.number
        assert ("low_order_R" in c.flags) == r_small, c.number
        assert ("low_order_component_A" in c.flags) == a_torsion, c.number
        assert ("low_order_component_R" in c.flags) == r_torsion, c.number
        assert ("non_canonical_A" in c.flags) == (strict.decode_point(c.key) is None), c.number
        assert ("non_canonical_R" in c.flags) == (strict.decode_point(r) is None), c.number


def test_every_cctv_vector_is_a_signature_under_the_loosest_rule() -> None:
    """All vectors satisfy the cofactored equation with loose decoding (ZIP215), so every rejection
    below comes from the strictness policy, not from a broken signature."""
    for c in CCTV:
        r, s = c.sig[:32], int.from_bytes(c.sig[32:], "little")
        pr, pa = decode_loose(r), decode_loose(c.key)
        assert pr is not None and pa is not None
        # reencoded_k vectors hash the canonical re-encodings of A and R
        reencoded = "reencoded_k" in c.flags
        k = challenge(encode(pr), encode(pa), c.msg) if reencoded else challenge(r, c.key, c.msg)
        lhs = mul(8 * s, None)
        rhs = strict.point_add(mul(8, r), mul(8 * k, c.key))
        assert same(lhs, rhs), c.number
        if "reencoded_k" not in c.flags:
            cofactorless = same(mul(s, None), strict.point_add(pr, mul(k, c.key)))
            assert cofactorless == ("low_order_residue" not in c.flags), c.number


def test_small_order_table_is_exactly_the_published_low_order_encodings() -> None:
    published = {c.key for c in CCTV if "low_order_A" in c.flags}
    published |= {c.sig[:32] for c in CCTV if "low_order_R" in c.flags}
    assert len(published) == 14
    assert published == strict.SMALL_ORDER


# --- the policy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdicts:
    openssl: bool
    libsodium: bool
    prechecks: bool
    provchain: bool
    spec_cofactorless: bool
    spec_cofactored: bool


@cache
def cctv_verdicts() -> dict[int, Verdicts]:
    out = {}
    for c in CCTV:
        out[c.number] = Verdicts(
            openssl=openssl_accepts(c.key, c.msg, c.sig),
            libsodium=libsodium_accepts(c.key, c.msg, c.sig),
            prechecks=strict.acceptable(c.key, c.sig),
            provchain=provchain_accepts(c.key, c.msg, c.sig),
            spec_cofactorless=spec_accepts(c.key, c.msg, c.sig, cofactored=False),
            spec_cofactored=spec_accepts(c.key, c.msg, c.sig, cofactored=True),
        )
    return out


@needs_nacl
def test_both_backends_give_the_same_verdict_on_every_cctv_vector() -> None:
    verdicts = cctv_verdicts()
    mismatches = {
        n: v
        for n, v in verdicts.items()
        if not (
            v.provchain
            == (v.openssl and v.prechecks)
            == (v.libsodium and v.prechecks)
            == v.spec_cofactorless
            == v.spec_cofactored
        )
    }
    assert not mismatches
    # "accept only when libsodium accepts AND the pre-checks pass"
    assert all(v.provchain == (v.libsodium and v.prechecks) for v in verdicts.values())
    assert {n for n, v in verdicts.items() if v.provchain} == ACCEPTED_BY_POLICY


@needs_nacl
def test_agreement_table_per_flag() -> None:
    """The per-flag counts of docs/notes/ed25519.md (provchain's column is the policy; the raw backend
    columns describe the installed libraries, cryptography 50 / OpenSSL and PyNaCl 1.6 / libsodium)."""
    verdicts = cctv_verdicts()
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for c in CCTV:
        v = verdicts[c.number]
        for flag in c.flags or {"(none)"}:
            row = table[flag]
            row["vectors"] += 1
            row["openssl"] += v.openssl
            row["libsodium"] += v.libsodium
            row["provchain"] += v.provchain
    for flag in (
        "low_order_A",
        "low_order_R",
        "non_canonical_A",
        "non_canonical_R",
        "low_order_component_A",
        "low_order_component_R",
        "low_order_residue",
        "reencoded_k",
    ):
        assert table[flag]["provchain"] == 0, flag
        # libsodium itself already rejects the small-order and non-canonical points
        if flag in ("low_order_A", "low_order_R", "non_canonical_A", "non_canonical_R", "low_order_residue"):
            assert table[flag]["libsodium"] == 0, flag
    assert table["(none)"] == collections.Counter(vectors=1, openssl=1, libsodium=1, provchain=1)


def test_mixed_order_keys_are_refused_even_where_the_equation_holds() -> None:
    """The decision for mixed-order A: refused. Both libraries accept such a key when the torsion
    parts cancel (cofactorless); a cofactored verifier would also accept it when they do not."""
    mixed = [c for c in CCTV if c.flags == {"low_order_component_A"}]
    assert len(mixed) == 7  # one per mixed-order key in the set
    for c in mixed:
        assert openssl_accepts(c.key, c.msg, c.sig)
        assert not strict.key_acceptable(c.key)
        assert not provchain_accepts(c.key, c.msg, c.sig)
        if HAVE_NACL:
            assert libsodium_accepts(c.key, c.msg, c.sig)


def test_mixed_order_r_is_refused_by_the_equation_once_a_is_torsion_free() -> None:
    """The decision for mixed-order R: no extra check. With a torsion-free A, encode([S]B - [k]A) is in
    the prime-order subgroup, so no R with a torsion component can equal it."""
    cases = [c for c in CCTV if "low_order_component_R" in c.flags and strict.acceptable(c.key, c.sig)]
    assert cases  # key ef75b20e..., which is torsion-free
    for c in cases:
        assert "low_order_residue" in c.flags
        assert not openssl_accepts(c.key, c.msg, c.sig)
        assert not provchain_accepts(c.key, c.msg, c.sig)
        assert not spec_accepts(c.key, c.msg, c.sig, cofactored=True)
        if HAVE_NACL:
            assert not libsodium_accepts(c.key, c.msg, c.sig)


# --- RFC 8032 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vec", RFC8032, ids=[v["name"] for v in RFC8032])
def test_rfc8032_vectors_verify(vec: dict[str, str]) -> None:
    pk, msg, sig = (bytes.fromhex(vec[k]) for k in ("public_key", "message", "signature"))
    kp = KeyPair.from_seed("rfc8032", bytes.fromhex(vec["secret_key"]))
    assert kp.public_key == pk
    assert kp.sign(msg) == sig
    verify_signature(pk, msg, sig)
    assert strict.acceptable(pk, sig)
    assert openssl_accepts(pk, msg, sig)
    assert spec_accepts(pk, msg, sig, cofactored=False)
    assert spec_accepts(pk, msg, sig, cofactored=True)
    if HAVE_NACL:
        assert libsodium_accepts(pk, msg, sig)
    with pytest.raises(SignatureError):
        verify_signature(pk, msg + b"x", sig)


def test_rfc8032_sha_abc_message() -> None:
    (vec,) = [v for v in RFC8032 if v["name"] == "TEST SHA(abc)"]
    assert bytes.fromhex(vec["message"]) == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("multiple", [1, 2, 15])
def test_s_at_or_above_l_is_refused(multiple: int) -> None:
    """S + n*L satisfies the same equation ([S + nL]B = [S]B), so only the S < L rule refuses it."""
    vec = RFC8032[0]
    pk, msg, sig = (bytes.fromhex(vec[k]) for k in ("public_key", "message", "signature"))
    s = int.from_bytes(sig[32:], "little") + multiple * L
    bad = sig[:32] + s.to_bytes(32, "little")
    assert same(mul(s, None), mul(s - multiple * L, None))
    assert not strict.signature_acceptable(bad)
    assert not provchain_accepts(pk, msg, bad)
    assert not openssl_accepts(pk, msg, bad)
    if HAVE_NACL:
        assert not libsodium_accepts(pk, msg, bad)


def test_non_canonical_encodings_beyond_the_small_order_points() -> None:
    """y + p encodings of points with a small y (not only the low-order ones the CCTV set covers)."""
    found = 0
    for y in range(19):
        for sign in (0, 1):
            if strict.recover_x(y, sign) is None:
                continue
            enc = ((y + P) | sign << 255).to_bytes(32, "little")
            found += 1
            assert strict.decode_point(enc) is None
            assert not strict.key_acceptable(enc)
            assert not strict.signature_acceptable(enc + bytes(32))
    assert found >= 10


# --- honest keys and wrong lengths ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=200))
def test_honest_signatures_always_pass(seed: bytes, msg: bytes) -> None:
    kp = KeyPair.from_seed("honest", seed)
    sig = kp.sign(msg)
    assert strict.key_acceptable(kp.public_key)
    verify_signature(kp.public_key, msg, sig)
    if HAVE_NACL:
        assert libsodium_accepts(kp.public_key, msg, sig)


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_signature_of_wrong_length_raises_signature_error(length: int) -> None:
    kp = KeyPair.from_seed("k", bytes(32))
    sig = (kp.sign(b"m") * 3)[:length]
    with pytest.raises(SignatureError):
        verify_signature(kp.public_key, b"m", sig)


@pytest.mark.parametrize("bad", ["a" * 64, bytearray(64), None])
def test_signature_of_wrong_type_raises_signature_error(bad: object) -> None:
    kp = KeyPair.from_seed("k", bytes(32))
    with pytest.raises(SignatureError):
        verify_signature(kp.public_key, b"m", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_key_of_wrong_length_raises_key_format_error(length: int) -> None:
    kp = KeyPair.from_seed("k", bytes(32))
    sig = kp.sign(b"m")
    with pytest.raises(KeyFormatError):
        verify_signature((kp.public_key * 2)[:length], b"m", sig)


def test_key_of_wrong_type_raises_key_format_error() -> None:
    kp = KeyPair.from_seed("k", bytes(32))
    with pytest.raises(KeyFormatError):
        verify_signature(bytearray(kp.public_key), b"m", kp.sign(b"m"))  # type: ignore[arg-type]


def test_key_acceptable_refuses_what_verification_would_refuse() -> None:
    assert strict.key_acceptable(KeyPair.from_seed("k", bytes(32)).public_key)
    assert not strict.key_acceptable(b"")
    assert not strict.key_acceptable(bytes(33))
    assert not strict.key_acceptable("x" * 32)  # type: ignore[arg-type]
    for enc in strict.SMALL_ORDER:
        assert not strict.key_acceptable(enc)
    not_on_curve = next(y.to_bytes(32, "little") for y in range(2, 100) if strict.recover_x(y, 0) is None)
    assert not strict.key_acceptable(not_on_curve)
