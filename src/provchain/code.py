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

A code can also be a URL (version 2): ``make(..., url="https://verify.example/")`` gives
``HTTPS://VERIFY.EXAMPLE/#02`` followed by the decimal digits (:mod:`provchain.digits`) of a smaller
bundle (tagged times, role indices, raw DEFLATE with a preset dictionary; ``provchain._internal.bundle2``).
A phone's camera opens it as a link; :func:`verify` takes it like a ``PC1:`` code. The address before
``#`` is not signed: the report never includes it.

The normative specification, with the byte layout, the verification steps and test vectors, is
docs/spec/item-code.md.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from . import base45, digits, merkle
from ._internal import bundle as _bundle
from ._internal.bundle import (
    Anchor,
    Bundle,
    CodeCosignature,
    CodeParty,
    JourneyEvent,
    RebuiltEvent,
    decode_bundle,
    sign_bundle,
)
from ._internal.bundle2 import decode_bundle_v2
from ._internal.codeurl import FRAGMENT_VERSION, MAX_BASE_CHARS, MAX_URL_CHARS, check_base, is_url, split_url
from ._internal.record import record
from ._internal.validate import check_time
from .checkpoint import Checkpoint, open_checkpoint
from .entries import ENTRY_DOMAIN, Body, Event, PartyRegistration, PolicyEntry, Revocation, check_item, ms_to_iso
from .errors import (
    BadPrefixError,
    Base45Error,
    BundleFormatError,
    ChainError,
    CosignatureError,
    DamagedLedgerError,
    ExpiredKeyError,
    InclusionError,
    InputError,
    LedgerBusyError,
    LedgerError,
    NoteFormatError,
    OperatorKeyError,
    OriginError,
    PolicyError,
    ProofUnavailableError,
    PublishedLogError,
    QuorumError,
    RevokedKeyError,
    RoleError,
    SignatureError,
    StageError,
    StageOrderError,
    TimeError,
    UnknownKeyError,
    VerificationError,
    WrongKeyError,
)
from .keys import Signer, format_vkey, parse_vkey, verify_signature
from .note import new_verifier
from .policy import Policy
from .rules import CLOCK_TOLERANCE_MS, KeyRecord, Registry

if TYPE_CHECKING:  # verify() imports no storage; make() imports the ledger when it runs (docs/design.md)
    from .ledger import HistoryEvent, Ledger
    from .tlog import TiledLog
    from .witness import Cosignature, CosignatureVerifier, WitnessPolicy

ProofSource = Callable[[int, int], Sequence[bytes]]
"""Where a ``witnessed-published`` code's inclusion proof comes from: ``(head_index, tree_size) -> proof``."""

__all__ = [
    "CODE_DOMAIN",
    "FRAGMENT_VERSION",
    "HINT_SIZE",
    "MAX_BASE_CHARS",
    "MAX_CLOCK_SKEW_MS",
    "MAX_CODE_CHARS",
    "MAX_EVENTS",
    "MAX_URL_CHARS",
    "PREFIX",
    "PROFILES",
    "Anchor",
    "Bundle",
    "CodeCosignature",
    "CodeEvent",
    "CodeParty",
    "CodeReport",
    "CodeWitness",
    "JourneyEvent",
    "RebuiltEvent",
    "check_base",
    "is_url",
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
"""The bundle profiles, in the order of their number in the bundle (0 compact, 1 full, 2 witnessed,
3 witnessed-published: the witnessed profile without the inclusion proof, which the verifier builds from
the log's published tiles)."""

MAX_CODE_CHARS: Final = _bundle.MAX_CODE_CHARS
"""The most characters a code may have: the alphanumeric capacity of a QR version 40 symbol at level M."""

MAX_EVENTS: Final = _bundle.MAX_EVENTS
"""The most events (and parties) a bundle may hold."""

HINT_SIZE: Final = _bundle.HINT_SIZE
"""The length of the anchor's head hint: the first bytes of the head's leaf hash."""

MAX_CLOCK_SKEW_MS: Final = 24 * 60 * 60 * 1000
"""How far after the verifier's clock a code's issue time and events may lie (24 hours): a phone whose
clock is up to a day slow still verifies a fresh genuine code, and the report shows the difference
(:attr:`CodeReport.clock_skew_ms`). A ledger's appends allow only ``CLOCK_TOLERANCE_MS`` (5 minutes)."""

_VERSION_PREFIX = r"[A-Za-z]{1,8}[0-9]{1,4}:"  # compiled when a code does not start with PC1: (by re's cache)


# --- parsing --------------------------------------------------------------------------------------


def parse(payload: str, origin: str) -> Bundle:
    """Decode a code text into a :class:`Bundle`, checking its form only (nothing is verified).

    ``payload`` is a version 1 code (``PC1:`` and Base45) or a URL code (``https://...#02`` and digits,
    version 2; the address before ``#`` is not signed and only its form is checked). ``origin`` is the
    ledger origin the code is read for (the pinned operator key's name); it is not encoded in the code, but
    the rebuilt entries and the signed message contain it.

    Raises :class:`BadPrefixError`, :class:`~provchain.errors.Base45Error`,
    :class:`~provchain.errors.DigitsError` or :class:`BundleFormatError`. Their messages name the fault and
    its position, never a character or a value of the code.
    """
    if not isinstance(payload, str):
        raise BadPrefixError("an item code is text")
    if is_url(payload):
        if len(payload) > MAX_URL_CHARS:  # before any copy of a hostile, huge payload
            raise BundleFormatError(f"a URL item code has at most {MAX_URL_CHARS} characters, not {len(payload)}")
        _base, fragment, start = split_url(payload)
        return decode_bundle_v2(digits.decode(fragment, start), origin)
    if len(payload) > MAX_CODE_CHARS:  # before any copy of a hostile, huge payload
        raise BundleFormatError(f"an item code has at most {MAX_CODE_CHARS} characters, not {len(payload)}")
    if not payload.startswith(PREFIX):
        m = re.match(_VERSION_PREFIX, payload)
        if m and m.group(0).upper().startswith("PC"):
            raise BadPrefixError(f"this item code's version is not supported (expected {PREFIX!r})")
        raise BadPrefixError(
            f"not a provchain item code: it does not start with {PREFIX!r} or https:// (a URL code)"
        )
    return decode_bundle(_base45(payload[len(PREFIX) :]), origin)


def _base45(text: str) -> bytes:
    """:func:`provchain.base45.decode`, with a message that gives a position but no character of ``text``."""
    try:
        return base45.decode(text)
    except Base45Error:
        pass
    if len(text) % 3 == 1:
        raise Base45Error(f"the Base45 text has {len(text)} characters; a valid length is 3k or 3k + 2")
    for position, char in enumerate(text, len(PREFIX)):
        if char not in base45.ALPHABET:
            raise Base45Error(f"character {position} of the code is not in the Base45 alphabet") from None
    raise Base45Error("the Base45 text encodes a value out of range (it is not canonical Base45)")


# --- the report -----------------------------------------------------------------------------------


@record
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

    def __init__(
        self,
        stage: str,
        party: str,
        roles: tuple[str, ...],
        country: str,
        place: str | None,
        data: Mapping[str, str | int],
        at: int,
        key_id: bytes,
        leaf_hash: bytes,
        key_revoked_later: bool = False,
    ) -> None:
        fields = self.__dict__
        fields["stage"] = stage
        fields["party"] = party
        fields["roles"] = roles
        fields["country"] = country
        fields["place"] = place
        fields["data"] = data
        fields["at"] = at
        fields["key_id"] = key_id
        fields["leaf_hash"] = leaf_hash
        fields["key_revoked_later"] = key_revoked_later

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


@record
class CodeWitness:
    """One counted cosignature of a witnessed code: a witness the verifier trusts cosigned the code's
    checkpoint at ``timestamp`` (POSIX seconds)."""

    witness: str
    """The witness's name in the verifier's policy (for keys given on the command line, ``name+keyid``)."""
    name: str
    """The witness key's name."""
    key_id: bytes
    """The 4-byte ``cosignature/v1`` key id."""
    timestamp: int
    """When the witness cosigned, in POSIX seconds."""

    def __init__(self, witness: str, name: str, key_id: bytes, timestamp: int) -> None:
        fields = self.__dict__
        fields["witness"] = witness
        fields["name"] = name
        fields["key_id"] = key_id
        fields["timestamp"] = timestamp

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "witness": self.witness,
            "name": self.name,
            "key_id": self.key_id.hex(),
            "time": ms_to_iso(self.timestamp * 1000),
            "time_s": self.timestamp,
        }


