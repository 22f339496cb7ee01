"""An attacker's tools for the tests: rewrite a ledger file's stored Merkle tree behind the ledger's back.

They write the SQLite store's layout (:func:`provchain.store.sqlite.node_place`) with plain SQL.
"""

from __future__ import annotations

import sqlite3

from provchain.entries import leaf_hash_of
from provchain.merkle import parent_hashes
from provchain.store.sqlite import ROW_LEVELS, node_place


def rebuild_tree(conn: sqlite3.Connection, *, from_bodies: bool = False) -> list[bytes]:
    """Recompute every stored node from the stored leaf hashes (or, with ``from_bodies``, recompute the leaf
    hashes from the bodies first): a careful attacker's self-consistent tree. Returns the leaves."""
    rows = conn.execute("SELECT idx, leaf, body FROM entries ORDER BY idx").fetchall()
    leaves = [leaf_hash_of(bytes(body)) if from_bodies else bytes(leaf) for _, leaf, body in rows]
    known: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    conn.execute("DELETE FROM nodes")
    for (idx, _, _), leaf in zip(rows, leaves, strict=True):
        parents = parent_hashes(idx, leaf, lambda lvl, j: known[(lvl, j)]) if idx & 1 else []
        for level, i, h in parents:
            known[(level, i)] = h
        low = b"".join(h for level, _, h in parents if level <= ROW_LEVELS)
        conn.execute("UPDATE entries SET leaf = ?, nodes = ? WHERE idx = ?", (leaf, low, idx))
        for level, i, h in parents:
            if level > ROW_LEVELS:
                conn.execute("INSERT INTO nodes (id, hash) VALUES (?, ?)", (node_place(level, i)[1], h))
    return leaves


def set_node(conn: sqlite3.Connection, level: int, index: int, value: bytes) -> None:
    """Overwrite the stored hash of node ``(level, index)`` in place (level 0: the leaf hash)."""
    table, key, offset = node_place(level, index)
    if table == "leaf":
        conn.execute("UPDATE entries SET leaf = ? WHERE idx = ?", (value, key))
    elif table == "nodes":
        assert conn.execute("UPDATE nodes SET hash = ? WHERE id = ?", (value, key)).rowcount == 1
    else:
        (blob,) = conn.execute("SELECT nodes FROM entries WHERE idx = ?", (key,)).fetchone()
        blob = bytes(blob)
        assert len(blob) >= offset + 32, f"entry {key} stores no node {(level, index)}"
        conn.execute("UPDATE entries SET nodes = ? WHERE idx = ?", (blob[:offset] + value + blob[offset + 32 :], key))
