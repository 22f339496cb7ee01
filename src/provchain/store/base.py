"""The narrow storage interface that the ledger, the prover and the auditor use.

Nothing outside ``provchain.store`` speaks SQL. A backend stores entries in append order, each beside the
Merkle tree's complete-subtree hashes that its leaf completes (see :func:`node_location`), and signed
checkpoints. Writes happen only inside :meth:`Store.transaction`, which is atomic: everything written in
it lands together or not at all, and no other writer can interleave.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..entries import Entry
from ..rules import Head

__all__ = ["LedgerMeta", "NodeKey", "Store", "StoredEntry", "node_location"]

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree: it covers leaves ``[index << level, (index + 1) << level)``."""

HASH_SIZE = 32


def node_location(level: int, index: int) -> tuple[int, int]:
    """Where the hash of node ``(level, index)`` is stored: ``(entry index, byte offset)``.

    Level 0 is the entry's leaf hash (offset 0 of its leaf column). A node of level >= 1 becomes complete
    when its last leaf, ``((index + 1) << level) - 1``, is appended; that entry stores the hashes of the
    nodes it completes, levels 1, 2, ... bottom up, 32 bytes each, so the node sits at byte
    ``32 * (level - 1)`` of that entry's node column. The nodes of one proof's lower levels therefore
    sit in neighbouring entries, and a node is written in the same row, hence the same transaction, as
    the entry that completes it.
    """
    if level == 0:
        return index, 0
    return ((index + 1) << level) - 1, HASH_SIZE * (level - 1)


@dataclass(frozen=True)
class LedgerMeta:
    """What a ledger file says about itself (untrusted until verified against the operator key)."""

    format: int
    origin: str
    operator_vkey: str


class StoredEntry(NamedTuple):
    """An entry with the columns a store keeps beside it."""

    entry: Entry
    item: str | None
    stage: str | None
    at: int
    nodes: bytes = b""
    """The hashes of the complete subtrees this entry's leaf completes, levels 1, 2, ... bottom up."""


class Store(Protocol):
    """Storage for one ledger."""

    def meta(self) -> LedgerMeta:
        """The ledger's metadata."""
        ...

    def size(self) -> int:
        """The number of entries (the tree size). O(1) or O(log n); never a scan."""
        ...

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (raises :class:`IndexError` when there is none)."""
        ...

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[Entry]:
        """Entries ``[start, end)`` in order, streamed."""
        ...

    def item_entries(self, item: str) -> list[Entry]:
        """The entries of one item, in order."""
        ...

    def head(self, item: str) -> Head | None:
        """The last entry of ``item``'s chain, or None."""
        ...

    def operator_entries(self, start: int = 0) -> Iterator[Entry]:
        """Entries at index >= ``start`` that are not events (registrations, revocations, policies)."""
        ...

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The hashes of the given complete subtrees (level 0: leaf hashes); missing keys are absent."""
        ...

    def checkpoints(self) -> Iterator[tuple[int, bytes]]:
        """Stored signed checkpoints ``(size, note)``, oldest first."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size, or None."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """An atomic write transaction (exclusive among writers); nests as a savepoint."""
        ...

    def add_entry(self, index: int, stored: StoredEntry) -> None:
        """Write one entry and the tree nodes it completes (inside a transaction)."""
        ...

    def add_checkpoint(self, size: int, note: bytes) -> None:
        """Write a signed checkpoint (inside a transaction)."""
        ...

    def close(self) -> None:
        """Release the storage."""
        ...