@record
class CodeReport:
    """What a verified code says: the journey, the anchor, and each check that passed.

    ``clock_skew_ms`` is how far the latest time in the code (its issue time, or its last event if that
    is later) lies after the verifier's clock: 0 when it does not, at most :data:`MAX_CLOCK_SKEW_MS`. A
    verifier shows it (the device's clock is probably behind).
    """

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
    clock_skew_ms: int = 0
    version: int = 1
    """The code's format: 1 for ``PC1:``, 2 for a URL code (whose web address is not part of what was verified)."""
    witness_policy: str | None = None
    """The verifier's witness policy (:meth:`~provchain.witness.WitnessPolicy.describe`), None if none was given."""
    witnesses: tuple[CodeWitness, ...] = ()
    """The counted cosignatures: valid, by witnesses the policy trusts, one per witness."""
    cosignatures_carried: int = 0
    """How many cosignatures the code carries (witnessed profile), counted or not."""
    verified_at: int = 0
    """The verifier's time (ms), against which the cosignatures' age is given."""

    def __init__(
        self,
        item: str,
        origin: str,
        operator: str,
        profile: str,
        events: tuple[CodeEvent, ...],
        checks: Mapping[str, str],
        head_index: int,
        tree_size: int,
        root: bytes,
        head_hash: bytes,
        issued: int,
        clock_skew_ms: int = 0,
        version: int = 1,
        witness_policy: str | None = None,
        witnesses: tuple[CodeWitness, ...] = (),
        cosignatures_carried: int = 0,
        verified_at: int = 0,
    ) -> None:
        fields = self.__dict__
        fields["item"] = item
        fields["origin"] = origin
        fields["operator"] = operator
        fields["profile"] = profile
        fields["events"] = events
        fields["checks"] = checks
        fields["head_index"] = head_index
        fields["tree_size"] = tree_size
        fields["root"] = root
        fields["head_hash"] = head_hash
        fields["issued"] = issued
        fields["clock_skew_ms"] = clock_skew_ms
        fields["version"] = version
        fields["witness_policy"] = witness_policy
        fields["witnesses"] = witnesses
        fields["cosignatures_carried"] = cosignatures_carried
        fields["verified_at"] = verified_at

    @property
    def witnessed_at(self) -> int | None:
        """The newest counted cosignature's time (POSIX seconds): the freshness of the code's checkpoint."""
        return max((w.timestamp for w in self.witnesses), default=None)

    @property
    def witness_age_ms(self) -> int | None:
        """How long before the verifier's time the newest counted cosignature was made (ms; negative when
        it is dated after the verifier's clock)."""
        newest = self.witnessed_at
        return None if newest is None else self.verified_at - newest * 1000

    def to_json(self) -> dict[str, Any]:
        """``{"item": ..., "events": [...], "checks": {...}, ...}`` ready for :func:`json.dumps`."""
        return {
            "verified": True,
            "version": self.version,
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
            "clock_skew_ms": self.clock_skew_ms,
            **self._witnesses_json(),
        }

    def _witnesses_json(self) -> dict[str, Any]:
        # Present only for a witnessed code or a verifier with a witness policy, so that the reports of
        # other codes stay as they were.
        if self.witness_policy is None and self.profile not in ("witnessed", "witnessed-published"):
            return {}
        newest = self.witnessed_at
        return {
            "witnesses": {
                "policy": self.witness_policy,
                "carried": self.cosignatures_carried,
                "cosignatures": [w.to_json() for w in self.witnesses],
                "newest": None if newest is None else ms_to_iso(newest * 1000),
                "newest_s": newest,
                "age_ms": self.witness_age_ms,
            }
        }


