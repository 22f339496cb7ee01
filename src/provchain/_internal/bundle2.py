"""The version 2 bundle layout: a URL item code's bytes (docs/spec/item-code.md, *Version 2*).

Version 2 carries exactly the content of a version 1 bundle (the same :class:`~provchain.code.Bundle`),
written smaller:

* the bytes are ``signature (64) || root (32) || raw DEFLATE(canonical msgpack of the body)``, the
  DEFLATE stream made with the preset dictionary :data:`DICTIONARY`;
* the body is the version 1 array without the signature and with the anchor's root taken out, and with
  three changes to its rows: a party's roles are indices into the policy's sorted role names (a role the
  policy does not name stays text); every time is a *tagged time* ``q * 4 + u``, ``q`` in the coarsest unit
  ``u`` (0 ms, 1 s, 2 min, 3 h) that holds it exactly; an event's country is ``0`` when it is the previous
  event's.

The operator signs ``CODE_DOMAIN_V2 || canonical_msgpack([origin, head_leaf_hash, root, body])``, which is
``CODE_DOMAIN_V2 || 0x94 || msgpack(origin) || msgpack(head) || msgpack(root) || inflated`` for the
inflated bytes of a code. DEFLATE streams are not unique (two compressors may write the same body
differently), so the signature covers the inflated body, whose canonical form the decoder checks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from .. import encoding
from ..errors import EncodingError
from .bundle import MAX_COSIGNATURES, Bundle, _from_value, _policy, check_origin, malformed

__all__ = ["CODE_DOMAIN_V2", "DICTIONARY", "MAX_INFLATED", "decode_bundle_v2", "signed_message_v2", "to_bytes_v2"]

CODE_DOMAIN_V2: Final = b"provchain/v2/code\n"
MAX_INFLATED: Final = 4096
"""The most bytes a version 2 body may inflate to (a version 1 bundle has at most 3391 bytes in all)."""

_HEAD: Final = 96  # signature (64) and root (32)
_UNITS: Final = (1, 1000, 60_000, 3_600_000)  # tagged-time units: ms, s, min, h
_TAG_LIMIT: Final = 2**62

# Words that journeys often repeat, as canonical msgpack strings (the header byte included, so that a
# match takes it too), most common last (DEFLATE codes short distances in fewer bits). Fixed for version 2:
# changing one byte of it makes every version 2 code unreadable.
_WORDS: Final = (
    "lot", "serial", "sku", "gtin", "expiry", "quantity", "weight", "temperature", "seal", "container", "vessel",
    "flight", "invoice", "order", "result", "status", "grade", "inspector", "pass", "fail", "ok", "note", "US",
    "DE", "IT", "JP", "GB", "KR", "ES", "NL", "HK", "SG", "VN", "TH", "MY", "IN", "BR", "MX", "CA", "AU", "CH",
    "BE", "port", "airport", "bonded", "zone", "warehouse", "hub", "centre", "center", "-logistics", "-customs",
    "-broker", "-express", "-labs", "-inspection", "-warehouse", "-wh", "genuine", "verdict", "certificate",
    "declaration", "waybill", "bin", "batch", "FR", "CN",
)
DICTIONARY: Final = b"".join(encoding.encode(w) for w in _WORDS)
"""The DEFLATE preset dictionary of version 2 (docs/spec/item-code.md lists its words)."""


# --- writing --------------------------------------------------------------------------------------


def _tag(ms: int) -> int:
    for unit in (3, 2, 1):
        if ms % _UNITS[unit] == 0:
            return (ms // _UNITS[unit]) * 4 + unit
    return ms * 4


def _roles(policy_value: Any) -> list[str]:
    policy = _policy(policy_value)
    return sorted({role for rule in policy.stages.values() for role in rule.roles})


def body_value(bundle: Bundle) -> list[Any]:
    """The version 2 body of ``bundle``: its version 1 unsigned array, rewritten (see the module)."""
    profile, item, policy, parties, events, anchor = bundle._unsigned_value()
    roles = _roles(policy)
    full = bundle.full
    out_parties = []
    for row in parties:
        new = [row[0], [roles.index(r) if r in roles else r for r in row[1]], _tag(row[2]), _tag(row[3]), *row[4:]]
        if full:
            new[6] = _tag(row[6])
        out_parties.append(new)
    out_events = []
    previous_country = None
    for row in events:
        country = 0 if row[3] == previous_country else row[3]
        previous_country = row[3]
        out_events.append([_tag(row[0]), row[1], row[2], country, *row[4:]])
    if bundle.proof_published:  # [key id, index, size, root, issued_d, rows]: the rows' times stay here
        out_anchor = [*anchor[:3], _tag(anchor[4]), [row[0] for row in anchor[5]]]
    else:
        out_anchor = [*anchor[:4], _tag(anchor[5]), *anchor[6:]]
    return [profile, item, policy, out_parties, out_events, out_anchor]


def _deflate(data: bytes) -> bytes:
    import zlib  # here and in _inflate_stream: only a URL code needs it (a PC1: scan starts without it)

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    return compressor.compress(data) + compressor.flush()


def trailer(bundle: Bundle) -> bytes:
    """What follows the DEFLATE stream: a ``witnessed-published`` code's cosignature signatures, 64 bytes
    each, in the order of the body's cosignature times (ascending); nothing for the other profiles."""
    if not bundle.proof_published:
        return b""
    return b"".join(sorted(c.signature for c in bundle.anchor.cosignatures))


def to_bytes_v2(bundle: Bundle) -> bytes:
    """The version 2 bytes of ``bundle``: signature, root, the DEFLATE of its body, and its :func:`trailer`."""
    body = _deflate(encoding.encode(body_value(bundle)))
    return bundle.signature + bundle.anchor.root + body + trailer(bundle)


