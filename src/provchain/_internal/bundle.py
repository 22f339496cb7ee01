"""The binary layout of an item code's bundle: its dataclasses, canonical encoding and parsing.

A bundle is canonical msgpack of a positional array ``[profile, item, policy, parties, events, anchor,
signature]``; :class:`Bundle` writes it (:meth:`Bundle.to_bytes`, :meth:`Bundle.payload`) and
:func:`decode_bundle` reads it back, checking its form only: every field's type and range, the table
invariants, and that the bytes are the one canonical encoding of what they hold. Verifying a bundle (the
operator, the chain, the signatures, the journey rules) is :func:`provchain.code.verify`'s job.

The public names here are re-exported, and documented, by :mod:`provchain.code`; the normative layout is
docs/spec/item-code.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from itertools import pairwise
from typing import Any, Final

from .. import base45, encoding
from ..entries import (
    MAX_ORIGIN,
    MAX_PLACE,
    Event,
    PartyRegistration,
    _text,
    check_country,
    check_data,
    check_item,
    decode_body,
    leaf_hash_of,
)
from ..errors import BundleFormatError, EncodingError, InputError, ProvchainError
from ..keys import Signer, check_key_name, is_signer, key_id
from ..policy import DEFAULT_POLICY, Policy, check_name
from .record import record
from .validate import MAX_TIME, check_int, check_time

__all__ = [
    "CODE_DOMAIN",
    "HINT_SIZE",
    "MAX_CODE_CHARS",
    "MAX_EVENTS",
    "PREFIX",
    "PROFILES",
    "Anchor",
    "Bundle",
    "CodeCosignature",
    "CodeParty",
    "JourneyEvent",
    "RebuiltEvent",
    "decode_bundle",
    "malformed",
    "sign_bundle",
]

# The constants of the layout. The public ones are documented where they are public: provchain.code.
PREFIX: Final = "PC1:"
CODE_DOMAIN: Final = b"provchain/v1/code\n"
PROFILES: Final = ("compact", "full", "witnessed", "witnessed-published")
MAX_CODE_CHARS: Final = 3391
MAX_EVENTS: Final = 255
HINT_SIZE: Final = 4

MAX_PROOF: Final = 64
"""The most hashes an inclusion proof may have (a tree of up to 2**64 leaves)."""

MAX_COSIGNATURES: Final = 32
"""The most cosignatures a witnessed code may carry (``provchain.witness.MAX_WITNESSES``)."""

COSIGNATURE_BYTES: Final = 76
"""A cosignature in a code: key id (4), big-endian u64 timestamp (8), Ed25519 signature (64), as in a note's
signature line (C2SP tlog-cosignature)."""

_TIMESTAMP_MAX: Final = 2**63 - 1

_ITEM_RULE: Final = "a valid item id (1 to 128 bytes of printable UTF-8 without spaces)"
_NAME_RULE: Final = "a valid key name (1 to 128 bytes, no spaces, no '+')"
_PLACE_RULE: Final = "a valid place (1 to 128 bytes of printable UTF-8)"
_DATA_RULE: Final = "valid stage data (at most 16 keys [a-z][a-z0-9_.-]{0,31}, text or 64-bit integer values)"

_PROFILE_NUMBER = {name: n for n, name in enumerate(PROFILES)}
_WITNESSED: Final = ("witnessed", "witnessed-published")
ANCHOR_LENGTHS: Final = {"compact": 6, "full": 8, "witnessed": 8, "witnessed-published": 6}
"""How many elements the anchor of each profile has (version 1; version 2 leaves the root out)."""
_SIG = 64
_HASH = 32
_set = object.__setattr__  # how a record with slots sets its fields (provchain._internal.record)


# --- the bundle -----------------------------------------------------------------------------------


@record
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

    def __init__(
        self,
        name: str,
        roles: tuple[str, ...],
        valid_from: int,
        valid_until: int | None,
        revoked: int,
        key_id: bytes,
        key: bytes | None = None,
        registered_at: int | None = None,
        registration_signature: bytes | None = None,
    ) -> None:
        fields = self.__dict__
        fields["name"] = name
        fields["roles"] = roles
        fields["valid_from"] = valid_from
        fields["valid_until"] = valid_until
        fields["revoked"] = revoked
        fields["key_id"] = key_id
        fields["key"] = key
        fields["registered_at"] = registered_at
        fields["registration_signature"] = registration_signature


@record
class JourneyEvent:
    """A row of the bundle's event list: what the verifier needs to rebuild one event body."""

    at: int
    party: int
    stage: str
    country: str
    place: str | None = None
    data: Mapping[str, str | int] = field(default_factory=dict)
    signature: bytes | None = None

    def __init__(
        self,
        at: int,
        party: int,
        stage: str,
        country: str,
        place: str | None = None,
        data: Mapping[str, str | int] | None = None,
        signature: bytes | None = None,
    ) -> None:
        fields = self.__dict__
        fields["at"] = at
        fields["party"] = party
        fields["stage"] = stage
        fields["country"] = country
        fields["place"] = place
        fields["data"] = {} if data is None else data
        fields["signature"] = signature