# --- verifying ------------------------------------------------------------------------------------
#
# Every refusal message names the check and a position ("event 3: ..."), never a value of the code: until
# the code is verified, its item id, names, places and data are the forger's words.


def verify(
    payload: str,
    operator_vkey: str,
    at: int | None = None,
    *,
    witnesses: WitnessPolicy | None = None,
    log: TiledLog | str | os.PathLike[str] | None = None,
) -> CodeReport:
    """Verify an item code offline against the pinned operator verifier key; return its :class:`CodeReport`.

    ``log`` is the operator's published log (``provchain publish``): a :class:`provchain.tlog.TiledLog`, or
    a directory or an ``http(s)://`` URL prefix. Only a ``witnessed-published`` code needs it: such a code
    does not carry the inclusion proof of its head in the cosigned tree, and the proof is built from the
    log's hash tiles (the published checkpoint, verified by the operator key, gives their widths; every
    node is checked against the root in the code, so the log needs no trust). Without ``log``, or when the
    log cannot be read, is older than the code's checkpoint or lacks a tile, such a code is refused
    (:class:`~provchain.errors.ProofUnavailableError`); a proof that does not lead to the code's root is an
    :class:`~provchain.errors.InclusionError`. Other codes ignore ``log``: verifying them is offline.

    ``witnesses`` is the verifier's witness policy (:class:`~provchain.witness.WitnessPolicy`, e.g.
    ``WitnessPolicy.from_witnesses([wvkey, ...], quorum)``). When it requires witnesses, a code is refused
    (:class:`~provchain.errors.QuorumError`) unless it is a witnessed code whose checkpoint carries valid
    cosignatures of a quorum of them; a cosignature by a trusted witness that does not verify, or that is
    dated more than :data:`MAX_CLOCK_SKEW_MS` after ``at``, is a
    :class:`~provchain.errors.CosignatureError`. The report lists the counted cosignatures and their time.

    ``at`` is the verifier's time in milliseconds (default: the clock). The code's issue time and its
    events may lie up to :data:`MAX_CLOCK_SKEW_MS` (24 hours) after it, for a device whose clock is slow;
    the report's ``clock_skew_ms`` says by how much they do. Raises a
    :class:`~provchain.errors.FormatError` when the code cannot be parsed (:class:`BadPrefixError`,
    :class:`~provchain.errors.Base45Error`, :class:`~provchain.errors.DigitsError`, :class:`BundleFormatError`,
    or a malformed ``operator_vkey``)
    and a :class:`VerificationError` when it is refused (:class:`OperatorKeyError`, :class:`ChainError`,
    :class:`SignatureError`, :class:`~provchain.errors.InclusionError`, :class:`~provchain.errors.RoleError`,
    :class:`~provchain.errors.StageOrderError`, :class:`RevokedKeyError`,
    :class:`~provchain.errors.ExpiredKeyError`, :class:`TimeError`, ...). A scanner that decoded the
    code from a QR symbol treats both as a refusal (docs/spec/item-code.md, *Verdicts*). No message
    quotes the code's content.

    The phases run in order, each a helper that raises on failure (in brackets: the steps of "Verifying a
    code" in docs/spec/item-code.md):

    1. :func:`parse`: the pinned key, then the code's form: prefix, Base45, bundle layout [1-5] (a URL
       code: the address's form and the version digits, the digits, the DEFLATE stream and the body, as in
       "Verifying a URL code");
    2. ``_check_operator``: the code names the pinned operator key [6];
    3. ``_rebuild_chain``: the event bodies rebuilt, their chain ends in the anchored head [7];
    4. ``_check_anchor_signature``: the operator's signature over the bundle [8] (a URL code: over the
       version 2 message);
    5. ``_seed_registry``: the policy and the party table, (full) each registration checked [9];
    6. ``_check_full_signatures``: (full) each party's signature, the inclusion proof, the checkpoint;
       ``_check_inclusion``: (witnessed) the inclusion proof; (witnessed-published) the proof built
       from ``log`` by ``_published_proof``, then checked the same way [10];
    7. ``_check_witnesses``: the cosignatures against the witness policy [10a];
    8. ``_check_rules``: the journey rules, event by event (:meth:`~provchain.rules.Registry.replay`) [11];
    9. ``_check_clock``: the issue time against the events and the verifier's clock [12].
    """
    now = _now_ms() if at is None else check_time(at, "at", InputError)
    _check_witness_policy(witnesses)
    prover: ProofSource | None = None
    if log is not None:
        prover = _log_prover(log, operator_vkey)
    return _verify(payload, operator_vkey, now, witnesses, prover)


