"""The tamper suite of the stored copies: every column of every table of a ledger file, planted schema
objects, wrong stored types, and what the ledger itself does with a file edited under it.

The signatures of the bodies are tested by test_audit.py's catalogue. Here the attacker leaves every body
and signature alone and edits what lies beside them: the meta table, the item index, the tree's tiles and
nodes, the checkpoints table, the schema. Each case is named; each must be caught by the audit with its
location (the entry, the row or the object), and the ledger must refuse to act on what the case falsifies
(history, appends, checkpoints, proofs, consistency) instead of trusting it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import forge
import pytest
import rawdb
from conftest import HOUR, T0, journey

from provchain import KeyPair, Ledger
from provchain.audit import AuditReport, audit_path
from provchain.errors import (
    ConsistencyError,
    DamagedLedgerError,
    ForeignLedgerError,
    LedgerError,
    ProvchainError,
)
from provchain.store.sqlite import _body_item

ITEMS = ("BAG-A", "BAG-B", "BAG-C", "BAG-D")
SIZE = 30  # the policy, five registrations, four six-event journeys: one whole tile, one level-4 node row


@pytest.fixture
def built(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Iterator[Path]:
    for n, item in enumerate(ITEMS):
        journey(ledger, parties, item, start=T0 + HOUR + n * 10 * HOUR)
    ledger.checkpoint()
    assert ledger.size == SIZE
    ledger.close()
    yield ledger_path


def sql(path: Path, *statements: str, lying: Callable[[object], object] | None = None) -> None:
    """Run statements on the file as an attacker with the sqlite3 module (and, if given, a pc_item of
    their own, which makes SQLite store index entries that differ from the bodies)."""
    conn = rawdb.connect(path, isolation_level=None)
    if lying is not None:
        conn.create_function("pc_item", 1, lying, deterministic=True)
    try:
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()


def audit(path: Path, operator: KeyPair) -> AuditReport:
    return audit_path(path, operator.vkey, workers=1)


def checks(report: AuditReport) -> set[str]:
    return {f.check for f in report.findings}


def entry_of(path: Path, item: str, stage: str) -> int:
    with Ledger.open(path, readonly=True) as led:
        return next(e.index for e in led.history(item) if e.stage == stage)


def test_the_untouched_ledger_is_clean(built: Path, operator: KeyPair) -> None:
    report = audit(built, operator)
    assert report.clean, report.summary()


# --- entries: the item index is computed from the body -------------------------------------------------


def test_entries_item_cannot_be_set_apart_from_the_body(built: Path) -> None:
    """The attack of the review (one UPDATE of the item column hides an appraisal) no longer exists: the
    column is computed by SQLite from the body."""
    idx = entry_of(built, "BAG-B", "appraisal")
    with pytest.raises(sqlite3.OperationalError, match="generated column"):
        sql(built, f"UPDATE entries SET item = 'BAG-X' WHERE idx = {idx}")
    plain = sqlite3.connect(built)  # without provchain's function SQLite cannot write entries at all
    with pytest.raises(sqlite3.OperationalError, match="pc_item"):
        plain.execute(f"UPDATE entries SET body = body WHERE idx = {idx}")
    plain.close()


def _hide(target: str) -> Callable[[object], object]:
    """An attacker's pc_item that files every event of ``target`` under another item."""

    def lie(body: object) -> object:
        item = _body_item(body)
        return "HIDDEN" if item == target else item

    return lie


def _rebuild_index_with(path: Path, lie: Callable[[object], object]) -> None:
    sql(path, "DROP INDEX entries_item", "CREATE INDEX entries_item ON entries(item, idx) WHERE item IS NOT NULL",
        lying=lie)  # fmt: skip


def test_hidden_events_lying_item_index(built: Path, operator: KeyPair) -> None:
    """An index rebuilt by a lying function hides BAG-B's events: the audit names each entry the index
    misfiles (SQLite's integrity check recomputes the index from the bodies)."""
    with Ledger.open(built, readonly=True) as led:
        hidden = {e.index for e in led.history("BAG-B")}
    _rebuild_index_with(built, _hide("BAG-B"))
    report = audit(built, operator)
    assert not report.clean
    named = {f.index for f in report.findings if f.check == "sql-index"}
    assert hidden <= named, report.summary()


