"""Item codes ("one item, one code"): a journey in a QR code, verified offline with the operator key alone.

A code is the text ``PC1:`` followed by the Base45 (RFC 9285) of a *bundle*: canonical msgpack of a
positional array that holds the item's journey compacted (every field of an event body that the verifier
can rebuild is left out), a table of the parties that signed it, the journey policy when it is not
:data:`~provchain.policy.DEFAULT_POLICY`, and an *anchor*: the item's head (leaf hash and index), the
checkpoint that contains it (tree size and root), and the operator's Ed25519 signature over every other
byte of the bundle. The ``full`` profile adds each party's own signature and registration, the inclusion
proof of the head and the checkpoint's signature, so that every signer is checked, not only the operator.

>>> import tempfile, os
>>> from provchain import Ledger, KeyPair
>>> op = KeyPair.from_seed("example.com/acme-ledger", bytes(32))
>>> maker = KeyPair.from_seed("grasse-labs", bytes([1]) * 32)
>>> led = Ledger.create(os.path.join(tempfile.mkdtemp(), "l.db"), origin=op.name, operator=op, at=0)
>>> _ = led.register_party("grasse-labs", ["origin"], maker.public_key, at=0, valid_from=0)
>>> _ = led.append("SERUM-1", "origin", maker, country="FR", at=1000)
>>> text = make(led, "SERUM-1", at=2000)
>>> text[:4], len(text) < 400
('PC1:', True)
>>> report = verify(text, op.vkey, at=3000)
>>> [(e.stage, e.party, e.country) for e in report.events]
[('origin', 'grasse-labs', 'FR')]
>>> led.close()

The normative specification, with the byte layout, the verification steps and test vectors, is
docs/spec/item-code.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from . import base45, encoding, merkle
from .checkpoint import Checkpoint, open_checkpoint
from .entries import (
    ENTRY_DOMAIN,
    MAX_ORIGIN,
    MAX_PLACE,
    MAX_TIME,
    Event,
    PartyRegistration,
    PolicyEntry,
    Revocation,
    _text,
    check_country,
    check_data,
    check_item,
    decode_body,
    leaf_hash_of,
    ms_to_iso,
)
from .errors import (
    BadPrefixError,
    BundleFormatError,
    ChainError,
    EncodingError,
    InputError,
    OperatorKeyError,
    ProvchainError,
    RevokedKeyError,
    SignatureError,
    TimeError,
    VerificationError,
)
from .keys import Signer, check_key_name, format_vkey, key_id, parse_vkey, verify_signature
from .ledger import Ledger, now_ms
from .note import new_verifier
from .policy import DEFAULT_POLICY, Policy, check_name
from .rules import CLOCK_TOLERANCE_MS, Head, KeyRecord, Registry

__all__ = [
    "CODE_DOMAIN",
    "HINT_SIZE",
    "MAX_CODE_CHARS",
    "MAX_EVENTS",
    "PREFIX",
    "PROFILES",
    "Anchor",
    "Bundle",
    "CodeEvent",
    "CodeParty",
    "CodeReport",
    "JourneyEvent",
    "make",
    "parse",
    "sign_bundle",
    "verify",
]

PREFIX: Final = "PC1:"
"""The text every version-1 item code starts with."""

CODE_DOMAIN: Final = b"provchain/v1/code\n"
"""Prefix of the message the operator signs for a code (domain separation from entries and notes)."""

PROFILES: Final = ("compact", "full")
"""The bundle profiles, in the order of their number in the bundle (0 compact, 1 full)."""

MAX_CODE_CHARS: Final = 3391
"""The most characters a code may have: the alphanumeric capacity of a QR version 40 symbol at level M."""

MAX_EVENTS: Final = 255
"""The most events (and parties) a bundle may hold."""

HINT_SIZE: Final = 4
"""The length of the anchor's head hint: the first bytes of the head's leaf hash."""

MAX_PROOF: Final = 64
"""The most hashes an inclusion proof may have (a tree of up to 2**64 leaves)."""

_PROFILE_NUMBER = {name: n for n, name in enumerate(PROFILES)}
_VERSION_PREFIX = re.compile(r"[A-Za-z]{1,8}[0-9]{1,4}:")
_SIG = 64
_HASH = 32


# --- the bundle -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeParty:
    """A row of the bundle's party table: one signer key of the journey.

    ``revoked`` is 0 when the key was not revoked when the code was made, else ``p`` (1-based) when the
    revocation entry precedes the journey's ``p``-th event in the log (``len(events) + 1``: after the last).
    ``key``, ``registered_at`` and ``registration_signature`` are set in the full profile only; in the
    compact profile ``key_id`` is carried instead of being derived from the name and key.
    """

    name: str
    roles: tuple[str, ...]
    valid_from: int
    valid_until: int | None
    revoked: int
    key_id: bytes
    key: bytes | None = None
    registered_at: int | None = None
    registration_signature: bytes | None = None


@dataclass(frozen=True)
class JourneyEvent:
    """A row of the bundle's event list: what the verifier needs to rebuild one event body."""

    at: int
    party: int
    stage: str
    country: str
    place: str | None = None
    data: Mapping[str, str | int] = field(default_factory=dict)
    signature: bytes | None = None