def _verify(
    payload: str, operator_vkey: str, now: int, witnesses: WitnessPolicy | None, prover: ProofSource | None
) -> CodeReport:
    """:func:`verify`, its arguments checked; ``prover`` gives a ``witnessed-published`` code's proof."""
    # (1) The pinned key, and the code's form: nothing below runs on a code that does not parse.
    op_name, op_kid, op_key = parse_vkey(operator_vkey)
    bundle = parse(payload, op_name)
    checks: dict[str, str] = {"prefix": "ok", "base45" if bundle.version == 1 else "digits": "ok", "bundle": "ok"}
    # (2) The code must name the pinned operator key.
    _check_operator(bundle, op_kid)
    checks["operator_key"] = "ok"
    # (3) The rebuilt events chain up to the head the operator signed.
    rebuilt = _rebuild_chain(bundle)
    checks["chain"] = "ok"
    # (4) The operator's signature covers every other byte of the bundle, the origin and the head.
    _check_anchor_signature(bundle, op_key, rebuilt[-1].leaf_hash)
    checks["anchor_signature"] = "ok"
    # (5) The rules' registry: the policy and every signer; (full) each registration checked and verified.
    registry = _seed_registry(bundle, op_name, op_kid, op_key)
    if bundle.full:
        checks["registrations"] = "ok"
        # (6) (full) Every party's own signature, the inclusion proof and the checkpoint signature.
        _check_full_signatures(bundle, op_key, rebuilt)
        checks.update(party_signatures="ok", inclusion_proof="ok", checkpoint_signature="ok")
    elif bundle.proof_published:
        # (6) (witnessed-published) The same, with the proof built from the published log.
        _check_inclusion(bundle, rebuilt[-1].leaf_hash, _published_proof(bundle, prover))
        checks["inclusion_proof"] = "ok"
    elif bundle.witnessed:
        # (6) (witnessed) The head is in the tree that the witnesses cosigned.
        _check_inclusion(bundle, rebuilt[-1].leaf_hash)
        checks["inclusion_proof"] = "ok"
    # (7) The witnesses: a quorum of trusted witnesses cosigned the checkpoint (origin, tree size, root).
    counted = _check_witnesses(bundle, witnesses, now)
    if witnesses is not None and bundle.witnessed:
        checks["cosignatures"] = "ok"
    # (8) The journey rules, in order: keys, windows, revocations, roles, stage order, chain, times.
    _check_rules(bundle, registry, rebuilt, op_kid)
    checks["rules"] = "ok"
    # (9) The clock: the code is dated after its journey, and at most a day after the verifier's clock.
    skew = _check_clock(bundle, now)
    checks["time"] = "ok"
    report = _report(bundle, format_vkey(op_name, op_key), rebuilt, checks, skew)
    return replace(
        report,
        witness_policy=None if witnesses is None else witnesses.describe(),
        witnesses=counted,
        cosignatures_carried=len(bundle.anchor.cosignatures),
        verified_at=now,
    )


def _check_operator(bundle: Bundle, op_kid: bytes) -> None:
    """(2) The anchor's operator key id must be the pinned key's (:class:`OperatorKeyError`)."""
    if bundle.anchor.operator_key_id != op_kid:
        raise OperatorKeyError(f"this code was not signed by the pinned operator key (key id {op_kid.hex()})")


def _rebuild_chain(bundle: Bundle) -> list[RebuiltEvent]:
    """(3) Rebuild every event body (:class:`BundleFormatError`); the head's leaf hash must start with the
    anchor's head hint (:class:`ChainError`). A ``witnessed-published`` code carries no hint: the operator's
    signature covers the head, and the inclusion proof checks it against the cosigned root."""
    rebuilt = bundle.rebuild()
    if not bundle.proof_published and rebuilt[-1].leaf_hash[:HINT_SIZE] != bundle.anchor.head_hint:
        raise ChainError("the events do not lead to the head the operator signed: the journey in this code was altered")
    return rebuilt


def _check_anchor_signature(bundle: Bundle, op_key: bytes, head_hash: bytes) -> None:
    """(4) The operator's signature over the signed message (:class:`SignatureError`)."""
    try:
        verify_signature(op_key, bundle.signed_message(head_hash), bundle.signature)
    except SignatureError:
        raise SignatureError("the operator's signature does not match this code: it was altered") from None


def _seed_registry(bundle: Bundle, op_name: str, op_kid: bytes, op_key: bytes) -> Registry:
    """(5) A rules registry holding the bundle's policy and party table.

    Full profile: each party's registration body is rebuilt, judged as an operator entry and its
    signature verified with the operator key. Compact profile: each party is registered as the table
    says, except that no party may hold the operator's key id. Raises :class:`VerificationError` (or a
    subclass) naming the party's row.
    """
    registry = Registry(bundle.origin, op_name, op_key)
    registry.apply(PolicyEntry(origin=bundle.origin, at=0, signer=op_kid, policy=bundle.policy), 0)
    registry.revoked_later = frozenset(p.key_id for p in bundle.parties if p.revoked)  # a rotation's old keys
    for n, p in enumerate(bundle.parties, 1):
        if not bundle.full:
            if p.key_id == op_kid:
                raise VerificationError(f"party {n}: the operator key cannot be a party key")
            registry.keys[p.key_id] = KeyRecord(
                p.name, frozenset(p.roles), b"", p.key_id, p.valid_from, p.valid_until, n
            )
            continue
        reg = bundle.registration(p)
        try:
            public_key = registry.check_content(reg, None)
            verify_signature(public_key, ENTRY_DOMAIN + reg.encode(), p.registration_signature or b"")
        except VerificationError as exc:
            raise _refusal(exc, f"party {n}", _REGISTRATION_REFUSALS) from None
        registry.apply(reg, n)
    return registry


def _check_full_signatures(bundle: Bundle, op_key: bytes, rebuilt: Sequence[RebuiltEvent]) -> None:
    """(6) Full profile: every event's party signature, the head's inclusion proof in the anchored tree,
    and the checkpoint signature (:class:`SignatureError`, :class:`~provchain.errors.InclusionError`)."""
    for n, (e, r) in enumerate(zip(bundle.events, rebuilt, strict=True), 1):
        try:
            verify_signature(bundle.parties[e.party].key or b"", ENTRY_DOMAIN + r.encoded, e.signature or b"")
        except SignatureError:
            raise SignatureError(f"event {n}: its party's signature does not verify") from None
    a = bundle.anchor
    _check_inclusion(bundle, rebuilt[-1].leaf_hash)
    try:
        verify_signature(op_key, Checkpoint(bundle.origin, a.tree_size, a.root).format(), a.checkpoint_signature or b"")
    except SignatureError:
        raise SignatureError("the checkpoint signature does not verify") from None


