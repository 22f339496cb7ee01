"""The store contract: what the ledger, the prover and the auditor may count on from any storage backend.

Nothing outside ``provchain.store`` speaks SQL. A backend keeps, for one ledger, its metadata
(:class:`LedgerMeta`), its entries in append order (index, body, signature; any other column is an index the
backend derives from the body and checks against it where a decision depends on it), the Merkle tree's
complete-subtree hashes, and its signed checkpoints. :class:`Store` states each duty in its method's
docstring; the backend-neutral suite ``tests/test_store_contract.py`` holds every backend (SQLite, PostgreSQL)
to them. The duties, in short:

* **Transactions.** Writes happen only inside :meth:`Store.transaction`, which is atomic: entries, nodes and
  checkpoints written in it land together at commit or not at all (an exception leaving the block rolls all
  of it back). A transaction opened inside another is a savepoint: leaving it with an exception undoes
  what was written since it opened, and the outer transaction goes on. A commit has one of two outcomes for the
  caller, never a guess: it returns (everything landed, durably) or it raises (nothing landed, so writing it again
  is safe). A backend that can lose the answer of a commit (a server's connection) finds the outcome out before
  it answers, and only when it cannot says so in its :class:`~provchain.errors.StorageError`.
* **One writer at a time, across processes and hosts.** From the moment :meth:`Store.transaction` is
  entered until it commits or rolls back, no other writer (another store object, process or host on the
  same ledger) can write: a second writer's ``transaction()`` waits, then gets
  :class:`~provchain.errors.LedgerBusyError` if the wait exceeds the backend's bound. Reads inside the
  section see the latest committed state (not a snapshot taken before the wait), so the size and the heads
  read there are current: this is the compare-and-swap of every append, and why the log has no gaps and no
  item's chain can fork.
* **Reading its own writes.** Inside a transaction every read (size, entries, heads, nodes, checkpoints)
  sees what the transaction wrote so far, however the backend buffers it.
* **Snapshot reads.** Inside :meth:`Store.snapshot` every read sees one committed state of the ledger,
  whatever other writers commit meanwhile; outside one, each call sees some committed state.
* **Errors.** Every failure is a :class:`~provchain.errors.ProvchainError`, never the driver's exception:
  :class:`~provchain.errors.LedgerNotFoundError` (no ledger where one is opened),
  :class:`~provchain.errors.LedgerExistsError` (a ledger where one is created),
  :class:`~provchain.errors.ForeignLedgerError` (not a provchain ledger, another schema version or format),
  :class:`~provchain.errors.LedgerBusyError` (other writers held the ledger too long),
  :class:`~provchain.errors.StorageError` (a write or read the storage refused: disk full, read-only store,
  lost connection, closed store), :class:`~provchain.errors.DamagedLedgerError` (stored values provchain
  never writes) and :class:`~provchain.errors.InputError` (a bad argument, such as an unknown durability).
  The one exception is :meth:`Store.entry` of an index that holds no entry: :class:`IndexError`, which
  the ledger turns into a message.
* **Nodes.** :meth:`Store.nodes` serves the hash of every complete subtree of the current tree, at every
  level: level 0 is an entry's leaf hash, level ``l`` index ``i`` covers leaves ``[i << l, (i + 1) << l)``
  and exists once its last leaf is stored. Where and how a backend keeps them (tiles, rows, computed from the
  bodies of a block not yet complete) is its own choice. It may return more nodes than asked.
* **Durability.** ``durability="full"``: an acknowledged commit survives power loss (the backend waits for
  its storage's flush); ``"normal"``: it survives a crash of the writing process, the last commits may be
  lost on power loss. Anything else is an :class:`~provchain.errors.InputError`.

Optional capabilities are separate protocols, asked with ``isinstance``: :class:`AuditableStorage` (what the
storage holds beside the signed entries that disagrees with them, for the auditor),
:class:`DisposableStore` (undo a creation that did not finish), :class:`PrefetchingStore` (read an append's
head and nodes in the round trip that takes the writer lock), :class:`SequencingStore` (sequence a signed event
on the server, so the writer's own work stays outside the writer section) and :class:`MultiHeadStore` (the heads
of many items in one read, for bulk appends).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from ..entries import Entry
from ..rules import Head
from ..tree.nodes import NodeKey

__all__ = [
    "DURABILITY",
    "AppendState",
    "AuditableStorage",
    "DisposableStore",
    "LedgerMeta",
    "MultiHeadStore",
    "NodeKey",
    "PrefetchingStore",
    "Sequenced",
    "SequencingStore",
    "StorageProblem",
    "Store",
    "StoredEntry",
]

DURABILITY = ("full", "normal")
"""The durability values every store accepts (see the module docstring)."""


@dataclass(frozen=True)
class LedgerMeta:
    """What a ledger says about itself (untrusted until verified against the operator key)."""

    format: int
    origin: str
    operator_vkey: str


class StoredEntry(NamedTuple):
    """An entry with the tree nodes its leaf completes. A store keeps no other copy of the body's fields
    than indexes it derives from the body itself."""

    entry: Entry
    nodes: bytes = b""
    """The hashes of the complete subtrees this entry's leaf completes, levels 1, 2, ... bottom up (32 bytes
    each; where they are kept is the store's choice)."""