@dataclass(frozen=True)
class Anchor:
    """What the operator vouches for: the item's head inside a checkpointed tree, and when it said so."""

    operator_key_id: bytes
    head_hint: bytes
    head_index: int
    tree_size: int
    root: bytes
    issued: int
    proof: tuple[bytes, ...] = ()
    checkpoint_signature: bytes | None = None


@dataclass(frozen=True)
class Bundle:
    """A decoded bundle. :func:`parse` builds one from a code; :meth:`payload` writes the code back.

    ``origin`` is not encoded: it is the name of the operator key (the ledger's origin), which the verifier
    pins, so :func:`parse` takes it as an argument.
    """

    profile: str
    origin: str
    item: str
    policy: Policy
    parties: tuple[CodeParty, ...]
    events: tuple[JourneyEvent, ...]
    anchor: Anchor
    signature: bytes

    @property
    def full(self) -> bool:
        """True for the full profile."""
        return self.profile == "full"

    def _unsigned_value(self) -> list[Any]:
        full = self.full
        stages = sorted(self.policy.stages)
        base = self.events[0].at if self.events else 0
        parties: list[Any] = []
        for p in self.parties:
            row: list[Any] = [
                p.name,
                list(p.roles),
                p.valid_from - base,
                0 if p.valid_until is None else p.valid_until - p.valid_from,
                p.revoked,
            ]
            if full:
                row += [p.key or b"", (p.registered_at or 0) - p.valid_from, p.registration_signature or b""]
            else:
                row.append(p.key_id)
            parties.append(row)
        events: list[Any] = []
        previous: JourneyEvent | None = None
        for e in self.events:
            place: str | int = e.place or ""
            if previous is not None and e.place is not None and e.place == previous.place:
                place = 0
            row = [
                e.at if previous is None else e.at - previous.at,
                e.party,
                _stage_number(stages, e.stage),
                e.country,
                place,
                dict(e.data),
            ]
            if full:
                row.append(e.signature or b"")
            events.append(row)
            previous = e
        a = self.anchor
        head_at = self.events[-1].at if self.events else 0
        anchor: list[Any] = [a.operator_key_id, a.head_hint, a.head_index, a.tree_size, a.root, a.issued - head_at]
        if full:
            anchor += [list(a.proof), a.checkpoint_signature or b""]
        policy = {} if self.policy == DEFAULT_POLICY else self.policy.to_map()
        return [_PROFILE_NUMBER[self.profile], self.item, policy, parties, events, anchor]

    def head_hash(self) -> bytes:
        """The leaf hash of the rebuilt head: the last event's body."""
        return leaf_hash_of(self.event_bodies()[-1].encode())

    def signed_message(self, head_hash: bytes | None = None) -> bytes:
        """The bytes the operator signs: :data:`CODE_DOMAIN` and the canonical array of the origin, the rebuilt
        head leaf hash (``head_hash`` when the caller has it) and the bundle without its signature."""
        head = self.head_hash() if head_hash is None else head_hash
        return CODE_DOMAIN + encoding.encode([self.origin, head, self._unsigned_value()])

    def to_bytes(self) -> bytes:
        """The canonical bundle bytes (what Base45 encodes)."""
        return encoding.encode([*self._unsigned_value(), self.signature])

    def payload(self) -> str:
        """The code text: ``PC1:`` and the Base45 of :meth:`to_bytes`."""
        return PREFIX + base45.encode(self.to_bytes())

    def event_bodies(self) -> list[Event]:
        """The event bodies the parties signed, rebuilt: ``prev`` is the leaf hash of the previous body."""
        out: list[Event] = []
        prev: bytes | None = None
        for e in self.events:
            ev = Event(
                origin=self.origin,
                at=e.at,
                signer=self.parties[e.party].key_id,
                item=self.item,
                stage=e.stage,
                country=e.country,
                prev=prev,
                place=e.place,
                data=dict(e.data),
            )
            prev = leaf_hash_of(ev.encode())
            out.append(ev)
        return out

    def registration(self, party: CodeParty) -> PartyRegistration:
        """The registration entry body of ``party`` (full profile), rebuilt."""
        if party.key is None or party.registered_at is None:
            raise InputError("a compact bundle carries no registrations")
        return PartyRegistration(
            origin=self.origin,
            at=party.registered_at,
            signer=self.anchor.operator_key_id,
            name=party.name,
            roles=party.roles,
            key=party.key,
            valid_from=party.valid_from,
            valid_until=party.valid_until,
        )