def _check_inclusion(bundle: Bundle, head_hash: bytes, proof: Sequence[bytes] | None = None) -> None:
    """(6) The inclusion proof of the head in the anchored tree (the code's own, or ``proof``), hash by hash
    (:class:`InclusionError`)."""
    a = bundle.anchor
    try:
        merkle.verify_inclusion(head_hash, a.head_index, a.tree_size, a.proof if proof is None else proof, a.root)
    except InclusionError:
        raise InclusionError("the inclusion proof of the head does not lead to the code's tree root") from None


def _published_proof(bundle: Bundle, prover: ProofSource | None) -> Sequence[bytes]:
    """(6) A ``witnessed-published`` code's inclusion proof, from ``prover`` (:class:`ProofUnavailableError`
    when there is none: the code cannot be checked offline)."""
    if prover is None:
        raise ProofUnavailableError(
            "this code's inclusion proof is published with the log, not carried: give the published log "
            "(log=, or provchain scan --log DIR_OR_URL) to check it"
        )
    a = bundle.anchor
    return prover(a.head_index, a.tree_size)


def _log_prover(log: object, operator_vkey: str) -> ProofSource:
    """The :data:`ProofSource` of a published log (a :class:`~provchain.tlog.TiledLog`, a directory or a URL
    prefix), opened when a proof is asked for. Every failure to read it is a :class:`ProofUnavailableError`."""
    from .tlog import TiledLog, open_fetcher

    if not isinstance(log, TiledLog | str | os.PathLike):
        raise InputError("log must be a provchain.tlog.TiledLog, a directory or an http(s):// URL prefix, or None")
    where = log.fetcher.location if isinstance(log, TiledLog) else os.fspath(log)

    def prove(index: int, size: int) -> list[bytes]:
        try:
            tiled = log if isinstance(log, TiledLog) else TiledLog(open_fetcher(log))
            try:
                # The published checkpoint gives the tree the tiles describe; it may have grown since the
                # code's checkpoint, whose nodes are complete nodes of every later tree.
                published, _ = tiled.checkpoint(operator_vkey)
                if published.size < size:
                    raise ProofUnavailableError(
                        f"the log published at {where} has {published.size} entries, fewer than the {size} of "
                        "this code's checkpoint: the operator has not published it since"
                    )
                nodes = tiled.nodes(merkle.inclusion_nodes(index, size), published.size)
            finally:
                if tiled is not log:
                    tiled.close()
        except (LedgerError, PublishedLogError) as exc:
            raise ProofUnavailableError(
                f"could not get this code's inclusion proof from the published log: {exc}"
            ) from None
        return merkle.inclusion_proof_from(index, size, lambda level, i: nodes[(level, i)])

    return prove


def _check_witness_policy(witnesses: object) -> None:
    """Refuse a ``witnesses`` argument that is neither a :class:`~provchain.witness.WitnessPolicy` nor None
    (the witness module is imported when a policy is given: a scan without one starts without it)."""
    if witnesses is not None:
        from .witness import WitnessPolicy

        if not isinstance(witnesses, WitnessPolicy):
            raise InputError("witnesses must be a WitnessPolicy (provchain.witness) or None")


