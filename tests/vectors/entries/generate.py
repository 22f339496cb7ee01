"""Write the entry test vectors of docs/spec/entries.md: one JSON file per case.

Usage: ``python tests/vectors/entries/generate.py [OUTPUT_DIR]`` (default: this file's folder).

The script does not import provchain: it builds every body from the specification with plain msgpack,
hashlib and cryptography, so that the vectors cross-check the library instead of echoing it. The output
is deterministic (fixed seeds, fixed times, Ed25519 signatures are deterministic); tests/test_entries_vectors.py
runs the script again and requires identical files. The file format is described in README.md.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENTRY_DOMAIN = b"provchain/v1/entry\n"
ORIGIN = "example.com/acme-ledger"
T0 = 1_760_000_000_000  # 2025-10-09T08:53:20Z
HOUR = 3_600_000

# --- keys -------------------------------------------------------------------------------------------


class Key:
    """A deterministic named Ed25519 key."""

    def __init__(self, name: str, seed: bytes) -> None:
        self.name = name
        self.seed = seed
        self.private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id(name, self.public)

    def sign(self, body: bytes) -> bytes:
        return self.private.sign(ENTRY_DOMAIN + body)

    def json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "seed": self.seed.hex(),
            "public_key": self.public.hex(),
            "key_id": self.key_id.hex(),
        }


def key_id(name: str, public: bytes) -> bytes:
    """C2SP signed-note key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public).digest()[:4]


OPERATOR = Key(ORIGIN, bytes(range(32)))
ROLES = ["origin", "customs", "warehouse", "appraiser", "courier"]
PARTIES = {
    role: Key(name, bytes([i + 1]) * 32)
    for i, (role, name) in enumerate(
        zip(
            ROLES,
            ["grasse-labs", "shanghai-customs-broker", "hz-bonded-wh-3", "cciq-inspection", "sf-express"],
            strict=True,
        )
    )
}
MALLORY = Key("mallory", b"\x66" * 32)

