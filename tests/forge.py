"""An attacker's tools for the tests: rewrite a ledger file's stored Merkle tree behind the ledger's back.

They write the SQLite store's layout (:func:`provchain.store.sqlite.node_place`) with plain SQL.
"""

from __future__ import annotations

import sqlite3

from provchain import encoding
from provchain.entries import leaf_hash_of
from provchain.merkle import parent_hashes
from provchain.store.sqlite import TILE_LEVELS, node_place


def rebuild_tree(conn: sqlite3.Connection, *, from_bodies: bool = False) -> list[bytes]:
    """Recompute every stored node from the stored leaf hashes (or, with ``from_bodies``, recompute the leaf
    hashes from the bodies first): a careful attacker's self-consistent tree. Returns the leaves."""
    bodies = [bytes(body) for (body,) in conn.execute("SELECT body FROM entries ORDER BY idx")]
    stored = {b: bytes(t) for b, t in conn.execute("SELECT block, hashes FROM tiles")}
    leaves = [
        leaf_hash_of(b) if from_bodies or i // 16 not in stored else stored[i // 16][32 * (i % 16) : 32 * (i % 16 + 1)]
        for i, b in enumerate(bodies)
    ]
    known: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    conn.execute("DELETE FROM nodes")
    conn.execute("DELETE FROM tiles")
    tiles: dict[int, bytearray] = {}
    rows: dict[int, bytearray] = {}  # rows of 16 high siblings
    for idx, leaf in enumerate(leaves):
        parents = parent_hashes(idx, leaf, lambda lvl, j: known[(lvl, j)]) if idx & 1 else []
        for level, i, h in [(0, idx, leaf), *parents]:
            known[(level, i)] = h
            table, key, offset = node_place(level, i)
            if table == "nodes":
                row = rows.setdefault(key, bytearray())
                assert len(row) == offset
                row += h
            else:
                assert table == "tiles" and level <= TILE_LEVELS
                tiles.setdefault(key, bytearray(30 * 32))[offset : offset + 32] = h
    complete = len(leaves) // 16  # the newest block, while incomplete, is computed from its bodies, not stored
    conn.executemany(
        "INSERT INTO tiles (block, hashes) VALUES (?, ?)", [(b, bytes(t)) for b, t in tiles.items() if b < complete]
    )
    conn.executemany("INSERT INTO nodes (id, hash) VALUES (?, ?)", [(k, bytes(r)) for k, r in rows.items()])
    return leaves


def set_node(conn: sqlite3.Connection, level: int, index: int, value: bytes) -> None:
    """Overwrite the stored hash of node ``(level, index)`` in place (level 0: a leaf hash)."""
    table, key, offset = node_place(level, index)
    column, id_column = ("hash", "id") if table == "nodes" else ("hashes", "block")
    row = conn.execute(f"SELECT {column} FROM {table} WHERE {id_column} = ?", (key,)).fetchone()
    assert row is not None, f"node {(level, index)} is not stored (the newest, incomplete block is computed)"
    blob = bytes(row[0])
    assert len(blob) >= offset + 32, f"node {(level, index)} is not stored"
    conn.execute(
        f"UPDATE {table} SET {column} = ? WHERE {id_column} = ?", (blob[:offset] + value + blob[offset + 32 :], key)
    )


def rewrite_event(conn: sqlite3.Connection, index: int) -> list[bytes]:
    """Rewrite event ``index``'s body (its place becomes "forged"; the signature no longer fits) and rebuild a
    self-consistent tree over it, as an attacker with write access to the file would. Returns the leaves."""
    (body,) = conn.execute("SELECT body FROM entries WHERE idx = ?", (index,)).fetchone()
    m = encoding.decode(bytes(body))
    assert isinstance(m, dict) and m["kind"] == "event", f"entry {index} is not an event"
    m["place"] = "forged"
    conn.execute("UPDATE entries SET body = ? WHERE idx = ?", (encoding.encode(m), index))
    return rebuild_tree(conn, from_bodies=True)
