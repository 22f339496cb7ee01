"""What a review of the PostgreSQL store found, each against a real PostgreSQL 15 server (tests/pgserver.py).

* A commit whose answer is lost (the connection drops after the COMMIT reached the server) was reported as a
  failure, so the caller appended again: the same event twice. The store now finds out under the writer lock
  what happened, from the rows themselves, and acknowledges a commit that happened (made durable first) or
  says for certain that nothing was written. The lost connection is a real one: a TCP relay cuts it.
* A server where ``pg_logical_emit_message`` may not be run (the durability flush after a lazy commit) made
  every append fail after it had committed.
* Hostile databases: a table inheriting from the ledger's tables (its rows are read with the parent's), a table
  made UNLOGGED (a crash empties it), a column given another collation, an identity column, a log table
  without its lock row (no writer section at all), a search_path set for the database that puts a schema of
  functions before pg_catalog (the session's own set-up could be replaced).
* Connection errors: libpq quotes the part of a URL it cannot parse, password included; a wrong password
  (SCRAM) is one line naming the role; ``sslmode`` is passed through.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from clirun import fails, ok
from conftest import HOUR, ORIGIN, T0, Clock
from hypothesis import given
from hypothesis import strategies as st
from pgserver import CuttingProxy, PgServer

from provchain import KeyPair, Ledger
from provchain.audit import audit_path
from provchain.errors import (
    DamagedLedgerError,
    ForeignLedgerError,
    InputError,
    LedgerNotFoundError,
    StorageError,
)
from provchain.store.postgres import SCHEMA, PostgresStore, _scrub


def _sql(url: str, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def _events(url: str, item: str) -> list[tuple[object, ...]]:
    return _sql(url, f"SELECT idx FROM {SCHEMA}.entries WHERE item = %s ORDER BY idx", (item,))


def _new(url: str, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    with Ledger.create(url, origin=ORIGIN, operator=operator, at=T0, clock=Clock(T0 + 100 * HOUR)) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)


# --- a commit whose answer is lost -------------------------------------------------------------------


def test_a_commit_whose_answer_is_lost_is_found_and_acknowledged_once(
    postgres_url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The COMMIT reached the server and committed; the answer never came back. Reporting a failure would
    make the caller append again (the same event twice); the store finds the rows under the lock instead."""
    _new(postgres_url, operator, parties)
    with Ledger.open(proxy.url(postgres_url), clock=Clock(T0 + 100 * HOUR)) as led:
        led.append("LOST-0", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        proxy.arm(b"COMMIT", "after")  # a single event's COMMIT shares its message (test_postgres_sequencing.py)
        e = led.append("LOST-0", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
        assert proxy.cuts == 1  # the connection was cut, the commit's answer lost
        assert led.entry(e.index or 0).leaf_hash == e.leaf_hash
        nxt = led.append("LOST-0", "warehouse", parties["warehouse"], country="CN", at=T0 + 4 * HOUR)
        assert nxt.index == (e.index or 0) + 1
    assert _events(postgres_url, "LOST-0") == [(e.index - 1,), (e.index,), (e.index + 1,)]  # type: ignore[operator]
    assert audit_path(postgres_url, operator.vkey, workers=1).clean


def test_the_outcome_is_asked_again_until_the_server_is_back(
    postgres_url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """After the cut, connections are refused for two seconds (a server in recovery): the store keeps asking
    within its busy bound instead of answering that it cannot tell."""
    _new(postgres_url, operator, parties)
    with Ledger.open(proxy.url(postgres_url), clock=Clock(T0 + 100 * HOUR)) as led:
        proxy.arm(b"COMMIT", "after", then_refuse=2.0)
        e = led.append("BACK-0", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        assert proxy.cuts == 1 and proxy.refused >= 1
    assert _events(postgres_url, "BACK-0") == [(e.index,)]


def test_a_commit_that_never_reached_the_server_says_nothing_was_written(
    postgres_url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _new(postgres_url, operator, parties)
    with Ledger.open(proxy.url(postgres_url), clock=Clock(T0 + 100 * HOUR)) as led:
        size = led.size
        proxy.arm(b"COMMIT\x00", "before")
        # A batch (a single event is sent again instead: tests/test_postgres_sequencing.py)
        with pytest.raises(StorageError, match="nothing was written"), led.batch():
            led.append("LOST-1", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        assert proxy.cuts == 1
        assert led.size == size
        e = led.append("LOST-1", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)  # a safe retry
        assert e.index == size
    assert _events(postgres_url, "LOST-1") == [(size,)]


def test_a_batch_and_a_checkpoint_whose_answers_are_lost(
    postgres_url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _new(postgres_url, operator, parties)
    with Ledger.open(proxy.url(postgres_url), operator=operator, clock=Clock(T0 + 100 * HOUR)) as led:
        proxy.arm(b"COMMIT\x00", "after")
        with led.batch():
            for i in range(30):
                led.append(f"B-{i}", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        assert proxy.cuts == 1
        size = led.size
        proxy.arm(b"COMMIT\x00", "after")
        note = led.checkpoint()
        assert proxy.cuts == 2
        assert led.latest_checkpoint() == note
        assert led.size == size
    assert _sql(postgres_url, f"SELECT count(*) FROM {SCHEMA}.entries") == [(size,)]
    assert audit_path(postgres_url, operator.vkey, workers=1).clean


def test_appends_work_where_the_durability_flush_function_is_not_granted(
    postgres_server: PgServer, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """A hardened server may revoke pg_logical_emit_message from PUBLIC. The entries are committed by then:
    the append must not report a failure (the caller would append again), and later appends still work."""
    if not postgres_server.restartable:
        pytest.skip("needs the password role of a server the tests started")
    url = postgres_server.password_role("Secret-1").replace("provchain_pw@", "provchain_pw:Secret-1@")
    admin = postgres_server.url(url.rsplit("/", 1)[1])
    _sql(admin, "REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC")
    _sql(admin, "REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC")
    _new(url, operator, parties)
    with Ledger.open(url, clock=Clock(T0 + 100 * HOUR)) as led:
        for n, (stage, role) in enumerate([("origin", "origin"), ("import", "customs"), ("warehouse", "warehouse")]):
            e = led.append("NOFLUSH", stage, parties[role], country="CN", at=T0 + (2 + n) * HOUR)
            assert led.head("NOFLUSH").index == e.index  # type: ignore[union-attr]
    assert len(_events(url, "NOFLUSH")) == 3
    assert audit_path(url, operator.vkey, workers=1).clean


def test_a_cancelled_wait_is_not_reported_as_busy_writers(
    postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """A statement cancelled by statement_timeout or an administrator was reported as "other writers held the
    ledger longer than the wait allows"; the lock timeout keeps that message."""
    import threading

    _new(postgres_url, operator, parties)
    holder = Ledger.open(postgres_url, clock=Clock(T0 + 100 * HOUR))
    waiter = Ledger(PostgresStore.open(postgres_url, busy_timeout=20))
    got: list[BaseException] = []

    def wait() -> None:
        try:
            waiter.append("CANCEL-1", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        except BaseException as exc:
            got.append(exc)

    try:
        with holder.batch():
            holder.append("CANCEL-0", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
            t = threading.Thread(target=wait)
            t.start()
            for _ in range(200):  # the waiter queues on the lock row; cancel it
                pids = _sql(postgres_url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND datname = current_database()")  # fmt: skip
                if pids:
                    _sql(postgres_url, "SELECT pg_cancel_backend(%s)", (pids[0][0],))
                    break
                time.sleep(0.05)
            t.join(30)
    finally:
        waiter.close()
    assert len(got) == 1 and type(got[0]) is StorageError, got
    assert "cancelled" in str(got[0]) and "other writers" not in str(got[0])
    holder.close()


# --- hostile databases ----------------------------------------------------------------------------------


@pytest.fixture
def made(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]) -> str:
    _new(postgres_url, operator, parties)
    with Ledger.open(postgres_url, clock=Clock(T0 + 100 * HOUR)) as led:
        led.append("H-0", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        led.append("H-0", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)
    return postgres_url


def test_a_table_inheriting_the_entries_is_refused_and_its_rows_never_read(made: str, operator: KeyPair) -> None:
    """Rows of a child table are read with the parent's by a plain SELECT, and neither the primary key nor the
    chain index spans them: a second entry 6, another event built on the same previous event."""
    _sql(made, "CREATE SCHEMA elsewhere")
    _sql(made, f"CREATE TABLE elsewhere.more () INHERITS ({SCHEMA}.entries)")
    _sql(made, f"INSERT INTO elsewhere.more SELECT idx + 1, body, sig, item, prev, nodes FROM ONLY {SCHEMA}.entries "
               "WHERE idx = (SELECT max(idx) FROM ONLY provchain.entries)")  # fmt: skip
    with pytest.raises(ForeignLedgerError, match="inherit"):
        Ledger.open(made)
    store = PostgresStore.open(made, readonly=True, foreign_schema=True)
    try:
        assert store.size() == 8  # the child's row (index 8) is not the ledger's
        assert len(store.item_entries("H-0")) == 2
        with pytest.raises(IndexError):
            store.entry(8)
    finally:
        store.close()
    report = audit_path(made, operator.vkey, workers=1)
    assert {f.check for f in report.findings} == {"schema"}, report.summary()


@pytest.mark.parametrize(
    ("ddl", "words"),
    [
        (f"ALTER TABLE {SCHEMA}.entries SET UNLOGGED", "unlogged"),
        (f"ALTER TABLE {SCHEMA}.checkpoints SET UNLOGGED", "unlogged"),
        (f'ALTER TABLE {SCHEMA}.entries ALTER COLUMN item TYPE text COLLATE "POSIX"', "collate"),
    ],
    ids=["unlogged-entries", "unlogged-checkpoints", "collation"],
)
def test_table_and_column_changes_the_catalog_check_missed(made: str, operator: KeyPair, ddl: str, words: str) -> None:
    _sql(made, ddl)
    with pytest.raises(ForeignLedgerError, match="not defined as provchain defines it") as info:
        Ledger.open(made)
    assert words in str(info.value)
    report = audit_path(made, operator.vkey, workers=1)
    assert {f.check for f in report.findings} == {"schema"}, report.summary()


def test_a_log_table_without_its_lock_row_refuses_to_write(made: str, parties: dict[str, KeyPair]) -> None:
    """``FOR UPDATE`` on no row locks nothing: writers would no longer be one at a time."""
    _sql(made, f"DELETE FROM {SCHEMA}.log")
    with Ledger.open(made, clock=Clock(T0 + 100 * HOUR)) as led:
        size = led.size
        with pytest.raises(DamagedLedgerError, match="lock row"):
            led.append("H-1", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        assert led.size == size


def test_a_database_search_path_cannot_replace_the_session_set_up(made: str) -> None:
    """``ALTER DATABASE ... SET search_path`` puts a schema before pg_catalog for every new session, so an
    unqualified function in the session's first statement resolves there: here a set_config that does
    nothing, which would leave synchronous_commit, lock_timeout, read-only and search_path as the database
    says."""
    dbname = made.rsplit("/", 1)[1]
    _sql(made, "CREATE SCHEMA sly")
    _sql(made, "CREATE FUNCTION sly.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS $$SELECT ''$$")
    _sql(made, f'ALTER DATABASE "{dbname}" SET search_path = sly, pg_catalog')
    _sql(made, f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
    store = PostgresStore.open(made, readonly=True)
    try:
        settings = store._conn.execute(  # type: ignore[attr-defined]
            "SELECT current_setting('search_path'), current_setting('synchronous_commit'), "
            "current_setting('default_transaction_read_only')"
        ).fetchone()
    finally:
        store.close()
    assert settings == ("pg_catalog", "on", "on")


# --- connecting ---------------------------------------------------------------------------------------


def test_a_url_libpq_cannot_parse_never_shows_its_password(postgres_url: str) -> None:
    head, _, rest = postgres_url.partition("://")
    user, _, hostdb = rest.partition("@")
    for url, error in [
        (f"{head}://{user}:pa%zzSECRETss@{hostdb}", InputError),  # libpq: invalid percent-encoded token "..."
        (f"{head}://{user}:SECRET@{hostdb}?sslmode=require%zzSECRET", InputError),
        (f"{head}://{user}@{hostdb}?password=SECRET&bogus=SECRET", InputError),
    ]:
        with pytest.raises(error) as info:
            PostgresStore.open(url)
        assert "SECRET" not in str(info.value) and "\n" not in str(info.value), info.value
        res = fails(2, "", "history", url, "X")
        assert "SECRET" not in res.stderr and "Traceback" not in res.stderr


def test_a_wrong_password_is_one_line_naming_the_role(postgres_server: PgServer, operator: KeyPair) -> None:
    if not postgres_server.restartable:
        pytest.skip("needs the pg_hba.conf of a server the tests started")
    url = postgres_server.password_role("Right-pass-1")
    good = url.replace("provchain_pw@", "provchain_pw:Right-pass-1@")
    bad = url.replace("provchain_pw@", "provchain_pw:Wrong-pass-2@")
    with pytest.raises(StorageError) as info:
        Ledger.open(bad)
    msg = str(info.value)
    assert "password" in msg and "provchain_pw" in msg and "\n" not in msg
    assert "Wrong-pass" not in msg
    with pytest.raises(StorageError, match="password"):
        Ledger.open(url)  # none given
    res = fails(2, "password", "audit", bad, "--operator", operator.vkey)
    assert "Wrong-pass" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    with Ledger.create(good, origin=ORIGIN, operator=operator, at=T0) as led:  # the right one works
        assert led.size == 1
    with pytest.raises(LedgerNotFoundError, match="no database"):
        Ledger.open(good.rsplit("/", 1)[0] + "/no_such_db")


def test_sslmode_is_passed_through(postgres_url: str) -> None:
    # The tests' server has no TLS: sslmode=require must be refused, sslmode=disable accepted.
    with pytest.raises(StorageError, match="SSL") as info:
        Ledger.open(postgres_url + "?sslmode=require")
    assert "\n" not in str(info.value)
    with pytest.raises(LedgerNotFoundError):
        Ledger.open(postgres_url + "?sslmode=disable")


def test_the_server_gone_between_appends_is_one_line_then_reconnects(
    restartable_postgres: PgServer, postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _new(postgres_url, operator, parties)
    with Ledger.open(postgres_url, clock=Clock(T0 + 100 * HOUR)) as led:
        led.append("GONE", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        restartable_postgres.restart_immediate()
        e = led.append("GONE", "import", parties["customs"], country="CN", at=T0 + 3 * HOUR)  # a new connection
        assert [ev.index for ev in led.history("GONE")] == [e.index - 1, e.index]  # type: ignore[operator]


# --- the CLI on a URL: the commands test_store_factory.py does not run --------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_more_cli_commands_on_a_postgres_ledger(tmp_path: Path, postgres_url: str, postgres_server: PgServer) -> None:
    os.chdir(tmp_path)
    url = postgres_url
    vkey = ok("init", url, "--origin", ORIGIN, "--operator-key", "operator.key").stdout.strip()
    maker = ok("keygen", "maker.key", "--name", "grasse-labs").stdout.strip()
    spare = ok("keygen", "spare.key", "--name", "spare-labs").stdout.strip()
    for vk in (maker, spare):
        ok("party", "add", url, "--operator-key", "operator.key", "--role", "origin", "--vkey", vk,
           "--valid-from", "2026-01-01T00:00:00Z")  # fmt: skip
    ok("record", url, "SERUM-1", "origin", "--key", "maker.key", "--country", "FR", "--at", "2026-02-01T10:00:00Z")
    (tmp_path / "old.note").write_text(ok("checkpoint", url, "--operator-key", "operator.key").stdout)
    assert "revoked" in ok("party", "revoke", url, spare, "--operator-key", "operator.key").stdout
    # a batch: EPCIS events recorded in one transaction
    ok("epcis", "export", url, "SERUM-1", "-o", "serum.jsonld")
    doc = json.loads((tmp_path / "serum.jsonld").read_text())
    assert doc["epcisBody"]["eventList"]
    # ... recorded by a partner's ledger in another database: the CLI's batch (all events or none)
    partner_url = postgres_server.create_database("partner")
    partner_op = KeyPair.from_seed("example.org/partner", bytes([7]) * 32)
    wms = KeyPair.from_seed("partner-wms", bytes([8]) * 32)
    with Ledger.create(partner_url, origin="example.org/partner", operator=partner_op, at=T0) as partner:
        partner.register_party("partner-wms", roles=["origin"], public_key=wms.public_key, at=T0, valid_from=T0)
    wms.save(tmp_path / "wms.key", None)
    assert "imported 1 event as entries 2 to 2" in ok("epcis", "import", "serum.jsonld", partner_url, "--key",
                                                      "wms.key").stdout  # fmt: skip
    fails(1, "", "epcis", "import", "serum.jsonld", partner_url, "--key", "wms.key")  # the same again: refused
    ok("checkpoint", url, "--operator-key", "operator.key")
    assert json.loads(ok("consistency", url, "old.note", "--operator", vkey, "--json").stdout)["consistent"] is True
    ok("code", url, "SERUM-1", "--operator-key", "operator.key", "-o", "code.png")
    scanned = json.loads(ok("scan", "code.png", "--operator", vkey, "--json").stdout)
    assert scanned["verified"] is True and scanned["item"] == "SERUM-1"
    report = json.loads(ok("audit", url, "--operator", vkey, "--json").stdout)
    assert report["clean"] is True
    # serve: a real uvicorn process on a free port, asked over HTTP
    port = _free_port()
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "provchain", "serve", url, "--listen", f"127.0.0.1:{port}", "--no-register"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        body = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/items/SERUM-1", timeout=5) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert body is not None, proc.stderr.read() if proc.poll() is not None and proc.stderr else "no answer"
        assert "SERUM-1" in json.dumps(body)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- hostile input to the secret scrubbing this review adds ----------------------------------------------


@given(st.text(min_size=4, max_size=40).filter(lambda p: p.strip() == p and "\x00" not in p), st.text(max_size=60))
def test_no_driver_message_shows_a_password_of_the_url(password: str, noise: str) -> None:
    """Whatever the password (any characters, percent-encoded in the URL or quoted in a keyword string), a
    message that quotes it, as written or decoded, comes out with ``***`` in its place."""
    for url in (
        f"postgresql://u:{quote(password, safe='')}@h:5432/db",
        f"postgresql://u@h/db?password={quote(password, safe='')}&sslmode=prefer",
        f"postgresql://u@h/db?sslpassword={quote(password, safe='')}",
    ):
        for shown in (password, quote(password, safe="")):
            text = _scrub(f"{noise} invalid token: \"{shown}\" {noise}", url)
            assert shown not in text or shown in noise or shown in "*** invalid token: ", (url, text)


def test_the_limit_an_index_row_hiding_an_event_is_found_by_the_audit(
    made: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The limit design.md names: the item index is trusted to list every event. An edit that files H-0's last
    event under another item hides it from the writers, which append after the event before it (a fork in
    signed bytes); the audit reports the edited row and the fork."""
    last = _sql(made, f"SELECT max(idx) FROM ONLY {SCHEMA}.entries WHERE item = 'H-0'")[0][0]
    _sql(made, f"UPDATE {SCHEMA}.entries SET item = 'ELSEWHERE' WHERE idx = %s", (last,))
    with Ledger.open(made, clock=Clock(T0 + 100 * HOUR)) as led:
        forked = led.append("H-0", "import", parties["customs"], country="CN", at=T0 + 5 * HOUR)
    report = audit_path(made, operator.vkey, workers=1)
    found = {(f.check, f.index) for f in report.findings}
    assert ("sql-index", last) in found, report.summary()
    assert any(i == forked.index and c != "sql-index" for c, i in found), report.summary()


def test_a_lost_commit_after_a_rolled_back_savepoint_is_settled_by_what_remained(
    postgres_url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The settling looks for the first and last entry the transaction kept: one written in a savepoint that
    was rolled back is not among them (else the commit would be "cannot tell")."""
    from provchain.entries import Entry
    from provchain.store.base import StoredEntry

    _new(postgres_url, operator, parties)
    store = PostgresStore.open(proxy.url(postgres_url))
    try:
        size = store.size()
        reg = store.entry(1)  # a registration: no item, so the chain index does not mind a copy (rows only)
        proxy.arm(b"COMMIT\x00", "after")
        with store.transaction():
            store.add_entry(size, StoredEntry(Entry(reg.body, reg.signature, size), b""))
            with pytest.raises(RuntimeError), store.transaction():
                store.add_entry(size + 1, StoredEntry(Entry(reg.body, reg.signature, size + 1), b"\x00" * 32))
                raise RuntimeError("undo the inner block")
        assert proxy.cuts == 1
        assert store.size() == size + 1
    finally:
        store.close()