# --- Ed25519 arithmetic (only to build the strictness vectors) ------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def _decode_point(enc: bytes) -> Point:
    n = int.from_bytes(enc, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, P - 2, P) % P
    r = pow(x, (P + 3) // 8, P)
    if (r * r - x) % P:
        r = r * pow(2, (P - 1) // 4, P) % P
    assert (r * r - x) % P == 0, "not on the curve"
    if r & 1 != sign:
        r = P - r
    return (r, y, 1, r * y % P)


def _encode_point(p: Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a, b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = 2 * D * t1 * t2 % P, 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(k: int, p: Point) -> Point:
    q = IDENTITY
    while k:
        if k & 1:
            q = _add(q, p)
        p, k = _add(p, p), k >> 1
    return q


BASE = _decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def _scalar(key: Key) -> int:
    h = bytearray(hashlib.sha512(key.seed).digest()[:32])
    h[0] &= 248
    h[31] = (h[31] & 127) | 64
    return int.from_bytes(h, "little")


def _challenge(r: bytes, a: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + message).digest(), "little") % L


def _order8_point() -> Point:
    """A point of order 8: the torsion part [L]Q of curve points Q, until one has order 8."""
    y = 2
    while True:
        try:
            q = _mul(L, _decode_point(y.to_bytes(32, "little")))
        except AssertionError:
            y += 1
            continue
        if _encode_point(_mul(4, q)) != _encode_point(IDENTITY):
            return q
        y += 1


def _lax_accepts(public: bytes, body: bytes, signature: bytes) -> bool:
    """Whether OpenSSL's cofactorless verification (through cryptography) accepts the signature."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, ENTRY_DOMAIN + body)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- canonical msgpack -----------------------------------------------------------------------------


def enc(value: Any) -> bytes:
    """Canonical msgpack (docs/spec/entries.md): map keys sorted by their UTF-8 bytes."""

    def canon(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: canon(v[k]) for k in sorted(v, key=lambda k: k.encode("utf-8"))}
        if isinstance(v, list):
            return [canon(x) for x in v]
        return v

    out: bytes = msgpack.packb(canon(value), use_bin_type=True)
    return out


def raw_map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A msgpack map from already encoded (key, value) pairs, in the given order (for broken encodings)."""
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(k + v for k, v in pairs)


def pairs_of(m: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(enc(k), enc(m[k])) for k in sorted(m, key=lambda k: k.encode("utf-8"))]


def tagged(value: Any) -> Any:
    """JSON form of a body map: msgpack bin becomes {"$bin": hex}."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    return value


# --- bodies ----------------------------------------------------------------------------------------


def common(kind: str, at: int, signer: bytes, origin: str = ORIGIN) -> dict[str, Any]:
    return {"v": 1, "kind": kind, "origin": origin, "at": at, "signer": signer}


def event(
    item: str, stage: str, by: Key, at: int, country: str, prev: bytes | None = None, **extra: Any
) -> dict[str, Any]:
    m = common("event", at, by.key_id)
    m.update(item=item, stage=stage, country=country)
    if prev is not None:
        m["prev"] = prev
    m.update(extra)
    return m


def party(p: Key, roles: list[str], at: int = T0, valid_from: int = T0, until: int | None = None) -> dict[str, Any]:
    m = common("party", at, OPERATOR.key_id)
    m.update(name=p.name, roles=sorted(roles), key=p.public)
    m["from"] = valid_from
    if until is not None:
        m["until"] = until
    return m


def revoke(kid: bytes, at: int, reason: str | None = None) -> dict[str, Any]:
    m = common("revoke", at, OPERATOR.key_id)
    m["revoked"] = kid
    if reason is not None:
        m["reason"] = reason
    return m


V1_STAGES: dict[str, Any] = {
    "origin": {"roles": ["origin"], "after": [], "start": True},
    "export": {"roles": ["origin"], "after": ["origin"], "start": False},
    "import": {"roles": ["customs"], "after": ["export", "origin"], "start": False},
    "warehouse": {"roles": ["warehouse"], "after": ["import", "warehouse"], "start": False},
    "appraisal": {"roles": ["appraiser"], "after": ["appraisal", "warehouse"], "start": False},
    "delivery": {"roles": ["courier"], "after": ["appraisal", "warehouse"], "start": False},
}
"""The default policy before the return stage: the log vectors keep it (any policy serves them)."""

DEFAULT_STAGES: dict[str, Any] = {
    **V1_STAGES,
    "warehouse": {"roles": ["warehouse"], "after": ["import", "return", "warehouse"], "start": False},
    "appraisal": {"roles": ["appraiser"], "after": ["appraisal", "return", "warehouse"], "start": False},
    "return": {"roles": ["courier", "warehouse"], "after": ["delivery"], "start": False},
}


def policy(stages: dict[str, Any], at: int = T0) -> dict[str, Any]:
    m = common("policy", at, OPERATOR.key_id)
    m["stages"] = stages
    return m


JOURNEY = [
    ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}),
    ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}),
    ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}),
    ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}),
]
ITEM = "SERUM-0001"


def leaf(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def journey_events(item: str = ITEM, steps: int = len(JOURNEY)) -> list[tuple[dict[str, Any], Key]]:
    """The item's events as (body map, signer), chained through prev."""
    out: list[tuple[dict[str, Any], Key]] = []
    prev = None
    for n, (stage, role, country, place, data) in enumerate(JOURNEY[:steps]):
        by = PARTIES[role]
        m = event(item, stage, by, T0 + (n + 1) * HOUR, country, prev, place=place, data=data)
        out.append((m, by))
        prev = leaf(enc(m))
    return out


FIRST_EVENT = journey_events(steps=1)[0][0]

# --- writing ---------------------------------------------------------------------------------------

Vector = dict[str, Any]


def ok_entry(desc: str, body: dict[str, Any], by: Key) -> Vector:
    raw = enc(body)
    return {
        "desc": desc,
        "check": "entry",
        "signer_name": by.name,
        "signer_seed": by.seed.hex(),
        "body": tagged(body),
        "public_key": by.public.hex(),
        "key_id": by.key_id.hex(),
        "body_hex": raw.hex(),
        "signature": by.sign(raw).hex(),
        "leaf_hash": leaf(raw).hex(),
    }


def bad_body(desc: str, raw: bytes) -> Vector:
    return {"desc": desc, "check": "decode_body", "body_hex": raw.hex(), "want_error": "EncodingError"}


def bad_sig(desc: str, public: bytes, body: bytes, signature: bytes, keys: list[Key]) -> Vector:
    return {
        "desc": desc,
        "check": "verify_signature",
        "keys": [k.json() for k in keys],
        "public_key": public.hex(),
        "body_hex": body.hex(),
        "signature": signature.hex(),
        "want_error": "SignatureError",
    }


Signed = tuple[bytes, bytes]


def signed(body: dict[str, Any], by: Key) -> Signed:
    raw = enc(body)
    return raw, by.sign(raw)


def setup_log() -> list[Signed]:
    """Policy, then the five parties, all dated T0."""
    out = [signed(policy(V1_STAGES), OPERATOR)]
    out += [signed(party(PARTIES[r], [r]), OPERATOR) for r in ROLES]
    return out


def log_vector(desc: str, entries: list[Signed], want_error: str | None, now: int | None = None) -> Vector:
    v: Vector = {
        "desc": desc,
        "check": "log",
        "origin": ORIGIN,
        "operator": OPERATOR.json(),
        "keys": [PARTIES[r].json() for r in ROLES] + [MALLORY.json()],
    }
    if now is not None:
        v["now"] = now
    v["entries"] = [{"body_hex": b.hex(), "signature": s.hex()} for b, s in entries]
    if want_error is None:
        v["leaf_hashes"] = [leaf(b).hex() for b, _ in entries]
    else:
        v["want_error"] = want_error
    return v


# --- the cases -------------------------------------------------------------------------------------


def positive_cases() -> dict[str, Vector]:
    origin_p, customs = PARTIES["origin"], PARTIES["customs"]
    first = FIRST_EVENT
    second = journey_events(steps=2)[1][0]
    big = event(
        "I" * 128,
        "a" * 32,
        origin_p,
        2**53 - 1,
        "ZW",
        leaf(b""),
        place="P" * 128,
        data={f"k{i:02d}" + "x" * 29: "v" * 256 for i in range(16)},
    )
    ints = event(
        "SERUM-0002",
        "origin",
        origin_p,
        0,
        "FR",
        data={"a": 0, "b": 127, "c": 128, "d": -32, "e": -33, "f": 2**63 - 1, "g": -(2**63), "h": 65536},
    )
    return {
        "ok_event_first": ok_entry("the item's first event (no prev), with place and data", first, origin_p),
        "ok_event_next": ok_entry("the item's second event: prev is the first event's leaf hash", second, customs),
        "ok_event_minimal": ok_entry(
            "an event with only the required fields", event("SERUM-0003", "origin", origin_p, T0, "FR"), origin_p
        ),
        "ok_event_unicode": ok_entry(
            "non-ASCII text: item, place and a data value",
            event("瓶-0001", "appraisal", PARTIES["appraiser"], T0, "CN", place="杭州 保税区", data={"note": "真品 ✓"}),
            PARTIES["appraiser"],
        ),
        "ok_event_bounds": ok_entry(
            "every field at its upper bound: 128-byte item and place, 32-char stage, at = 2^53 - 1, "
            "16 data keys of 32 chars with 256-byte values",
            big,
            origin_p,
        ),
        "ok_event_integers": ok_entry("integer data values in every msgpack size class, and at = 0", ints, origin_p),
        "ok_party": ok_entry("a party registration, open-ended", party(origin_p, ["origin"]), OPERATOR),
        "ok_party_until_roles": ok_entry(
            "a party registration with two roles (sorted) and an end of validity",
            party(PARTIES["warehouse"], ["warehouse", "appraiser"], until=T0 + 365 * 24 * HOUR),
            OPERATOR,
        ),
        "ok_revoke": ok_entry(
            "a revocation with a reason", revoke(customs.key_id, T0 + 10 * HOUR, "key compromised"), OPERATOR
        ),
        "ok_revoke_no_reason": ok_entry("a revocation without a reason", revoke(customs.key_id, T0), OPERATOR),
        "ok_policy_default": ok_entry("the default journey policy", policy(DEFAULT_STAGES), OPERATOR),
        "ok_policy_minimal": ok_entry(
            "a one-stage policy",
            policy({"made": {"roles": ["maker"], "after": [], "start": True}}),
            OPERATOR,
        ),
    }


def _with(m: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(m)
    for k, v in changes.items():
        k = k.rstrip("_")
        if v is _DROP:
            del out[k]
        else:
            out[k] = v
    return out


_DROP = object()


def decode_cases() -> dict[str, Vector]:
    ev = FIRST_EVENT
    good = enc(ev)
    pairs = pairs_of(ev)
    cases: dict[str, Vector] = {}

    def add(name: str, desc: str, raw: bytes) -> None:
        assert raw != good
        cases["bad_body_" + name] = bad_body(desc, raw)

    def add_map(name: str, desc: str, m: dict[str, Any]) -> None:
        add(name, desc, enc(m))

    def field(name: str) -> int:
        return next(i for i, (k, _) in enumerate(pairs) if k == enc(name))

    def replace(name: str, value: bytes) -> bytes:
        p = list(pairs)
        p[field(name)] = (enc(name), value)
        return raw_map(p)

    # encoding
    add(
        "unsorted_keys",
        "map keys not in bytewise order (at and country swapped)",
        raw_map([pairs[1], pairs[0], *pairs[2:]]),
    )
    i = field("at")
    add(
        "duplicate_key",
        "the key 'at' twice, with the same value",
        raw_map([*pairs[: i + 1], pairs[i], *pairs[i + 1 :]]),
    )
    add("long_int_fixint", "v = 1 as uint8 (0xcc 0x01) instead of a fixint", replace("v", b"\xcc\x01"))
    add(
        "long_int_uint64",
        "at as int64 (0xd3) instead of uint64: positive integers use the unsigned forms",
        replace("at", b"\xd3" + ev["at"].to_bytes(8, "big")),
    )
    add("str8_short", "kind as str8 (0xd9 0x05) instead of fixstr", replace("kind", b"\xd9\x05event"))
    add("str16_short", "item as str16 instead of fixstr", replace("item", b"\xda\x00\x0aSERUM-0001"))
    add("bin16_short", "signer as bin16 instead of bin8", replace("signer", b"\xc5\x00\x04" + ev["signer"]))
    add("map16_short", "the body map as map16 instead of fixmap", b"\xde\x00" + bytes([len(pairs)]) + good[1:])
    add("bin_as_str", "signer (binary) encoded as str", replace("signer", enc("abcd")))
    add("str_as_bin", "item (text) encoded as bin", replace("item", enc(b"SERUM-0001")))
    add("nil", "place is nil (optional fields are left out, never nil)", replace("place", b"\xc0"))
    add("float", "at as float64", replace("at", b"\xcb" + struct.pack(">d", float(ev["at"]))))
    add("float32", "v as float32", replace("v", b"\xca\x3f\x80\x00\x00"))
    add("ext", "place as an extension type", replace("place", b"\xd4\x01\x00"))
    add("timestamp", "at as a msgpack timestamp (extension -1)", replace("at", b"\xd6\xff\x68\xe7\x7a\x40"))
    add("invalid_utf8", "place is not valid UTF-8", replace("place", b"\xa2\xc3\x28"))
    add("surrogate_utf8", "place encodes a UTF-16 surrogate (CESU-8)", replace("place", b"\xa3\xed\xa0\x80"))
    add("trailing_bytes", "one byte after the body map", good + b"\x00")
    add("truncated", "the last byte missing", good[:-1])
    add("empty", "no bytes at all", b"")
    add("not_a_map", "the body is an array", enc([1, "event"]))
    add("int_key", "a map key that is an integer", raw_map([*pairs, (b"\x01", b"\x01")]))
    add(
        "too_deep",
        "a data value nested 10 arrays deep",
        replace("data", raw_map([(enc("batch"), b"\x91" * 10 + b"\x01")])),
    )
    add(
        "oversize_body",
        "a body of more than 8192 bytes (a 9000-byte place)",
        replace("place", b"\xda" + (9000).to_bytes(2, "big") + b"P" * 9000),
    )
    # version and kind
    add_map("version_2", "v = 2", _with(ev, v=2))
    add_map("version_0", "v = 0", _with(ev, v=0))
    add_map("version_true", "v = true (a boolean, not the integer 1)", _with(ev, v=True))
    add_map("version_text", "v = '1'", _with(ev, v="1"))
    add_map("version_missing", "no v", _with(ev, v=_DROP))
    add_map("kind_unknown", "kind = 'shipment'", _with(ev, kind="shipment"))
    add_map("kind_upper", "kind = 'Event'", _with(ev, kind="Event"))
    add_map("kind_array", "kind is an array", _with(ev, kind=["event"]))
    add_map("kind_missing", "no kind", _with(ev, kind=_DROP))
    # fields
    add_map("unknown_field", "an extra field 'note'", _with(ev, note="hello"))
    add_map("missing_country", "no country", _with(ev, country=_DROP))
    add_map("missing_signer", "no signer", _with(ev, signer=_DROP))
    add_map("missing_origin", "no origin", _with(ev, origin=_DROP))
    add_map("item_too_long", "item of 129 bytes", _with(ev, item="I" * 129))
    add_map("item_empty", "item is empty", _with(ev, item=""))
    add_map("item_space", "item contains a space", _with(ev, item="SERUM 0001"))
    add_map("item_multibyte_too_long", "item of 43 characters, 129 bytes of UTF-8", _with(ev, item="瓶" * 43))
    add_map("place_too_long", "place of 129 bytes", _with(ev, place="P" * 129))
    add_map("place_control", "place contains a newline", _with(ev, place="Grasse\nFrance"))
    add_map("place_empty", "place is empty (leave it out instead)", _with(ev, place=""))
    add_map("origin_too_long", "origin of 129 bytes", _with(ev, origin="o" * 129))
    add_map("origin_control", "origin contains a tab", _with(ev, origin="example.com/\tacme"))
    add_map("country_unassigned", "country XX (not assigned)", _with(ev, country="XX"))
    add_map("country_uk", "country UK (reserved; the code for the United Kingdom is GB)", _with(ev, country="UK"))
    add_map("country_eu", "country EU (exceptionally reserved, not assigned)", _with(ev, country="EU"))
    add_map("country_lower", "country 'fr' (lower case)", _with(ev, country="fr"))
    add_map("country_alpha3", "country 'FRA' (alpha-3)", _with(ev, country="FRA"))
    add_map("stage_upper", "stage 'Origin' (upper case)", _with(ev, stage="Origin"))
    add_map("stage_digit_first", "stage '1st' (must start with a letter)", _with(ev, stage="1st"))
    add_map("stage_dot", "stage 'a.b' ('.' is allowed in data keys, not in names)", _with(ev, stage="a.b"))
    add_map("stage_too_long", "stage of 33 characters", _with(ev, stage="a" * 33))
    add_map("prev_31", "prev of 31 bytes", _with(ev, prev=b"\x00" * 31))
    add_map("prev_33", "prev of 33 bytes", _with(ev, prev=b"\x00" * 33))
    add_map("prev_text", "prev as text", _with(ev, prev="00" * 32))
    add_map("signer_5", "signer of 5 bytes", _with(ev, signer=ev["signer"] + b"\x00"))
    add_map("at_negative", "at = -1", _with(ev, at=-1))
    add_map("at_2_53", "at = 2^53 (the bound is exclusive)", _with(ev, at=2**53))
    add_map("at_bool", "at = true", _with(ev, at=True))
    add_map("data_17_keys", "data with 17 keys", _with(ev, data={f"k{i:02d}": i for i in range(17)}))
    add_map("data_empty", "data is an empty map (leave it out instead)", _with(ev, data={}))
    add_map("data_not_map", "data is an array", _with(ev, data=["batch"]))
    add_map("data_key_upper", "data key 'Batch'", _with(ev, data={"Batch": "B-2025-17"}))
    add_map("data_key_too_long", "data key of 33 characters", _with(ev, data={"k" * 33: "x"}))
    add_map("data_value_too_long", "data value of 257 bytes", _with(ev, data={"batch": "x" * 257}))
    add_map("data_value_empty", "data value is empty text", _with(ev, data={"batch": ""}))
    add_map("data_value_bool", "data value true", _with(ev, data={"sealed": True}))
    add_map("data_value_bin", "data value is binary", _with(ev, data={"batch": b"B"}))
    add_map("data_value_list", "data value is an array", _with(ev, data={"batch": ["B"]}))
    add_map("data_value_2_63", "data value 2^63 (integers are signed 64-bit)", _with(ev, data={"n": 2**63}))
    add_map("data_value_control", "data value with a control character", _with(ev, data={"batch": "B\x00"}))
    # party
    pm = party(PARTIES["origin"], ["origin"])
    add_map("party_roles_unsorted", "roles not sorted", _with(pm, roles=["origin", "customs"]))
    add_map("party_roles_duplicate", "a role twice", _with(pm, roles=["origin", "origin"]))
    add_map("party_roles_empty", "no roles", _with(pm, roles=[]))
    add_map("party_roles_17", "17 roles", _with(pm, roles=sorted(f"r{i:02d}" for i in range(17))))
    add_map("party_role_bad", "role 'Origin'", _with(pm, roles=["Origin"]))
    add_map("party_until_eq_from", "until equal to from", _with(pm, until=T0))
    add_map("party_name_plus", "name with '+'", _with(pm, name="grasse+labs"))
    add_map("party_name_space", "name with a space", _with(pm, name="grasse labs"))
    add_map("party_name_too_long", "name of 129 bytes", _with(pm, name="n" * 129))
    add_map("party_key_31", "key of 31 bytes", _with(pm, key=pm["key"][:31]))
    add_map("party_missing_from", "no from", _with(pm, from_=_DROP))
    add_map("party_event_field", "a party entry with the event field 'item'", _with(pm, item="SERUM-0001"))
    # revoke
    rm = revoke(PARTIES["customs"].key_id, T0, "lost")
    add_map("revoke_3", "revoked key id of 3 bytes", _with(rm, revoked=rm["revoked"][:3]))
    add_map("revoke_reason_empty", "empty reason", _with(rm, reason=""))
    add_map("revoke_reason_too_long", "reason of 257 bytes", _with(rm, reason="r" * 257))
    # policy
    pol = policy(DEFAULT_STAGES)

    def stages(**changes: Any) -> dict[str, Any]:
        return _with(pol, stages=_with(DEFAULT_STAGES, **changes))

    add_map(
        "policy_after_unknown",
        "a stage may follow a stage that does not exist",
        stages(export={"roles": ["origin"], "after": ["made"], "start": False}),
    )
    add_map(
        "policy_no_start",
        "no stage may start a journey",
        stages(origin={"roles": ["origin"], "after": [], "start": False}),
    )
    add_map(
        "policy_start_int", "start = 1 instead of true", stages(origin={"roles": ["origin"], "after": [], "start": 1})
    )
    add_map(
        "policy_rule_missing_start", "a stage rule without start", stages(origin={"roles": ["origin"], "after": []})
    )
    add_map(
        "policy_rule_extra",
        "a stage rule with an extra field",
        stages(origin={"roles": ["origin"], "after": [], "start": True, "max": 1}),
    )
    add_map(
        "policy_roles_empty",
        "a stage no role may record",
        stages(export={"roles": [], "after": ["origin"], "start": False}),
    )
    add_map(
        "policy_after_unsorted",
        "after not sorted",
        stages(delivery={"roles": ["courier"], "after": ["warehouse", "appraisal"], "start": False}),
    )
    add_map(
        "policy_stage_name",
        "a stage named 'Export'",
        _with(pol, stages={**DEFAULT_STAGES, "Export": DEFAULT_STAGES["export"]}),
    )
    add_map("policy_empty", "no stages", _with(pol, stages={}))
    add_map(
        "policy_65_stages",
        "65 stages",
        _with(pol, stages={f"s{i:02d}": {"roles": ["r"], "after": [], "start": True} for i in range(65)}),
    )
    add_map("policy_stages_list", "stages is an array", _with(pol, stages=[]))
    return cases


def signature_cases() -> dict[str, Vector]:
    by = PARTIES["origin"]
    body = enc(FIRST_EVENT)
    sig = by.sign(body)
    cases: dict[str, Vector] = {}

    def add(name: str, desc: str, public: bytes, signature: bytes, keys: list[Key], lax: bool | None = None) -> None:
        if lax is not None:  # the case is only interesting if a cofactorless verifier accepts it
            assert _lax_accepts(public, body, signature) is lax, name
        cases["bad_sig_" + name] = bad_sig(desc, public, body, signature, keys)

    flipped_r = bytearray(sig)
    flipped_r[0] ^= 0x01
    flipped_s = bytearray(sig)
    flipped_s[40] ^= 0x80
    add("flipped_bit_r", "one bit of R flipped", by.public, bytes(flipped_r), [by])
    add("flipped_bit_s", "one bit of S flipped", by.public, bytes(flipped_s), [by])
    add(
        "other_key",
        "signed by another key (mallory) than the one verifying",
        by.public,
        MALLORY.sign(body),
        [by, MALLORY],
    )
    add(
        "no_domain",
        "signed over the body alone, without the ENTRY_DOMAIN prefix",
        by.public,
        by.private.sign(body),
        [by],
    )
    add("truncated", "a 63-byte signature", by.public, sig[:63], [by])
    add("extended", "a 65-byte signature", by.public, sig + b"\x00", [by])
    s = int.from_bytes(sig[32:], "little")
    add(
        "s_plus_l",
        "S replaced by S + L (malleated, non-canonical S)",
        by.public,
        sig[:32] + (s + L).to_bytes(32, "little"),
        [by],
    )
    # small-order public key A = identity: any R = [s]B, S = s satisfies the cofactorless equation
    ident = _encode_point(IDENTITY)
    s0 = 0x1234567
    add(
        "small_order_key",
        "public key = the identity point (small order); R = [S]B satisfies the cofactorless equation",
        ident,
        _encode_point(_mul(s0, BASE)) + s0.to_bytes(32, "little"),
        [],
        lax=True,
    )
    # small-order R = identity, S = k*a: [S]B = R + [k]A holds
    a = _scalar(by)
    k = _challenge(ident, by.public, ENTRY_DOMAIN + body)
    add(
        "small_order_r",
        "R = the identity point (small order), S = k*a: the cofactorless equation holds",
        by.public,
        ident + (k * a % L).to_bytes(32, "little"),
        [by],
        lax=True,
    )
    # mixed-order key A' = A + T (T of order 8), signature made so that 8 divides k
    t8 = _order8_point()
    mixed = _encode_point(_add(_mul(a, BASE), t8))
    r = 1
    while True:
        rr = _encode_point(_mul(r, BASE))
        k = _challenge(rr, mixed, ENTRY_DOMAIN + body)
        if k % 8 == 0:
            break
        r += 1
    add(
        "mixed_order_key",
        "public key A + T with T of order 8; k is a multiple of 8, so the cofactorless equation holds",
        mixed,
        rr + ((r + k * a) % L).to_bytes(32, "little"),
        [by],
        lax=True,
    )
    y_big = (1 + P).to_bytes(32, "little")  # y = 1 + p: a non-reduced encoding of the identity's y
    add("r_not_reduced", "R with y >= p", by.public, y_big + sig[32:], [by])
    add("key_not_reduced", "public key with y >= p", y_big, sig, [by])
    return cases


def log_cases() -> dict[str, Vector]:
    setup = setup_log()
    events = [signed(m, by) for m, by in journey_events()]
    op = OPERATOR
    o, c, cr = PARTIES["origin"], PARTIES["customs"], PARTIES["courier"]
    first = FIRST_EVENT
    first_leaf = leaf(enc(first))
    second = journey_events(steps=2)[1][0]
    cases: dict[str, Vector] = {}

    def add(name: str, desc: str, entries: list[Signed], want: str | None, now: int | None = None) -> None:
        cases[("ok_log_" if want is None else "bad_log_") + name] = log_vector(desc, entries, want, now)

    add("journey", "policy, five parties, then the six-event journey of SERUM-0001", setup + events, None)
    a_origin = event("A", "origin", o, T0, "FR")
    add(
        "bounds",
        "a party valid for one hour records at its first and last millisecond; an event dated the same "
        "millisecond as the item's previous one; two items",
        [
            *setup[:1],
            signed(party(o, ["origin"], until=T0 + HOUR), op),
            signed(a_origin, o),
            signed(event("B", "origin", o, T0 + HOUR - 1, "FR"), o),
            signed(event("A", "export", o, T0, "FR", leaf(enc(a_origin))), o),
        ],
        None,
    )
    strict = dict(DEFAULT_STAGES, **{"import": {"roles": ["customs"], "after": ["export"], "start": False}})
    add(
        "policy_replaced",
        "a new policy (import only after export) applies to an item already under way",
        [*setup, events[0], signed(policy(strict, T0 + HOUR + 1), op), events[1]],
        "StageOrderError",
    )
    add(
        "origin_mismatch",
        "an event of another ledger",
        [*setup, signed(_with(first, origin="example.org/other"), o)],
        "OriginError",
    )
    add(
        "party_not_operator",
        "a party registration signed by a party key (signer = that party's key id)",
        [*setup, signed(_with(party(MALLORY, ["origin"]), signer=o.key_id), o)],
        "OperatorKeyError",
    )
    add(
        "event_unknown_key",
        "an event signed by a key that is not registered",
        [*setup, signed(event(ITEM, "origin", MALLORY, T0 + HOUR, "FR"), MALLORY)],
        "UnknownKeyError",
    )
    add(
        "event_operator_key",
        "an event signed by the operator key (the operator is not a party)",
        [*setup, signed(event(ITEM, "origin", op, T0 + HOUR, "FR"), op)],
        "UnknownKeyError",
    )
    add(
        "event_revoked_key",
        "an event by a key revoked by an earlier entry (dated before the revocation)",
        [*setup, signed(revoke(o.key_id, T0 + 2 * HOUR), op), signed(first, o)],
        "RevokedKeyError",
    )
    add(
        "event_before_valid_from",
        "an event dated 1 ms before its key's validity",
        [*setup, signed(event(ITEM, "origin", o, T0 - 1, "FR"), o)],
        "ExpiredKeyError",
    )
    add(
        "event_at_until",
        "an event dated at its key's until (the end is exclusive)",
        [
            *setup[:1],
            signed(party(o, ["origin"], until=T0 + HOUR), op),
            signed(event(ITEM, "origin", o, T0 + HOUR, "FR"), o),
        ],
        "ExpiredKeyError",
    )
    add("event_without_policy", "an event before any policy entry", [setup[1], signed(first, o)], "PolicyError")
    add(
        "event_in_future",
        "an event dated more than 5 minutes after now",
        [*setup, signed(first, o)],
        "TimeError",
        now=first["at"] - 5 * 60 * 1000 - 1,
    )
    add(
        "first_with_prev",
        "the item's first event names a prev",
        [*setup, signed(_with(first, prev=b"\x00" * 32), o)],
        "ChainError",
    )
    add(
        "next_without_prev",
        "the item's second event has no prev",
        [*setup, events[0], signed(_with(second, prev=_DROP), c)],
        "ChainError",
    )
    add(
        "next_wrong_prev",
        "the item's second event names another prev (one bit flipped)",
        [*setup, events[0], signed(_with(second, prev=bytes([first_leaf[0] ^ 1]) + first_leaf[1:]), c)],
        "ChainError",
    )
    add(
        "next_before_head",
        "the item's second event is dated before the first",
        [*setup, events[0], signed(_with(second, at=first["at"] - 1), c)],
        "TimeError",
    )
    add(
        "stage_unknown",
        "a stage the policy does not define",
        [*setup, signed(_with(first, stage="harvest"), o)],
        "StageError",
    )
    add(
        "role_missing",
        "the courier records the origin stage",
        [*setup, signed(event(ITEM, "origin", cr, T0 + HOUR, "FR"), cr)],
        "RoleError",
    )
    add(
        "not_a_start",
        "an item's first event is a stage that cannot start a journey",
        [*setup, signed(event(ITEM, "import", c, T0 + HOUR, "CN"), c)],
        "StageOrderError",
    )
    add(
        "skipped_stage",
        "delivery directly after origin",
        [*setup, events[0], signed(event(ITEM, "delivery", cr, T0 + 2 * HOUR, "CN", first_leaf), cr)],
        "StageOrderError",
    )
    last = leaf(events[-1][0])
    add(
        "after_terminal",
        "an event after the terminal stage delivery",
        [*setup, *events, signed(event(ITEM, "delivery", cr, T0 + 9 * HOUR, "CN", last), cr)],
        "StageOrderError",
    )
    add(
        "register_operator_key",
        "the operator key registered as a party key",
        [*setup, signed(party(Key("operator-as-party", op.seed), ["origin"]), op)],
        "VerificationError",
    )
    add(
        "register_twice",
        "the same name and key registered twice",
        [*setup, signed(party(o, ["origin"], at=T0 + 1), op)],
        "VerificationError",
    )
    small = {"name": "small", "key": _encode_point(IDENTITY)}
    sm = party(o, ["origin"])
    sm.update(small)
    add(
        "register_small_order_key",
        "a party key that is the identity point",
        [*setup, signed(sm, op)],
        "VerificationError",
    )
    mixed = dict(sm, name="mixed", key=_encode_point(_add(_mul(_scalar(o), BASE), _order8_point())))
    add(
        "register_mixed_order_key",
        "a party key with a torsion component (A + T, T of order 8)",
        [*setup, signed(mixed, op)],
        "VerificationError",
    )
    add(
        "revoke_unknown",
        "revoking a key id that is not registered",
        [*setup, signed(revoke(MALLORY.key_id, T0), op)],
        "UnknownKeyError",
    )
    add(
        "revoke_operator",
        "revoking the operator key id (it is not a registered party key)",
        [*setup, signed(revoke(op.key_id, T0), op)],
        "UnknownKeyError",
    )
    add(
        "revoke_twice",
        "revoking a key twice",
        [*setup, signed(revoke(c.key_id, T0), op), signed(revoke(c.key_id, T0 + 1), op)],
        "RevokedKeyError",
    )
    body, sig = events[0]
    add(
        "event_bad_signature",
        "a valid event whose signature has one bit flipped",
        [*setup, (body, bytes([sig[0] ^ 1]) + sig[1:])],
        "SignatureError",
    )
    add(
        "operator_entry_other_key",
        "a policy entry naming the operator key id but signed by another key",
        [*setup, signed(policy(DEFAULT_STAGES, T0 + 1), MALLORY)],
        "SignatureError",
    )
    rb, rs = signed(event(ITEM, "origin", cr, T0 + HOUR, "FR"), cr)
    add(
        "rules_before_signature",
        "a bad signature and a role violation: the rules are checked first",
        [*setup, (rb, bytes([rs[0] ^ 1]) + rs[1:])],
        "RoleError",
    )
    add(
        "body_invalid",
        "an entry whose body does not decode (country XX)",
        [*setup, signed(_with(first, country="XX"), o)],
        "EncodingError",
    )
    return cases


def all_cases() -> dict[str, Vector]:
    out: dict[str, Vector] = {}
    for make in (positive_cases, decode_cases, signature_cases, log_cases):
        cases = make()
        assert not set(cases) & set(out)
        out.update(cases)
    return out


def write(directory: Path, cases: Callable[[], dict[str, Vector]] = all_cases) -> list[Path]:
    """Write one ``<name>.json`` per case into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, vector in sorted(cases().items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(vector, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for old in out_dir.glob("*.json"):
        old.unlink()
    print(f"wrote {len(write(out_dir))} vectors to {out_dir}")
