"""The narrow storage interface that the ledger, the prover and the auditor use.

Nothing outside ``provchain.store`` speaks SQL. A backend stores entries in append order, the Merkle
tree's complete-subtree hashes (each entry brings those its leaf completes, written with it; level-0
nodes are the entries' leaf hashes), and signed checkpoints. Writes happen only inside
:meth:`Store.transaction`, which is atomic: everything written in it lands together or not at all, and
no other writer can interleave.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..entries import Entry
from ..rules import Head

__all__ = ["LedgerMeta", "NodeKey", "Store", "StoredEntry"]

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree: it covers leaves ``[index << level, (index + 1) << level)``."""


@dataclass(frozen=True)
class LedgerMeta:
    """What a ledger file says about itself (untrusted until verified against the operator key)."""

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
        """The hashes of the given complete subtrees (level 0: leaf hashes); missing keys are absent. A store
        may return more nodes than asked, such as those read along with them; callers may cache them."""
        ...

    def size_and_nodes(self, keys: Iterable[NodeKey]) -> tuple[int, dict[NodeKey, bytes]]:
        """:meth:`size` and :meth:`nodes` from one consistent read (a proof at the current size costs one
        round trip)."""
        ...

    def checkpoints(self, *, newest_first: bool = False) -> Iterator[tuple[int, bytes]]:
        """Stored signed checkpoints ``(size, note)``, oldest first (newest first with ``newest_first``)."""
        ...

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note of ``size``, or None."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size, or None."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: every read inside sees one state of the ledger, whatever writers commit
        meanwhile (inside a write transaction, it adds nothing)."""
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
