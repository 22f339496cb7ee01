"""The SQLite store's ``pc_item`` answers from the parsed body it was handed, only for the exact bytes that body
encoded itself into, and computes from the body for anything else.

``entries.item`` (and the item index) comes from ``pc_item(body)``. For the rows the ledger appends, the store
already holds the parsed event, so it skips decoding the body again: it keeps the item of each queued body,
keyed by the body's bytes, until the rows are inserted. These tests check that every row's item is still what
the body says, read by a fresh connection that decodes every body (and by SQLite's integrity check, which
recomputes the column against both indexes), that a body the store did not build is decoded, and that a
parsed body that does not match the bytes (a caller's lie) is not believed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import T0, journey

from provchain import KeyPair, Ledger
from provchain.entries import Entry, decode_body, sign_body
from provchain.errors import LedgerError
from provchain.store.base import StoredEntry
from provchain.store.sqlite import register_functions


def _items_decoded(path: Path) -> list[tuple[int, str | None]]:
    """Every row's item as a fresh connection computes it from the body, and the body's own item."""
    conn = sqlite3.connect(path)
    register_functions(conn)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT idx, item, body FROM entries ORDER BY idx").fetchall()
    finally:
        conn.close()
    out = []
    for idx, item, body in rows:
        content = decode_body(body)
        assert item == getattr(content, "item", None), idx
        out.append((idx, item))
    return out


def test_batched_and_single_appends_index_the_item_the_body_holds(
    ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path
) -> None:
    with ledger.batch():
        for n in range(30):  # more than one queue of 64 rows, and blocks completed inside the batch
            journey(ledger, parties, f"SKU-{n:03d}")
    journey(ledger, parties, "SKU-single")  # one commit each
    spare = KeyPair.from_seed("spare", bytes([9]) * 32)
    with ledger.batch():  # an operator entry between events of one batch
        ledger.append("SKU-late", "origin", parties["origin"], country="FR", at=T0 + 1)
        ledger.register_party(spare.name, roles=["courier"], public_key=spare.public_key, at=T0)
        ledger.append("SKU-late", "import", parties["customs"], country="CN", at=T0 + 2)
    assert ledger.store._queued_items == {}  # type: ignore[attr-defined]
    items = _items_decoded(ledger_path)
    assert len(items) == ledger.size
    operator_rows = [i for i, item in items if item is None]
    assert ledger.size - 2 in operator_rows and len(operator_rows) < 10
    assert [e.index for e in ledger.store.item_entries("SKU-late")] == [ledger.size - 3, ledger.size - 1]
    assert len(ledger.history("SKU-017")) == 6


def test_a_rolled_back_batch_leaves_nothing_behind(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    size = ledger.size
    with pytest.raises(LedgerError), ledger.batch():
        journey(ledger, parties, "SKU-gone")
        raise LedgerError("stop")
    assert ledger.store._queued_items == {}  # type: ignore[attr-defined]
    assert ledger.size == size
    assert ledger.history("SKU-gone") == []


def test_a_body_the_store_did_not_build_is_decoded(
    ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path
) -> None:
    journey(ledger, parties, "SKU-A")
    size = ledger.size
    store = ledger.store
    a = store.entry(size - 6)
    # An entry read back (its content parsed from the body) and one whose parsed content was swapped for
    # another event's: neither encoded those bytes itself, so pc_item decodes both bodies.
    other = ledger.prepare_event("SKU-B", "origin", parties["origin"].key_id, country="FR", at=T0 + 5)
    lie = Entry(a.body, a.signature)
    lie.__dict__["content"] = other
    assert sign_body(other, parties["origin"]).content is other  # the lie is a real, signable event
    with pytest.raises(LedgerError), store.transaction():  # type: ignore[attr-defined]
        store.add_entry(size, StoredEntry(Entry(a.body, a.signature), b""))
        store.add_entry(size + 1, StoredEntry(lie, b""))
        store._flush()  # type: ignore[attr-defined]  # the rows are queued until a read or the commit
        # The item column is virtual: a read computes it again, but the item index holds what pc_item said
        # when the row went in, so read that.
        indexed = {
            item: [i for (i,) in store._conn.execute(  # type: ignore[attr-defined]
                "SELECT idx FROM entries INDEXED BY entries_item WHERE item = ? AND idx >= ?", (item, size)
            )]
            for item in ("SKU-A", "SKU-B")
        }  # fmt: skip
        assert indexed == {"SKU-A": [size, size + 1], "SKU-B": []}
        raise LedgerError("roll back")
    assert store._queued_items == {}  # type: ignore[attr-defined]
    assert _items_decoded(ledger_path)[-1] == (size - 1, "SKU-A")
