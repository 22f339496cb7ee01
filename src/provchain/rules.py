"""The rules every entry must satisfy, applied in log order.

:class:`Registry` holds what the operator's entries have established so far (registered keys, their
roles, validity windows and revocations, and the journey policy in force) and judges the next entry
against it. The ledger uses it before every append, the auditor to replay a ledger, and the item-code
verifier to check a journey: one set of rules, one implementation.

Pure: no I/O and no clock; the time is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cached_property

from ._internal.ed25519_strict import key_acceptable
from ._internal.record import record
from .entries import Body, Entry, Event, PartyRegistration, PolicyEntry, Revocation, leaf_hash_of, ms_to_iso
from .errors import (
    ChainError,
    ExpiredKeyError,
    OperatorKeyError,
    OriginError,
    PolicyError,
    RevokedKeyError,
    TimeError,
    UnknownKeyError,
    VerificationError,
)
from .keys import key_id as compute_key_id
from .keys import verify_signature
from .policy import Policy

__all__ = ["CLOCK_TOLERANCE_MS", "Head", "KeyRecord", "Registry", "ReplayStep"]

CLOCK_TOLERANCE_MS = 5 * 60 * 1000
"""How far in the future an event's time may be, relative to the checker's clock."""

_set = object.__setattr__  # how a record with slots sets its fields (provchain._internal.record)


@record
class KeyRecord:
    """A party key as registered in the ledger."""

    name: str
    roles: frozenset[str]
    public_key: bytes
    key_id: bytes
    valid_from: int
    valid_until: int | None
    registered_index: int
    revoked_index: int | None = None

    def __init__(
        self,
        name: str,
        roles: frozenset[str],
        public_key: bytes,
        key_id: bytes,
        valid_from: int,
        valid_until: int | None,
        registered_index: int,
        revoked_index: int | None = None,
    ) -> None:
        fields = self.__dict__
        fields["name"] = name
        fields["roles"] = roles
        fields["public_key"] = public_key
        fields["key_id"] = key_id
        fields["valid_from"] = valid_from
        fields["valid_until"] = valid_until
        fields["registered_index"] = registered_index
        fields["revoked_index"] = revoked_index

    @cached_property
    def label(self) -> str:
        """``party 'name' (key id)``, for messages (computed once)."""
        return f"party {self.name!r} (key {self.key_id.hex()})"

    def describe(self) -> str:
        """``party 'name' (key id)``, for messages."""
        return self.label


@record(slots=True)
class Head:
    """The last entry of an item's chain."""

    index: int
    leaf_hash: bytes
    stage: str
    at: int

    def __init__(self, index: int, leaf_hash: bytes, stage: str, at: int) -> None:
        _set(self, "index", index)
        _set(self, "leaf_hash", leaf_hash)
        _set(self, "stage", stage)
        _set(self, "at", at)


@record(slots=True)
class ReplayStep:
    """What :meth:`Registry.replay` yields after each entry it took."""

    index: int
    """The index the entry was given."""

    content: Body
    """The entry's body."""

    policy_index: int | None
    """The index of the policy in force after the entry (None before the first policy)."""

    def __init__(self, index: int, content: Body, policy_index: int | None) -> None:
        _set(self, "index", index)
        _set(self, "content", content)
        _set(self, "policy_index", policy_index)


