"""The store's checkpoint lookups: one size by index, and newest first in pages that stop when the reader does."""

from __future__ import annotations

from conftest import journey

from provchain.keys import KeyPair
from provchain.ledger import Ledger


def test_lookup_and_newest_first(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    sizes = []
    for n in range(5):
        journey(ledger, parties, f"SERUM-{n}")
        ledger.checkpoint()
        sizes.append(ledger.size)
    store = ledger.store
    assert [s for s, _ in store.checkpoints()] == sizes
    for chunk in (1, 2, 5, 256):  # every page size gives every checkpoint once, newest first
        assert [s for s, _ in store.checkpoints(newest_first=True, chunk=chunk)] == sizes[::-1]
    notes = dict(store.checkpoints())
    assert all(store.checkpoint(s) == notes[s] for s in sizes)
    assert store.checkpoint(sizes[0] + 1) is None and store.checkpoint(2**64 - 1) is None
    assert store.checkpoint(-1) is None
    assert ledger.checkpoint() == notes[sizes[-1]]  # nothing new: the stored note, not a second signature