class Store(Protocol):
    """Storage for one ledger (the duties are in the module docstring and in each method's).

    A store object belongs to one thread at a time. Every method raises a
    :class:`~provchain.errors.ProvchainError` on failure (:meth:`entry` also :class:`IndexError`); after
    :meth:`close`, every read or write of the storage raises :class:`~provchain.errors.StorageError` (only
    :meth:`meta`, read once, may still answer).
    """

    def meta(self) -> LedgerMeta:
        """The ledger's metadata, as written at creation (it never changes)."""
        ...

    def size(self) -> int:
        """The number of entries (the tree size). O(1) or O(log n); never a scan. Inside a transaction it
        counts the transaction's own entries and is current (see :meth:`transaction`)."""
        ...

    def entry(self, index: int) -> Entry:
        """The entry at ``index``, with its ``index`` set; :class:`IndexError` when there is none (a negative
        index, one at or past the size, or not an ``int``)."""
        ...

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[Entry]:
        """Entries ``[start, end)`` in index order (to the last one when ``end`` is None), streamed in constant
        memory. Inside :meth:`snapshot` or :meth:`transaction` every entry comes from that one state."""
        ...

    def item_entries(self, item: str) -> list[Entry]:
        """The events of one item, in index order, each checked by its signed body to be an event of
        ``item`` and to chain to the one before it (:class:`~provchain.errors.DamagedLedgerError`
        otherwise); empty for an item with none."""
        ...

    def head(self, item: str) -> Head | None:
        """The last event of ``item``'s chain (its index, leaf hash, and the stage and time read from its
        signed body), or None. Inside a transaction: the transaction's own last event of the item, if any."""
        ...

    def operator_entries(self, start: int = 0) -> Iterator[Entry]:
        """Entries at index >= ``start`` that are not events (registrations, revocations, policies), in
        index order."""
        ...

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The hashes of the given complete subtrees, each 32 bytes: every level is served (level 0: leaf
        hashes). A key of a subtree that is not complete in the current tree, or not stored, is absent from
        the result, never an error. A store may return more nodes than asked, such as those read along with
        them; callers may cache them (a complete subtree never changes)."""
        ...

    def size_and_nodes(self, keys: Iterable[NodeKey]) -> tuple[int, dict[NodeKey, bytes]]:
        """:meth:`size` and :meth:`nodes` from one consistent read (a proof at the current size costs one
        round trip)."""
        ...

    def checkpoints(self, *, newest_first: bool = False) -> Iterator[tuple[int, bytes]]:
        """Stored signed checkpoints ``(size, note)``, by increasing size (decreasing with
        ``newest_first``); at most one per size."""
        ...

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note of ``size``, or None (also for a size that no ledger has)."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size, or None."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: every read inside sees one committed state of the ledger, whatever writers
        commit meanwhile. Inside a write transaction (or another snapshot) it adds nothing. It takes no
        write lock: writers are not held up by it."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """The exclusive, atomic write section.

        On entry it waits until no other writer of the ledger (another store object, process or host)
        holds it, then holds it until the block ends; :class:`~provchain.errors.LedgerBusyError` when the
        wait exceeds the backend's bound. Reads inside see the latest committed state plus the block's own
        writes. Leaving the block normally commits everything written in it at once (durably, as
        ``durability`` says); leaving it with an exception rolls everything back and re-raises. A write that
        failed dooms the transaction: it cannot commit, even if the caller caught the error (leaving the
        block then rolls back and raises :class:`~provchain.errors.StorageError`).

        Inside an open transaction it is a savepoint: an exception leaving the inner block undoes only what
        was written since it opened.
        """
        ...

    def add_entry(self, index: int, stored: StoredEntry) -> None:
        """Write one entry and the tree nodes it completes (inside a transaction). The caller (the ledger)
        has checked the index (the current size), the head and the nodes; the store writes what it is
        given. Writing an index that is taken fails (and dooms the transaction)."""
        ...

    def add_checkpoint(self, size: int, note: bytes) -> None:
        """Write a signed checkpoint of ``size`` (inside a transaction), replacing one of the same size."""
        ...

    def close(self) -> None:
        """Release the storage (an open transaction is rolled back). Closing twice is harmless."""
        ...


class StorageProblem(NamedTuple):
    """One thing a store finds in its own storage that provchain never writes there, as the auditor
    reports it."""

    kind: Literal["schema", "index", "node"]
    """``schema``: a storage object (table, index, trigger, view, function) that provchain did not create, or
    defines otherwise; ``index``: an index of the entries (such as item or operator entries) that disagrees
    with the signed bodies; ``node``: a stored tree node that a tree of the ledger's size does not have."""
    entry: int | None
    """The index of the entry concerned, or None."""
    found: str
    """What was found, in a few words."""
    message: str
    """The sentence the audit shows."""


