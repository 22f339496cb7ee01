"""The audit's division of work: worker processes prepare each job of entries (leaf hashes and subtrees,
parsing, signatures) and the main process judges them in log order. The findings are the same whatever the
number of workers and the size of a job.

The ledger is tampered with in several ways at once, as test_audit.py's attacker does it (plain SQL on the
file), so that every path of the replay runs: clean events judged from what the workers read, operator
entries and failing events judged from their bodies, a signature verdict that explains the chain break
after it, a forged registration whose key the workers were given as a candidate, node comparisons across
job boundaries, checkpoints inside a job and at its end, an index gap.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import forge
import pytest
import rawdb
from conftest import HOUR, ORIGIN, T0, journey

from provchain import KeyPair, Ledger, encoding, merkle
from provchain._internal import replay as replay_mod
from provchain.audit import audit_entries, audit_path
from provchain.checkpoint import Checkpoint, sign_checkpoint
from provchain.entries import Entry, Event
from provchain.rules import Registry

LATE = KeyPair.from_seed("late-courier", bytes([42]) * 32)


def _edit(conn: sqlite3.Connection, idx: int, change: dict[str, Any]) -> None:
    (body,) = conn.execute("SELECT body FROM entries WHERE idx = ?", (idx,)).fetchone()
    m = encoding.decode(bytes(body))
    m.update(change)
    conn.execute("UPDATE entries SET body = ? WHERE idx = ?", (encoding.encode(m), idx))


def _index(conn: sqlite3.Connection, item: str, stage: str) -> int:
    rows = conn.execute("SELECT idx, body FROM entries WHERE item = ? ORDER BY idx", (item,)).fetchall()
    return next(int(i) for i, b in rows if encoding.decode(bytes(b))["stage"] == stage)


@pytest.fixture
def tampered(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Iterator[Path]:
    """82 entries, checkpoints at 42, 64 and 82; then five kinds of damage."""
    for n in range(6):
        journey(ledger, parties, f"CRATE-{n}", start=T0 + HOUR + n * 10 * HOUR)
    ledger.checkpoint()  # size 42: inside a job of 32 or 4096 entries
    # a party registered late, whose events follow at once: its key reaches the workers as a candidate
    ledger.register_party(LATE.name, roles=["courier"], public_key=LATE.public_key, at=T0 + 70 * HOUR)
    for n in range(3):
        ledger.append(f"FILL-{n}", "origin", parties["origin"], country="FR", at=T0 + 70 * HOUR)
    late = {**parties, "courier": LATE}
    for n in range(6):
        journey(ledger, late, f"CRATE-{6 + n}", start=T0 + 71 * HOUR + n * HOUR)
        if ledger.size == 64:
            ledger.checkpoint()  # at the end of a job of 4 or 32 entries
    ledger.checkpoint()
    assert ledger.size == 82
    ledger.close()
    with rawdb.connect(ledger_path, isolation_level=None) as conn:
        conn.execute("BEGIN")
        # (1) the courier's registration given a second role: not validly signed, so it registers nothing,
        #     and the courier's events are by an unknown key (the workers verified them by that key)
        _edit(conn, 5, {"roles": ["courier", "origin"]})
        # (2) an appraisal's verdict changed: its signature fails, which explains the chain break after it
        _edit(conn, _index(conn, "CRATE-2", "appraisal"), {"data": {"certificate": "X-1", "verdict": "fake"}})
        forge.rebuild_tree(conn, from_bodies=True)
        # (3) a naive edit of a late event: the stored leaf hash is stale
        _edit(conn, _index(conn, "CRATE-8", "import"), {"country": "IT"})
        # (4) a damaged node over entries 0..31
        forge.set_node(conn, 5, 0, bytes(32))
        # (5) an entry near the end deleted: an index gap, a chain break, and the checkpoint at 82 is beyond
        conn.execute("DELETE FROM entries WHERE idx = 74")
        conn.execute("COMMIT")
    yield ledger_path


@pytest.mark.parametrize("workers", [1, 2])
def test_the_findings_do_not_depend_on_workers_or_jobs(
    tampered: Path, operator: KeyPair, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = audit_path(tampered, operator.vkey, workers=1)
    counts = reference.findings_by_check
    assert counts == {
        "signature": 3, "unknown-key": 6, "leaf-hash": 1, "merkle-node": 1, "index": 1, "chain": 1, "checkpoint": 3,
    }, [str(f) for f in reference.findings]  # fmt: skip
    assert reference.checkpoints_checked == 3
    expected = reference.to_json()
    del expected["workers"]
    for chunk in (1, 3, 32, 4096):  # 3 is rounded up to 4: jobs are aligned subtrees
        monkeypatch.setattr(replay_mod, "_CHUNK", chunk)
        report = audit_path(tampered, operator.vkey, workers=workers)
        got = report.to_json()
        assert got.pop("workers") == workers
        assert got == expected, chunk


@pytest.mark.parametrize("chunk", [1, 4, 8, 32])
def test_every_size_gives_the_root_of_its_prefix(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        journey(ledger, parties, f"CRATE-{n}", start=T0 + HOUR + n * 10 * HOUR)
    entries = list(ledger.entries())
    leaves = [e.leaf_hash for e in entries]
    notes = [
        (k, sign_checkpoint(Checkpoint(ORIGIN, k, merkle.root(leaves[:k])), operator)) for k in range(len(leaves) + 1)
    ]
    monkeypatch.setattr(replay_mod, "_CHUNK", chunk)
    for workers in (1, 2):
        report = audit_entries(entries, operator.vkey, checkpoints=notes, workers=workers)
        assert report.clean, [str(f) for f in report.findings]
        assert report.checkpoints_checked == len(leaves) + 1 and report.root == merkle.root(leaves)


def test_a_verdict_by_another_key_than_the_registered_one_is_not_used(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    """A candidate key is only a guess: were the workers given another key under a registered key id (a
    forged registration whose 4-byte id collides), their verdicts are set aside and the events verified
    by the registered key."""
    journey(ledger, parties, "CRATE-0")
    entries = list(ledger.entries())
    courier = parties["courier"]
    impostor = KeyPair.from_seed("impostor", bytes([66]) * 32)
    for planted, clean in ((impostor.public_key, True), (courier.public_key, True)):
        found: list[tuple[Any, ...]] = []
        replay = replay_mod.Replay(
            Registry(ORIGIN, operator.name, operator.public_key), now=None, workers=1, nodes=None,
            report=lambda *args: found.append(args),  # noqa: B023 - used at once
        )  # fmt: skip
        replay.inline_keys[courier.key_id] = planted  # what a colliding registration read earlier would give
        cps = replay_mod.CheckpointChecks(replay, ORIGIN, operator.vkey, [], None)
        replay.run(entries, cps, None)
        assert (found == []) is clean and replay.signatures == len(entries)
    # and a bad signature is still found when the planted key is the one the worker used
    bad = entries[-1]
    forged = Entry(bad.body, bytes(64 - 1) + b"\x01", bad.index)
    report = audit_entries([*entries[:-1], forged], operator.vkey, workers=1)
    assert [(f.index, f.check) for f in report.findings] == [(bad.index, "signature")]
    assert isinstance(forged.content, Event)
