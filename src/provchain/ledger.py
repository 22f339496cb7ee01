"""The ledger: an append-only log of signed, hash-chained entries over a :class:`~provchain.store.base.Store`.

>>> import tempfile, os
>>> from provchain import Ledger, KeyPair
>>> d = tempfile.mkdtemp()
>>> op = KeyPair.generate("example.com/acme-ledger")
>>> led = Ledger.create(os.path.join(d, "ledger.db"), origin="example.com/acme-ledger", operator=op)
>>> maker = KeyPair.generate("grasse-labs")
>>> _ = led.register_party("grasse-labs", roles=["origin"], public_key=maker.public_key)
>>> e = led.append("SERUM-0001", "origin", signer=maker, country="FR", data={"batch": "B-17"})
>>> [(ev.stage, ev.party, ev.country) for ev in led.history("SERUM-0001")]
[('origin', 'grasse-labs', 'FR')]
>>> led.close()
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from . import merkle
from ._internal.text import escape
from ._internal.tree import StoredTree
from ._internal.validate import MAX_TIME, check_int, check_time, is_key_id_hex
from .checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from .entries import (
    ENTRY_DOMAIN,
    FORMAT_VERSION,
    Body,
    Entry,
    Event,
    PartyRegistration,
    PolicyEntry,
    Revocation,
    check_item,
    check_reason,
    decode_body,
    sign_body,
)
from .errors import (
    CheckpointError,
    ConsistencyError,
    DamagedLedgerError,
    EncodingError,
    ForeignLedgerError,
    FormatError,
    InputError,
    KeyFormatError,
    LedgerBusyError,
    LedgerError,
    OperatorKeyError,
    ProvchainError,
    StaleHeadError,
    StorageError,
    UnknownKeyError,
    VerificationError,
    WrongKeyError,
)
from .keys import KeyPair, Signer, format_vkey, is_signer, parse_vkey, verify_signature
from .note import new_verifier
from .policy import DEFAULT_POLICY, Policy, check_name
from .rules import Head, KeyRecord, Registry
from .store import create_store, ledger_location, open_store
from .store.base import (
    DisposableStore,
    LedgerMeta,
    MultiHeadStore,
    NodeKey,
    PrefetchingStore,
    SequencingStore,
    Store,
    StoredEntry,
)
from .tree.frontier import Frontier
from .tree.hashing import LEAF_PREFIX, _sha256

__all__ = ["EventSpec", "HistoryEvent", "Ledger", "Time", "now_ms", "to_ms"]

_MAX_INDEX = 2**63 - 1  # the largest SQLite integer: no entry index can be larger
_SEQUENCE_TRIES = 16  # a single event's tries when other writers keep moving its item or the registry on
_KEEP_HEADS = 4096  # heads a ledger keeps of the items it appended to last (SequencingStore: no read before)
_VOUCH_MIN = 4  # fewer operator entries to apply than this: verifying their signatures costs no more

Time = int | datetime
"""A time: integer milliseconds since 1970 UTC, or a timezone-aware datetime."""


def now_ms() -> int:
    """The current time in integer milliseconds UTC."""
    return time.time_ns() // 1_000_000


def to_ms(value: Time) -> int:
    """Convert a :data:`Time` to integer milliseconds UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InputError("a datetime must carry a timezone (use datetime.now(timezone.utc))")
        value = int(value.timestamp() * 1000)
    return check_time(
        value, "a time", InputError, message="a time is integer milliseconds since 1970 (UTC) or an aware datetime"
    )


@dataclass(frozen=True)
class HistoryEvent:
    """One event of an item's journey, as :meth:`Ledger.history` returns it."""

    index: int
    stage: str
    at: int
    country: str
    place: str | None
    data: Mapping[str, str | int]
    party: str
    roles: frozenset[str]
    key_id: bytes
    leaf_hash: bytes
    entry: Entry

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        from .entries import ms_to_iso

        return {
            "index": self.index,
            "stage": self.stage,
            "at": ms_to_iso(self.at),
            "at_ms": self.at,
            "country": self.country,
            "place": self.place,
            "data": dict(self.data),
            "party": self.party,
            "roles": sorted(self.roles),
            "key_id": self.key_id.hex(),
            "leaf_hash": self.leaf_hash.hex(),
        }


class EventSpec(NamedTuple):
    """One event for :meth:`Ledger.append_many`: the arguments of :meth:`Ledger.append`, by name.

    A plain mapping with the same keys (``item``, ``stage``, ``signer``, ``country``, and optionally
    ``place``, ``data``, ``at``) is taken as well. Nothing is checked here; :meth:`Ledger.append_many`
    checks every field as :meth:`Ledger.append` does.
    """

    item: str
    stage: str
    signer: Signer
    country: str
    place: str | None = None
    data: Mapping[str, str | int] | None = None
    at: Time | None = None


_SPEC_FIELDS = frozenset(EventSpec._fields)
_SPEC_REQUIRED = ("item", "stage", "signer", "country")


def _event_spec(pos: int, spec: object) -> EventSpec:
    """``spec`` (an :class:`EventSpec` or a mapping of its fields) as an EventSpec; its signer checked to be a
    Signer and its item a valid item id (before any read), each error naming the event's position."""
    if type(spec) is not EventSpec:
        if not isinstance(spec, Mapping):
            raise InputError(
                f"events[{pos}] is {type(spec).__name__}; each event is an EventSpec or a mapping of its fields "
                "(item, stage, signer, country, place, data, at)"
            )
        unknown = [k for k in spec if k not in _SPEC_FIELDS]
        if unknown:
            shown = ", ".join(sorted(escape(repr(k)[:40]) for k in unknown)[:5])
            raise InputError(
                f"events[{pos}] has unknown field(s) {shown}; an event has item, stage, signer, country, place, "
                "data and at"
            )
        missing = [k for k in _SPEC_REQUIRED if k not in spec]
        if missing:
            raise InputError(f"events[{pos}] lacks {', '.join(missing)}")
        spec = EventSpec(**spec)
    item, signer = spec[0], spec[2]
    if not is_signer(signer):
        raise InputError(f"events[{pos}]: signer must be a Signer such as a KeyPair")
    if type(item) is not str or not item.isascii():  # as append(): Event() checks an ASCII item before any write
        try:
            check_item(item)
        except InputError as exc:
            raise type(exc)(f"events[{pos}]: {exc}") from None
    return spec


_PARALLEL_MIN = 64  # threads=None: fewer events than this are signed on the calling thread


def _sign_on_threads(entries: list[Entry], bodies: list[bytes], signers: list[KeyPair], threads: int) -> None:
    """Sign ``bodies[i]`` with ``signers[i]`` into ``entries[i]`` on ``threads`` threads (the caller's among
    them), in contiguous slices. cryptography's Ed25519 signing releases the interpreter lock."""
    from concurrent.futures import ThreadPoolExecutor

    def sign(lo: int, hi: int) -> None:
        for k in range(lo, hi):
            entries[k].__dict__["signature"] = signers[k].sign(ENTRY_DOMAIN + bodies[k])

    count = len(entries)
    threads = min(threads, count)
    bounds = [count * t // threads for t in range(threads + 1)]
    with ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="provchain-sign") as pool:
        futures = [pool.submit(sign, bounds[t], bounds[t + 1]) for t in range(1, threads)]
        sign(bounds[0], bounds[1])
        for f in futures:
            f.result()


