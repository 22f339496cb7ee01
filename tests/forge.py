"""An attacker's tools for the tests: rewrite a ledger file's stored Merkle tree behind the ledger's back.

The tree's nodes live in the ``nodes`` column of the entry that completes them (see
:func:`provchain.store.base.node_location`); these helpers write that layout with plain SQL.
"""

from __future__ import annotations

import sqlite3

from provchain.entries import leaf_hash_of
from provchain.merkle import parent_hashes
from provchain.store.base import node_location


def rebuild_tree(conn: sqlite3.Connection, *, from_bodies: bool = False) -> list[bytes]:
    """Recompute every entry's stored nodes from the stored leaf hashes (or, with ``from_bodies``, recompute
    the leaf hashes from the bodies first): a careful attacker's self-consistent tree. Returns the leaves."""
    rows = conn.execute("SELECT idx, leaf, body FROM entries ORDER BY idx").fetchall()
    leaves = [leaf_hash_of(bytes(body)) if from_bodies else bytes(leaf) for _, leaf, body in rows]
    known: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    for (idx, _, _), leaf in zip(rows, leaves, strict=True):
        parents = parent_hashes(idx, leaf, lambda lvl, j: known[(lvl, j)]) if idx & 1 else []
        for level, i, h in parents:
            known[(level, i)] = h
        nodes = b"".join(h for _, _, h in parents)
        conn.execute("UPDATE entries SET leaf = ?, nodes = ? WHERE idx = ?", (leaf, nodes, idx))
    return leaves


def set_node(conn: sqlite3.Connection, level: int, index: int, value: bytes) -> None:
    """Overwrite the stored hash of node ``(level, index)`` in place (level 0: the leaf hash)."""
    row, offset = node_location(level, index)
    if level == 0:
        conn.execute("UPDATE entries SET leaf = ? WHERE idx = ?", (value, row))
        return
    (blob,) = conn.execute("SELECT nodes FROM entries WHERE idx = ?", (row,)).fetchone()
    blob = bytes(blob)
    assert len(blob) >= offset + 32, f"entry {row} stores no node {(level, index)}"
    conn.execute("UPDATE entries SET nodes = ? WHERE idx = ?", (blob[:offset] + value + blob[offset + 32 :], row))


def get_node(conn: sqlite3.Connection, level: int, index: int) -> bytes:
    """The stored hash of node ``(level, index)``."""
    row, offset = node_location(level, index)
    (leaf, blob) = conn.execute("SELECT leaf, nodes FROM entries WHERE idx = ?", (row,)).fetchone()
    return bytes(leaf) if level == 0 else bytes(blob)[offset : offset + 32]