@runtime_checkable
class AuditableStorage(Protocol):
    """A store that can report what its storage holds beside the signed entries (optional capability).

    The auditor asks any store that has it, inside the snapshot it replays, and reports each problem as a
    finding. The replay of the entries and the comparison of every stored node of the tree with the
    recomputed ones are the auditor's own, for every store; this adds what only the backend can see.
    """

    def storage_problems(self, size: int) -> list[StorageProblem]:
        """The problems found in the storage of a ledger of ``size`` entries (empty when there are none),
        schema first, then indexes, then nodes; at most a thousand of each kind."""
        ...


@runtime_checkable
class DisposableStore(Protocol):
    """A store that can remove the ledger it created (optional capability).

    ``Ledger.create`` and an import call it only to undo a creation that did not finish (the first entry
    could not be written, the export did not verify), so that no half-made ledger is left where the next
    attempt would find it. A store backed by a file has no need of it: its file is removed.
    """

    def discard(self) -> None:
        """Remove this store's ledger (its tables, or what else holds it) and close the store."""
        ...


@runtime_checkable
class PrefetchingStore(Protocol):
    """A store whose writer section is a network round trip each read (optional capability).

    The ledger calls :meth:`expect` just before the write transaction of an event, so that the store can
    read, in the round trip that takes the writer lock, what that append will ask for: the item's head and
    the tree nodes an append at the current size needs. What was read that way is checked exactly as the
    store's readers check what they read, and only answers the same questions asked inside that transaction;
    any other question (another item, other nodes) is read as usual.
    """

    def expect(self, item: str) -> None:
        """The next write transaction will append an event of ``item`` (a hint; it changes no result)."""
        ...


class AppendState(NamedTuple):
    """What an event's append needs to know before it is built and signed, read in one consistent state
    without the writer lock (:meth:`SequencingStore.append_state`)."""

    size: int
    """The number of entries in that state."""
    operator_entries: list[Entry]
    """The entries at index >= the ``since`` asked for and below :attr:`size` that are not events, in index
    order (each checked by its body to be no event)."""
    head: Head | None
    """The item's last event in that state (from its signed body), or None."""