class Registry:
    """Parties, revocations and policy established by the operator's entries, in log order."""

    def __init__(self, origin: str, operator_name: str, operator_key: bytes) -> None:
        self.origin = origin
        self.operator_name = operator_name
        self.operator_key = operator_key
        self.operator_key_id = compute_key_id(operator_name, operator_key)
        self.keys: dict[bytes, KeyRecord] = {}
        self._by_public_key: dict[bytes, KeyRecord] = {}
        self._by_name: dict[str, list[bytes]] = {}  # party name -> its key ids, in registration order
        self.revoked_later: frozenset[bytes] = frozenset()
        """Key ids known to be revoked although their revocation is not applied (yet): set by the item-code
        verifier, which learns revocations only as positions in the journey (see :meth:`_check_party`)."""
        self.policy: Policy | None = None
        self.policy_index: int | None = None

    # --- judging --------------------------------------------------------------------------------

    def signer_key(self, content: Body) -> bytes:
        """The public key that must have signed ``content`` (raises if there is none)."""
        if isinstance(content, Event):
            return self.event_key(content).public_key
        if content.signer != self.operator_key_id:
            raise OperatorKeyError(
                f"{content.KIND} entries must be signed by the operator key {self.operator_key_id.hex()}, "
                f"not {content.signer.hex()}"
            )
        return self.operator_key

    def event_key(self, event: Event) -> KeyRecord:
        """The registered key that signed ``event``; raises if unknown, revoked or outside its window."""
        rec = self.keys.get(event.signer)
        if rec is None:
            raise UnknownKeyError(f"key {event.signer.hex()} is not registered in this ledger")
        if rec.revoked_index is not None:
            raise RevokedKeyError(f"{rec.describe()} was revoked by entry {rec.revoked_index}")
        if event.at < rec.valid_from or (rec.valid_until is not None and event.at >= rec.valid_until):
            until = ms_to_iso(rec.valid_until) if rec.valid_until is not None else "open-ended"
            raise ExpiredKeyError(
                f"{rec.describe()} is valid from {ms_to_iso(rec.valid_from)} until {until}, "
                f"but the event is dated {ms_to_iso(event.at)}"
            )
        return rec

    def check(
        self,
        entry: Entry,
        head: Head | None,
        *,
        now: int | None = None,
        verify: bool = True,
    ) -> Body:
        """Judge ``entry`` as the next entry of the log; return its parsed body or raise.

        ``head`` is the current head of the event's item (None for a new item, ignored for
        operator entries). ``now`` (ms) enables the check that events are not dated in the future.
        With ``verify=False`` the signature is not checked (the caller checks it, e.g. in bulk).
        """
        content = entry.content
        public_key = self.check_content(content, head, now=now)
        if verify:
            verify_signature(public_key, entry.signed_message, entry.signature)
        return content

    def check_content(self, content: Body, head: Head | None, *, now: int | None = None) -> bytes:
        """Judge a body (without its signature) as the next entry; return the key that must sign it."""
        if content.origin != self.origin:
            raise OriginError(f"entry belongs to ledger {content.origin!r}, not {self.origin!r}")
        if isinstance(content, Event):
            rec = self.event_key(content)
            self._check_event(content, rec, head, now)
            return rec.public_key
        public_key = self.signer_key(content)
        if isinstance(content, PartyRegistration):
            self._check_party(content)
        elif isinstance(content, Revocation):
            self._check_revocation(content)
        return public_key

    def _check_event(self, ev: Event, rec: KeyRecord, head: Head | None, now: int | None) -> None:
        if self.policy is None:
            raise PolicyError("the ledger has no journey policy yet")
        if now is not None and ev.at > now + CLOCK_TOLERANCE_MS:
            raise TimeError(f"event is dated {ms_to_iso(ev.at)}, in the future (now {ms_to_iso(now)})")
        if head is None:
            if ev.prev is not None:
                raise ChainError(f"item {ev.item!r} has no earlier event, but the entry names a previous one")
        else:
            if ev.prev is None:
                raise ChainError(
                    f"item {ev.item!r} already has events (head: entry {head.index}); prev is missing"
                )
            if ev.prev != head.leaf_hash:
                raise ChainError(
                    f"prev {ev.prev.hex()[:16]}... does not match the head of item {ev.item!r} "
                    f"(entry {head.index}, {head.leaf_hash.hex()[:16]}...)"
                )
            if ev.at < head.at:
                raise TimeError(
                    f"event is dated {ms_to_iso(ev.at)}, before the item's previous event "
                    f"({ms_to_iso(head.at)})"
                )
        self.policy.check(ev.stage, head.stage if head else None, rec.roles, rec.describe())

    def _check_party(self, p: PartyRegistration) -> None:
        kid = p.key_id
        if kid == self.operator_key_id or p.key == self.operator_key:
            raise VerificationError("the operator key cannot be registered as a party key")
        same_key = self._by_public_key.get(p.key)
        if same_key is not None:
            raise VerificationError(
                f"this public key is already registered (to {same_key.name!r}, entry {same_key.registered_index}); "
                "register a new key for each party"
            )
        if kid in self.keys:
            other = self.keys[kid]
            raise VerificationError(
                f"key id {kid.hex()} is already registered (to {other.name!r}, entry {other.registered_index})"
            )
        if not key_acceptable(p.key):
            raise VerificationError(
                "the registered key is not a valid Ed25519 public key (non-canonical, off the curve, "
                "or with a small-order component)"
            )
        # One name, one party: a new key may take a name only as a rotation, once every earlier key under
        # it is revoked or its window ends no later than the new key's starts. Otherwise two keys would
        # sign as the same party at once, and a reader could not tell which one the party holds.
        for earlier in self._by_name.get(p.name, ()):
            rec = self.keys[earlier]
            if rec.revoked_index is not None or rec.key_id in self.revoked_later:
                continue
            if rec.valid_until is not None and rec.valid_until <= p.valid_from:
                continue
            until = ms_to_iso(rec.valid_until) if rec.valid_until is not None else "open-ended"
            raise VerificationError(
                f"party name {p.name!r} is already held by key {rec.key_id.hex()} (entry {rec.registered_index}, "
                f"valid until {until}); a new key may take the name only as a rotation: revoke the old key "
                f"first, or start the new key no earlier than the old key's window ends"
            )

    def _check_revocation(self, r: Revocation) -> None:
        rec = self.keys.get(r.revoked)
        if rec is None:
            raise UnknownKeyError(f"cannot revoke key {r.revoked.hex()}: it is not registered")
        if rec.revoked_index is not None:
            raise RevokedKeyError(f"{rec.describe()} is already revoked (entry {rec.revoked_index})")

    # --- applying -------------------------------------------------------------------------------

    def apply(self, content: Body, index: int) -> None:
        """Record the effect of an accepted operator entry at ``index`` (events change nothing here)."""
        if isinstance(content, PartyRegistration):
            self.keys[content.key_id] = self._by_public_key[content.key] = KeyRecord(
                name=content.name,
                roles=frozenset(content.roles),
                public_key=content.key,
                key_id=content.key_id,
                valid_from=content.valid_from,
                valid_until=content.valid_until,
                registered_index=index,
            )
            self._by_name.setdefault(content.name, []).append(content.key_id)
        elif isinstance(content, Revocation):
            self.keys[content.revoked] = replace(self.keys[content.revoked], revoked_index=index)
        elif isinstance(content, PolicyEntry):
            self.policy = content.policy
            self.policy_index = index

    def replay(
        self, entries: Iterable[tuple[int, Body]], *, judge: bool = True, now: int | None = None
    ) -> Iterator[ReplayStep]:
        """Take ``(index, body)`` pairs in log order: judge each (unless ``judge`` is False), apply each
        operator entry, and yield a :class:`ReplayStep` after each entry.

        Events are judged against the head of their item as this replay has seen it (an item's first event
        here starts its chain); signatures are not checked (the caller checks them). ``now`` (ms) enables
        the clock check of :meth:`check_content`. The first entry that breaks a rule raises its error, so
        the entry that failed is the one after the last step yielded. With ``judge=False`` the entries are
        only applied: for a log that was judged when it was written.
        """
        heads: dict[str, Head] = {}
        for index, content in entries:
            if isinstance(content, Event):
                if judge:
                    self.check_content(content, heads.get(content.item), now=now)
                    heads[content.item] = Head(index, leaf_hash_of(content.encode()), content.stage, content.at)
            else:
                if judge:
                    self.check_content(content, None, now=now)
                self.apply(content, index)
            yield ReplayStep(index, content, self.policy_index)

    def parties(self) -> list[KeyRecord]:
        """All registered keys, in registration order."""
        return sorted(self.keys.values(), key=lambda r: r.registered_index)
