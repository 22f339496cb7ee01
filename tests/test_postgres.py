"""The PostgreSQL store against a real PostgreSQL 15 server (tests/pgserver.py): what the backend-neutral
contract suite (tests/test_store_contract.py) does not reach: the schema it creates and checks, the indexes
it derives from the bodies and checks on read, the unique (item, prev) index that keeps chains from forking,
the lock that is the writer section, its errors, and a ledger that is the same, hash for hash, as SQLite's.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from conftest import HOUR, ORIGIN, T0, Clock, journey
from hypothesis import given
from hypothesis import strategies as st

from provchain import KeyPair, Ledger, merkle
from provchain.audit import audit_path
from provchain.cli import cli as main
from provchain.entries import Entry
from provchain.errors import (
    DamagedLedgerError,
    ForeignLedgerError,
    InputError,
    LedgerBusyError,
    LedgerExistsError,
    LedgerNotFoundError,
    ProvchainError,
    StaleHeadError,
    StorageError,
)
from provchain.store.base import LedgerMeta, StoredEntry
from provchain.store.postgres import SCHEMA, PostgresStore, _indexes_of, where


def _fill(led: Ledger, parties: dict[str, KeyPair], items: int, first: int = 0) -> None:
    for role, kp in parties.items():
        if not any(p.name == kp.name for p in led.parties()):
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    for i in range(first, first + items):
        journey(led, parties, f"SKU-{i:04d}", start=T0 + HOUR + i)


def _sql(url: str, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Raw SQL on the ledger's database, as another program (or an attacker with database access) would."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def pg_ledger(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock) -> Ledger:
    led = Ledger.create(postgres_url, origin=ORIGIN, operator=operator, at=T0, clock=clock)
    _fill(led, parties, 3)
    return led


# --- the same ledger as SQLite's, hash for hash --------------------------------------------------


def test_a_postgres_ledger_is_the_sqlite_ledger_hash_for_hash(
    tmp_path: Path, postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    leds = [
        Ledger.create(where_, origin=ORIGIN, operator=operator, at=T0, clock=Clock(T0 + 100 * HOUR))
        for where_ in (tmp_path / "l.db", postgres_url)
    ]
    for led in leds:
        _fill(led, parties, 4)
        with led.batch():  # a batch of 60: sent with one COPY
            _fill(led, parties, 10, first=4)
        _fill(led, parties, 1, first=14)
    sq, pg = leds
    assert pg.size == sq.size == 1 + 5 + 15 * 6
    assert [e.body for e in pg.entries()] == [e.body for e in sq.entries()]
    assert pg.checkpoint() == sq.checkpoint()
    for i in (0, 7, 50, pg.size - 1):
        assert pg.inclusion_proof(i) == sq.inclusion_proof(i)
        merkle.verify_inclusion(pg.entry(i).leaf_hash, i, pg.size, pg.inclusion_proof(i), pg.root())
    for old in (1, 16, 33, 64):
        assert pg.consistency_proof(old) == sq.consistency_proof(old)
    keys = [(lv, i) for lv in range(7) for i in range(pg.size >> lv)]
    assert pg.store.nodes(keys) == {k: v for k, v in sq.store.nodes(keys).items() if k in set(keys)}
    assert pg.store.item_entries("SKU-0003") == sq.store.item_entries("SKU-0003")
    assert pg.head("SKU-0014") == sq.head("SKU-0014")
    size = pg.size
    for led in leds:
        led.close()
    report = audit_path(postgres_url, operator.vkey, workers=1)
    assert report.clean, report.summary()
    assert report.size == size


def test_reopened_by_another_connection(pg_ledger: Ledger, postgres_url: str, operator: KeyPair,
                                        parties: dict[str, KeyPair]) -> None:  # fmt: skip
    size = pg_ledger.size
    pg_ledger.close()
    with Ledger.open(postgres_url, operator=operator, clock=Clock(T0 + 100 * HOUR)) as led:
        assert led.size == size
        _fill(led, parties, 2, first=3)  # the tree's left siblings come from the stored rows
        assert led.root() == merkle.root([e.leaf_hash for e in led.entries()])
    assert audit_path(postgres_url, operator.vkey, workers=1).clean


# --- creating and opening ----------------------------------------------------------------------


def test_create_refuses_a_database_that_holds_a_ledger(pg_ledger: Ledger, postgres_url: str,
                                                       operator: KeyPair) -> None:  # fmt: skip
    with pytest.raises(LedgerExistsError, match="already holds a provchain ledger"):
        Ledger.create(postgres_url, origin=ORIGIN, operator=operator)
    assert pg_ledger.size == 24  # untouched


def test_open_where_there_is_no_ledger(postgres_url: str, postgres_server: object) -> None:
    with pytest.raises(LedgerNotFoundError, match="no provchain ledger"):
        Ledger.open(postgres_url)
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(LedgerNotFoundError, match="no database"):
        Ledger.open(missing)


def test_connection_refused_is_one_line_naming_the_server_without_the_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://ledger:hunter2-secret@127.0.0.1:{port}/acme?connect_timeout=2"
    with pytest.raises(StorageError) as info:
        Ledger.open(url)
    msg = str(info.value)
    assert f"127.0.0.1:{port}/acme as ledger" in msg
    assert "hunter2" not in msg and "\n" not in msg
    r = CliRunner().invoke(main, ["audit", url, "--operator", KeyPair.from_seed(ORIGIN, bytes(32)).vkey])
    assert r.exit_code == 2, r.output
    assert "hunter2" not in r.output
    assert "Traceback" not in r.output


def test_schema_version_and_format_are_checked_at_open(pg_ledger: Ledger, postgres_url: str) -> None:
    pg_ledger.close()
    _sql(postgres_url, f"UPDATE {SCHEMA}.meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(ForeignLedgerError, match="schema '99'"):
        Ledger.open(postgres_url)
    _sql(postgres_url, f"UPDATE {SCHEMA}.meta SET value = '1' WHERE key = 'schema'")
    _sql(postgres_url, f"UPDATE {SCHEMA}.meta SET value = '7' WHERE key = 'format'")
    with pytest.raises(ForeignLedgerError, match="format 7"):
        Ledger.open(postgres_url)


def test_a_schema_named_provchain_that_is_not_a_ledger(postgres_url: str) -> None:
    _sql(postgres_url, f"CREATE SCHEMA {SCHEMA}")
    with pytest.raises(ForeignLedgerError, match="not a provchain ledger"):
        Ledger.open(postgres_url)


@pytest.mark.parametrize(
    "ddl",
    [
        f"CREATE FUNCTION {SCHEMA}.f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; "
        f"CREATE TRIGGER t BEFORE INSERT ON {SCHEMA}.entries FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.f()",
        f"CREATE RULE r AS ON INSERT TO {SCHEMA}.checkpoints DO INSTEAD NOTHING",
        f"CREATE INDEX extra ON {SCHEMA}.entries (sig)",
        f"CREATE VIEW {SCHEMA}.v AS SELECT 1",
        f"ALTER TABLE {SCHEMA}.entries DROP CONSTRAINT entries_idx_check",
        f"ALTER TABLE {SCHEMA}.entries ALTER COLUMN nodes DROP NOT NULL",
        f"ALTER TABLE {SCHEMA}.entries ENABLE ROW LEVEL SECURITY",
        "DROP INDEX provchain.entries_chain",
    ],
    ids=["trigger", "rule", "index", "view", "check", "not-null", "row-security", "no-chain-index"],
)
def test_foreign_schema_objects_are_refused_and_audited(pg_ledger: Ledger, postgres_url: str, operator: KeyPair,
                                                        ddl: str) -> None:  # fmt: skip
    pg_ledger.close()
    _sql(postgres_url, ddl)
    with pytest.raises(ForeignLedgerError, match="provchain did not create"):
        Ledger.open(postgres_url)
    report = audit_path(postgres_url, operator.vkey, workers=1)
    assert not report.clean
    assert {f.check for f in report.findings} == {"schema"}, report.summary()


def test_read_only_store_refuses_writes(pg_ledger: Ledger, postgres_url: str, parties: dict[str, KeyPair]) -> None:
    pg_ledger.close()
    with Ledger.open(postgres_url, readonly=True) as led:
        assert led.size == 24
        with pytest.raises(StorageError, match="read-only"):
            led.append("SKU-9", "origin", parties["origin"], country="FR")
        assert led.size == 24


def test_durability_settings(postgres_url: str, operator: KeyPair) -> None:
    meta = LedgerMeta(1, ORIGIN, operator.vkey)
    with pytest.raises(InputError, match="durability"):
        PostgresStore.create(postgres_url, meta, durability="fast")
    store = PostgresStore.create(postgres_url, meta, durability="normal")
    try:
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == ("local",)
    finally:
        store.close()
    store = PostgresStore.open(postgres_url)
    try:
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    finally:
        store.close()


def test_discard_removes_the_created_ledger(postgres_url: str, operator: KeyPair) -> None:
    store = PostgresStore.create(postgres_url, LedgerMeta(1, ORIGIN, operator.vkey))
    store.discard()
    assert _sql(postgres_url, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)) == []
    with pytest.raises(StorageError, match="closed"):
        store.size()
    store = PostgresStore.create(postgres_url, LedgerMeta(1, ORIGIN, operator.vkey))
    store.close()
    with pytest.raises(InputError, match="created"):
        PostgresStore.open(postgres_url).discard()


# --- the writer section and the chain index --------------------------------------------------------


def test_a_second_writer_waits_for_the_lock_then_gets_busy(pg_ledger: Ledger, postgres_url: str,
                                                           parties: dict[str, KeyPair]) -> None:  # fmt: skip
    other = Ledger(PostgresStore.open(postgres_url, busy_timeout=0.3))
    try:
        with pg_ledger.batch():
            pg_ledger.append("NEW-0", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
            with pytest.raises(LedgerBusyError, match="other writers held the ledger"):
                other.append("NEW-1", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
        # the lock is free again: the waiting writer's append goes through, after the batch's entry
        e = other.append("NEW-1", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
        assert e.index == pg_ledger.size - 1 == 25
    finally:
        other.close()


def test_the_lock_holder_reads_what_was_committed_while_it_waited(pg_ledger: Ledger, postgres_url: str,
                                                                  parties: dict[str, KeyPair]) -> None:  # fmt: skip
    """Two writers on the same item: the second waits for the first's lock and then builds on its entry (READ
    COMMITTED after the lock), so the chain stays one chain."""
    other = Ledger(PostgresStore.open(postgres_url))
    started, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            started.wait(10)
            other.append("NEW-0", "import", parties["customs"], country="CN", at=T0 + 21 * HOUR)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=second)
    t.start()
    try:
        with pg_ledger.batch():
            pg_ledger.append("NEW-0", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
            started.set()
            assert not done.wait(0.3)  # it waits for the lock (it cannot be done before we commit)
    finally:
        t.join(20)
        other.close()
    assert not errors, errors
    chain = pg_ledger.store.item_entries("NEW-0")
    assert [e.index for e in chain] == [24, 25]  # both, one after the other: no fork


def test_the_chain_index_refuses_a_fork_whatever_the_writer(pg_ledger: Ledger, postgres_url: str) -> None:
    """A writer that skipped the head check (or a tool writing rows itself) cannot store two events that name
    the same previous event: the unique (item, prev) index refuses, and nothing of the transaction lands."""
    size = pg_ledger.size
    store = pg_ledger.store
    twin = store.entry(size - 1)  # the last event of an item, stored again at the next index: same (item, prev)
    with pytest.raises(StaleHeadError, match="same previous event"), store.transaction():
        store.add_entry(size, StoredEntry(Entry(twin.body, twin.signature, size), b""))
    assert store.size() == size
    with pytest.raises(psycopg.errors.UniqueViolation):
        _sql(postgres_url, f"INSERT INTO {SCHEMA}.entries SELECT {size}, body, sig, item, prev, nodes "
                           f"FROM {SCHEMA}.entries WHERE idx = {size - 1}")  # fmt: skip


def test_no_sequence_no_gap_after_a_rollback(pg_ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    size = pg_ledger.size
    with pytest.raises(RuntimeError), pg_ledger.batch():
        pg_ledger.append("NEW-0", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
        raise RuntimeError("abandon the batch")
    e = pg_ledger.append("NEW-0", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
    assert e.index == size  # the rolled-back index is taken again
    assert _sql(pg_ledger.store.url, "SELECT count(*) FROM pg_sequences") == [(0,)]  # type: ignore[attr-defined]


def test_savepoints_undo_only_the_inner_block(pg_ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    size = pg_ledger.size
    store = pg_ledger.store
    with pg_ledger.batch():
        pg_ledger.append("NEW-0", "origin", parties["origin"], country="FR", at=T0 + 20 * HOUR)
        with pytest.raises(RuntimeError), store.transaction():
            store.add_checkpoint(1, b"a note")
            raise RuntimeError
        assert store.checkpoint(1) is None
        assert store.size() == size + 1
    assert pg_ledger.size == size + 1


# --- indexes derived from the bodies, checked on read and by the audit -----------------------------


def test_a_misfiled_item_index_is_damage_for_readers_and_a_finding_for_the_audit(
    pg_ledger: Ledger, postgres_url: str, operator: KeyPair
) -> None:
    pg_ledger.close()
    _sql(postgres_url, f"UPDATE {SCHEMA}.entries SET item = 'SKU-0001' WHERE idx = 23")  # the last event of SKU-0002
    with Ledger.open(postgres_url) as led:
        with pytest.raises(DamagedLedgerError, match="another item"):
            led.head("SKU-0001")
        with pytest.raises(DamagedLedgerError):
            led.store.item_entries("SKU-0001")
    report = audit_path(postgres_url, operator.vkey, workers=1)
    assert [(f.check, f.index) for f in report.findings] == [("sql-index", 23)], report.summary()


def test_an_operator_index_that_lists_an_event(pg_ledger: Ledger, postgres_url: str, operator: KeyPair) -> None:
    pg_ledger.close()
    _sql(postgres_url, f"UPDATE {SCHEMA}.entries SET item = NULL, prev = NULL WHERE idx = 6")
    with Ledger.open(postgres_url) as led, pytest.raises(DamagedLedgerError, match="operator index"):
        list(led.store.operator_entries(0))
    report = audit_path(postgres_url, operator.vkey, workers=1)
    assert ("sql-index", 6) in [(f.check, f.index) for f in report.findings]


def test_tree_nodes_cut_short_or_altered_are_findings(pg_ledger: Ledger, postgres_url: str, operator: KeyPair,
                                                      parties: dict[str, KeyPair]) -> None:  # fmt: skip
    _fill(pg_ledger, parties, 3, first=3)  # 24 entries: entry 15 completes levels 1 to 4
    pg_ledger.close()
    _sql(postgres_url, f"UPDATE {SCHEMA}.entries SET nodes = substring(nodes from 1 for 64) WHERE idx = 15")
    _sql(postgres_url, f"UPDATE {SCHEMA}.entries SET nodes = decode(repeat('ab', 32), 'hex') WHERE idx = 9")
    report = audit_path(postgres_url, operator.vkey, workers=1)
    found = {(f.check, f.index) for f in report.findings}
    assert ("merkle-node", 15) in found  # a row of the wrong length: the storage's finding
    assert any(f.check == "merkle-node" and f.index is not None and 8 <= f.index <= 9 for f in report.findings)
    assert not report.clean


def test_import_an_export_into_postgres_and_audit_it(
    tmp_path: Path, ledger: Ledger, parties: dict[str, KeyPair], postgres_url: str, operator: KeyPair
) -> None:
    """The migration path of docs/howto/run-on-postgresql.md: export the SQLite ledger, import into PostgreSQL."""
    for i in range(5):
        journey(ledger, parties, f"MIG-{i}")
    ledger.checkpoint()
    out = tmp_path / "ledger.pcx"
    r = CliRunner().invoke(main, ["export", str(ledger.store.path), "-o", str(out)])  # type: ignore[attr-defined]
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["import", str(out), "-o", postgres_url, "--operator", operator.vkey])
    assert r.exit_code == 0, r.output
    with Ledger.open(postgres_url) as led:
        assert led.size == ledger.size
        assert led.root() == ledger.root()
        assert led.store.latest_checkpoint() == ledger.store.latest_checkpoint()
    r = CliRunner().invoke(main, ["audit", postgres_url, "--operator", operator.vkey])
    assert r.exit_code == 0, r.output


# --- hostile input to the parsers this backend adds -------------------------------------------------


@given(st.binary(max_size=300))
def test_index_derivation_never_raises(body: bytes) -> None:
    item, prev = _indexes_of(body)
    assert item is None or isinstance(item, str)
    assert prev is None or isinstance(prev, bytes)


@given(st.text(max_size=200), st.text(min_size=1, max_size=40))
def test_server_description_never_shows_a_password(text: str, password: str) -> None:
    for url in (text, f"postgresql://u:{password}@h/db?{text}", f"host=h password={password!r} {text}"):
        shown = where(url)
        assert shown.isprintable() and len(shown) <= 300
        if len(password) > 3 and password not in ("h", "db", "u") and password not in text:
            assert password not in shown


def test_errors_are_provchain_errors_after_close(pg_ledger: Ledger) -> None:
    store = pg_ledger.store
    pg_ledger.close()
    for call in (store.size, lambda: store.entry(0), lambda: list(store.entries()), lambda: store.nodes([(0, 0)])):
        with pytest.raises(ProvchainError):
            call()


# --- proofs: one statement ------------------------------------------------------------------------


class _Counting:
    """The store's real connection, counting the statements sent through it (everything else passes through)."""

    def __init__(self, conn: psycopg.Connection[object]) -> None:
        self._conn = conn
        self.statements: list[str] = []

    def execute(self, query: str, *args: object, **kwargs: object) -> object:
        self.statements.append(str(query))
        return self._conn.execute(query, *args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_proof_is_one_statement(pg_ledger: Ledger, parties: dict[str, KeyPair], postgres_url: str) -> None:
    with pg_ledger.batch():
        _fill(pg_ledger, parties, 200, first=3)  # 1,224 entries
    size = pg_ledger.size
    pg_ledger.close()
    with Ledger.open(postgres_url) as led:  # a fresh tree cache
        store = led.store
        spy = _Counting(store._conn)  # type: ignore[attr-defined]
        store._conn = spy  # type: ignore[attr-defined]
        leaves = None
        for n, index in enumerate((0, 517, size - 1, 1000)):
            spy.statements.clear()
            proof = led.inclusion_proof(index)
            # the first proof after opening reads the size first (the ledger plans for the size it last saw);
            # after that the size comes with the nodes, and a proof is one statement
            assert len(spy.statements) == (2 if n == 0 else 1), spy.statements
            if leaves is None:
                leaves = [e.leaf_hash for e in led.entries()]
            merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves))
        spy.statements.clear()
        led.consistency_proof(700)
        assert len(spy.statements) == 1, spy.statements
        assert "ANY" in spy.statements[0]