def test_grafted_events_lying_item_index(built: Path, operator: KeyPair) -> None:
    """An index that files BAG-C's events under BAG-A: the ledger refuses to show or extend BAG-A (the body
    behind each index entry is checked), and the audit names the misfiled entries."""

    def graft(body: object) -> object:
        item = _body_item(body)
        return "BAG-A" if item == "BAG-C" else item

    _rebuild_index_with(built, graft)
    with Ledger.open(built, readonly=True) as led:
        with pytest.raises(DamagedLedgerError, match="item index lists it under another item"):
            led.history("BAG-A")
        with pytest.raises(DamagedLedgerError):
            led.head("BAG-A")
    assert "sql-index" in checks(audit(built, operator))


def test_hidden_revocation_lying_operator_index(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    """A revocation taken out of the operator index (by filing it as an event of some item): the audit
    names the entry; the replay of every body still applies the revocation."""
    with Ledger.open(built, operator=operator) as led:
        led.revoke_party(parties["courier"].key_id, reason="lost", at=T0 + 90 * HOUR)
        revocation = led.size - 1

    def lie(body: object) -> object:
        item = _body_item(body)
        return "X" if item is None and body == revoked_body else item

    with Ledger.open(built, readonly=True) as led:
        revoked_body = led.entry(revocation).body
    sql(built, "DROP INDEX entries_item", "CREATE INDEX entries_item ON entries(item, idx) WHERE item IS NOT NULL",
        "DROP INDEX entries_operator", "CREATE INDEX entries_operator ON entries(idx) WHERE item IS NULL",
        lying=lie)  # fmt: skip
    report = audit(built, operator)
    assert revocation in {f.index for f in report.findings if f.check == "sql-index"}, report.summary()


def test_event_listed_as_an_operator_entry(built: Path, operator: KeyPair) -> None:
    """A lying pc_item that files an appraisal as an operator entry (NULL item): the ledger refuses to replay
    it as a registration, and the audit names it."""
    idx = entry_of(built, "BAG-B", "appraisal")
    with Ledger.open(built, readonly=True) as led:
        target = led.entry(idx).body

    def lie(body: object) -> object:
        return None if body == target else _body_item(body)

    sql(built, "DROP INDEX entries_operator", "CREATE INDEX entries_operator ON entries(idx) WHERE item IS NULL",
        "DROP INDEX entries_item", "CREATE INDEX entries_item ON entries(item, idx) WHERE item IS NOT NULL",
        lying=lie)  # fmt: skip
    with Ledger.open(built, readonly=True) as led, pytest.raises(DamagedLedgerError, match="operator index lists"):
        led.parties()
    assert idx in {f.index for f in audit(built, operator).findings if f.check == "sql-index"}


def test_entries_row_deleted(built: Path, operator: KeyPair) -> None:
    sql(built, "DELETE FROM entries WHERE idx = 20")
    report = audit(built, operator)
    assert any(f.check == "index" and f.index == 21 for f in report.findings), report.summary()


def test_entries_rows_swapped(built: Path, operator: KeyPair) -> None:
    sql(built, "UPDATE entries SET idx = -1 WHERE idx = 20", "UPDATE entries SET idx = 20 WHERE idx = 21",
        "UPDATE entries SET idx = 21 WHERE idx = -1")  # fmt: skip
    report = audit(built, operator)
    assert {f.index for f in report.findings} & {20, 21}, report.summary()


# --- the schema ---------------------------------------------------------------------------------------

PLANTED = {
    "trigger that drops revocations": "CREATE TRIGGER t_revoke AFTER INSERT ON entries BEGIN "
    "DELETE FROM entries WHERE idx = NEW.idx AND item IS NULL; END",
    "trigger on checkpoints": "CREATE TRIGGER t_cp BEFORE INSERT ON checkpoints BEGIN SELECT 1; END",
    "view": "CREATE VIEW v_entries AS SELECT idx, body FROM entries",
    "extra index": "CREATE INDEX x_sig ON entries(sig)",
    "extra table": "CREATE TABLE notes (x)",
    "altered table": "ALTER TABLE checkpoints ADD COLUMN extra TEXT",
    "dropped index": "DROP INDEX entries_operator",
}


@pytest.mark.parametrize("name", PLANTED)
def test_planted_schema_objects_are_refused_and_reported(built: Path, operator: KeyPair, name: str) -> None:
    sql(built, PLANTED[name])
    with pytest.raises(ForeignLedgerError, match="schema objects that provchain did not create"):
        Ledger.open(built, operator=operator)
    report = audit(built, operator)
    assert "schema" in checks(report), report.summary()
    assert [f for f in report.findings if f.check == "schema" and f.index is None]


def test_analyze_statistics_are_tolerated(built: Path, operator: KeyPair) -> None:
    sql(built, "ANALYZE")
    with Ledger.open(built, operator=operator) as led:
        assert led.size == SIZE
    assert audit(built, operator).clean


# --- meta -----------------------------------------------------------------------------------------------


def test_meta_operator_swapped(built: Path, operator: KeyPair) -> None:
    other = KeyPair.from_seed(operator.name, b"\x07" * 32)
    sql(built, f"UPDATE meta SET value = '{other.vkey}' WHERE key = 'operator'")
    with pytest.raises(DamagedLedgerError, match="first entry does not bear them out"):
        Ledger.open(built)
    report = audit(built, operator)
    assert "ledger-meta" in checks(report)


def test_meta_origin_changed(built: Path, operator: KeyPair) -> None:
    sql(built, "UPDATE meta SET value = 'example.com/other' WHERE key = 'origin'")
    with pytest.raises(DamagedLedgerError):
        Ledger.open(built)
    assert "ledger-meta" in checks(audit(built, operator))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("format", "'x'"),
        ("format", "7"),
        ("schema", "'4'"),
        ("origin", "x'00ff'"),
        ("operator", "42"),
        ("operator", "CAST(x'ff' AS TEXT)"),
    ],
)
def test_meta_values_of_the_wrong_form(built: Path, operator: KeyPair, key: str, value: str) -> None:
    sql(built, f"UPDATE meta SET value = {value} WHERE key = '{key}'")
    with pytest.raises(LedgerError):
        Ledger.open(built)
    try:
        report = audit(built, operator)
    except ProvchainError:
        return  # could not run: one line, exit 2
    assert "ledger-meta" in checks(report)


