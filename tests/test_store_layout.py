"""The SQLite store's tree layout: every complete subtree is where node_place says, and nowhere else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import HOUR, T0

from provchain import KeyPair, Ledger, merkle
from provchain.store.sqlite import ROW_LEVELS, SqliteStore, node_place


def _all_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes = {(0, i): h for i, h in enumerate(leaves)}
    for i, h in enumerate(leaves):
        for level, j, ph in merkle.parent_hashes(i, h, lambda lvl, k: nodes[(lvl, k)]):
            nodes[(level, j)] = ph
    return nodes


@pytest.mark.parametrize("extra", [0, 1, 15, 16, 17, 61, 200])
def test_every_node_is_where_node_place_says(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair], extra: int
) -> None:
    path = tmp_path / "l.db"
    led = Ledger.create(path, origin=operator.name, operator=operator, at=T0, clock=lambda: T0 + 1000 * HOUR)
    with led.batch():
        for name in ("origin",):
            led.register_party(parties[name].name, roles=[name], public_key=parties[name].public_key, at=T0)
        for k in range(extra):
            led.append(f"SKU-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    size = led.size
    led.close()
    conn = sqlite3.connect(path)
    leaves = [bytes(r[0]) for r in conn.execute("SELECT leaf FROM entries ORDER BY idx")]
    assert len(leaves) == size
    expected = _all_nodes(leaves)
    stored_in_rows = 0
    for (level, i), h in expected.items():
        table, key, offset = node_place(level, i)
        if table == "leaf":
            (got,) = conn.execute("SELECT leaf FROM entries WHERE idx = ?", (key,)).fetchone()
        elif table == "entries":
            (blob,) = conn.execute("SELECT nodes FROM entries WHERE idx = ?", (key,)).fetchone()
            got = bytes(blob)[offset : offset + 32]
            stored_in_rows += 1
            assert level <= ROW_LEVELS
        else:
            (got,) = conn.execute("SELECT hash FROM nodes WHERE id = ?", (key,)).fetchone()
            assert level > ROW_LEVELS
        assert bytes(got) == h, (level, i, table)
    # nothing else is stored: the row columns hold exactly the low nodes, the table exactly the high ones
    (row_bytes,) = conn.execute("SELECT COALESCE(SUM(LENGTH(nodes)), 0) FROM entries").fetchone()
    (high,) = conn.execute("SELECT COUNT(*) FROM nodes").fetchone()
    assert row_bytes == 32 * stored_in_rows
    assert high == sum(1 for level, _ in expected if level > ROW_LEVELS)
    conn.close()
    # and the store reads them all back, in one call and one by one
    store = SqliteStore.open(str(path), readonly=True)
    try:
        assert store.nodes(list(expected)) == expected
        for key, h in list(expected.items())[:: max(1, len(expected) // 40)]:
            assert store.nodes([key]) == {key: h}
        assert store.nodes([(0, size), (1, size), (5, size)]) == {}  # beyond the tree: absent, not invented
    finally:
        store.close()


def test_a_ledger_of_another_schema_is_refused_by_name(tmp_path: Path, operator: KeyPair) -> None:
    """A schema-1 file (every node in one table) would read as a damaged tree: it is refused, saying why."""
    from provchain.errors import ForeignLedgerError

    path = tmp_path / "old.db"
    Ledger.create(path, origin=operator.name, operator=operator, at=T0).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.close()
    with pytest.raises(ForeignLedgerError, match="uses ledger schema 1; this provchain reads 2"):
        Ledger.open(path)
