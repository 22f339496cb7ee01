"""An adversarial review of the server's sequencing of single events (#15 item 5), against a real PostgreSQL 15.

Each test makes one failure of that path happen for real and fails on the code before its fix: SQL written into
the one-message query through a value's own ``hex()``; input that is no item id; an answer that places the event
below entries the writer saw; a kept head that a committed batch of the same ledger made stale; and the rows a
crash takes back after a writer saw them (a commit is lazy until its flush), under an operator entry that a
later write then stores at the same index.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psycopg
import pytest
from conftest import HOUR, ORIGIN, T0, Clock, make_pg_ledger
from pgserver import PgServer
from test_postgres import _Counting
from test_postgres_sequencing import _SignsAfter

from provchain import KeyPair, Ledger
from provchain.audit import audit_path
from provchain.entries import Entry, Event, sign_body
from provchain.errors import DamagedLedgerError, InputError, ItemError, RevokedKeyError, StorageError
from provchain.store.postgres import SCHEMA, PostgresStore

AT = T0 + 100 * HOUR


@pytest.fixture
def url(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]) -> str:
    return make_pg_ledger(postgres_url, operator, parties, Clock(AT))


def _sql(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _first_event(parties: dict[str, KeyPair], item: str, at: int = T0 + HOUR) -> Entry:
    kp = parties["origin"]
    return sign_body(Event(ORIGIN, at, kp.key_id, item, "origin", "FR", None, None, {}), kp)


class _Hexed(bytes):
    """Bytes whose ``hex()`` says something else: what a caller's own bytes type may do."""

    text = ""

    def hex(self, *args: object) -> str:  # type: ignore[override]
        return self.text


def test_no_value_writes_sql_into_the_message_through_its_own_hex(url: str, parties: dict[str, KeyPair]) -> None:
    entry = _first_event(parties, "HEX-0")
    body = _Hexed(entry.body)
    body.text = (
        "', 'hex'), NULL, NULL, NULL, NULL::bigint, 0::bigint, NULL, false) WHERE false; "
        "CREATE TABLE public.pwned (x int); SELECT pg_catalog.concat(pg_catalog.decode('"
    )
    store = PostgresStore.open(url)
    try:
        done = store.sequence_event(Entry(body, entry.signature), None, store.size(), {})
        assert done is not None
    finally:
        store.close()
    assert _sql(url, "SELECT pg_catalog.to_regclass('public.pwned')") == [(None,)]
    # the bytes themselves were stored, as the event they are
    assert _sql(url, f"SELECT body, item FROM {SCHEMA}.entries WHERE idx = {done.log_index}") == [
        (entry.body, "HEX-0")
    ]


def test_input_that_is_no_item_id_or_no_node_is_refused_before_anything_is_sent(
    url: str, parties: dict[str, KeyPair]
) -> None:
    store = PostgresStore.open(url)
    try:
        for item in (b"ITEM-0", 5, None, "A\x00B", "\ud800", "", "A B"):
            with pytest.raises((InputError, ItemError)):
                store.append_state(item, 0)  # type: ignore[arg-type]
        entry = _first_event(parties, "KNOWN-0")
        for known in ({0: (1, 5)}, {0: (1,)}, {0: (1, b"\x00" * 31)}, {0: (-1, b"\x00" * 32)}, {0: "node"}, [1]):
            with pytest.raises(InputError):
                store.sequence_event(entry, None, 0, known)  # type: ignore[arg-type]
        for bad in (Entry(bytearray(entry.body), entry.signature), Entry(entry.body, 7), "entry"):  # type: ignore[arg-type]
            with pytest.raises(InputError):
                store.sequence_event(bad, None, 0, {})  # type: ignore[arg-type]
        assert store.append_state("KNOWN-0", 0).head is None  # nothing was written
    finally:
        store.close()