def test_meta_key_renamed(built: Path, operator: KeyPair) -> None:
    sql(built, "UPDATE meta SET key = 'operatorX' WHERE key = 'operator'")
    with pytest.raises(ForeignLedgerError, match="not a provchain ledger"):
        Ledger.open(built)
    with pytest.raises(ForeignLedgerError):
        audit(built, operator)


# --- tiles and nodes ------------------------------------------------------------------------------------


def test_tile_leaf_hash_edited(built: Path, operator: KeyPair) -> None:
    with rawdb.connect(built) as conn:
        forge.set_node(conn, 0, 9, bytes(32))
    report = audit(built, operator)
    assert any(f.check == "leaf-hash" and f.index == 9 for f in report.findings), report.summary()


def test_high_node_edited(built: Path, operator: KeyPair) -> None:
    with rawdb.connect(built) as conn:
        forge.set_node(conn, 4, 0, bytes(32))
    report = audit(built, operator)
    assert any(f.check == "merkle-node" and f.index == 0 for f in report.findings), report.summary()


def test_tile_planted_for_the_open_block(built: Path, operator: KeyPair) -> None:
    sql(built, f"INSERT INTO tiles (block, hashes) VALUES (1, zeroblob({32 * 30}))")
    report = audit(built, operator)
    assert any(f.check == "merkle-node" and "tiles row 1" in f.found for f in report.findings), report.summary()


def test_tile_deleted(built: Path, operator: KeyPair) -> None:
    sql(built, "DELETE FROM tiles WHERE block = 0")
    report = audit(built, operator)
    assert any(f.check in ("leaf-hash", "merkle-node") and f.found == "missing" for f in report.findings)


def test_node_row_extended(built: Path, operator: KeyPair) -> None:
    sql(built, "UPDATE nodes SET hash = CAST(hash || zeroblob(32) AS BLOB)")
    report = audit(built, operator)
    assert any(f.check == "merkle-node" and "nodes row" in f.found for f in report.findings), report.summary()


def test_tile_renumbered(built: Path, operator: KeyPair) -> None:
    """Tile 0 moved to block 1 (the open block): the leaves of block 0 are missing, and block 1's stray."""
    sql(built, "UPDATE tiles SET block = 1 WHERE block = 0")
    report = audit(built, operator)
    found = {f.found for f in report.findings if f.check in ("leaf-hash", "merkle-node")}
    assert "missing" in found and any("tiles row 1" in f for f in found), report.summary()


def test_node_row_renumbered(built: Path, operator: KeyPair) -> None:
    """The level-4 row moved to level 5: node (4, 0) is missing, and the level-5 row is stray."""
    sql(built, f"UPDATE nodes SET id = {5 << 40} WHERE id = {4 << 40}")
    report = audit(built, operator)
    assert any(f.check == "merkle-node" and f.found == "missing" for f in report.findings), report.summary()
    assert any(f.check == "merkle-node" and "level 5" in f.found for f in report.findings), report.summary()