def _stage_number(stages: list[str], stage: str) -> int:
    try:
        return stages.index(stage)
    except ValueError:
        raise InputError(f"stage {stage!r} is not defined by the bundle's policy") from None


def sign_bundle(bundle: Bundle, operator: Signer) -> Bundle:
    """``bundle`` with a new operator signature (and the operator's key id and head hint in its anchor)."""
    hint = bundle.head_hash()[:HINT_SIZE]
    anchored = replace(bundle, anchor=replace(bundle.anchor, operator_key_id=operator.key_id, head_hint=hint))
    signature = operator.sign(anchored.signed_message())
    return replace(anchored, signature=signature)


# --- parsing --------------------------------------------------------------------------------------


def _fail(message: str) -> BundleFormatError:
    return BundleFormatError(f"malformed code bundle: {message}")


def _list(value: object, what: str, lengths: Sequence[int]) -> list[Any]:
    if not isinstance(value, list) or len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise _fail(f"{what} must be an array of {want} elements")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"{what} must be an integer from {low} to {high}")
    return value


def _bytes(value: object, what: str, length: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != length:
        raise _fail(f"{what} must be {length} bytes")
    return value


def _time(value: int, what: str) -> int:
    if not 0 <= value < MAX_TIME:
        raise _fail(f"{what} is out of range")
    return value


def _checked(what: str, check: Any, value: object) -> Any:
    try:
        return check(value)
    except ProvchainError as exc:
        raise _fail(f"{what}: {exc}") from None


def _policy(value: object) -> Policy:
    if not isinstance(value, dict):
        raise _fail("the policy must be a map")
    if not value:
        return DEFAULT_POLICY
    policy: Policy = _checked("policy", Policy.from_map, value)
    if policy == DEFAULT_POLICY:
        raise _fail("the default policy must be encoded as an empty map")
    return policy


def _party(row: object, n: int, full: bool, base: int, events: int) -> CodeParty:
    r = _list(row, f"party {n}", [8] if full else [6])
    name = _checked(f"party {n} name", check_key_name, r[0])
    roles = r[1]
    if not isinstance(roles, list) or not 1 <= len(roles) <= 16:
        raise _fail(f"party {n} roles must be an array of 1 to 16 names")
    for role in roles:
        _checked(f"party {n} role", lambda v: check_name(v, "role"), role)
    if roles != sorted(set(roles)):
        raise _fail(f"party {n} roles must be sorted and without duplicates")
    valid_from = _time(base + _int(r[2], f"party {n} valid-from", -MAX_TIME, MAX_TIME), f"party {n} valid-from")
    until_delta = _int(r[3], f"party {n} valid-until", 0, MAX_TIME)
    valid_until = _time(valid_from + until_delta, f"party {n} valid-until") if until_delta else None
    revoked = _int(r[4], f"party {n} revocation position", 0, events + 1)
    if full:
        key = _bytes(r[5], f"party {n} key", _HASH)
        reg_at = _time(valid_from + _int(r[6], f"party {n} registration time", -MAX_TIME, MAX_TIME), "registration")
        sig = _bytes(r[7], f"party {n} registration signature", _SIG)
        return CodeParty(name, tuple(roles), valid_from, valid_until, revoked, key_id(name, key), key, reg_at, sig)
    return CodeParty(name, tuple(roles), valid_from, valid_until, revoked, _bytes(r[5], f"party {n} key id", 4))


def _event(
    row: object, n: int, full: bool, previous: JourneyEvent | None, stages: list[str], parties: int
) -> JourneyEvent:
    r = _list(row, f"event {n}", [7] if full else [6])
    t = _int(r[0], f"event {n} time", 0, MAX_TIME)
    at = _time(t if previous is None else previous.at + t, f"event {n} time")
    party = _int(r[1], f"event {n} party", 0, parties - 1)
    stage = stages[_int(r[2], f"event {n} stage", 0, len(stages) - 1)]
    country = _checked(f"event {n} country", check_country, r[3])
    place = None
    if r[4] == 0 and not isinstance(r[4], bool):
        if previous is None or previous.place is None:
            raise _fail(f"event {n} place says 'same as the previous event', which has no place")
        place = previous.place
    elif r[4] != "":
        place = _checked(f"event {n} place", lambda v: _text(v, "place", MAX_PLACE), r[4])
        if previous is not None and place == previous.place:
            raise _fail(f"event {n} repeats the previous place, which must be encoded as 0")
    if not isinstance(r[5], dict):
        raise _fail(f"event {n} data must be a map")
    data = _checked(f"event {n} data", check_data, r[5])
    sig = _bytes(r[6], f"event {n} signature", _SIG) if full else None
    return JourneyEvent(at, party, stage, country, place, data, sig)


def _anchor(value: object, full: bool, head_at: int) -> Anchor:
    a = _list(value, "the anchor", [8] if full else [6])
    kid = _bytes(a[0], "the operator key id", 4)
    hint = _bytes(a[1], "the head hint", HINT_SIZE)
    size = _int(a[3], "the tree size", 1, 2**64 - 1)
    index = _int(a[2], "the head index", 0, size - 1)
    root = _bytes(a[4], "the root", _HASH)
    issued = _time(head_at + _int(a[5], "the issue time", -MAX_TIME, MAX_TIME), "the issue time")
    if not full:
        return Anchor(kid, hint, index, size, root, issued)
    proof = a[6]
    if not isinstance(proof, list) or len(proof) > MAX_PROOF:
        raise _fail(f"the inclusion proof must be an array of at most {MAX_PROOF} hashes")
    hashes = tuple(_bytes(h, "an inclusion proof hash", _HASH) for h in proof)
    return Anchor(kid, hint, index, size, root, issued, hashes, _bytes(a[7], "the checkpoint signature", _SIG))


def _from_value(value: object, origin: str) -> Bundle:
    top = _list(value, "a bundle", [7])
    profile = PROFILES[_int(top[0], "the profile", 0, len(PROFILES) - 1)]
    full = profile == "full"
    item = _checked("item", check_item, top[1])
    policy = _policy(top[2])
    stages = sorted(policy.stages)
    rows, party_rows = top[4], top[3]
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_EVENTS:
        raise _fail(f"events must be an array of 1 to {MAX_EVENTS} events")
    if not isinstance(party_rows, list) or not 1 <= len(party_rows) <= len(rows):
        raise _fail("parties must be an array of 1 party or more, at most one per event")
    events: list[JourneyEvent] = []
    previous: JourneyEvent | None = None
    for n, row in enumerate(rows, 1):
        previous = _event(row, n, full, previous, stages, len(party_rows))
        events.append(previous)
    first_use: list[int] = []
    for e in events:
        if e.party not in first_use:
            first_use.append(e.party)
    if first_use != list(range(len(party_rows))):
        raise _fail("the party table must list each signer once, in the order of its first event")
    base = events[0].at
    parties = tuple(_party(row, n, full, base, len(events)) for n, row in enumerate(party_rows, 1))
    if len({p.key_id for p in parties}) != len(parties):
        raise _fail("the party table lists a key twice")
    anchor = _anchor(top[5], full, events[-1].at)
    signature = _bytes(top[6], "the signature", _SIG)
    return Bundle(profile, origin, item, policy, parties, tuple(events), anchor, signature)


def parse(payload: str, origin: str) -> Bundle:
    """Decode a code text into a :class:`Bundle`, checking its form only (nothing is verified).

    ``origin`` is the ledger origin the code is read for (the pinned operator key's name); it is not
    encoded in the code, but the rebuilt entries and the signed message contain it.

    Raises :class:`BadPrefixError`, :class:`~provchain.errors.Base45Error` or :class:`BundleFormatError`.
    """
    if not isinstance(payload, str):
        raise BadPrefixError("an item code is text")
    if len(payload) > MAX_CODE_CHARS:  # before any copy of a hostile, huge payload
        raise BundleFormatError(f"an item code has at most {MAX_CODE_CHARS} characters, not {len(payload)}")
    if not payload.startswith(PREFIX):
        m = _VERSION_PREFIX.match(payload)
        if m and m.group(0).upper().startswith("PC"):
            raise BadPrefixError(f"item code version {m.group(0)!r} is not supported (expected {PREFIX!r})")
        raise BadPrefixError(f"not a provchain item code: it does not start with {PREFIX!r}")
    text = payload[len(PREFIX) :]
    raw = base45.decode(text)
    try:
        value = encoding.decode(raw, max_size=MAX_CODE_CHARS)
    except EncodingError as exc:
        raise _fail(str(exc)) from None
    origin = _checked("origin", lambda v: _text(v, "origin", MAX_ORIGIN), origin)
    bundle = _from_value(value, origin)
    if bundle.to_bytes() != raw:  # a safety net: every accepted bundle has exactly one encoding
        raise _fail("the bundle is not in its one canonical form")
    return bundle


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeEvent:
    """One verified event of the journey."""

    stage: str
    party: str
    roles: tuple[str, ...]
    country: str
    place: str | None
    data: Mapping[str, str | int]
    at: int
    key_id: bytes
    leaf_hash: bytes
    key_revoked_later: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape :func:`provchain.cli.render_journey` reads)."""
        return {
            "stage": self.stage,
            "party": self.party,
            "roles": list(self.roles),
            "country": self.country,
            "place": self.place,
            "data": dict(self.data),
            "at": ms_to_iso(self.at),
            "at_ms": self.at,
            "key_id": self.key_id.hex(),
            "leaf_hash": self.leaf_hash.hex(),
            "key_revoked_later": self.key_revoked_later,
        }


@dataclass(frozen=True)
class CodeReport:
    """What a verified code says: the journey, the anchor, and each check that passed."""

    item: str
    origin: str
    operator: str
    profile: str
    events: tuple[CodeEvent, ...]
    checks: Mapping[str, str]
    head_index: int
    tree_size: int
    root: bytes
    head_hash: bytes
    issued: int

    def to_json(self) -> dict[str, Any]:
        """``{"item": ..., "events": [...], "checks": {...}, ...}`` ready for :func:`json.dumps`."""
        return {
            "verified": True,
            "item": self.item,
            "origin": self.origin,
            "operator": self.operator,
            "profile": self.profile,
            "events": [e.to_json() for e in self.events],
            "checks": dict(self.checks),
            "anchor": {
                "head_index": self.head_index,
                "tree_size": self.tree_size,
                "root": self.root.hex(),
                "head_leaf_hash": self.head_hash.hex(),
                "issued": ms_to_iso(self.issued),
                "issued_ms": self.issued,
            },
        }


# --- verifying ------------------------------------------------------------------------------------


def _in_context(exc: VerificationError, where: str) -> VerificationError:
    out = type(exc)(f"{where}: {exc}")
    out.__cause__ = exc
    return out


def verify(payload: str, operator_vkey: str, at: int | None = None) -> CodeReport:
    """Verify an item code offline against the pinned operator verifier key; return its :class:`CodeReport`.

    ``at`` is the verifier's time in milliseconds (default: the clock); events and the code's issue time
    may not lie further in the future than :data:`~provchain.rules.CLOCK_TOLERANCE_MS`. Raises a
    :class:`~provchain.errors.FormatError` when the code cannot be read (:class:`BadPrefixError`,
    :class:`~provchain.errors.Base45Error`, :class:`BundleFormatError`, or a malformed ``operator_vkey``)
    and a :class:`VerificationError` when it is refused (:class:`OperatorKeyError`, :class:`ChainError`,
    :class:`SignatureError`, :class:`~provchain.errors.InclusionError`, :class:`~provchain.errors.RoleError`,
    :class:`~provchain.errors.StageOrderError`, :class:`RevokedKeyError`,
    :class:`~provchain.errors.ExpiredKeyError`, :class:`TimeError`, ...).
    """
    now = now_ms() if at is None else at
    if isinstance(now, bool) or not isinstance(now, int) or now < 0:
        raise InputError("at is integer milliseconds since 1970 (UTC)")
    op_name, op_kid, op_key = parse_vkey(operator_vkey)
    bundle = parse(payload, op_name)
    checks: dict[str, str] = {"prefix": "ok", "base45": "ok", "bundle": "ok"}

    # 1. The pinned operator.
    a = bundle.anchor
    if a.operator_key_id != op_kid:
        raise OperatorKeyError(
            f"this code was signed by operator key {a.operator_key_id.hex()}, not the pinned key {op_kid.hex()}"
        )
    checks["operator_key"] = "ok"

    # 2. Rebuild the event bodies and their hash chain; it must end in the anchored head.
    try:
        bodies = bundle.event_bodies()
        encoded = [b.encode() for b in bodies]
        for body in encoded:
            decode_body(body)
    except (EncodingError, InputError) as exc:
        raise _fail(f"an event cannot be rebuilt: {exc}") from None
    hashes = [leaf_hash_of(b) for b in encoded]
    head_hash = hashes[-1]
    if head_hash[:HINT_SIZE] != a.head_hint:
        raise ChainError("the events do not lead to the head the operator signed: the journey in this code was altered")
    checks["chain"] = "ok"

    # 3. The operator's signature over every other byte of the bundle.
    try:
        verify_signature(op_key, bundle.signed_message(head_hash), bundle.signature)
    except SignatureError:
        raise SignatureError("the operator's signature does not match this code: it was altered") from None
    checks["anchor_signature"] = "ok"

    # 4. Seed the rules from the bundle: policy, then the parties.
    registry = Registry(bundle.origin, op_name, op_key)
    registry.apply(PolicyEntry(origin=bundle.origin, at=0, signer=op_kid, policy=bundle.policy), 0)
    for n, p in enumerate(bundle.parties, 1):
        if bundle.full:
            reg = bundle.registration(p)
            try:
                public_key = registry.check_content(reg, None)
                verify_signature(public_key, ENTRY_DOMAIN + reg.encode(), p.registration_signature or b"")
            except VerificationError as exc:
                raise _in_context(exc, f"registration of party {p.name!r}") from None
            registry.apply(reg, n)
        else:
            if p.key_id == op_kid:
                raise VerificationError("the operator key cannot be a party key")
            registry.keys[p.key_id] = KeyRecord(
                p.name, frozenset(p.roles), b"", p.key_id, p.valid_from, p.valid_until, n
            )
    if bundle.full:
        checks["registrations"] = "ok"

    # 5. (full) Each party's signature, the inclusion proof and the checkpoint signature.
    if bundle.full:
        for n, (e, body) in enumerate(zip(bundle.events, encoded, strict=True), 1):
            party = bundle.parties[e.party]
            try:
                verify_signature(party.key or b"", ENTRY_DOMAIN + body, e.signature or b"")
            except SignatureError:
                raise SignatureError(
                    f"event {n} ({e.stage}): the signature of {party.name!r} does not verify"
                ) from None
        checks["party_signatures"] = "ok"
        merkle.verify_inclusion(head_hash, a.head_index, a.tree_size, a.proof, a.root)
        checks["inclusion_proof"] = "ok"
        cp = Checkpoint(bundle.origin, a.tree_size, a.root).format()
        try:
            verify_signature(op_key, cp, a.checkpoint_signature or b"")
        except SignatureError:
            raise SignatureError("the checkpoint signature does not verify") from None
        checks["checkpoint_signature"] = "ok"

    # 6. The journey rules, in order: keys, windows, revocations, roles, stage order, chain, clock.
    head: Head | None = None
    for n, (e, content, h) in enumerate(zip(bundle.events, bodies, hashes, strict=True), 1):
        for p in bundle.parties:
            if p.revoked == n:
                registry.apply(Revocation(origin=bundle.origin, at=e.at, signer=op_kid, revoked=p.key_id), 1000 + n)
        try:
            registry.check_content(content, head, now=now)
        except RevokedKeyError as exc:
            raise RevokedKeyError(
                f"event {n} ({e.stage}) was signed by {bundle.parties[e.party].name!r} after its key was revoked"
            ) from exc
        except VerificationError as exc:
            raise _in_context(exc, f"event {n} ({e.stage})") from None
        head = Head(n, h, e.stage, e.at)
    checks["rules"] = "ok"
    if a.issued > now + CLOCK_TOLERANCE_MS:
        raise TimeError(f"the code is dated {ms_to_iso(a.issued)}, in the future (now {ms_to_iso(now)})")
    if a.issued + CLOCK_TOLERANCE_MS < bundle.events[-1].at:
        raise TimeError("the code is dated before the last event of its journey")
    checks["time"] = "ok"

    events = tuple(
        CodeEvent(
            stage=e.stage,
            party=bundle.parties[e.party].name,
            roles=bundle.parties[e.party].roles,
            country=e.country,
            place=e.place,
            data=dict(e.data),
            at=e.at,
            key_id=bundle.parties[e.party].key_id,
            leaf_hash=h,
            key_revoked_later=bundle.parties[e.party].revoked != 0,
        )
        for e, h in zip(bundle.events, hashes, strict=True)
    )
    return CodeReport(
        item=bundle.item,
        origin=bundle.origin,
        operator=format_vkey(op_name, op_key),
        profile=bundle.profile,
        events=events,
        checks=checks,
        head_index=a.head_index,
        tree_size=a.tree_size,
        root=a.root,
        head_hash=head_hash,
        issued=a.issued,
    )


# --- making ---------------------------------------------------------------------------------------


def _operator(ledger: Ledger, operator: Signer | None) -> Signer:
    if operator is None:
        return ledger.operator
    name, _kid, key = parse_vkey(ledger.operator_vkey)
    if operator.name != name or operator.public_key != key:
        raise OperatorKeyError(f"the given operator key is not this ledger's operator key {ledger.operator_vkey}")
    return operator


def make(
    ledger: Ledger,
    item: str,
    profile: str = "compact",
    *,
    operator: Signer | None = None,
    at: int | None = None,
) -> str:
    """Make the code text of ``item``'s journey, signed by the operator (``operator`` or the ledger's own).

    The anchor points at the latest checkpoint if it contains the item's head; otherwise a new checkpoint
    is signed and stored first. ``at`` (ms) is the code's issue time (default: now). The code is verified
    before it is returned. Raises :class:`InputError` for an unknown profile, an item without events, a
    journey that spans a change of policy, or a code too large for a QR code (try ``compact``), and
    :class:`RevokedKeyError` if an event was signed after its key's revocation (a damaged ledger).
    """
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    item = check_item(item)
    op = _operator(ledger, operator)
    issued = now_ms() if at is None else at
    history = ledger.history(item)
    if not history:
        raise InputError(f"the ledger has no events for item {item!r}")

    # Replay the operator's entries to learn, at each event, the policy and each signer's state.
    registry = Registry(ledger.origin, op.name, op.public_key)
    operator_entries = list(ledger.store.operator_entries(0))
    policies: set[int] = set()
    position = {ev.index: n for n, ev in enumerate(history, 1)}
    first_after: dict[int, int] = {}  # operator entry index -> the 1-based position of the next journey event
    k = 0
    for entry in operator_entries:
        assert entry.index is not None
        while k < len(history) and history[k].index < entry.index:
            k += 1
        first_after[entry.index] = k + 1
    k = 0
    for ev in history:
        while k < len(operator_entries) and (operator_entries[k].index or 0) < ev.index:
            registry.apply(operator_entries[k].content, operator_entries[k].index or 0)
            k += 1
        policies.add(registry.policy_index or 0)
    while k < len(operator_entries):
        registry.apply(operator_entries[k].content, operator_entries[k].index or 0)
        k += 1
    if len(policies) != 1:
        raise InputError(f"the journey of {item!r} spans a change of policy, which a PC1 code cannot carry")
    policy_entry = ledger.entry(policies.pop()).content
    assert isinstance(policy_entry, PolicyEntry)

    order: list[bytes] = []
    for ev in history:
        if ev.key_id not in order:
            order.append(ev.key_id)
    parties: list[CodeParty] = []
    for kid in order:
        rec = registry.keys[kid]
        revoked = 0 if rec.revoked_index is None else first_after[rec.revoked_index]
        signed = [position[ev.index] for ev in history if ev.key_id == kid]
        if revoked and revoked <= max(signed):
            raise RevokedKeyError(f"{rec.describe()} signed an event of {item!r} after its revocation")
        party = CodeParty(rec.name, tuple(sorted(rec.roles)), rec.valid_from, rec.valid_until, revoked, kid)
        if profile == "full":
            reg = ledger.entry(rec.registered_index)
            content = reg.content
            assert isinstance(content, PartyRegistration)
            party = replace(party, key=rec.public_key, registered_at=content.at, registration_signature=reg.signature)
        parties.append(party)

    head = history[-1]
    note = ledger.latest_checkpoint()
    verifier = new_verifier(ledger.operator_vkey)
    if note is None or open_checkpoint(note, ledger.origin, verifier)[0].size <= head.index:
        note = ledger.checkpoint()
    cp, opened = open_checkpoint(note, ledger.origin, verifier)
    events = tuple(
        JourneyEvent(
            at=ev.at,
            party=order.index(ev.key_id),
            stage=ev.stage,
            country=ev.country,
            place=ev.place,
            data=dict(ev.data),
            signature=ev.entry.signature if profile == "full" else None,
        )
        for ev in history
    )
    anchor = Anchor(op.key_id, head.leaf_hash[:HINT_SIZE], head.index, cp.size, cp.root, issued)
    if profile == "full":
        proof = tuple(ledger.inclusion_proof(head.index, cp.size))
        anchor = replace(anchor, proof=proof, checkpoint_signature=opened.sigs[0].signature)
    bundle = sign_bundle(
        Bundle(profile, ledger.origin, item, policy_entry.policy, tuple(parties), events, anchor, b""), op
    )
    text = bundle.payload()
    if len(text) > MAX_CODE_CHARS:
        raise InputError(
            f"the {profile} code of {item!r} has {len(text)} characters, more than a QR code holds "
            f"({MAX_CODE_CHARS} at level M)" + ("; use the compact profile" if profile == "full" else "")
        )
    verify(text, format_vkey(op.name, op.public_key), at=max(issued, head.at))
    return text