@record(slots=True)
class RebuiltEvent:
    """An event body rebuilt from a bundle: the body, its canonical encoding and its leaf hash."""

    body: Event
    encoded: bytes
    leaf_hash: bytes

    def __init__(self, body: Event, encoded: bytes, leaf_hash: bytes) -> None:
        _set(self, "body", body)
        _set(self, "encoded", encoded)
        _set(self, "leaf_hash", leaf_hash)


@record(slots=True)
class CodeCosignature:
    """A witness's cosignature carried by a witnessed code: its ``cosignature/v1`` key id, the time it was
    made (POSIX seconds) and the signature. The witness's name is not carried: the verifier takes it from
    the trusted witness whose key id this is. A ``witnessed-published`` code carries no key id either
    (``key_id`` is ``b""``): the verifier attributes the cosignature to the trusted witness whose key
    verifies it."""

    key_id: bytes
    timestamp: int
    signature: bytes

    def __init__(self, key_id: bytes, timestamp: int, signature: bytes) -> None:
        _set(self, "key_id", key_id)
        _set(self, "timestamp", timestamp)
        _set(self, "signature", signature)

    @property
    def raw(self) -> bytes:
        """The 76 bytes written in the code: ``key_id || u64 timestamp || signature``."""
        return self.key_id + self.timestamp.to_bytes(8, "big") + self.signature

    @classmethod
    def from_raw(cls, raw: bytes) -> CodeCosignature:
        """Read 76 bytes (:func:`malformed` unless they are 76 bytes with a timestamp below 2^63)."""
        if not isinstance(raw, bytes) or len(raw) != COSIGNATURE_BYTES:
            raise malformed(f"a cosignature must be {COSIGNATURE_BYTES} bytes")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > _TIMESTAMP_MAX:
            raise malformed("a cosignature's timestamp must be below 2^63")
        return cls(raw[:4], timestamp, raw[12:])


@record
class Anchor:
    """What the operator vouches for: the item's head inside a checkpointed tree, and when it said so."""

    operator_key_id: bytes
    head_hint: bytes
    """The first :data:`HINT_SIZE` bytes of the head's leaf hash; ``b""`` in a ``witnessed-published`` code,
    which does not carry it (the inclusion proof checks the head against the cosigned root)."""
    head_index: int
    tree_size: int
    root: bytes
    issued: int
    proof: tuple[bytes, ...] = ()
    checkpoint_signature: bytes | None = None
    cosignatures: tuple[CodeCosignature, ...] = ()
    """(witnessed) The witnesses' cosignatures of the checkpoint ``(origin, tree_size, root)``, by key id."""

    def __init__(
        self,
        operator_key_id: bytes,
        head_hint: bytes,
        head_index: int,
        tree_size: int,
        root: bytes,
        issued: int,
        proof: tuple[bytes, ...] = (),
        checkpoint_signature: bytes | None = None,
        cosignatures: tuple[CodeCosignature, ...] = (),
    ) -> None:
        fields = self.__dict__
        fields["operator_key_id"] = operator_key_id
        fields["head_hint"] = head_hint
        fields["head_index"] = head_index
        fields["tree_size"] = tree_size
        fields["root"] = root
        fields["issued"] = issued
        fields["proof"] = proof
        fields["checkpoint_signature"] = checkpoint_signature
        fields["cosignatures"] = cosignatures