# --- checkpoints ----------------------------------------------------------------------------------------


def test_checkpoint_filed_under_another_size(built: Path, operator: KeyPair) -> None:
    sql(built, f"UPDATE checkpoints SET size = {SIZE + 5}")
    report = audit(built, operator)
    assert "checkpoint" in checks(report), report.summary()
    with Ledger.open(built, operator=operator) as led, pytest.raises(DamagedLedgerError, match="files a checkpoint"):
        led.checkpoint()


def test_checkpoint_note_edited(built: Path, operator: KeyPair) -> None:
    sql(built, "UPDATE checkpoints SET note = CAST(replace(CAST(note AS TEXT), '30', '31') AS BLOB)")
    assert "checkpoint-signature" in checks(audit(built, operator))
    with Ledger.open(built, operator=operator) as led, pytest.raises(DamagedLedgerError, match="does not verify"):
        led.checkpoint()


# --- the operator never signs an unchecked root --------------------------------------------------------


def _grow(path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    with Ledger.open(path, operator=operator, clock=lambda: T0 + 200 * HOUR) as led:
        journey(led, parties, "BAG-E", start=T0 + 100 * HOUR)


def test_node_edited_after_the_last_checkpoint_is_not_signed(
    built: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _grow(built, operator, parties)  # entries 30..35: the second tile is complete at 32
    with rawdb.connect(built) as conn:
        forge.set_node(conn, 1, 15, bytes(32))  # a node over entries 30, 31
    with Ledger.open(built, operator=operator) as led:
        with pytest.raises(DamagedLedgerError, match=r"bodies at node \(level 1, index 15\)"):
            led.checkpoint()
        assert led.latest_checkpoint() is not None and len(list(led.store.checkpoints())) == 1


def test_body_edited_after_the_last_checkpoint_is_not_signed(
    built: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _grow(built, operator, parties)
    with Ledger.open(built, readonly=True) as led:
        old = led.latest_checkpoint()
        e = led.entry(33)
    assert old is not None
    forged = e.body.replace(b"Hangzhou", b"Hangchow")
    conn = rawdb.connect(built, isolation_level=None)
    conn.execute("UPDATE entries SET body = ? WHERE idx = 33", (forged,))
    forge.rebuild_tree(conn, from_bodies=True)  # a careful attacker: the tree matches the bodies
    conn.close()
    with Ledger.open(built, operator=operator) as led:
        with pytest.raises(DamagedLedgerError, match="entry 33 is not as it was appended"):
            led.checkpoint()
        with pytest.raises(DamagedLedgerError, match="entry 33"):
            led.check_consistency(old)


def test_history_rewritten_before_the_last_checkpoint(built: Path, operator: KeyPair) -> None:
    with rawdb.connect(built) as conn:
        forge.set_node(conn, 4, 0, bytes(32))
    with Ledger.open(built, operator=operator) as led, pytest.raises(ConsistencyError, match="history was rewritten"):
        led.checkpoint()


# --- wrong stored types ---------------------------------------------------------------------------------

WRONG_TYPES = {
    "entries.sig integer": "UPDATE entries SET sig = 42 WHERE idx = 7",
    "entries.body text": "UPDATE entries SET body = 'x' WHERE idx = 7",
    "entries.sig real": "UPDATE entries SET sig = 1.5 WHERE idx = 0",
    "checkpoints.note text": "UPDATE checkpoints SET note = 'x'",
    "tiles.hashes integer": "UPDATE tiles SET hashes = 7",
    "nodes.hash text": "UPDATE nodes SET hash = 'x'",
}


@pytest.mark.parametrize("name", WRONG_TYPES)
def test_wrong_stored_types_are_named_not_crashed_on(built: Path, operator: KeyPair, name: str) -> None:
    sql(built, WRONG_TYPES[name])
    outcomes: list[str] = []
    for act in (
        lambda: audit(built, operator),
        lambda: Ledger.open(built, operator=operator).checkpoint(),
        lambda: Ledger.open(built).history("BAG-A"),
        lambda: Ledger.open(built).prove("BAG-A"),
    ):
        try:
            result = act()
        except ProvchainError as exc:
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("clean" if not isinstance(result, AuditReport) or result.clean else "findings")
    assert outcomes[0] != "clean", outcomes  # the audit never passes an edited file