def test_an_answer_that_places_the_event_below_the_entries_the_writer_saw_is_refused(
    url: str, parties: dict[str, KeyPair]
) -> None:
    """A function replaced after the open (the schema is checked when the ledger is opened, and by the audit)
    that stores nothing and answers "entry 0" (a leaf completing no node: an answer with nothing to fold) is
    not believed: entry 0 was stored before the writer read the size."""
    store = PostgresStore.open(url)
    try:
        body = store._read(  # type: ignore[attr-defined]
            "SELECT pg_catalog.pg_get_functiondef(p.oid) FROM pg_catalog.pg_proc p "
            f"WHERE p.proname = 'append_event' AND p.pronamespace = '{SCHEMA}'::regnamespace"
        )[0][0]
        answer = "RETURN QUERY SELECT 0::bigint, ''::bytea, ''::bytea;"
        lying = body.split("BEGIN", 1)[0] + f"BEGIN\n  {answer}\nEND\n$function$"
        _sql(url, lying)
        size = store.size()
        with pytest.raises(DamagedLedgerError, match="taken before it was sent"):
            store.sequence_event(_first_event(parties, "LIE-0"), None, size, {})
        assert store.size() == size
    finally:
        store.close()


def test_a_batch_of_the_same_ledger_moves_the_head_it_keeps(
    url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """After a committed batch (or append_many, or submit) that appended to an item whose last event the ledger
    kept, the next append builds on the batch's event: one message, no refusal, no read."""
    with Ledger.open(url, clock=Clock(AT)) as led:
        led.append("KEPT-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        led.append_many([{"item": "KEPT-0", "stage": "import", "signer": parties["customs"], "country": "CN",
                          "at": T0 + 2 * HOUR}])  # fmt: skip
        with led.batch():
            led.append("KEPT-0", "warehouse", parties["warehouse"], country="CN", at=T0 + 3 * HOUR)
        spy = _Counting(led.store._conn)  # type: ignore[attr-defined]
        led.store._conn = spy  # type: ignore[attr-defined]
        e = led.append("KEPT-0", "warehouse", parties["warehouse"], country="CN", at=T0 + 4 * HOUR)
        assert len(spy.statements) == 1 and "append_event" in spy.statements[0]
        assert [x.stage for x in led.history("KEPT-0")] == ["origin", "import", "warehouse", "warehouse"]
        assert e.content.prev == led.store.entry(e.index - 1).leaf_hash  # type: ignore[union-attr,operator]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def _stop_wal_writer(url: str) -> int:
    """The server's WAL writer, stopped: a commit that does not wait for the disk (the lazy commit before its
    flush) then stays in memory until a crash takes it back."""
    [(pid,)] = _sql(url, "SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walwriter'")
    assert type(pid) is int
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_an_operator_entry_stored_where_a_crash_took_back_rows_the_writer_read_is_applied(
    url: str, restartable_postgres: PgServer, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """Another writer's event is committed lazily (visible, not yet on disk) at index S. This writer reads the
    state (S + 1 entries, its registry up to date to there) and, while it signs, the server crashes before
    that event's flush: S is free again, and the operator revokes the signer's key there. The writer's message
    is lost with the connection; it must not then store the event on the state it read before (whose size is
    above the revocation, where the function does not look): it reads the state again, applies the revocation
    and refuses the event."""
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, operator=operator, clock=Clock(AT)) as op:
        a.append("CRASH-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        _sql(url, "CHECKPOINT")
        size = a.size
        walwriter = _stop_wal_writer(url)
        b = psycopg.connect(url, autocommit=True)
        try:
            other = _first_event(parties, "CRASH-B", T0 + 2 * HOUR)
            b.execute("BEGIN")
            b.execute(f"SELECT * FROM {SCHEMA}.append_event(%s, %s, %s, NULL, NULL, %s, ''::bytea, true)",
                      (other.body, other.signature, "CRASH-B", size))  # fmt: skip
            b.execute("COMMIT")  # lazy: visible at once, on disk only at the next flush

            def crash_and_revoke() -> None:
                os.kill(walwriter, signal.SIGKILL)  # a server process crashes: every session ends, recovery
                restartable_postgres.restart_immediate()
                assert _sql(url, f"SELECT max(idx) + 1 FROM {SCHEMA}.entries") == [(size,)]  # taken back
                [r] = op.revoke_party(parties["origin"].key_id, at=T0 + 3 * HOUR)
                assert r.index == size

            key = _SignsAfter(parties["origin"], crash_and_revoke)
            with pytest.raises(RevokedKeyError):
                try:
                    a.append("CRASH-C", "origin", key, country="FR", at=T0 + 4 * HOUR)
                except StorageError:  # the message was lost with the connection, nothing written: append again
                    a.append("CRASH-C", "origin", parties["origin"], country="FR", at=T0 + 4 * HOUR)
            assert key.signed == 1
        finally:
            b.close()
            with contextlib.suppress(ProcessLookupError):
                os.kill(walwriter, signal.SIGCONT)
        assert a.size == size + 1
        with pytest.raises(RevokedKeyError):  # the head it kept is no help either
            a.append("CRASH-0", "import", parties["origin"], country="CN", at=T0 + 4 * HOUR)
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_a_restart_between_two_appends_of_a_kept_head_reads_again_and_stores_once(
    url: str, restartable_postgres: PgServer, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The message built on a kept head meets a connection the restart broke: nothing was stored, the ledger
    forgets what it read before, reads the state on the new connection and stores the event once."""
    with Ledger.open(url, clock=Clock(AT)) as led:
        first = led.append("RESTART-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        restartable_postgres.restart_immediate()
        e = led.append("RESTART-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        assert e.index == (first.index or 0) + 1 and led.size == e.index + 1  # type: ignore[operator]
        assert led.store.reconnections == 1  # type: ignore[attr-defined]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_a_tree_node_read_from_rows_a_crash_took_back_is_not_served_in_a_proof(
    url: str, restartable_postgres: PgServer, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """Nodes of level 4 and up are cached by the ledger that read them. One read from a lazily committed row (the
    16th entry: it completes node (4, 0)) that a crash then took back, with another entry stored at its index,
    must not go into a later root or proof."""
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, clock=Clock(AT)) as w:
        for n in range(15 - a.size):
            w.append(f"FILL-{n}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert a.size == 15
        _sql(url, "CHECKPOINT")
        walwriter = _stop_wal_writer(url)
        b = psycopg.connect(url, autocommit=True)
        try:
            lost = _first_event(parties, "LOST-0", T0 + 2 * HOUR)
            known = b"".join(bytes.fromhex("ff" * 8) + bytes(32) for _ in range(4))
            b.execute("BEGIN")
            b.execute(f"SELECT * FROM {SCHEMA}.append_event(%s, %s, %s, NULL, NULL, 15, %s, true)",
                      (lost.body, lost.signature, "LOST-0", known))  # fmt: skip
            b.execute("COMMIT")  # lazy: visible at once, on disk only at the next flush
            seen = a.root()  # reads node (4, 0) from entry 15's row, and keeps it
            os.kill(walwriter, signal.SIGKILL)
        finally:
            b.close()
            with contextlib.suppress(ProcessLookupError):
                os.kill(walwriter, signal.SIGCONT)
        restartable_postgres.restart_immediate()
        e = w.append("KEPT-15", "origin", parties["origin"], country="FR", at=T0 + 3 * HOUR)
        assert e.index == 15
        with Ledger.open(url) as fresh:
            want = fresh.root()
            proof = fresh.inclusion_proof(3)
        assert want != seen
        with pytest.raises(StorageError, match="connection to PostgreSQL was lost"):
            a.root()  # a read does not connect again by itself: it meets the connection the crash closed
        assert a.root() == want
        assert a.inclusion_proof(3) == proof
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()