def _refused(exc: ProvchainError, pos: int, item: str, count: int) -> ProvchainError:
    """``exc`` (why the event at ``pos`` was refused) as the same kind of error, naming the event."""
    what = f"events[{pos}] (item '{escape(item)}')" if len(item) <= 128 else f"events[{pos}]"
    return type(exc)(f"{what} was refused, so none of the {count} events was written: {exc}")


class Ledger:
    """An append-only ledger of item journeys.

    Create one with :meth:`create`, open one with :meth:`open`. Operator actions (registering parties,
    revoking keys, setting the policy, signing checkpoints) need the operator's :class:`Signer`, given to
    :meth:`create` or :meth:`open`.

    A ``Ledger`` object belongs to the thread that opened it; open one per thread, process or host (several
    may write to the same ledger at once: its store admits one writer at a time, see
    :mod:`provchain.store.base`, and no chain can fork).
    """

    def __init__(
        self,
        store: Store,
        operator: Signer | None = None,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        meta = store.meta()
        if meta.format != FORMAT_VERSION:
            raise ForeignLedgerError(
                f"ledger format {meta.format} is not supported (expected {FORMAT_VERSION})"
            )
        try:
            op_name, _kid, op_key = parse_vkey(meta.operator_vkey)
        except KeyFormatError as exc:
            raise ForeignLedgerError(f"the ledger's operator key is malformed: {exc}") from exc
        if operator is not None and (operator.public_key != op_key or operator.name != op_name):
            raise WrongKeyError(
                f"the given operator key {format_vkey(operator.name, operator.public_key)} is not this "
                f"ledger's operator key {meta.operator_vkey}"
            )
        self._meta = meta
        self._operator = operator
        self._op_name, self._op_key = op_name, op_key
        self._check_first_entry(store)
        self._clock = clock
        self._registry = Registry(meta.origin, op_name, op_key)
        self._synced = 0
        self._tree = StoredTree(store)
        # A store that reads an append's head and tree nodes with the writer lock, in one round trip.
        self._expect = store.expect if isinstance(store, PrefetchingStore) else None
        # A store that sequences a signed event itself: the event is built, checked and signed outside the lock.
        self._sequencer = store if isinstance(store, SequencingStore) else None
        self._heads: dict[str, Head] = {}  # item -> the event this ledger appended last to it (a guess, checked)
        self._connection = self._reconnections()  # what the state kept here was read on (see _sync)
        self._seen_size = 0  # the size last read with a proof: the next proof plans for it (see _proof)
        self._tx_size: int | None = None  # the size while a write transaction is open
        self._tx_heads: dict[str, Head] = {}  # heads written in the open transaction (we hold the lock)
        self._tx_broken: ProvchainError | None = None  # a write failed inside a batch

    def _check_first_entry(self, store: Store) -> None:
        """Bind the file's unsigned description (origin, operator key) to signed bytes: the first entry of
        every ledger is the operator's policy, signed by the operator key the file names, for its origin."""
        try:
            first = store.entry(0)
        except IndexError:
            return  # a ledger being created
        try:
            content = first.content
            if type(content) is not PolicyEntry or content.origin != self._meta.origin:
                raise VerificationError("it is not the operator's journey policy for this origin")
            verify_signature(self._op_key, first.signed_message, first.signature)
        except (FormatError, VerificationError) as exc:
            raise DamagedLedgerError(
                f"the ledger file names operator key {self._meta.operator_vkey} and origin {self._meta.origin!r}, "
                f"but its first entry does not bear them out ({exc}); the file was edited or damaged (audit it)"
            ) from None

    # --- creating and opening -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        origin: str,
        operator: Signer,
        policy: Policy = DEFAULT_POLICY,
        at: Time | None = None,
        durability: str = "full",
        clock: Callable[[], int] = now_ms,
    ) -> Ledger:
        """Create a ledger at ``path`` whose first entry is the journey ``policy``: a new file, or a
        ``postgresql://`` URL naming a database that holds no ledger yet (see :func:`provchain.store.create_store`).

        ``origin`` names the ledger (e.g. ``example.com/acme-ledger``); it is bound into every entry and
        checkpoint. The operator key's name must be the origin, so checkpoints verify under it.
        """
        from .entries import MAX_ORIGIN, _text

        try:
            _text(origin, "origin", MAX_ORIGIN, InputError)
        except InputError:
            raise
        if not is_signer(operator):
            raise InputError("operator must be a Signer such as a KeyPair")
        if operator.name != origin:
            raise InputError(
                f"the operator key is named {operator.name!r}; it must be named after the ledger origin {origin!r}"
            )
        if not isinstance(policy, Policy):
            raise InputError("policy must be a provchain.policy.Policy")
        meta = LedgerMeta(FORMAT_VERSION, origin, format_vkey(operator.name, operator.public_key))
        where = ledger_location(path)
        store = create_store(where, meta, durability=durability)
        try:
            led = cls(store, operator, clock=clock)
            led.set_policy(policy, at=at)
        except BaseException:
            # Undo the creation, so that the next attempt does not find a ledger without its policy.
            if isinstance(store, DisposableStore):
                store.discard()
            else:
                store.close()
                if isinstance(where, Path):
                    where.unlink(missing_ok=True)
            raise
        return led

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        operator: Signer | None = None,
        *,
        readonly: bool = False,
        durability: str = "full",
        clock: Callable[[], int] = now_ms,
    ) -> Ledger:
        """Open an existing ledger: a file path, or a ``postgresql://`` URL (see :func:`provchain.store.open_store`).
        ``durability`` is ``full`` (an acknowledged write survives power loss) or ``normal``."""
        store = open_store(ledger_location(path), readonly=readonly, durability=durability)
        try:
            return cls(store, operator, clock=clock)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the ledger's storage."""
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- properties -----------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The ledger's origin."""
        return self._meta.origin

    @property
    def operator_vkey(self) -> str:
        """The operator's C2SP verifier key, as recorded in the ledger file (verify it out of band)."""
        return self._meta.operator_vkey

    @property
    def operator(self) -> Signer:
        """The operator's signer, given to :meth:`create` or :meth:`open`.

        Raises :class:`OperatorKeyError` when the ledger was opened without it.
        """
        return self._operator_signer()

    @property
    def store(self) -> Store:
        """The storage backend."""
        return self._store

    @property
    def size(self) -> int:
        """The number of entries."""
        return self._store.size()

    @property
    def policy(self) -> Policy:
        """The journey policy in force."""
        self._sync(self._store.size())
        if self._registry.policy is None:  # entry 0 deleted or moved: only an edited file holds no policy
            raise DamagedLedgerError("the ledger holds no journey policy; the file was edited or damaged (audit it)")
        return self._registry.policy

    def parties(self) -> list[KeyRecord]:
        """Every registered party key, in registration order (revoked ones included)."""
        self._sync(self._store.size())
        return self._registry.parties()

    def head(self, item: str) -> Head | None:
        """The last entry of ``item``'s chain, or None if the item has no events."""
        return self._store.head(check_item(item))

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[Entry]:
        """Iterate over entries ``[start, end)`` in log order."""
        check_int(start, "start", InputError, 0, _MAX_INDEX)
        if end is not None:
            check_int(end, "end", InputError, 0, _MAX_INDEX)
        return self._store.entries(start, end)

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        check_int(index, "an entry index", InputError, 0, _MAX_INDEX)
        try:
            return self._store.entry(index)
        except IndexError:
            raise InputError(f"the ledger has {self.size} entries; there is no entry {index}") from None

    # --- internal: registry and tree ------------------------------------------------------------

    def _sync(self, size: int, read: list[Entry] | None = None) -> None:
        """Apply operator entries written since the last sync (by this or another process); ``read``: those the
        store already read (at least every one from the last sync up to ``size``).

        Each is judged by the rules. Its signature is verified unless the latest stored checkpoint vouches for
        its bytes (:meth:`_vouched`): then the operator's signature on that checkpoint stands for it.
        """
        if self._reconnections() != self._connection:
            self._reset()  # the store connected again: what was read before may be gone, read it all again
            read = None
        if size <= self._synced:
            return
        pending = []
        for e in self._store.operator_entries(self._synced) if read is None else read:
            assert e.index is not None
            if e.index >= size:
                break
            if e.index >= self._synced:
                pending.append(e)
        vouched = self._vouched(pending) if len(pending) >= _VOUCH_MIN else set()
        for e in pending:
            assert e.index is not None
            content = self._registry.check(e, None, verify=e.index not in vouched)
            self._registry.apply(content, e.index)
        self._synced = size

    def _vouched(self, pending: list[Entry]) -> set[int]:
        """The indices of the ``pending`` entries that the latest stored checkpoint commits to.

        The checkpoint's operator signature is verified; the entries below its size are then put into its
        tree as leaves, each hash recomputed from the entry's stored body at the entry's stored index, and
        every other complete subtree is read from the store: when that tree's root is the signed root, every
        one of those bodies is byte for byte what the operator's ledger held at that index when it signed
        (the ledger signs a checkpoint only after checking every entry below it, signatures included;
        docs/security.md, "Opening a ledger"). A root that differs, a node that is missing or damaged, or a
        checkpoint that does not verify vouches for nothing: the signatures are verified as before.
        """
        latest = self._store.latest_checkpoint()
        if latest is None:
            return set()
        try:
            cp = self._open_stored_checkpoint(*latest)
        except DamagedLedgerError:
            return set()
        leaves = {e.index: e.leaf_hash for e in pending if e.index is not None and e.index < cp.size}
        if not leaves:
            return set()
        try:
            root = _root_with_leaves(cp.size, leaves, self._tree.nodes)
        except (StorageError, DamagedLedgerError):
            return set()
        return set(leaves) if root == cp.root else set()

    def _reconnections(self) -> int:
        """How many times the store connected again (:attr:`SequencingStore.reconnections`; 0 for a file)."""
        count = getattr(self._store, "reconnections", 0)
        return count if type(count) is int else 0

    def _reset(self) -> None:
        """Forget cached state after a failed write (it may describe rolled-back rows), or after the store
        connected again (a server that crashed may have taken back rows read before: a commit is visible
        before its flush reaches the disk, and another write is then stored at its index)."""
        self._registry = Registry(self._meta.origin, self._op_name, self._op_key)
        self._synced = 0
        self._tree.reset()
        self._heads.clear()
        self._connection = self._reconnections()

    def _write_entry(self, index: int, entry: Entry, content: Body) -> None:
        leaf = entry.leaf_hash
        is_event = type(content) is Event
        try:
            nodes = self._tree.add_leaf(index, leaf)  # stored in the entry's row
            self._store.add_entry(index, StoredEntry(entry, nodes))
        except ProvchainError as exc:
            self._tx_broken = exc  # the frontier may be ahead of the store: the rollback resets it
            raise
        if is_event:
            self._tx_heads[content.item] = Head(index, leaf, content.stage, content.at)  # type: ignore[union-attr]
        else:
            self._registry.apply(content, index)
        self._synced = index + 1
        if self._tx_size is not None:
            self._tx_size = index + 1

    def _head(self, item: str) -> Head | None:
        """The item's head, inside a write transaction."""
        head = self._tx_heads.get(item)
        return head if head is not None else self._store.head(item)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[int]:
        """A write transaction; yields the current size.

        Inside an open transaction (a batch) this adds nothing: every check runs before the first
        write, so a refused append writes nothing, and a failed *write* marks the batch broken so
        that it rolls back whole. While the transaction is open the size and the heads it wrote are
        tracked here instead of asked of the store. Cached state is dropped if the transaction fails.
        """
        if self._tx_size is not None:
            if self._tx_broken is not None:
                raise LedgerError(f"an earlier write in this batch failed ({self._tx_broken}); it will be rolled back")
            yield self._tx_size
            return
        try:
            with self._store.transaction():
                size = self._store.size()
                self._sync(size)
                self._tx_size = size
                yield size
                if self._tx_broken is not None:
                    raise LedgerError(f"the batch was rolled back because a write failed: {self._tx_broken}")
        except BaseException:
            self._reset()
            raise
        else:
            # Committed: an item whose last event this ledger kept (the sequenced path builds on it without
            # reading) has a newer one now, which this ledger also wrote: keep that instead, or the next append
            # of the item would be built on the old one, refused by the chain index, and built again.
            kept = self._heads
            if kept:
                for item, head in self._tx_heads.items():
                    if item in kept:
                        kept[item] = head
        finally:
            self._tx_size = None
            self._tx_heads.clear()
            self._tx_broken = None

    def _operator_signer(self) -> Signer:
        if self._operator is None:
            raise OperatorKeyError("this action needs the operator key: open the ledger with operator=...")
        return self._operator

    def _time(self, at: Time | None) -> int:
        if type(at) is int and 0 <= at < MAX_TIME:  # the common case of to_ms, inline
            return at
        return self._clock() if at is None else to_ms(at)

    def _append_operator(self, make: Callable[[int, bytes], Body]) -> Entry:
        op = self._operator_signer()
        with self._writing() as size:
            content = make(size, op.key_id)
            try:  # what will be written must read back: the same checks as decoding, before signing
                decode_body(content.encode())
            except EncodingError as exc:
                raise InputError(str(exc)) from exc
            self._registry.check_content(content, None)
            entry = sign_body(content, op, size)
            self._write_entry(size, entry, content)
        return entry

    # --- operator actions -----------------------------------------------------------------------

    def register_party(
        self,
        name: str,
        roles: Sequence[str],
        public_key: bytes,
        *,
        valid_from: Time | None = None,
        valid_until: Time | None = None,
        at: Time | None = None,
    ) -> Entry:
        """Register a party's key with its roles (operator only). Returns the registration entry.

        The key is valid from ``valid_from`` (default: now) until ``valid_until`` (default: open-ended).
        A name holds one key at a time: a new key under a registered name is a rotation, refused unless every
        earlier key under it is revoked or its window ends by this key's ``valid_from`` (revoke, then register).
        """
        from .keys import check_key_name

        try:
            check_key_name(name)
        except KeyFormatError as exc:
            raise InputError(str(exc)) from exc
        if isinstance(roles, str) or not isinstance(roles, Sequence | set | frozenset) or not roles:
            raise InputError("roles must be a non-empty list of role names")
        try:
            role_list = sorted({check_name(r, "role") for r in roles})
        except EncodingError as exc:
            raise InputError(str(exc)) from exc
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise InputError("public_key must be the party's 32-byte Ed25519 public key")
        when = self._time(at)
        start = when if valid_from is None else to_ms(valid_from)
        until = None if valid_until is None else to_ms(valid_until)
        if until is not None and until <= start:
            raise InputError("valid_until must be later than valid_from")
        return self._append_operator(
            lambda _size, kid: PartyRegistration(
                origin=self.origin,
                at=when,
                signer=kid,
                name=name,
                roles=tuple(role_list),
                key=public_key,
                valid_from=start,
                valid_until=until,
            )
        )

    def revoke_party(
        self, key: str | bytes, *, reason: str | None = None, at: Time | None = None
    ) -> list[Entry]:
        """Revoke a party key (operator only): by key id (4 bytes or 8 hex digits), verifier key, or party
        name (all of that party's active keys). Returns the revocation entries."""
        if reason is not None:
            check_reason(reason)
        when = self._time(at)
        written: list[Entry] = []
        with self._writing():
            for kid in self._resolve_keys(key):
                written.append(self._append_operator(self._revocation(kid, when, reason)))
        return written

    def _revocation(self, kid: bytes, when: int, reason: str | None) -> Callable[[int, bytes], Body]:
        def make(_size: int, opkid: bytes) -> Body:
            return Revocation(origin=self.origin, at=when, signer=opkid, revoked=kid, reason=reason)

        return make

    def _resolve_keys(self, key: str | bytes) -> list[bytes]:
        keys = self._registry.keys
        if isinstance(key, bytes):
            if len(key) != 4:
                raise InputError("a key id is 4 bytes")
            found = [key] if key in keys else []
        elif is_key_id_hex(key):
            found = [k for k in [bytes.fromhex(key)] if k in keys]
        elif isinstance(key, str) and key.count("+") >= 2:
            try:
                found = [parse_vkey(key)[1]]
            except KeyFormatError as exc:
                raise InputError(str(exc)) from exc
            found = [k for k in found if k in keys]
        elif isinstance(key, str):
            found = [k for k, r in keys.items() if r.name == key and r.revoked_index is None]
        else:
            raise InputError("identify the key by key id, verifier key or party name")
        if not found:
            raise InputError(f"no active registered key matches {key!r}: it is not registered, or already revoked")
        for k in found:  # a bad argument (exit 2), not a finding: the ledger holds the revocation already
            if keys[k].revoked_index is not None:
                raise InputError(f"{keys[k].describe()} is already revoked (entry {keys[k].revoked_index})")
        return found

    def set_policy(self, policy: Policy, *, at: Time | None = None) -> Entry:
        """Put a new journey policy in force (operator only)."""
        if not isinstance(policy, Policy):
            raise InputError("policy must be a provchain.policy.Policy")
        when = self._time(at)
        return self._append_operator(
            lambda _size, kid: PolicyEntry(origin=self.origin, at=when, signer=kid, policy=policy)
        )

    # --- events ---------------------------------------------------------------------------------

    def prepare_event(
        self,
        item: str,
        stage: str,
        signer_key_id: bytes,
        *,
        country: str,
        place: str | None = None,
        data: Mapping[str, str | int] | None = None,
        at: Time | None = None,
    ) -> Event:
        """Build (but do not sign) the next event of ``item`` against its current head.

        A remote party signs ``ENTRY_DOMAIN + event.encode()`` with its own key and hands the result to
        :meth:`submit`. Nothing is written.
        """
        item = check_item(item)
        self._sync(self._store.size())
        head = self._store.head(item)
        content = self._event(item, stage, signer_key_id, country, place, data, at, head)
        self._registry.check_content(content, head, now=self._clock())
        return content

    def _event(
        self,
        item: str,
        stage: str,
        key_id: bytes,
        country: str,
        place: str | None,
        data: Mapping[str, str | int] | None,
        at: Time | None,
        head: Head | None,
    ) -> Event:
        if not isinstance(stage, str) or not stage:
            raise InputError("stage must be a non-empty string")
        ev = Event(  # validates every field (positional: faster than by keyword, on every append)
            self._meta.origin, self._time(at), key_id, item, stage, country,
            head.leaf_hash if head else None, place, data if data is not None else {},
        )  # fmt: skip
        ev.encode()  # raises DataError when the body is too large
        return ev

    def append(
        self,
        item: str,
        stage: str,
        signer: Signer,
        *,
        country: str,
        place: str | None = None,
        data: Mapping[str, str | int] | None = None,
        at: Time | None = None,
    ) -> Entry:
        """Record the next event of ``item``, signed by ``signer``; returns the stored entry.

        Refused with a specific :class:`~provchain.errors.ProvchainError` (and nothing written) when the
        signer is not registered, revoked or outside its validity window, lacks the role the policy
        demands, the stage may not follow the item's last one, or the input is invalid.
        """
        # Event() checks the item and every other field; a non-ASCII item is checked before the store reads it.
        if type(item) is not str or not item.isascii():
            check_item(item)
        if not is_signer(signer):
            raise InputError("signer must be a Signer such as a KeyPair")
        size = self._tx_size
        if size is not None and self._tx_broken is None:  # inside a batch: its transaction covers us
            return self._append_locked(size, item, stage, signer, country, place, data, at)
        if self._sequencer is not None and self._tx_size is None and self._sequencer.sequences:
            done = self._append_sequenced(self._sequencer, item, stage, signer, country, place, data, at)
            if done is not None:
                return done
        if self._expect is not None:
            self._expect(item)
        with self._writing() as size:
            return self._append_locked(size, item, stage, signer, country, place, data, at)

    def _append_locked(
        self,
        size: int,
        item: str,
        stage: str,
        signer: Signer,
        country: str,
        place: str | None,
        data: Mapping[str, str | int] | None,
        at: Time | None,
    ) -> Entry:
        head = self._head(item)
        content = self._event(item, stage, signer.key_id, country, place, data, at, head)
        self._registry.check_content(content, head, now=self._clock())
        entry = sign_body(content, signer, size)
        self._write_entry(size, entry, content)
        return entry

    def _append_sequenced(
        self,
        store: SequencingStore,
        item: str,
        stage: str,
        signer: Signer,
        country: str,
        place: str | None,
        data: Mapping[str, str | int] | None,
        at: Time | None,
    ) -> Entry | None:
        """:meth:`append` through a store that sequences the signed event itself (None: it cannot, on this
        ledger; the caller takes the writer section instead).

        The event is built, checked and signed against a state read without the lock (the operator entries
        since the last sync, the item's head; or, when this ledger wrote the item's last event, on that event
        without reading); the store then stores it under its lock, at the next index,
        unless an operator entry came in after that state (it is applied, the event checked again and, as
        signing does not cover the index, signed again only if it changed) or the item moved on (the chain
        index refuses it: it is built on the new head). Every check of :meth:`_append_locked` runs on the
        state the event is stored in. An event those checks refuse goes to the writer section (None): the
        state read without the lock may be one that a writer holding it is moving on, and only the state
        under the lock decides a refusal.
        """
        when = self._time(at)
        content: Event | None = None
        signed: Entry | None = None
        failed: Head | bool | None = False  # the head read for the last try, when the store refused it as stale
        if store.reconnections != self._connection:
            self._reset()  # nothing read before the store connected again is built on (see _reset)
        head = self._heads.get(item)  # the head this ledger wrote itself: the store checks it is still the last
        fresh = head is None
        for _ in range(_SEQUENCE_TRIES):
            if fresh:
                state = store.append_state(item, self._synced)
                try:
                    self._sync(state.size, state.operator_entries)
                except BaseException:
                    self._reset()
                    raise
                head = state.head
                if failed is not False and failed == head:
                    raise StaleHeadError(
                        f"item {item!r}: the ledger refuses an event on its last event "
                        f"({head.index if head else 'none'}) as built on a head that is not the last; its indexes "
                        "disagree with the signed bodies (audit the ledger)"
                    )
            prev = head.leaf_hash if head else None
            try:
                if content is None or signed is None or content.prev != prev:
                    content = self._event(item, stage, signer.key_id, country, place, data, when, head)
                    self._registry.check_content(content, head, now=self._clock())
                    signed = sign_body(content, signer)
                else:  # the same event: checked again against the registry as it is now
                    self._registry.check_content(content, head, now=self._clock())
            except ProvchainError:
                if not fresh:  # refused on the head kept from this ledger's last write: read the state
                    fresh = True
                    continue
                # Refused on a state read without the lock, which a writer holding it may be changing (the
                # item's previous stage, a registration): the writer section gives the answer that counts.
                return None
            try:
                done = store.sequence_event(signed, head.index if head else None, self._synced, self._tree.held())
            except StaleHeadError:
                failed = head if fresh else False
                fresh = True
                self._heads.pop(item, None)
                continue
            if done is None:
                if not store.sequences:
                    return None
                failed, fresh = False, True
                continue
            self._tree.add_sequenced(done.log_index, signed.leaf_hash, done.siblings)
            self._synced = max(self._synced, done.log_index + 1)  # no operator entry from the size checked to it
            if len(self._heads) >= _KEEP_HEADS:
                self._heads.clear()
            self._heads[item] = Head(done.log_index, signed.leaf_hash, content.stage, content.at)
            entry = Entry(signed.body, signed.signature, done.log_index)
            entry.__dict__.update(content=content, leaf_hash=signed.leaf_hash)
            return entry
        raise LedgerBusyError(
            f"item {item!r}: other writers moved the item or the registry on {_SEQUENCE_TRIES} times while this "
            "event was being stored; nothing was written, try again"
        )

    def submit(self, entry: Entry) -> Entry:
        """Append an entry signed elsewhere (a remote party, or the operator's HSM).

        The entry's ``prev`` must name the item's current head: if another event was recorded in
        between, :class:`StaleHeadError` is raised and nothing is written (prepare and sign it again).
        """
        if not isinstance(entry, Entry):
            raise InputError("submit takes an Entry")
        content = entry.content
        with self._writing() as size:
            head = None
            if isinstance(content, Event):
                head = self._head(content.item)
                if (head.leaf_hash if head else None) != content.prev:
                    raise StaleHeadError(
                        f"item {content.item!r} has moved on since this event was prepared "
                        f"(its head is now entry {head.index if head else 'none'}); prepare and sign it again"
                    )
            self._registry.check(entry, head, now=self._clock())
            stored = Entry(entry.body, entry.signature, size)
            self._write_entry(size, stored, content)
        return stored

    @contextlib.contextmanager
    def batch(self) -> Iterator[Ledger]:
        """Group many appends into one transaction and one commit.

        Each append inside is still all-or-nothing on its own: a refused append leaves the batch as it
        was. An exception that leaves the ``with`` block rolls the whole batch back.
        """
        if self._tx_size is not None:
            raise LedgerError("batches cannot be nested")
        with self._writing():
            yield self

    def append_many(
        self, events: Iterable[EventSpec | Mapping[str, Any]], *, threads: int | None = None
    ) -> list[Entry]:
        """Record many events at once, all or nothing; returns their entries, in order.

        ``events`` holds :class:`EventSpec` records, or mappings with the same keys, each what one
        :meth:`append` takes (an item may appear several times: its events chain in the order given).
        Every event is judged exactly as :meth:`append` judges it, against the item's head as the events
        before it in the call leave it, and every one is checked and signed before the first is written.
        If one is refused, the error (the same class :meth:`append` raises) names its position as
        ``events[i]`` and nothing of the call is written. An event without ``at`` is dated, as is the
        clock check of every event, by one reading of the clock at the start of the call.

        Outside a batch the call is one transaction and one commit; inside :meth:`batch` it joins the
        batch's transaction, and a refused call leaves the batch as it was. The heads of the items are
        read in one statement where the store can (:class:`~provchain.store.base.MultiHeadStore`). The
        entries are held in memory until written: a bulk load of millions is best made in calls of some
        thousands.

        When every signer is a :class:`~provchain.keys.KeyPair` (whose signing is thread-safe and cannot
        fail), the events are signed on ``threads`` threads after all of them were built and checked (default:
        one per CPU, at most 8, for 64 events or more; Ed25519 signing releases the interpreter lock, so they
        run at once). The entries are the same bytes (Ed25519 signatures are deterministic), only sooner. Other
        signers (a remote signer, an HSM) sign one after the other, in order. ``threads=1`` signs on the
        calling thread.
        """
        if isinstance(events, str | bytes | Mapping) or not isinstance(events, Iterable):
            raise InputError("events must be a list of EventSpec records or mappings")
        if threads is not None and (type(threads) is not int or not 1 <= threads <= 64):
            raise InputError("threads must be an integer from 1 to 64, or None (one per CPU)")
        specs = [_event_spec(pos, spec) for pos, spec in enumerate(events)]
        if not specs:
            return []
        if threads is None:  # one per CPU; a short list on the calling thread (starting threads costs more)
            threads = min(8, os.cpu_count() or 1) if len(specs) >= _PARALLEL_MIN else 1
        size = self._tx_size
        if size is not None and self._tx_broken is None:  # inside a batch: its transaction covers us
            return self._append_many_locked(size, specs, threads)
        with self._writing() as size:
            return self._append_many_locked(size, specs, threads)

    def _append_many_locked(self, size: int, specs: list[EventSpec], threads: int) -> list[Entry]:
        # 1. The head of every item: written earlier in this transaction, or read in one statement.
        tx_heads = self._tx_heads
        items = dict.fromkeys(spec[0] for spec in specs)
        cur: dict[str, Head] = {}
        unread = []
        for item in items:
            head = tx_heads.get(item)
            if head is None:
                unread.append(item)
            else:
                cur[item] = head
        if unread:
            store = self._store
            if isinstance(store, MultiHeadStore):
                cur.update(store.heads(unread))
            else:
                for item in unread:
                    head = store.head(item)
                    if head is not None:
                        cur[item] = head
        # 2. Build, check and sign every event, chaining each item's events in memory; nothing is written yet,
        # so a refused event leaves everything as it was.
        origin = self._meta.origin
        check = self._registry.check_content
        now = self._clock()
        count = len(specs)
        # Signing on several threads: only KeyPair signers (thread-safe, and their signing cannot fail, so the
        # first refused event is the same whether it is signed in the loop or after it).
        parallel = threads > 1 and count > 1 and all(type(spec[2]) is KeyPair for spec in specs)
        out: list[Entry] = []
        leaves: list[bytes] = []
        bodies: list[bytes] = []
        index = size
        for pos, (item, stage, signer, country, place, data, at) in enumerate(specs):
            head = cur.get(item)
            try:
                if type(at) is not int or not 0 <= at < MAX_TIME:
                    at = now if at is None else to_ms(at)
                if type(stage) is not str or not stage:
                    raise InputError("stage must be a non-empty string")
                ev = Event(  # validates every field
                    origin, at, signer.key_id, item, stage, country,
                    None if head is None else head.leaf_hash, place, {} if data is None else data,
                )  # fmt: skip
                body = ev.encode()  # raises DataError when the body is too large
                check(ev, head, now=now)
                if parallel:
                    signature = b""  # signed below
                else:
                    signature = signer.sign(ENTRY_DOMAIN + body)
                    if type(signature) is not bytes or len(signature) != 64:
                        raise InputError("the signer returned something other than a 64-byte Ed25519 signature")
            except ProvchainError as exc:
                raise _refused(exc, pos, item, count) from exc
            entry = Entry(body, signature, index)
            leaf = _sha256(LEAF_PREFIX + body).digest()
            fields = entry.__dict__  # as sign_body fills them: the parsed body and its leaf hash
            fields["content"] = ev
            fields["leaf_hash"] = leaf
            cur[item] = Head(index, leaf, stage, at)
            out.append(entry)
            leaves.append(leaf)
            bodies.append(body)
            index += 1
        if parallel:
            _sign_on_threads(out, bodies, [spec[2] for spec in specs], threads)  # type: ignore[misc]
        # 3. Write them. A failed write dooms the transaction (and the batch, if any) whole.
        add_entry = self._store.add_entry
        try:
            nodes = self._tree.add_leaves(size, leaves)
            for i, entry in enumerate(out, size):
                add_entry(i, StoredEntry(entry, nodes[i - size]))
        except ProvchainError as exc:
            self._tx_broken = exc  # the frontier may be ahead of the store: the rollback resets it
            raise
        tx_heads.update(cur)  # every item in cur got an event written in this transaction
        self._synced = index
        if self._tx_size is not None:
            self._tx_size = index
        return out

    # --- reading --------------------------------------------------------------------------------

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """A read transaction: every read inside sees one state of the ledger, whatever other writers
        commit meanwhile (``history``, ``prove`` and the exporter read inside one)."""
        return self._store.snapshot()

    def history(self, item: str) -> list[HistoryEvent]:
        """The events of ``item`` in order (empty if the ledger has none), read in one snapshot; each event's
        signature is verified by its signer's registered key (:class:`DamagedLedgerError` if one fails)."""
        item = check_item(item)
        with self._store.snapshot():
            self._sync(self._store.size())
            stored = self._store.item_entries(item)
        out = []
        for e in stored:
            # The store checked that the body is an event of this item; only its signature makes it the
            # party's word (a body edited in the file would otherwise be shown, and vouched for by a code).
            self._check_stored(e)
            ev = e.content
            assert isinstance(ev, Event) and e.index is not None
            rec = self._registry.keys.get(ev.signer)
            out.append(
                HistoryEvent(
                    index=e.index,
                    stage=ev.stage,
                    at=ev.at,
                    country=ev.country,
                    place=ev.place,
                    data=ev.data,
                    party=rec.name if rec else ev.signer.hex(),
                    roles=rec.roles if rec else frozenset(),
                    key_id=ev.signer,
                    leaf_hash=e.leaf_hash,
                    entry=e,
                )
            )
        return out

    # --- Merkle tree and checkpoints ------------------------------------------------------------

    def _size_arg(self, size: int | None, what: str = "size") -> int:
        current = self._store.size()
        self._seen_size = current
        if size is None:
            return current
        return check_int(
            size, what, InputError, 0, current, message=f"{what} must be an integer from 0 to the ledger size {current}"
        )

    def _proof(self, size: int | None, what: str, plan_for: Callable[[int], list[list[NodeKey]]]) -> list[bytes]:
        """The elements of ``plan_for(n)``, ``n`` being ``size`` or by default the current size.

        The current size is read in the same statement as the nodes, not before them: the plan is made for
        the size the last proof saw, and made again (with a size query first, as ``plan_for`` needs to
        judge its arguments) only when the ledger has grown since or the guess does not fit the request.

        Cached nodes read before the store connected again are forgotten, and a proof made while it connected
        again is made once more: a crash may have taken back the rows they were read from (see :meth:`_reset`).
        """
        if self._reconnections() != self._connection:
            self._reset()
        elements = self._proof_once(size, what, plan_for)
        if self._reconnections() != self._connection:
            self._reset()
            elements = self._proof_once(size, what, plan_for)
        return elements

    def _proof_once(
        self, size: int | None, what: str, plan_for: Callable[[int], list[list[NodeKey]]]
    ) -> list[bytes]:
        guess = self._seen_size if size is None else size
        if type(guess) is int and 0 <= guess <= self._seen_size:
            try:
                plan = plan_for(guess)
            except InputError:
                pass
            else:
                current, elements = self._tree.assemble_with_size(plan)
                self._seen_size = current
                if current == guess or (size is not None and guess <= current):
                    return elements
        return self._tree.assemble(plan_for(self._size_arg(size, what)))

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root of the first ``size`` entries (default: all)."""
        elements = self._proof(size, "size", lambda n: [merkle.subtree_nodes(0, n)] if n else [])
        return elements[0] if elements else merkle.EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""

        def plan(n: int) -> list[list[NodeKey]]:
            below = f"index must be an entry index below the tree size {n}"
            check_int(index, "index", InputError, 0, n - 1, message=below)
            return merkle.inclusion_plan(index, n)

        return self._proof(size, "size", plan)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` entries to ``size2`` (default: all)."""

        def plan(n2: int) -> list[list[NodeKey]]:
            if isinstance(size1, bool) or not isinstance(size1, int) or not 0 <= size1 <= n2:
                raise InputError(f"size1 must be an integer from 0 to size2 ({n2})")
            return [] if size1 == 0 or size1 == n2 else merkle.consistency_plan(size1, n2)

        return self._proof(size2, "size2", plan)

    def checkpoint(self) -> bytes:
        """Sign a checkpoint of the current tree with the operator key, store it and return the note.

        The operator never signs an unchecked root. Before signing, the tree is checked against the latest
        stored checkpoint (its stored nodes must give the signed root), and the entries added since are
        checked from their bodies: each body parses and its signature verifies by its signer's registered
        key, and the root is recomputed from their leaf hashes (cost proportional to the new entries) and
        must equal the stored tree's. So one edited body or node makes it refuse, and the ledger never
        signs two inconsistent checkpoints.
        """
        op = self._operator_signer()
        with self._writing() as size:
            root = self._checked_root(size)
            cp = Checkpoint(self.origin, size, root)
            latest = self._store.latest_checkpoint()  # its operator signature was checked by _checked_root
            if latest is not None and latest[0] == size and latest[1].startswith(cp.format() + b"\n"):
                return latest[1]  # already signed, perhaps cosigned since: keep the witnesses' lines
            note = sign_checkpoint(cp, op)
            self._store.add_checkpoint(size, note)
        return note

    def add_cosignatures(self, note: bytes, witnesses: Sequence[str] | None = None) -> bytes:
        """Add the witness cosignatures carried by ``note`` to the stored checkpoint they cosign; return
        the stored note.

        ``note`` is a signed checkpoint of this ledger (its operator signature must verify) whose text is
        that of a stored checkpoint, followed by cosignature lines (``cosignature/v1``, as a witness
        returns them). Each cosignature by a key in ``witnesses`` (witness verifier keys) must verify,
        else :class:`CosignatureError`; with ``witnesses`` None every cosignature line is kept unchecked
        (the caller has verified them, as :func:`provchain.witness_client.collect` does). Lines by other
        keys and other signatures are dropped. The stored note keeps one line per witness key, the latest
        timestamp winning, after the operator's signature; a verifier ignores the lines by keys it does
        not trust, and :meth:`checkpoint`, :meth:`prove`, exports and audits read the note as before.
        """
        from .export import MAX_NOTE
        from .witness import Cosignature, CosignatureVerifier, split_note

        if not isinstance(note, bytes):
            raise InputError("a cosigned checkpoint note is bytes")
        if witnesses is not None and (isinstance(witnesses, str) or not isinstance(witnesses, Sequence)):
            raise InputError("witnesses must be a list of witness verifier keys")
        trusted = {}
        for vkey in witnesses or ():
            v = CosignatureVerifier.from_vkey(vkey)
            trusted[(v.name, v.key_id)] = v
        cp = self._open_checkpoint(note)
        text, lines = split_note(note)
        fresh = [c for c in (Cosignature.from_line(line) for line in lines) if c is not None]
        if witnesses is not None:
            fresh = [c for c in fresh if (c.name, c.key_id) in trusted]
            for c in fresh:
                trusted[(c.name, c.key_id)].check(text, c)
        with self._writing():
            stored = self._store.checkpoint(cp.size)
            if stored is None:
                raise InputError(f"no checkpoint of size {cp.size} is stored; sign it first (Ledger.checkpoint())")
            self._open_stored_checkpoint(cp.size, stored)
            stored_text, stored_lines = split_note(stored)
            if stored_text != text:
                raise CheckpointError(
                    f"the cosigned checkpoint of size {cp.size} is not the one this ledger stored (another root): "
                    "a fork of this ledger was cosigned"
                )
            own = [line for line in stored_lines if Cosignature.from_line(line) is None]
            cosigs: dict[tuple[str, bytes], Cosignature] = {}
            for c in [c for c in (Cosignature.from_line(line) for line in stored_lines) if c is not None] + fresh:
                key = (c.name, c.key_id)
                if key not in cosigs or c.timestamp > cosigs[key].timestamp:
                    cosigs[key] = c
            merged = text + b"\n" + "".join(own + [c.line() for c in cosigs.values()]).encode("utf-8")
            if len(merged) > MAX_NOTE:
                raise InputError(f"a checkpoint note with {len(cosigs)} cosignatures is over {MAX_NOTE} bytes")
            if merged != stored:
                self._store.add_checkpoint(cp.size, merged)
        return merged

    def _latest_signed(self) -> Checkpoint | None:
        """The latest stored checkpoint, its signature verified and its size column checked against it."""
        latest = self._store.latest_checkpoint()
        if latest is None:
            return None
        return self._open_stored_checkpoint(*latest)

    def _open_stored_checkpoint(self, size: int, note: bytes) -> Checkpoint:
        try:
            cp = self._open_checkpoint(note)
        except (FormatError, VerificationError) as exc:
            raise DamagedLedgerError(
                f"the stored checkpoint of size {size} does not verify ({exc}); the ledger file was edited or "
                "damaged (audit it)"
            ) from None
        if cp.size != size:
            raise DamagedLedgerError(
                f"the checkpoints table files a checkpoint of size {cp.size} under size {size}; the ledger file "
                "was edited or damaged (audit it)"
            )
        return cp

    def _checked_root(self, size: int, base: Checkpoint | None = None) -> bytes:
        """The root of the first ``size`` entries, recomputed from the bodies added since ``base`` (default:
        the latest stored checkpoint), whose stored nodes must give its signed root; it must also equal the
        stored tree's root. Raises :class:`ConsistencyError` when the ledger no longer extends ``base``,
        :class:`DamagedLedgerError` when a body or a stored node disagrees with the rest."""
        old = self._latest_signed() if base is None else base
        start = 0
        frontier = Frontier()
        if old is not None and old.size:
            if old.size > size:
                raise ConsistencyError(
                    f"the ledger holds {size} entries, fewer than the checkpoint's {old.size}: "
                    "it was truncated or rolled back"
                )
            keys = merkle.subtree_nodes(0, old.size)
            nodes = self._tree.nodes(keys)
            if merkle.fold([nodes[k] for k in keys]) != old.root:
                raise ConsistencyError(
                    f"the ledger's tree at size {old.size} no longer matches its checkpoint: history was rewritten"
                )
            frontier = Frontier.resume(old.size, nodes)
            start = old.size
        self._sync(size)
        computed: dict[NodeKey, bytes] = {}
        for e in self._store.entries(start, size):
            self._check_stored(e)
            assert e.index is not None
            computed[(0, e.index)] = e.leaf_hash
            for level, index, h in frontier.append(e.leaf_hash):
                computed[(level, index)] = h
            if len(computed) >= 4096:
                self._compare_nodes(computed, size)
        self._compare_nodes(computed, size)
        if frontier.size != size:
            raise DamagedLedgerError(f"the ledger lacks some of entries {frontier.size} to {size - 1}; audit it")
        root = frontier.root()
        if root != self.root(size):
            raise DamagedLedgerError(
                f"the stored Merkle tree of {size} entries disagrees with the entries' bodies (entries {start} "
                f"to {size - 1} were checked); nothing was signed: audit the ledger"
            )
        return root

    def _compare_nodes(self, computed: dict[NodeKey, bytes], size: int) -> None:
        """Compare the stored tree nodes with those recomputed from the bodies (and empty ``computed``)."""
        stored = self._store.nodes(list(computed))
        for key, h in computed.items():
            if stored.get(key) != h:
                level, index = key
                raise DamagedLedgerError(
                    f"the stored Merkle tree of {size} entries disagrees with the entries' bodies at node (level "
                    f"{level}, index {index}) over entries {index << level} to {((index + 1) << level) - 1}; "
                    "nothing was signed: audit the ledger"
                )
        computed.clear()

    def _check_stored(self, e: Entry) -> None:
        """A stored entry parses and is signed by its signer's registered key (the operator's, or a party's)."""
        try:
            content = e.content
            if isinstance(content, Event):
                rec = self._registry.keys.get(content.signer)
                if rec is None:
                    raise UnknownKeyError(f"its signer {content.signer.hex()} is not registered")
                public_key = rec.public_key
            else:
                public_key = self._registry.signer_key(content)
            verify_signature(public_key, e.signed_message, e.signature)
        except (FormatError, VerificationError) as exc:
            raise DamagedLedgerError(
                f"entry {e.index} is not as it was appended ({exc}); nothing was signed: audit the ledger"
            ) from None

    def _open_checkpoint(self, note: bytes) -> Checkpoint:
        cp, _ = open_checkpoint(note, self.origin, new_verifier(self.operator_vkey))
        return cp

    def latest_checkpoint(self) -> bytes | None:
        """The most recent stored checkpoint note, or None."""
        latest = self._store.latest_checkpoint()
        return None if latest is None else latest[1]

    def check_consistency(self, old_note: bytes) -> Checkpoint:
        """Verify that this ledger extends an older checkpoint (signed by the operator).

        Returns the old checkpoint; raises :class:`ConsistencyError` if the ledger was truncated or its
        history rewritten, :class:`CheckpointError` if the note is not this ledger's.
        """
        if not isinstance(old_note, bytes):
            raise InputError("a checkpoint note is bytes")
        old = self._open_checkpoint(old_note)
        size = self._store.size()
        if old.size > size:
            raise ConsistencyError(
                f"the checkpoint is for {old.size} entries but the ledger holds only {size}: "
                "it was truncated or rolled back"
            )
        if old.size == 0:  # every tree extends the empty tree; its root is fixed
            if old.root != merkle.EMPTY_ROOT:
                raise ConsistencyError("the checkpoint claims an empty tree with a non-empty root")
            return old
        with self._store.snapshot():
            size = self._store.size()
            proof = self.consistency_proof(old.size, size)
            merkle.verify_consistency(old.size, size, proof, old.root, self.root(size))
            self._checked_root(size, old)  # and against the bodies since the old checkpoint
        return old

    def prove(self, item: str, size: int | None = None) -> bytes:
        """A C2SP tlog-proof (see :mod:`provchain.proof`) that ``item``'s head is in a stored signed checkpoint.

        Without ``size``: the item's current head, against the latest stored checkpoint, which must include
        it (sign one with :meth:`checkpoint` first). With ``size``: the item's last entry among the first
        ``size`` entries, against the stored checkpoint of exactly that size. The proof's extra data is the
        entry's body. The proof is verified before it is returned, so a ledger whose tree no longer matches
        its checkpoint raises :class:`ConsistencyError` instead of handing out a proof that fails.
        """
        item = check_item(item)
        with self._store.snapshot():
            return self._prove(item, size)

    def _prove(self, item: str, size: int | None) -> bytes:
        from .errors import InclusionError
        from .proof import TlogProof, format_tlog_proof, verify_tlog_proof

        if size is None:
            head = self._store.head(item)
            if head is None:
                raise InputError(f"the ledger has no events for item {item!r}")
            latest = self._store.latest_checkpoint()
            if latest is None or latest[0] <= head.index:
                signed = "no checkpoint" if latest is None else f"the latest checkpoint covers {latest[0]} entries"
                raise LedgerError(
                    f"{signed}, but the head of {item!r} is entry {head.index}: "
                    "sign a checkpoint first (provchain checkpoint, or Ledger.checkpoint())"
                )
            cp_size, note = latest
            self._open_stored_checkpoint(cp_size, note)
            index = head.index
        else:
            cp_size = self._size_arg(size)
            found = self._store.checkpoint(cp_size)
            if found is None:
                newest = [s for s, _ in itertools.islice(self._store.checkpoints(newest_first=True), 5)]
                sizes = ", ".join(str(s) for s in reversed(newest)) or "none"
                raise InputError(f"no checkpoint of size {cp_size} is stored (latest stored sizes: {sizes})")
            note = found
            self._open_stored_checkpoint(cp_size, note)
            below = [e.index for e in self._store.item_entries(item) if e.index is not None and e.index < cp_size]
            if not below:
                raise InputError(f"the first {cp_size} entries hold no events for item {item!r}")
            index = below[-1]
        entry = self._store.entry(index)
        proof = TlogProof(index, tuple(self.inclusion_proof(index, cp_size)), note, entry.body)
        try:
            verify_tlog_proof(proof, entry.leaf_hash, self.operator_vkey, self.origin)
        except InclusionError as exc:
            raise ConsistencyError(
                f"the ledger's tree at size {cp_size} no longer matches its signed checkpoint "
                f"(history was rewritten): {exc}"
            ) from exc
        return format_tlog_proof(proof)


