"""Batched appends on PostgreSQL (#15 item 5): the head of each new item read through libpq's prepared-statement
call, against a real PostgreSQL 15 server.

Inside a batch the ledger asks the store for the head of every item it has not written yet (every new item:
a round trip each). ``PostgresStore.head`` sends that read as a statement prepared once per connection and
parses libpq's binary answer itself (``_head_rows``). These tests hold that path to what the psycopg path
returns, to the guarantees of a batch (a refused or failed append leaves nothing written), and to what can go
wrong with a prepared statement: psycopg deallocating it after a rollback, another statement of the same name,
one deallocated behind the store's back, a lost connection, a column of another type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import psycopg
import pytest
from conftest import HOUR, ORIGIN, T0, Clock, make_pg_ledger
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import KeyPair, Ledger
from provchain.audit import audit_path
from provchain.errors import DamagedLedgerError, LedgerError, StorageError
from provchain.store.postgres import _HEAD, SCHEMA, PostgresStore

if TYPE_CHECKING:
    from pgserver import PgServer


def _sql(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _prepared(store: PostgresStore) -> dict[str, str]:
    rows = store._conn.execute("SELECT name, statement FROM pg_catalog.pg_prepared_statements").fetchall()
    return {str(name): str(sql) for name, sql in rows}


@pytest.fixture
def url(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock) -> str:
    make_pg_ledger(postgres_url, operator, parties, clock, journey_of="SKU-0000")
    return postgres_url


def _origin(led: Ledger, parties: dict[str, KeyPair], item: str) -> None:
    led.append(item, "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)


def test_a_batch_of_new_and_known_items_reads_each_head_and_audits_clean(
    url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock
) -> None:
    items = ["B-1", "O'Neil\\';--", "%s$1", "Grasse-é", "B-2"]  # quotes, placeholders, and one non-ASCII id
    with Ledger.open(url, clock=clock) as led:
        with led.batch():
            for item in items:
                _origin(led, parties, item)
        with led.batch():  # their heads now come from the server, read in the next batch
            for item in items:
                led.append(item, "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
        for item in items:
            assert [e.stage for e in led.history(item)] == ["origin", "import"], item
            head = led.head(item)
            assert head is not None and head.stage == "import"
        assert "provchain_head" in _prepared(led.store)  # type: ignore[arg-type]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


@pytest.fixture(scope="module")
def shared_url(postgres_server: PgServer) -> Iterator[str]:
    """One ledger for every example of the property test below."""
    url = postgres_server.create_database()
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    kp = KeyPair.from_seed("party-origin", bytes([1]) * 32)
    with Ledger.create(url, origin=ORIGIN, operator=op, at=T0) as led:
        led.register_party(kp.name, roles=["origin"], public_key=kp.public_key, at=T0)
        with led.batch():
            for k in range(3):
                led.append(f"SKU-000{k}", "origin", kp, country="FR", at=T0 + k)
    yield url
    if not postgres_server.restartable:
        postgres_server.drop_database(url)


@settings(max_examples=25)
@given(st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40), max_size=6))
def test_the_libpq_path_reads_what_the_psycopg_path_reads(shared_url: str, items: list[str]) -> None:
    store = PostgresStore.open(shared_url)
    try:
        for item in [*items, "SKU-0000", "SKU-0001"]:
            fast = store._head_rows(item)
            slow = store._read(_HEAD.replace("$1", "%s"), (item,), flush=False)
            assert [tuple(r) for r in slow] == fast
            with store.transaction():
                assert store._head_rows(item) == fast
    finally:
        store.close()


def test_after_a_rolled_back_batch_the_statement_is_prepared_again(
    url: str, parties: dict[str, KeyPair], clock: Clock
) -> None:
    with Ledger.open(url, clock=clock) as led:
        store = led.store
        assert isinstance(store, PostgresStore)
        with led.batch():
            _origin(led, parties, "R-1")
        assert "provchain_head" in _prepared(store)
        for _ in range(6):  # psycopg prepares a statement of its own after five runs of the same query
            store.checkpoint(1)
        with pytest.raises(RuntimeError), led.batch():
            _origin(led, parties, "R-2")
            raise RuntimeError("the caller gives up")  # the batch rolls back: psycopg deallocates statements
        assert "provchain_head" not in _prepared(store)  # gone with psycopg's own (DEALLOCATE ALL)
        with led.batch():  # the first head read prepares the statement again, inside the transaction
            _origin(led, parties, "R-3")
            led.append("R-1", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
        assert led.head("R-2") is None
        assert [e.stage for e in led.history("R-1")] == ["origin", "import"]
        assert led.head("R-3") is not None


def test_a_statement_of_the_same_name_and_another_text_is_replaced(
    url: str, parties: dict[str, KeyPair], clock: Clock
) -> None:
    with Ledger.open(url, clock=clock) as led:
        store = led.store
        assert isinstance(store, PostgresStore)
        # on the store's own session, before its first head read: a statement that answers a forged head
        store._conn.execute("PREPARE provchain_head(text) AS SELECT 0::bigint, '\\x00'::bytea, '\\x00'::bytea")
        with led.batch():
            _origin(led, parties, "N-1")
        assert _prepared(store)["provchain_head"] == _HEAD
        head = led.head("SKU-0000")
        assert head is not None and head.stage == "delivery"


def test_a_statement_deallocated_behind_the_store(url: str, parties: dict[str, KeyPair], clock: Clock) -> None:
    with Ledger.open(url, clock=clock) as led:
        store = led.store
        assert isinstance(store, PostgresStore)
        assert store.head("SKU-0000") is not None  # prepared now
        store._conn.execute("DEALLOCATE provchain_head")  # not through the store: it still thinks it is there
        # outside a transaction nothing is lost by preparing it again: the read succeeds
        head = store.head("SKU-0000")
        assert head is not None and head.stage == "delivery"
        store._conn.execute("DEALLOCATE provchain_head")
        size = led.size
        # inside a batch the failed read dooms the transaction: the batch fails whole and writes nothing
        with pytest.raises((StorageError, LedgerError)), led.batch():
            _origin(led, parties, "D-1")
            _origin(led, parties, "D-2")
        assert led.size == size and led.head("D-1") is None
        with led.batch():  # and the next batch works
            _origin(led, parties, "D-1")
        assert led.size == size + 1


def test_a_lost_connection_is_one_error_then_the_store_connects_again(url: str) -> None:
    store = PostgresStore.open(url)
    try:
        assert store.head("SKU-0000") is not None
        pid = store._conn.pgconn.backend_pid
        _sql(url, f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(StorageError, match="connection"):
            store.head("SKU-0000")
        head = store.head("SKU-0000")  # a new connection, the statement prepared on it
        assert head is not None and head.stage == "delivery"
        assert store._conn.pgconn.backend_pid != pid
    finally:
        store.close()


def test_a_column_of_another_type_is_refused_not_misread(url: str) -> None:
    store = PostgresStore.open(url)
    try:
        assert store.head("SKU-0000") is not None
        _sql(url, f"ALTER TABLE {SCHEMA}.entries ALTER COLUMN sig TYPE text USING encode(sig, 'hex')")
        with pytest.raises(StorageError, match="result type"):  # the server refuses the prepared statement
            store.head("SKU-0000")
        store._conn.execute("DEALLOCATE provchain_head")  # prepared again, it answers a text column
        with pytest.raises(DamagedLedgerError, match="columns"):
            store.head("SKU-0000")
    finally:
        store.close()
    with pytest.raises(LedgerError):  # and the schema check refuses the ledger at open
        PostgresStore.open(url).close()


def test_a_misfiled_head_in_a_batch_refuses_the_append_and_writes_nothing(
    url: str, parties: dict[str, KeyPair], clock: Clock
) -> None:
    with Ledger.open(url, clock=clock) as led:
        _origin(led, parties, "M-1")
        led.append("M-1", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
        size = led.size
    _sql(url, f"UPDATE {SCHEMA}.entries SET item = 'M-2' WHERE idx = {size - 1}")  # M-1's last event under M-2
    with Ledger.open(url, clock=clock) as led:
        with pytest.raises(DamagedLedgerError, match="another item"), led.batch():
            _origin(led, parties, "M-3")
            led.append("M-2", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
        assert led.size == size and led.head("M-3") is None
