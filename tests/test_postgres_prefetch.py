"""The PostgreSQL writer section in one round trip (#15 item 5), against a real PostgreSQL 15 server.

Before an event's transaction the ledger tells the store which item it appends to (``PrefetchingStore.expect``);
the round trip that takes the writer lock then also reads the item's head and, when another writer moved the log
since this store last wrote, the rows holding the tree's frontier. What is read that way is checked as the
store's readers check it: a damaged row refuses the append, and nothing is written.

Since the server sequences single events itself (``SequencingStore``, tests/test_postgres_sequencing.py), this
is the path of batches, operator entries, ``submit``, and of every append to a ledger created before that
function existed: the fixture below makes such a ledger (it drops the function), so these tests are also the
tests of how an older ledger appends.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import HOUR, T0, Clock, make_pg_ledger
from test_postgres import _Counting

from provchain import KeyPair, Ledger
from provchain.audit import audit_path
from provchain.errors import DamagedLedgerError, StorageError
from provchain.store.base import PrefetchingStore
from provchain.store.postgres import SCHEMA


def _sql(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def url(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock) -> str:
    make_pg_ledger(postgres_url, operator, parties, clock, journey_of="SKU-0000")
    _sql(postgres_url, f"DROP FUNCTION {SCHEMA}.append_event")  # a ledger made before the function existed
    return postgres_url


def test_two_writers_in_turn_take_the_lock_and_read_in_one_round_trip(
    url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock
) -> None:
    with Ledger.open(url, clock=clock) as a, Ledger.open(url, clock=clock) as b:
        assert isinstance(a.store, PrefetchingStore)
        assert not a.store.sequences  # type: ignore[attr-defined]
        spy = _Counting(a.store._conn)  # type: ignore[attr-defined]
        a.store._conn = spy  # type: ignore[attr-defined]
        for k in range(40):  # each append of a follows one of b: its frontier lacks nodes every time
            b.append(f"B-{k // 3}", *_args(parties, k), country="CN", at=T0 + HOUR + k)
            spy.statements.clear()
            a.append(f"A-{k // 3}", *_args(parties, k), country="CN", at=T0 + HOUR + k)
            if not k:
                continue  # the first append after opening applies the registrations (and reads a checkpoint)
            # BEGIN, the lock, the size, the operator entries, the head and the frontier: one statement; then
            # the row and the commit, sent together
            assert len(spy.statements) == 1 + 4, (k, spy.statements)
            assert spy.statements[0].startswith("BEGIN") and "generate_series" in spy.statements[0]
        assert [e.stage for e in a.history("B-13")] == ["origin"]
        assert [e.stage for e in b.history("A-12")] == ["origin", "import", "warehouse"]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def _args(parties: dict[str, KeyPair], k: int) -> tuple[str, KeyPair]:
    stage, role = [("origin", "origin"), ("import", "customs"), ("warehouse", "warehouse")][k % 3]
    return stage, parties[role]


def test_an_item_id_with_quotes_and_backslashes_is_read_ahead_as_itself(
    url: str, parties: dict[str, KeyPair], clock: Clock
) -> None:
    item = "O'Neil\\';--"
    with Ledger.open(url, clock=clock) as a, Ledger.open(url, clock=clock) as b:
        for k in range(3):
            (a if k % 2 else b).append(item, *_args(parties, k), country="CN", at=T0 + HOUR + k)
        assert [e.stage for e in a.history(item)] == ["origin", "import", "warehouse"]


def test_a_misfiled_head_read_ahead_refuses_the_append(url: str, parties: dict[str, KeyPair], clock: Clock) -> None:
    with Ledger.open(url, clock=clock) as led:
        led.append("SKU-0001", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        led.append("SKU-0001", "import", parties["customs"], country="CN", at=T0 + HOUR + 1)
        size = led.size
    # the last event of SKU-0001 filed under SKU-0000: it becomes SKU-0000's head for the index
    _sql(url, f"UPDATE {SCHEMA}.entries SET item = 'SKU-0000' WHERE idx = {size - 1}")
    with Ledger.open(url, clock=clock) as led:
        with pytest.raises(DamagedLedgerError, match="another item"):
            led.append("SKU-0000", "delivery", parties["courier"], country="CN", at=T0 + 9 * HOUR)
        assert led.size == size  # nothing written


def test_a_frontier_node_cut_short_refuses_the_append(url: str, parties: dict[str, KeyPair], clock: Clock) -> None:
    with Ledger.open(url, clock=clock) as led:
        k = 0
        while led.size % 4 != 3:  # the next leaf completes a level-2 node: it needs (0, n-1) and (1, n//2-1)
            led.append(f"SKU-9{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
            k += 1
        size = led.size
    _sql(url, f"UPDATE {SCHEMA}.entries SET nodes = '' WHERE idx = {size - 2}")  # holds node (1, size//2 - 1)
    with Ledger.open(url, clock=clock) as led:  # a fresh frontier: the nodes are read ahead with the lock
        with pytest.raises(StorageError, match="lacks node"):
            led.append("SKU-0002", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert led.size == size


def test_expect_ignores_what_is_no_item_id(url: str) -> None:
    from provchain.store.postgres import PostgresStore

    store = PostgresStore.open(url)
    try:
        for bad in ("", "x" * 129, "a b\x00", "é", 7):
            store.expect(bad)  # type: ignore[arg-type]
            with store.transaction():
                assert store.size() > 0  # the lock round trip reads no head for it
        store.expect("SKU-0000")
        with store.transaction():
            head = store.head("SKU-0000")
            assert head is not None and head.stage == "delivery"
            assert store.head("SKU-none") is None  # another item: read as usual
    finally:
        store.close()