def _check_witnesses(bundle: Bundle, policy: WitnessPolicy | None, now: int) -> tuple[CodeWitness, ...]:
    """(7) The cosignatures of the checkpoint ``origin, tree_size, root`` against ``policy``: none without
    a policy; :class:`QuorumError` when the policy requires witnesses and the code is not witnessed or
    carries too few valid trusted cosignatures; :class:`CosignatureError` for a trusted witness's
    cosignature that does not verify or is dated more than :data:`MAX_CLOCK_SKEW_MS` after ``now``.

    The code carries key ids, not names: each cosignature is read as the trusted witness's with that key
    id (of two with the same 4-byte id, the one whose key verifies it)."""
    if policy is None:
        return ()
    if not bundle.witnessed:
        if policy.requires_witnesses:
            raise QuorumError(
                f"this {bundle.profile} code carries no witness cosignatures; this verifier requires "
                f"{policy.describe()} (make a witnessed code: provchain code --profile witnessed)"
            )
        return ()
    from .witness import Cosignature

    a = bundle.anchor
    text = Checkpoint(bundle.origin, a.tree_size, a.root).format()
    trusted = policy.witnesses
    by_name = {(v.name, v.key_id): pname for pname, v in trusted.items()}
    cosigs: list[Cosignature] = []
    if bundle.proof_published:
        cosigs = _attribute(text, a.cosignatures, trusted.values())
    for c in () if bundle.proof_published else a.cosignatures:
        candidates = [v for v in trusted.values() if v.key_id == c.key_id]
        if not candidates:
            continue  # a witness this verifier does not know: ignored
        chosen = next((v for v in candidates if _cosigns(v, text, c)), candidates[0])
        cosigs.append(Cosignature(chosen.name, c.key_id, c.timestamp, c.signature))
    # verify_cosignatures checks each again, the clock (in seconds: a time T s is refused when T * 1000 is
    # more than MAX_CLOCK_SKEW_MS after now) and the quorum.
    counted = policy.verify_cosignatures(text, cosigs, now=now // 1000, skew=MAX_CLOCK_SKEW_MS // 1000)
    return tuple(CodeWitness(by_name[(c.name, c.key_id)], c.name, c.key_id, c.timestamp) for c in counted)


def _attribute(
    text: bytes, carried: Sequence[CodeCosignature], trusted: Iterable[CosignatureVerifier]
) -> list[Cosignature]:
    """(7) The cosignatures of a ``witnessed-published`` code, which carries no key ids, attributed: each to
    the first trusted witness (in the policy's order) not yet attributed whose key verifies it, so that a
    witness counts once. A cosignature no trusted witness's key verifies is ignored, as one by an unknown
    key id is. At most ``len(carried) * len(trusted)`` signature verifications."""
    from .witness import Cosignature

    left = list(dict.fromkeys(trusted))
    out: list[Cosignature] = []
    for c in carried:
        for v in left:
            if _cosigns(v, text, CodeCosignature(v.key_id, c.timestamp, c.signature)):
                out.append(Cosignature(v.name, v.key_id, c.timestamp, c.signature))
                left.remove(v)
                break
    return out


def _cosigns(verifier: CosignatureVerifier, text: bytes, c: CodeCosignature) -> bool:
    from .witness import Cosignature

    try:
        verifier.check(text, Cosignature(verifier.name, c.key_id, c.timestamp, c.signature))
    except CosignatureError:
        return False
    return True


def _check_rules(bundle: Bundle, registry: Registry, rebuilt: Sequence[RebuiltEvent], op_kid: bytes) -> None:
    """(7) Replay the journey through the rules: before event ``n``, the revocation of every party whose
    ``revoked`` is ``n``; each event judged against the one before (no clock: that is phase 8). Raises the
    rule's error class, with a message that names the event's position and the rule."""
    stream: list[tuple[int, Body]] = []
    for n, (e, r) in enumerate(zip(bundle.events, rebuilt, strict=True), 1):
        for p in bundle.parties:
            if p.revoked == n:
                stream.append((n, Revocation(origin=bundle.origin, at=e.at, signer=op_kid, revoked=p.key_id)))
        stream.append((n, r.body))
    judged = 0
    try:
        for step in registry.replay(stream):
            if isinstance(step.content, Event):
                judged = step.index
    except VerificationError as exc:
        raise _refusal(exc, f"event {judged + 1}", _RULE_REFUSALS) from None


def _check_clock(bundle: Bundle, now: int) -> int:
    """(8) The issue time must not precede the last event by more than ``CLOCK_TOLERANCE_MS``, and
    neither may lie more than :data:`MAX_CLOCK_SKEW_MS` after ``now`` (:class:`TimeError`). Return how far
    the later of the two lies after ``now`` (0 if it does not)."""
    issued, last = bundle.anchor.issued, bundle.events[-1].at
    if issued + CLOCK_TOLERANCE_MS < last:
        raise TimeError("the code is dated before the last event of its journey")
    latest = max(issued, last)
    if latest > now + MAX_CLOCK_SKEW_MS:
        raise TimeError(
            f"the code is dated more than 24 hours after this device's clock ({ms_to_iso(now)}); "
            "if the clock is right, the code is not genuine"
        )
    return max(0, latest - now)


def _report(
    bundle: Bundle, operator: str, rebuilt: Sequence[RebuiltEvent], checks: dict[str, str], skew: int
) -> CodeReport:
    """The :class:`CodeReport` of a verified bundle."""
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
            leaf_hash=r.leaf_hash,
            key_revoked_later=bundle.parties[e.party].revoked != 0,
        )
        for e, r in zip(bundle.events, rebuilt, strict=True)
    )
    a = bundle.anchor
    return CodeReport(
        item=bundle.item,
        origin=bundle.origin,
        operator=operator,
        profile=bundle.profile,
        events=events,
        checks=checks,
        head_index=a.head_index,
        tree_size=a.tree_size,
        root=a.root,
        head_hash=rebuilt[-1].leaf_hash,
        issued=a.issued,
        clock_skew_ms=skew,
        version=bundle.version,
    )


# What each refusal of the rules says: the error class is kept, the message is one of these (the rules'
# own messages quote names, stages and item ids, which in a refused code are the forger's).
_RULE_REFUSALS: Final[tuple[tuple[type[VerificationError], str], ...]] = (
    (RevokedKeyError, "it was signed after its signer's key was revoked"),
    (ExpiredKeyError, "it is dated outside its signer key's validity window"),
    (UnknownKeyError, "its signer key is not registered"),
    (RoleError, "its signer holds no role that may record its stage"),
    (StageOrderError, "its stage may not follow the previous stage, or may not start a journey"),
    (StageError, "its stage is not defined by the journey policy"),
    (PolicyError, "the journey policy does not allow it"),
    (ChainError, "the chain link to the previous event is broken"),
    (TimeError, "it is dated before the previous event"),
    (OriginError, "it belongs to another ledger"),
)

_REGISTRATION_REFUSALS: Final[tuple[tuple[type[VerificationError], str], ...]] = (
    (SignatureError, "the operator's signature of its registration does not verify"),
    (OperatorKeyError, "its registration is not signed by the operator key"),
    (
        VerificationError,
        "its registration breaks the ledger's rules (the operator's own key, a key registered twice, "
        "or a key that is not an acceptable Ed25519 point)",
    ),
)


def _refusal(
    exc: VerificationError, where: str, table: Sequence[tuple[type[VerificationError], str]]
) -> VerificationError:
    """``exc``'s class with the message ``where: <the table's description of the class>``."""
    text = next((description for cls, description in table if isinstance(exc, cls)), "the journey rules refuse it")
    out = type(exc)(f"{where}: {text}")
    out.__cause__ = exc
    return out


def _now_ms() -> int:
    # The verifier's clock, as ledger.now_ms reads it (integer milliseconds UTC), without importing the ledger.
    return time.time_ns() // 1_000_000


# --- making ---------------------------------------------------------------------------------------


def _operator(ledger: Ledger, operator: Signer | None) -> Signer:
    if operator is None:
        return ledger.operator
    name, _kid, key = parse_vkey(ledger.operator_vkey)
    if operator.name != name or operator.public_key != key:
        raise WrongKeyError(f"the given operator key is not this ledger's operator key {ledger.operator_vkey}")
    return operator


_MAKE_ATTEMPTS = 5  # checkpoints signed for one code at most, when writers keep moving the item's head