def signed_message_v2(bundle: Bundle, head_hash: bytes) -> bytes:
    """What the operator signs for a version 2 code (see the module)."""
    value = [bundle.origin, head_hash, bundle.anchor.root, body_value(bundle)]
    return CODE_DOMAIN_V2 + encoding.encode(value) + trailer(bundle)


# --- reading --------------------------------------------------------------------------------------


def _inflate(data: bytes) -> bytes:
    out, rest = _inflate_stream(data)
    if rest:
        raise malformed("bytes follow the compressed body")
    return out


def _inflate_stream(data: bytes) -> tuple[bytes, bytes]:
    """The inflated DEFLATE stream at the start of ``data``, and the bytes after its end."""
    import zlib

    inflater = zlib.decompressobj(-15, zdict=DICTIONARY)
    try:
        out = inflater.decompress(data, MAX_INFLATED + 1)
    except zlib.error:
        raise malformed("the compressed body is not a valid DEFLATE stream") from None
    if len(out) > MAX_INFLATED:
        raise malformed(f"the compressed body inflates to more than {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise malformed("the compressed body is cut short")
    return out, inflater.unused_data


def _untag(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -_TAG_LIMIT <= value < _TAG_LIMIT:
        raise malformed(f"{what} must be a tagged time (an integer)")
    return (value >> 2) * _UNITS[value & 3]


def _row(value: object, what: str, lengths: tuple[int, ...]) -> list[Any]:
    if not isinstance(value, list) or len(value) not in lengths:
        raise malformed(f"{what} must be an array of {' or '.join(map(str, lengths))} elements")
    return list(value)


def _version1_value(body: object, root: bytes, signature: bytes, rest: bytes) -> list[Any]:
    """The version 1 array that ``body`` (a version 2 body, followed by the bytes ``rest``) stands for; the
    version 1 parser checks the rest."""
    top = _row(body, "a bundle", (6,))
    if top[0] != 3 and rest:
        raise malformed("bytes follow the compressed body")
    full = top[0] == 1
    roles = _roles(top[2])
    parties = top[3] if isinstance(top[3], list) else []
    events = top[4] if isinstance(top[4], list) else []
    if len(parties) > len(events) or len(events) > 255:
        return [*top, signature]  # the version 1 parser names the fault
    out_parties = []
    for n, raw in enumerate(parties, 1):
        row = _row(raw, f"party {n}", (8,) if full else (6,))
        if not isinstance(row[1], list):
            raise malformed(f"party {n} roles must be an array of 1 to 16 names")
        names = []
        for role in row[1]:
            if isinstance(role, int) and not isinstance(role, bool):
                if not 0 <= role < len(roles):
                    raise malformed(f"a role of party {n} is not an index into the policy's roles")
                names.append(roles[role])
            else:
                names.append(role)
        row[1:4] = [names, _untag(row[2], f"party {n} valid-from"), _untag(row[3], f"party {n} valid-until")]
        if full:
            row[6] = _untag(row[6], f"party {n} registration time")
        out_parties.append(row)
    out_events = []
    previous_country: object = None
    for n, raw in enumerate(events, 1):
        row = _row(raw, f"event {n}", (7,) if full else (6,))
        row[0] = _untag(row[0], f"event {n} time")
        if row[3] == 0 and not isinstance(row[3], bool):
            if previous_country is None:
                raise malformed("event 1 country says 'same as the previous event'")
            row[3] = previous_country
        previous_country = row[3]
        out_events.append(row)
    if top[0] == 3:  # witnessed-published: no head hint; the cosignatures' signatures follow the stream
        anchor = _row(top[5], "the anchor", (5,))
        times = anchor[4]
        if not isinstance(times, list) or not 1 <= len(times) <= MAX_COSIGNATURES:
            raise malformed(f"the cosignature times must be an array of 1 to {MAX_COSIGNATURES} times")
        if len(rest) != 64 * len(times):
            raise malformed(f"{len(times)} cosignature signature(s) of 64 bytes must follow the compressed body")
        rows = [[t, rest[64 * n : 64 * n + 64]] for n, t in enumerate(times)]
        out_anchor = [*anchor[:3], root, _untag(anchor[3], "the issue time"), rows]
    else:
        anchor = _row(top[5], "the anchor", (5,) if top[0] == 0 else (7,))
        out_anchor = [*anchor[:4], root, _untag(anchor[4], "the issue time"), *anchor[5:]]
    return [top[0], top[1], top[2], out_parties, out_events, out_anchor, signature]


def decode_bundle_v2(raw: bytes, origin: str) -> Bundle:
    """Decode version 2 bundle bytes (what a URL code's digits hold), read for ledger ``origin``.

    Checks the form only, as :func:`~provchain._internal.bundle.decode_bundle` does, including that the
    inflated body is the one canonical encoding of what it holds. Raises :class:`BundleFormatError`.
    """
    if len(raw) <= _HEAD:
        raise malformed(f"a version 2 bundle has more than {_HEAD} bytes, not {len(raw)}")
    signature, root = raw[:64], raw[64:_HEAD]
    inflated, rest = _inflate_stream(raw[_HEAD:])
    try:
        body = encoding.decode(inflated, max_size=MAX_INFLATED)
    except EncodingError as exc:  # its messages name the fault, never a decoded value
        raise malformed(str(exc)) from None
    bundle = replace(_from_value(_version1_value(body, root, signature, rest), check_origin(origin)), version=2)
    if encoding.encode(body_value(bundle)) != inflated:
        raise malformed("the bundle is not in its one canonical form")
    return bundle
