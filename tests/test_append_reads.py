"""What one append reads after a reopen (each CLI call): the tree's left siblings in one fetch, not one by one.

A fresh process has an empty frontier, so the leaf that completes a 16-entry block needs four stored
siblings (levels 0 to 3, all in the open block, computed from its bodies), and one that completes a
32-entry subtree five; that read also gives the block's tile its hashes. SQLite's trace callback counts
the statements that read tree nodes or the block's bodies; the resulting tree is checked against the
reference root of every leaf, and audited.
"""

from __future__ import annotations

from pathlib import Path

from conftest import T0

from provchain import KeyPair, Ledger, merkle
from provchain.audit import audit_path

_NODE_READS = ("FROM tiles", "FROM nodes", "idx BETWEEN")


def _node_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and any(r in s for r in _NODE_READS)]


def test_an_append_after_a_reopen_reads_its_left_siblings_in_one_fetch(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    op = KeyPair.from_seed("example.com/reads", bytes(range(32)))
    kp = KeyPair.from_seed("party-origin", bytes([1]) * 32)
    with Ledger.create(path, origin=op.name, operator=op, at=T0) as led:
        led.register_party(kp.name, roles=["origin"], public_key=kp.public_key, at=T0)
    most: dict[int, int] = {}
    for n in range(2, 66):  # through the blocks that complete subtrees of 16, 32 and 64 entries
        with Ledger.open(path) as led:
            assert led.size == n
            statements: list[str] = []
            led.store._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
            led.append(f"SKU-{n:04d}", "origin", kp, country="FR", at=T0 + 1000 + n)
            led.store._conn.set_trace_callback(None)  # type: ignore[attr-defined]
            most[n] = len(_node_reads(statements))
    # The siblings: one statement for the tiles and high nodes, one for the open block's bodies; a block's
    # last entry builds its tile from the hashes of that read, not from the bodies again. One by one, index
    # 15 alone read the bodies 5 times.
    assert max(most.values()) <= 2, {n: k for n, k in most.items() if k > 2}
    assert most[15] <= 2 and most[31] <= 2 and most[63] <= 2
    with Ledger.open(path) as led:
        leaves = [e.leaf_hash for e in led.entries()]
        assert led.root() == merkle.root(leaves)
    assert audit_path(path, op.vkey).clean
