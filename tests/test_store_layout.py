"""The SQLite store's tree layout: every complete subtree is where node_place says, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
import rawdb
from conftest import HOUR, T0

from provchain import KeyPair, Ledger, merkle
from provchain.entries import leaf_hash_of
from provchain.store.sqlite import TILE_LEVELS, SqliteStore, node_place


def _all_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes = {(0, i): h for i, h in enumerate(leaves)}
    for i, h in enumerate(leaves):
        for level, j, ph in merkle.parent_hashes(i, h, lambda lvl, k: nodes[(lvl, k)]):
            nodes[(level, j)] = ph
    return nodes


@pytest.mark.parametrize("extra", [0, 1, 11, 12, 13, 15, 16, 17, 61, 200])
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
    conn = rawdb.connect(path)
    leaves = [leaf_hash_of(bytes(r[0])) for r in conn.execute("SELECT body FROM entries ORDER BY idx")]
    assert len(leaves) == size
    expected = _all_nodes(leaves)
    complete = size // 16  # blocks with a tile; the newest block's nodes are computed from its bodies
    in_tiles = 0
    for (level, i), h in expected.items():
        table, key, offset = node_place(level, i)
        if table == "tiles":
            assert level <= TILE_LEVELS
            if key >= complete:
                assert key == complete  # only the newest block lacks its tile
                continue
            (blob,) = conn.execute("SELECT hashes FROM tiles WHERE block = ?", (key,)).fetchone()
            got = bytes(blob)[offset : offset + 32]
            in_tiles += 1
        else:
            (blob,) = conn.execute("SELECT hash FROM nodes WHERE id = ?", (key,)).fetchone()
            got = bytes(blob)[offset : offset + 32]
            assert level > TILE_LEVELS
        assert bytes(got) == h, (level, i, table)
    # nothing else is stored: one full tile per complete block, the table exactly the high nodes
    tiles = conn.execute("SELECT block, LENGTH(hashes) FROM tiles ORDER BY block").fetchall()
    assert tiles == [(b, 30 * 32) for b in range(complete)]
    assert in_tiles == 30 * complete
    high = [key for key in expected if key[0] > TILE_LEVELS]
    (stored,) = conn.execute("SELECT COALESCE(SUM(LENGTH(hash)), 0) FROM nodes").fetchone()
    assert stored == 32 * len(high)
    assert conn.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == len({node_place(*k)[1] for k in high})
    conn.close()
    # and the store reads them all back, in one call and one by one
    store = SqliteStore.open(str(path), readonly=True)
    try:
        assert store.nodes(list(expected)) == expected
        for key, h in list(expected.items())[:: max(1, len(expected) // 40)]:
            got = store.nodes([key])
            assert got[key] == h
            assert all(expected[k] == v for k, v in got.items())  # any sibling returned with it is right too
        beyond = [(0, size), (1, size), (5, size)]
        got = store.nodes(beyond)
        assert not set(beyond) & set(got) and set(got) <= set(expected)  # absent, not invented
    finally:
        store.close()


def test_a_ledger_of_another_schema_is_refused_by_name(tmp_path: Path, operator: KeyPair) -> None:
    """A file of an older schema (1: every node in one table; 2: low nodes in the entry rows; 3: one high node
    per row) would read as a damaged tree: it is refused, saying why."""
    from provchain.errors import ForeignLedgerError

    path = tmp_path / "old.db"
    Ledger.create(path, origin=operator.name, operator=operator, at=T0).close()
    for old in (1, 2, 3, 4):
        with rawdb.connect(path) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(old),))
        conn.close()
        with pytest.raises(ForeignLedgerError, match=f"uses ledger schema {str(old)!r}; this provchain reads 5"):
            Ledger.open(path)


@pytest.mark.parametrize("every", [1, 5, 7, 16])
def test_tiles_are_right_when_writers_reopen_mid_block(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair], every: int
) -> None:
    """A connection that did not see a block from its first entry computes the block's tile from the stored
    bodies when it completes it; the result is the same layout, and it audits clean."""
    from provchain.audit import audit_path

    path = tmp_path / "l.db"
    led = Ledger.create(path, origin=operator.name, operator=operator, at=T0, clock=lambda: T0 + 1000 * HOUR)
    led.register_party(parties["origin"].name, roles=["origin"], public_key=parties["origin"].public_key, at=T0)
    for k in range(70):
        if k % every == 0:
            led.close()
            led = Ledger.open(path, clock=lambda: T0 + 1000 * HOUR)
        led.append(f"SKU-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    size = led.size
    led.close()
    conn = rawdb.connect(path)
    leaves = [leaf_hash_of(bytes(r[0])) for r in conn.execute("SELECT body FROM entries ORDER BY idx")]
    tiles = dict(conn.execute("SELECT block, hashes FROM tiles").fetchall())
    conn.close()
    expected = _all_nodes(leaves)
    assert sorted(tiles) == list(range(size // 16))
    for (level, i), h in expected.items():
        table, key, offset = node_place(level, i)
        if table == "tiles" and key in tiles:
            assert tiles[key][offset : offset + 32] == h
    assert audit_path(str(path), operator.vkey, workers=1).clean


def test_a_block_whose_leaves_disagree_with_the_tree_is_not_tiled(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """Completing a block it did not see whole, the store computes the tile from the stored bodies and checks
    it against the hashes the tree gave with the entry: a mismatch (entries rewritten under a writer) is an
    error, and nothing is written."""
    from provchain.entries import Event, sign_body
    from provchain.errors import StorageError
    from provchain.store.base import StoredEntry

    path = tmp_path / "l.db"
    led = Ledger.create(path, origin=operator.name, operator=operator, at=T0, clock=lambda: T0 + 1000 * HOUR)
    led.register_party(parties["origin"].name, roles=["origin"], public_key=parties["origin"].public_key, at=T0)
    for k in range(15 - led.size):
        led.append(f"SKU-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    assert led.size == 15
    led.close()
    kp = parties["origin"]
    entry = sign_body(Event(origin=operator.name, at=T0 + HOUR, signer=kp.key_id, item="LAST", stage="origin",
                            country="FR"), kp, 15)  # fmt: skip
    store = SqliteStore.open(str(path))
    try:
        wrong = bytes(32 * 4)  # levels 1 to 4, all zero: not what the bodies give
        with pytest.raises(StorageError, match="disagree with the ledger's Merkle tree"), store.transaction():
            store.add_entry(15, StoredEntry(entry, wrong))
        assert store.size() == 15
        assert store.nodes([(3, 1), (0, 15)]) == {}  # leaves 8..15: incomplete, nothing computed or stored
    finally:
        store.close()


def test_a_missing_high_node_is_read_with_its_span(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The tree reads a missing node of level >= 4 with its 15 aligned siblings (one row) and caches them
    all; siblings that are missing are neither cached nor an error until a proof needs them."""
    from provchain.errors import StorageError

    path = tmp_path / "l.db"
    led = Ledger.create(path, origin=operator.name, operator=operator, at=T0, clock=lambda: T0 + 1000 * HOUR)
    led.register_party(parties["origin"].name, roles=["origin"], public_key=parties["origin"].public_key, at=T0)
    with led.batch():
        for k in range(2000 - led.size):
            led.append(f"SKU-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    leaves = [e.leaf_hash for e in led.entries()]
    led.close()
    root = merkle.root(leaves)
    with Ledger.open(path, readonly=True) as reader:
        tree = reader._tree
        assert not tree._cache
        # leaf 53 lies under (4, 3), so its proof reads that node's sibling (4, 2), not (4, 3) itself
        merkle.verify_inclusion(leaves[53], 53, 2000, reader.inclusion_proof(53), root)
        assert {(4 << 40) | j for j in range(16)} <= set(tree._cache)  # the whole span of (4, 2)
    conn = rawdb.connect(path)
    _, row, offset = node_place(4, 3)
    conn.execute("UPDATE nodes SET hash = substr(hash, 1, ?) WHERE id = ?", (offset, row))  # (4, 3) on: gone
    conn.commit()
    conn.close()
    with Ledger.open(path, readonly=True) as reader:
        tree = reader._tree
        merkle.verify_inclusion(leaves[53], 53, 2000, reader.inclusion_proof(53), root)
        assert (4 << 40) | 2 in tree._cache and (4 << 40) | 3 not in tree._cache
        with pytest.raises(StorageError, match=r"lacks node \(4, 3\)"):
            reader.inclusion_proof(37)  # leaf 37 lies under (4, 2): its proof needs (4, 3)


def test_a_row_of_high_nodes_that_is_not_as_long_as_the_tree_says_is_not_extended(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """A high node extends the row of its 16 siblings only if the row holds exactly the nodes before it;
    otherwise the append fails and nothing is written (the row was tampered with, or the tree is wrong)."""
    from provchain.errors import StorageError

    path = tmp_path / "l.db"
    led = Ledger.create(path, origin=operator.name, operator=operator, at=T0, clock=lambda: T0 + 1000 * HOUR)
    led.register_party(parties["origin"].name, roles=["origin"], public_key=parties["origin"].public_key, at=T0)
    while led.size < 20:  # (4, 0) is stored; (4, 1) completes with entry 31
        led.append(f"SKU-{led.size}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    conn = rawdb.connect(path)
    _, row, _ = node_place(4, 1)
    conn.execute("UPDATE nodes SET hash = CAST(hash || hash AS BLOB) WHERE id = ?", (row,))  # two where one belongs
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="not as long as the tree says"):
        while led.size < 32:
            led.append(f"SKU-{led.size}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    assert led.size == 31  # the append that completes (4, 1) wrote nothing
    led.close()