class Sequenced(NamedTuple):
    """Where the server put an event (:meth:`SequencingStore.sequence_event`)."""

    log_index: int
    """The event's index in the log."""
    nodes: bytes
    """The hashes of the complete subtrees its leaf completes, levels 1, 2, ... bottom up, as stored in its
    row."""
    siblings: bytes | None
    """The left siblings those nodes were computed with, bottom up (level 0 is the previous entry's leaf hash):
    stored hashes, 32 bytes each, one per node; None when the store found the event after a lost answer and
    did not recompute them (the caller then reads the tree again when it needs it)."""


@runtime_checkable
class SequencingStore(Protocol):
    """A store that sequences an already signed event itself, under its writer lock (optional capability).

    With a server database, the writer section costs what is done while the lock is held. An event's
    signature does not cover its index, so the writer can read what the append needs *without* the lock
    (:meth:`append_state`: the size, the operator entries since it last looked, the item's head), check and
    sign the event, and hand it over: :meth:`sequence_event` then takes the lock, refuses the event if an
    operator entry (registration, revocation, policy) was written at or after the size the writer checked
    against (the writer applies it and checks again), gives it the next index, computes its tree nodes from
    the stored ones, and stores it, all on the server, before the commit releases the lock. The item's
    compare-and-swap is the store's own (an event built on a head that is no longer the item's last is
    :class:`~provchain.errors.StaleHeadError`, nothing written). No gap, no fork, nothing acknowledged lost:
    the same duties as :meth:`Store.transaction`.

    ``sequences`` is False when this ledger's storage cannot do it (a ledger created before the capability):
    the caller uses :meth:`Store.transaction` instead.
    """

    sequences: bool
    #: How many times the store connected again after losing its connection (a server restart). Rows read
    #: before may be gone (a server may show a commit before it is on disk, and a crash takes it back, with
    #: another write then stored at its index): a caller that keeps what it read (the registry applied up to a
    #: size, the heads, the tree's nodes) forgets it when this changes, and reads it again.
    reconnections: int

    def append_state(self, item: str, since: int) -> AppendState:
        """The size, the operator entries at index >= ``since``, and the head of ``item``, from one
        consistent state (no lock is taken; outside any transaction or snapshot)."""
        ...

    def sequence_event(
        self, entry: Entry, head: int | None, seen: int, known: Mapping[int, tuple[int, bytes]]
    ) -> Sequenced | None:
        """Store the signed event ``entry`` (its ``prev`` names the head it was checked against, stored at index
        ``head``; both None for an item's first event) at the next index, durably, and return where it went;
        None (nothing written) when an operator entry was stored at an index >= ``seen``, the size whose
        operator entries the caller applied, or when the connection was lost before anything was stored (and
        :attr:`reconnections` grew: the caller reads the state again). ``known`` holds tree nodes
        the caller trusts, ``level -> (index, hash)``: a stored left sibling that is one of them must equal it,
        or the event is refused (:class:`~provchain.errors.DamagedLedgerError`, nothing written).
        :class:`~provchain.errors.StaleHeadError` when the item has an event on the same ``prev`` already, or
        ``head`` does not hold that event (the caller reads the head again: a writer may keep the heads it
        wrote and build on them without reading, this check and the chain index are the compare-and-swap);
        :class:`~provchain.errors.LedgerBusyError` when the lock was not obtained in time."""
        ...


@runtime_checkable
class MultiHeadStore(Protocol):
    """A store that reads the heads of many items at once (optional capability).

    :meth:`provchain.ledger.Ledger.append_many` asks any store that has it for the heads of the items its
    events continue, in one call instead of one :meth:`Store.head` per item. The answer is exactly what
    :meth:`Store.head` would give for each item, checked the same way: every head is read from the signed
    body behind the index (an index that files another item's body under an item is
    :class:`~provchain.errors.DamagedLedgerError`), and inside a transaction an item's own last event
    written in it is its head, whether or not the backend has sent it to the storage yet.
    """

    def heads(self, items: Sequence[str]) -> dict[str, Head]:
        """The head of each of ``items`` (valid item ids; repeats are read once) that has events; an item
        without events is absent from the result. One statement per few thousand items, not one per item."""
        ...