def make(
    ledger: Ledger,
    item: str,
    profile: str = "compact",
    *,
    operator: Signer | None = None,
    at: int | None = None,
    url: str | None = None,
    witnesses: WitnessPolicy | None = None,
) -> str:
    """Make the code text of ``item``'s journey, signed by the operator (``operator`` or the ledger's own).

    Without ``url``, the code is version 1 text (``PC1:...``). With ``url``, an https base address (see
    :func:`check_base`), it is a version 2 URL code: ``url`` (scheme and host in upper case), ``#02`` and
    the digits of the smaller version 2 bundle; the address is not signed.

    The anchor points at the latest checkpoint if it contains the item's head; otherwise a new checkpoint
    is signed and stored first.

    The ``witnessed`` profile anchors on the latest stored checkpoint that contains the head and carries
    witness cosignatures (stored by ``provchain checkpoint --witness ...``) and adds the inclusion proof of
    the head and those cosignatures; it never signs a new checkpoint (:class:`QuorumError` when no stored
    checkpoint will do). With ``witnesses``, a policy, only the cosignatures valid under it are carried and
    the checkpoint must satisfy its quorum (the code is then verified with it); without, every cosignature
    of the stored note is carried. The ``witnessed-published`` profile is the same without the inclusion
    proof, which makes it 171 to 394 bytes smaller (measured at 25 and 100,025 entries; the six-event
    URL code with one cosignature is QR version 17): its verifier builds the proof from the log the
    operator publishes (``provchain publish``; :func:`verify`'s ``log``). ``at`` (ms) is the code's issue
    time (default: now). The code is verified before it is returned. Raises :class:`InputError` for an unknown profile,
    an item without events, a journey that spans a change of policy, or a code too large for a QR code
    (try ``compact``), and :class:`RevokedKeyError` if an event was signed after its key's revocation (a
    damaged ledger).

    The steps, as numbered in docs/spec/item-code.md, *Making a code*: (1) the request and the item's
    history; (2) ``_replay_signers``: the policy and every signer's state from the operator's entries;
    (3) ``_party_table``: the party rows; (4) ``_anchor``: the checkpoint and the anchor; (5) the bundle
    signed and encoded, refused if too long, and verified.
    """
    from .ledger import Ledger, now_ms  # here, not at the top: verify() needs no storage

    # (1) The request, and the item's events in chain order.
    if not isinstance(ledger, Ledger):
        raise InputError("ledger must be an open provchain Ledger")
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    item = check_item(item)
    _check_witness_policy(witnesses)
    if witnesses is not None and profile not in ("witnessed", "witnessed-published"):
        raise InputError("a witness policy is for the witnessed profiles only (profile='witnessed')")
    base = None if url is None else check_base(url)
    op = _operator(ledger, operator)
    issued = now_ms() if at is None else check_time(at, "at", InputError)
    # Steps 1 to 4 read one state of the ledger (a snapshot), so that the journey, the signers' records
    # and the anchor describe the same ledger whatever other writers do meanwhile. A checkpoint that
    # contains the head is a write: when none is stored yet, it is signed outside the snapshot, and the
    # reading starts again (the head may have moved meanwhile; then another checkpoint is signed).
    for _ in range(_MAKE_ATTEMPTS):
        with ledger.snapshot():
            history = ledger.history(item)
            if not history:
                raise InputError(f"the ledger has no events for item {item!r}")
            # (2) The operator's entries replayed: one policy for the whole journey, and every signer's record.
            registry, policy = _replay_signers(ledger, op, item, history)
            # (3) The party table, in the order of first use, with where each revocation fell.
            order = list(dict.fromkeys(ev.key_id for ev in history))
            parties = _party_table(ledger, registry, item, history, order, profile)
            # (4) A checkpoint that contains the head, and the anchor on it.
            anchor = _anchor(ledger, op, history[-1], issued, profile, witnesses)
        if anchor is not None:
            break
        if profile in ("witnessed", "witnessed-published"):  # a fresh checkpoint carries no cosignature
            raise QuorumError(
                f"no stored checkpoint that contains the head of {item!r} carries "
                + ("witness cosignatures" if witnesses is None else f"cosignatures satisfying {witnesses.describe()}")
                + "; run provchain checkpoint LEDGER --operator-key K --witness URL=WVKEY ... first"
            )
        ledger.checkpoint()
    else:
        raise LedgerBusyError(
            f"the head of {item!r} moved on {_MAKE_ATTEMPTS} times while its code was being made; try again"
        )
    # (5) The bundle, signed, encoded, refused if too long for a QR code, and verified before it leaves.
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
    version = 1 if base is None else 2
    bundle = sign_bundle(Bundle(profile, ledger.origin, item, policy, parties, events, anchor, b"", version), op)
    text = bundle.payload(base)
    if len(text) > (MAX_CODE_CHARS if base is None else MAX_URL_CHARS):
        raise InputError(
            f"the {profile} code of {item!r} has {len(text)} characters, more than a QR code holds "
            f"({MAX_CODE_CHARS} at level M)" + ("; use the compact profile" if profile == "full" else "")
        )
    # A witnessed-published code is checked with the proof from the ledger, which is what its log publishes.
    prover: ProofSource = lambda index, size: ledger.inclusion_proof(index, size)  # noqa: E731
    _verify(text, format_vkey(op.name, op.public_key), max(issued, history[-1].at), witnesses, prover)
    return text


