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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from . import base45, merkle
from ._internal import bundle as _bundle
from ._internal.bundle import Anchor, Bundle, CodeParty, JourneyEvent, decode_bundle, malformed, sign_bundle
from .checkpoint import Checkpoint, open_checkpoint
from .entries import (
    ENTRY_DOMAIN,
    PartyRegistration,
    PolicyEntry,
    Revocation,
    check_item,
    decode_body,
    leaf_hash_of,
    ms_to_iso,
)
from .errors import (
    BadPrefixError,
    BundleFormatError,
    ChainError,
    DamagedLedgerError,
    EncodingError,
    InputError,
    OperatorKeyError,
    RevokedKeyError,
    SignatureError,
    TimeError,
    VerificationError,
)
from .keys import Signer, format_vkey, parse_vkey, verify_signature
from .ledger import Ledger, now_ms
from .note import new_verifier
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

# The bundle's layout, its constants included, is provchain._internal.bundle; they are documented here.
PREFIX: Final = _bundle.PREFIX
"""The text every version-1 item code starts with."""

CODE_DOMAIN: Final = _bundle.CODE_DOMAIN
"""Prefix of the message the operator signs for a code (domain separation from entries and notes)."""

PROFILES: Final = _bundle.PROFILES
"""The bundle profiles, in the order of their number in the bundle (0 compact, 1 full)."""

MAX_CODE_CHARS: Final = _bundle.MAX_CODE_CHARS
"""The most characters a code may have: the alphanumeric capacity of a QR version 40 symbol at level M."""

MAX_EVENTS: Final = _bundle.MAX_EVENTS
"""The most events (and parties) a bundle may hold."""

HINT_SIZE: Final = _bundle.HINT_SIZE
"""The length of the anchor's head hint: the first bytes of the head's leaf hash."""

_VERSION_PREFIX = re.compile(r"[A-Za-z]{1,8}[0-9]{1,4}:")


# --- parsing --------------------------------------------------------------------------------------


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
    return decode_bundle(base45.decode(payload[len(PREFIX) :]), origin)


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
        raise malformed(f"an event cannot be rebuilt: {exc}") from None
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
    if not isinstance(policy_entry, PolicyEntry):
        raise DamagedLedgerError("the ledger holds no journey policy before the item's events; audit it")

    order: list[bytes] = []
    for ev in history:
        if ev.key_id not in order:
            order.append(ev.key_id)
    parties: list[CodeParty] = []
    for kid in order:
        rec = registry.keys.get(kid)
        if rec is None:  # a registration deleted or overwritten in the file
            raise DamagedLedgerError(f"an event of {item!r} names key {kid.hex()}, which no registration holds")
        revoked = 0 if rec.revoked_index is None else first_after[rec.revoked_index]
        signed = [position[ev.index] for ev in history if ev.key_id == kid]
        if revoked and revoked <= max(signed):
            raise RevokedKeyError(f"{rec.describe()} signed an event of {item!r} after its revocation")
        party = CodeParty(rec.name, tuple(sorted(rec.roles)), rec.valid_from, rec.valid_until, revoked, kid)
        if profile == "full":
            reg = ledger.entry(rec.registered_index)
            content = reg.content
            if not isinstance(content, PartyRegistration):
                raise DamagedLedgerError(f"entry {rec.registered_index} is no longer a registration; audit it")
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