def _root_with_leaves(
    size: int, leaves: Mapping[int, bytes], read: Callable[[Sequence[NodeKey]], Mapping[NodeKey, bytes]]
) -> bytes:
    """``MTH`` of the first ``size`` leaves, given the hashes of some of them (``leaves``: position -> leaf
    hash, every position below ``size``) and, read in one call, the stored hash of every complete subtree
    that holds none of them: the inclusion proofs of all of ``leaves`` at once, each shared node read and
    hashed once. ``read`` must return 32-byte hashes (:meth:`StoredTree.nodes` checks them)."""
    positions = sorted(leaves)
    need: list[NodeKey] = []

    def split(lo: int, hi: int) -> int:
        return lo + (1 << ((hi - lo - 1).bit_length() - 1))  # RFC 9162: the largest power of two below hi - lo

    def plan(lo: int, hi: int, a: int, b: int) -> None:  # positions[a:b] lie in [lo, hi)
        if a == b:
            need.extend(merkle.subtree_nodes(lo, hi))
        elif hi - lo > 1:
            mid = split(lo, hi)
            m = bisect.bisect_left(positions, mid, a, b)
            plan(lo, mid, a, m)
            plan(mid, hi, m, b)

    def fold(lo: int, hi: int, a: int, b: int) -> bytes:
        if a == b:
            return merkle.fold([found[k] for k in merkle.subtree_nodes(lo, hi)])
        if hi - lo == 1:
            return leaves[lo]
        mid = split(lo, hi)
        m = bisect.bisect_left(positions, mid, a, b)
        return merkle.node_hash(fold(lo, mid, a, m), fold(mid, hi, m, b))

    plan(0, size, 0, len(positions))
    found = read(need)
    return fold(0, size, 0, len(positions))
