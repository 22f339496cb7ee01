"""Readers under load: audit, prove, history and export each read one state of the ledger.

An audit reads the tiles and the bodies of the open block in separate statements; a writer that completes
the block between them used to make an untouched ledger report ``leaf-hash`` tampering. Every reader now
reads inside one read transaction (:meth:`provchain.store.sqlite.SqliteStore.snapshot`). The first test
shows the isolation deterministically; the second runs repeated audits, proofs, histories and exports
while writer processes append, and counts false findings (there must be none).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from conftest import HOUR, T0, journey

from provchain import KeyPair, Ledger, code, merkle
from provchain.audit import audit_path
from provchain.export import ExportReader, export_ledger
from provchain.store.sqlite import SqliteStore

SEEDS = {"origin": bytes([1]) * 32, "warehouse": bytes([3]) * 32}


def test_a_snapshot_does_not_see_a_block_completed_meanwhile(
    ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path
) -> None:
    journey(ledger, parties, "BAG-A")  # 12 entries: the first block is open
    reader = SqliteStore.open(str(ledger_path), readonly=True)
    try:
        with reader.snapshot():
            size = reader.size()
            before = reader.nodes([(0, i) for i in range(size)])
            for n in range(3):  # another writer completes the block and starts the next
                journey(ledger, parties, f"BAG-{n}", start=T0 + 2 * HOUR)
            assert ledger.size > 16
            assert reader.size() == size
            leaves = [e.leaf_hash for e in reader.entries()]
            assert len(leaves) == size
            assert before == {(0, i): h for i, h in enumerate(leaves)}  # the open block, hashed from its bodies
            assert reader.nodes([(0, i) for i in range(size)]) == before
        assert reader.size() == ledger.size  # outside the snapshot: the present
    finally:
        reader.close()


def test_a_block_completed_between_two_statements_of_one_read(
    ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path, monkeypatch: Any
) -> None:
    """The race the review saw, made deterministic: a node lookup reads the tiles, finds none for the open
    block, and hashes the block's bodies in a second statement; a writer completes the block in between.
    Outside a snapshot the second statement sees all 16 bodies and the open block's leaves come back
    missing (what the audit reported as tampering); inside one, both statements read the same ledger."""
    journey(ledger, parties, "BAG-A")  # 12 entries: block 0 is open
    real = SqliteStore._open_block
    items = iter(range(1000))

    def a_writer_completes_the_block_first(self: SqliteStore, block: int) -> dict[tuple[int, int], bytes]:
        for _ in range(3):  # 18 entries by another connection, between the two statements
            journey(ledger, parties, f"BAG-{next(items)}", start=T0 + 2 * HOUR)
        return real(self, block)

    monkeypatch.setattr(SqliteStore, "_open_block", a_writer_completes_the_block_first)
    reader = SqliteStore.open(str(ledger_path), readonly=True)
    try:
        with reader.snapshot():
            inside = reader.nodes([(0, i) for i in range(12)])
        assert sorted(inside) == [(0, i) for i in range(12)]  # every leaf of the snapshot's open block
        size = ledger.size  # 30: block 1 (entries 16..29) is open
        outside = reader.nodes([(0, i) for i in range(16, size)])
        assert outside == {}  # the hazard the snapshot removes
    finally:
        reader.close()


def _writer(path: str, role: str, seed: bytes, item_prefix: str, seconds: float, out: Any) -> None:
    key = KeyPair.from_seed({"origin": "grasse-labs", "warehouse": "hz-bonded-wh-3"}[role], seed)
    n = 0
    try:
        with Ledger.open(path, clock=lambda: T0 + 500 * HOUR) as led:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                with led.batch():  # a few entries a transaction: blocks complete between the reader's statements
                    for _ in range(3):
                        led.append(f"{item_prefix}-{n}", "origin", key, country="FR", at=T0 + 2 * HOUR)
                        n += 1
        out.put(("ok", n))
    except Exception as exc:  # reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_readers_under_concurrent_writers_report_no_false_findings(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, ledger_path: Path, tmp_path: Path
) -> None:
    journey(ledger, parties, "BAG-A")
    ledger.checkpoint()
    ledger.close()
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(ledger_path), "origin", SEEDS["origin"], f"W{k}", 6.0, out))
        for k in range(2)
    ]
    for p in procs:
        p.start()
    audits = proofs = histories = exports = codes = false = 0
    sizes = set()
    try:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            report = audit_path(ledger_path, operator.vkey, workers=1)
            audits += 1
            sizes.add(report.size)
            false += report.finding_count
            assert report.clean, report.summary()
            with Ledger.open(ledger_path, readonly=True) as led:
                proof = led.prove("BAG-A")
                proofs += 1
                assert len(led.history("BAG-A")) == 6
                histories += 1
                with led.snapshot():
                    size = led.size
                    leaves = [e.leaf_hash for e in led.entries(0, size)]
                    assert led.root(size) == merkle.root(leaves)
            assert proof
            with Ledger.open(ledger_path, operator=operator) as led:  # a code: reads, and may sign a checkpoint
                text = code.make(led, "BAG-A", "full")
            assert len(code.verify(text, operator.vkey).events) == 6
            codes += 1
            target = tmp_path / f"x{exports}.export"
            summary = export_ledger(ledger_path, target)
            with ExportReader.open(target) as reader:
                assert sum(1 for _ in reader.entries()) == summary.entries
            exports += 1
    finally:
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    assert false == 0
    assert audits >= 2 and len(sizes) >= 2, (audits, sizes)  # the ledger grew while it was audited
    print(f"\n{audits} audits, {proofs} proofs, {histories} histories, {codes} codes, {exports} exports under "
          "2 writers; "
          f"sizes {min(sizes)}..{max(sizes)}; false findings: {false}")  # fmt: skip