@record
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
    version: int = 1
    """The code format: 1 for a ``PC1:`` code, 2 for a URL code (:mod:`provchain._internal.bundle2`)."""

    def __init__(
        self,
        profile: str,
        origin: str,
        item: str,
        policy: Policy,
        parties: tuple[CodeParty, ...],
        events: tuple[JourneyEvent, ...],
        anchor: Anchor,
        signature: bytes,
        version: int = 1,
    ) -> None:
        fields = self.__dict__
        fields["profile"] = profile
        fields["origin"] = origin
        fields["item"] = item
        fields["policy"] = policy
        fields["parties"] = parties
        fields["events"] = events
        fields["anchor"] = anchor
        fields["signature"] = signature
        fields["version"] = version

    @property
    def full(self) -> bool:
        """True for the full profile."""
        return self.profile == "full"

    @property
    def witnessed(self) -> bool:
        """True for the profiles that carry witness cosignatures: ``witnessed`` (compact rows, the inclusion
        proof and cosignatures) and ``witnessed-published`` (the same without the proof)."""
        return self.profile in _WITNESSED

    @property
    def proof_published(self) -> bool:
        """True for the ``witnessed-published`` profile: the head's inclusion proof is not carried; the
        verifier builds it from the log's published tiles."""
        return self.profile == "witnessed-published"

    def _unsigned_value(self) -> list[Any]:
        full = self.full
        stages = self.policy.code_stages
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
        elif self.proof_published:  # no head hint; cosignatures without key ids (_published_rows)
            anchor = [*anchor[:1], *anchor[2:], _published_rows(a.cosignatures, a.issued)]
        elif self.witnessed:
            anchor += [list(a.proof), [c.raw for c in a.cosignatures]]
        policy = {} if self.policy == DEFAULT_POLICY else self.policy.to_map()
        return [_PROFILE_NUMBER[self.profile], self.item, policy, parties, events, anchor]

    def head_hash(self) -> bytes:
        """The leaf hash of the rebuilt head: the last event's body."""
        return self.rebuild()[-1].leaf_hash

    def signed_message(self, head_hash: bytes | None = None) -> bytes:
        """The bytes the operator signs: :data:`CODE_DOMAIN` and the canonical array of the origin, the rebuilt
        head leaf hash (``head_hash`` when the caller has it) and the bundle without its signature; for a
        version 2 bundle, :func:`provchain._internal.bundle2.signed_message_v2`."""
        head = self.head_hash() if head_hash is None else head_hash
        if self.version == 2:
            from .bundle2 import signed_message_v2

            return signed_message_v2(self, head)
        return CODE_DOMAIN + encoding.encode([self.origin, head, self._unsigned_value()])

    def to_bytes(self) -> bytes:
        """The bundle bytes: version 1, the canonical msgpack (what Base45 encodes); version 2, the bytes of
        :func:`provchain._internal.bundle2.to_bytes_v2` (what the URL's digits encode)."""
        if self.version == 2:
            from .bundle2 import to_bytes_v2

            return to_bytes_v2(self)
        return encoding.encode([*self._unsigned_value(), self.signature])

    def payload(self, base: str | None = None) -> str:
        """The code text. Version 1: ``PC1:`` and the Base45 of :meth:`to_bytes` (``base`` must be None).
        Version 2: the URL ``base#02<digits>``, ``base`` an https address (docs/spec/item-code.md)."""
        if self.version == 1:
            if base is not None:
                raise InputError("a version 1 code is not a URL: make the bundle with version=2")
            return PREFIX + base45.encode(self.to_bytes())
        from .. import digits
        from .codeurl import FRAGMENT_VERSION, check_base

        if base is None:
            raise InputError("a version 2 code is a URL: give its base address")
        return check_base(base) + "#" + FRAGMENT_VERSION + digits.encode(self.to_bytes())

    def event_bodies(self) -> list[Event]:
        """The event bodies the parties signed, rebuilt: ``prev`` is the leaf hash of the previous body."""
        return [r.body for r in self.rebuild()]

    def rebuild(self) -> list[RebuiltEvent]:
        """Each event's body, rebuilt (``prev`` is the leaf hash of the previous body), with its encoding and
        leaf hash. Raises :class:`BundleFormatError` naming the first event that is not a valid event entry
        body (of at most 8192 bytes) once rebuilt."""
        out: list[RebuiltEvent] = []
        prev: bytes | None = None
        for n, e in enumerate(self.events, 1):
            try:
                body = Event(
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
                encoded = body.encode()
                decode_body(encoded)
            except (EncodingError, InputError):
                raise malformed(f"event {n} cannot be rebuilt as a valid event entry of at most 8192 bytes") from None
            prev = leaf_hash_of(encoded)
            out.append(RebuiltEvent(body, encoded, prev))
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
    if not isinstance(bundle, Bundle):
        raise InputError("bundle must be a code Bundle (from provchain.code.parse)")
    if not is_signer(operator):
        raise InputError("operator must be a Signer such as a KeyPair")
    hint = b"" if bundle.proof_published else bundle.head_hash()[:HINT_SIZE]
    anchored = replace(bundle, anchor=replace(bundle.anchor, operator_key_id=operator.key_id, head_hint=hint))
    signature = operator.sign(anchored.signed_message())
    return replace(anchored, signature=signature)


# --- parsing --------------------------------------------------------------------------------------


def malformed(message: str) -> BundleFormatError:
    """The :class:`BundleFormatError` for a bundle that breaks the layout: ``message`` says how."""
    return BundleFormatError(f"malformed code bundle: {message}")


def _list(value: object, what: str, lengths: Sequence[int]) -> list[Any]:
    if not isinstance(value, list) or len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise malformed(f"{what} must be an array of {want} elements")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    return check_int(value, what, malformed, low, high)


def _bytes(value: object, what: str, length: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != length:
        raise malformed(f"{what} must be {length} bytes")
    return value


def _time(value: int, what: str) -> int:
    return check_time(value, what, malformed, message=f"{what} is out of range")


def _checked(what: str, check: Any, value: object, rule: str) -> Any:
    """``check(value)``, or a :func:`malformed` error that names the field and the ``rule`` it breaks.

    The checker's own message is dropped: it may quote the value, and nothing of an unauthenticated code
    may reach the person who scans it.
    """
    try:
        return check(value)
    except ProvchainError:
        raise malformed(f"{what} is not {rule}") from None


def _policy(value: object) -> Policy:
    if not isinstance(value, dict):
        raise malformed("the policy must be a map")
    if not value:
        return DEFAULT_POLICY
    policy: Policy = _checked("the policy", Policy.from_map, value, "a valid journey policy map")
    if policy == DEFAULT_POLICY:
        raise malformed("the default policy must be encoded as an empty map")
    return policy


def _party(row: object, n: int, full: bool, base: int, events: int) -> CodeParty:
    r = _list(row, f"party {n}", [8] if full else [6])
    name = _checked(f"party {n} name", check_key_name, r[0], _NAME_RULE)
    roles = r[1]
    if not isinstance(roles, list) or not 1 <= len(roles) <= 16:
        raise malformed(f"party {n} roles must be an array of 1 to 16 names")
    for role in roles:
        _checked(f"a role of party {n}", lambda v: check_name(v, "role"), role, "a role name ([a-z][a-z0-9_-]{0,31})")
    if roles != sorted(set(roles)):
        raise malformed(f"party {n} roles must be sorted and without duplicates")
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
    country = _checked(f"event {n} country", check_country, r[3], "an ISO 3166-1 alpha-2 country code")
    place = None
    if r[4] == 0 and not isinstance(r[4], bool):
        if previous is None or previous.place is None:
            raise malformed(f"event {n} place says 'same as the previous event', which has no place")
        place = previous.place
    elif r[4] != "":
        place = _checked(f"event {n} place", lambda v: _text(v, "place", MAX_PLACE), r[4], _PLACE_RULE)
        if previous is not None and place == previous.place:
            raise malformed(f"event {n} repeats the previous place, which must be encoded as 0")
    if not isinstance(r[5], dict):
        raise malformed(f"event {n} data must be a map")
    data = _checked(f"event {n} data", check_data, r[5], _DATA_RULE)
    sig = _bytes(r[6], f"event {n} signature", _SIG) if full else None
    return JourneyEvent(at, party, stage, country, place, data, sig)


def _anchor(value: object, profile: str, head_at: int) -> Anchor:
    a = _list(value, "the anchor", [ANCHOR_LENGTHS[profile]])
    kid = _bytes(a[0], "the operator key id", 4)
    if profile == "witnessed-published":  # no head hint; the proof is published with the log, not carried
        size = _int(a[2], "the tree size", 1, 2**64 - 1)
        index = _int(a[1], "the head index", 0, size - 1)
        root = _bytes(a[3], "the root", _HASH)
        issued = _time(head_at + _int(a[4], "the issue time", -MAX_TIME, MAX_TIME), "the issue time")
        return Anchor(kid, b"", index, size, root, issued, (), None, _published_cosignatures(a[5], issued))
    hint = _bytes(a[1], "the head hint", HINT_SIZE)
    size = _int(a[3], "the tree size", 1, 2**64 - 1)
    index = _int(a[2], "the head index", 0, size - 1)
    root = _bytes(a[4], "the root", _HASH)
    issued = _time(head_at + _int(a[5], "the issue time", -MAX_TIME, MAX_TIME), "the issue time")
    if profile == "compact":
        return Anchor(kid, hint, index, size, root, issued)
    proof = a[6]
    if not isinstance(proof, list) or len(proof) > MAX_PROOF:
        raise malformed(f"the inclusion proof must be an array of at most {MAX_PROOF} hashes")
    hashes = tuple(_bytes(h, "an inclusion proof hash", _HASH) for h in proof)
    if profile == "full":
        return Anchor(kid, hint, index, size, root, issued, hashes, _bytes(a[7], "the checkpoint signature", _SIG))
    return Anchor(kid, hint, index, size, root, issued, hashes, None, _cosignatures(a[7]))


def _cosignatures(value: object) -> tuple[CodeCosignature, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_COSIGNATURES:
        raise malformed(f"the cosignatures must be an array of 1 to {MAX_COSIGNATURES} cosignatures")
    out = tuple(CodeCosignature.from_raw(raw) for raw in value)
    if any(a.key_id >= b.key_id for a, b in pairwise(out)):
        raise malformed("the cosignatures must be sorted by key id, one per key id")
    return out


def _published_rows(cosignatures: Sequence[CodeCosignature], issued: int) -> list[list[Any]]:
    """The cosignature rows of a ``witnessed-published`` anchor: ``[time_d, signature]`` each, sorted by
    signature; ``time_d`` is the cosignature's time minus the previous row's (the first row's: minus the
    issue time in whole seconds, ``issued // 1000``)."""
    rows: list[list[Any]] = []
    previous = issued // 1000
    for c in sorted(cosignatures, key=lambda c: c.signature):
        rows.append([c.timestamp - previous, c.signature])
        previous = c.timestamp
    return rows


def _published_cosignatures(value: object, issued: int) -> tuple[CodeCosignature, ...]:
    """Read :func:`_published_rows`: 1 to :data:`MAX_COSIGNATURES` rows, signatures strictly ascending (one
    row per signature), every time in ``[0, 2^63)``."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_COSIGNATURES:
        raise malformed(f"the cosignatures must be an array of 1 to {MAX_COSIGNATURES} cosignatures")
    out: list[CodeCosignature] = []
    previous = issued // 1000
    for n, raw in enumerate(value, 1):
        row = _list(raw, f"cosignature {n}", [2])
        delta = _int(row[0], f"cosignature {n} time", -_TIMESTAMP_MAX, _TIMESTAMP_MAX)
        timestamp = previous + delta
        if not 0 <= timestamp <= _TIMESTAMP_MAX:
            raise malformed(f"cosignature {n} time must be from 0 to 2^63 - 1 seconds")
        signature = _bytes(row[1], f"cosignature {n} signature", _SIG)
        if out and signature <= out[-1].signature:
            raise malformed("the cosignatures must be sorted by signature, without duplicates")
        out.append(CodeCosignature(b"", timestamp, signature))
        previous = timestamp
    return tuple(out)


def _from_value(value: object, origin: str) -> Bundle:
    top = _list(value, "a bundle", [7])
    profile = PROFILES[_int(top[0], "the profile", 0, len(PROFILES) - 1)]
    full = profile == "full"
    item = _checked("the item id", check_item, top[1], _ITEM_RULE)
    policy = _policy(top[2])
    stages = policy.code_stages
    rows, party_rows = top[4], top[3]
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_EVENTS:
        raise malformed(f"events must be an array of 1 to {MAX_EVENTS} events")
    if not isinstance(party_rows, list) or not 1 <= len(party_rows) <= len(rows):
        raise malformed("parties must be an array of 1 party or more, at most one per event")
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
        raise malformed("the party table must list each signer once, in the order of its first event")
    base = events[0].at
    parties = tuple(_party(row, n, full, base, len(events)) for n, row in enumerate(party_rows, 1))
    if len({p.key_id for p in parties}) != len(parties):
        raise malformed("the party table lists a key twice")
    anchor = _anchor(top[5], profile, events[-1].at)
    signature = _bytes(top[6], "the signature", _SIG)
    return Bundle(profile, origin, item, policy, parties, tuple(events), anchor, signature)


def check_origin(origin: object) -> str:
    """``origin`` if it is a valid ledger origin, else :class:`BundleFormatError`."""
    checked: str = _checked("the origin", lambda v: _text(v, "origin", MAX_ORIGIN), origin, "a valid ledger origin")
    return checked


def decode_bundle(raw: bytes, origin: str) -> Bundle:
    """Decode the bundle bytes ``raw`` (what a code's Base45 holds), read for ledger ``origin``.

    The form only is checked (nothing is verified), including that ``raw`` is the bundle's one canonical
    encoding. Raises :class:`BundleFormatError`.
    """
    try:
        value = encoding.decode(raw, max_size=MAX_CODE_CHARS)
    except EncodingError as exc:  # its messages name the fault, never a decoded value
        raise malformed(str(exc)) from None
    bundle = _from_value(value, check_origin(origin))
    if bundle.to_bytes() != raw:  # a safety net: every accepted bundle has exactly one encoding
        raise malformed("the bundle is not in its one canonical form")
    return bundle