def _replay_signers(
    ledger: Ledger, op: Signer, item: str, history: Sequence[HistoryEvent]
) -> tuple[Registry, Policy]:
    """(2) Replay the operator's entries and the item's events in log order (the ledger judged them when it
    accepted them): return the registry after the last operator entry and the one policy in force at every
    event; :class:`InputError` if the journey spans a change of policy."""
    registry = Registry(ledger.origin, op.name, op.public_key)
    stream: list[tuple[int, Body]] = [(e.index or 0, e.content) for e in ledger.store.operator_entries(0)]
    stream += [(ev.index, ev.entry.content) for ev in history]
    stream.sort(key=lambda pair: pair[0])
    policies = {
        step.policy_index or 0 for step in registry.replay(stream, judge=False) if isinstance(step.content, Event)
    }
    if len(policies) != 1:
        raise InputError(f"the journey of {item!r} spans a change of policy, which a PC1 code cannot carry")
    policy_entry = ledger.entry(policies.pop()).content
    if not isinstance(policy_entry, PolicyEntry):  # only an edited file holds no policy before the events
        raise DamagedLedgerError("the ledger holds no journey policy before the item's events; audit it")
    return registry, policy_entry.policy


def _party_table(
    ledger: Ledger,
    registry: Registry,
    item: str,
    history: Sequence[HistoryEvent],
    order: Sequence[bytes],
    profile: str,
) -> tuple[CodeParty, ...]:
    """(3) One row per signer key in ``order``. ``revoked`` is the 1-based position of the first event after
    the key's revocation entry (:class:`RevokedKeyError` if the key signed that event or a later one)."""
    from bisect import bisect_left  # making a code only

    indices = [ev.index for ev in history]
    parties: list[CodeParty] = []
    for kid in order:
        rec = registry.keys.get(kid)
        if rec is None:  # a registration deleted or overwritten in the file
            raise DamagedLedgerError(f"an event of {item!r} names key {kid.hex()}, which no registration holds")
        revoked = 0 if rec.revoked_index is None else bisect_left(indices, rec.revoked_index) + 1
        signed = [n for n, ev in enumerate(history, 1) if ev.key_id == kid]
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
    return tuple(parties)


def _anchor(
    ledger: Ledger, op: Signer, head: HistoryEvent, issued: int, profile: str, witnesses: WitnessPolicy | None
) -> Anchor | None:
    """(4) The anchor on the latest checkpoint if it contains ``head`` (full: with the inclusion proof and
    the checkpoint signature; witnessed: see :func:`_witnessed_anchor`), else None: a checkpoint must be
    signed first. The head hint is set when signing."""
    if profile in ("witnessed", "witnessed-published"):
        return _witnessed_anchor(ledger, op, head, issued, witnesses, carry_proof=profile == "witnessed")
    note = ledger.latest_checkpoint()
    verifier = new_verifier(ledger.operator_vkey)
    if note is None or open_checkpoint(note, ledger.origin, verifier)[0].size <= head.index:
        return None
    cp, opened = open_checkpoint(note, ledger.origin, verifier)
    anchor = Anchor(op.key_id, head.leaf_hash[:HINT_SIZE], head.index, cp.size, cp.root, issued)
    if profile == "full":
        proof = tuple(ledger.inclusion_proof(head.index, cp.size))
        anchor = replace(anchor, proof=proof, checkpoint_signature=opened.sigs[0].signature)
    return anchor


def _witnessed_anchor(
    ledger: Ledger,
    op: Signer,
    head: HistoryEvent,
    issued: int,
    witnesses: WitnessPolicy | None,
    *,
    carry_proof: bool = True,
) -> Anchor | None:
    """(4) witnessed: the anchor on the largest stored checkpoint that contains ``head`` and carries
    cosignatures (under ``witnesses``: valid ones satisfying its quorum), with the inclusion proof unless
    ``carry_proof`` is false (witnessed-published); None when there is none."""
    verifier = new_verifier(ledger.operator_vkey)
    for size, note in ledger.store.checkpoints(newest_first=True):
        if size <= head.index:
            break
        cp, _ = open_checkpoint(note, ledger.origin, verifier)
        if cp.size != size:
            raise DamagedLedgerError(f"the checkpoints table files a checkpoint of size {cp.size} under size {size}")
        cosigs = _stored_cosignatures(note, cp, witnesses)
        if cosigs and not carry_proof:  # witnessed-published: no head hint, no key ids, one row per signature
            cosigs = tuple({c.signature: replace(c, key_id=b"") for c in cosigs}.values())
            return Anchor(op.key_id, b"", head.index, cp.size, cp.root, issued, (), None, cosigs)
        if cosigs:
            proof = tuple(ledger.inclusion_proof(head.index, cp.size))
            hint = head.leaf_hash[:HINT_SIZE]
            return Anchor(op.key_id, hint, head.index, cp.size, cp.root, issued, proof, None, cosigs)
    return None


def _stored_cosignatures(
    note: bytes, cp: Checkpoint, witnesses: WitnessPolicy | None
) -> tuple[CodeCosignature, ...]:
    """The cosignatures of a stored checkpoint note, sorted by key id, one per key id: under ``witnesses``
    only the valid ones by its witnesses, and none unless they satisfy its quorum."""
    from .witness import Cosignature, split_note

    text, lines = split_note(note)
    if text != cp.format():  # a cosignature covers the note text, which a code rebuilds from its fields
        return ()
    found: dict[bytes, Cosignature] = {}
    for line in lines:
        try:
            c = Cosignature.from_line(line)
        except NoteFormatError:
            continue
        if c is not None:
            found.setdefault(c.key_id, c)
    if witnesses is not None:
        trusted = {(v.name, v.key_id): (pname, v) for pname, v in witnesses.witnesses.items()}
        valid: dict[bytes, Cosignature] = {}
        names: list[str] = []
        for kid, c in found.items():
            hit = trusted.get((c.name, kid))
            if hit is not None and _cosigns(hit[1], text, CodeCosignature(kid, c.timestamp, c.signature)):
                valid[kid] = c
                names.append(hit[0])
        if not witnesses.satisfied(names):
            return ()
        found = valid
    chosen = sorted(found.values(), key=lambda c: c.key_id)[: _bundle.MAX_COSIGNATURES]
    return tuple(CodeCosignature(c.key_id, c.timestamp, c.signature) for c in chosen)
