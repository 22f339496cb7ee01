"""The server sequences a single event (#15 item 5, ``SequencingStore``), against a real PostgreSQL 15 server.

A writer reads what an event needs without the lock (or builds on the head it wrote itself), checks and signs
the event, and sends one message: ``BEGIN``, ``provchain.append_event`` (under the ``log`` row lock: the
registry has not moved, the head is where the writer read it, the next index, the tree nodes from the stored
ones), ``COMMIT``, the flush. Each test below makes one of the races or damages that design must survive
happen for real: another writer appending between the read and the store, a revocation in that gap, a
replaced function, a stored node that changed, a connection cut around the commit.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from conftest import HOUR, ORIGIN, T0, Clock, make_pg_ledger
from hypothesis import given, settings
from hypothesis import strategies as st
from pgserver import CuttingProxy, PgServer
from test_postgres import _Counting

from provchain import KeyPair, Ledger
from provchain.audit import audit_path
from provchain.entries import Event, sign_body
from provchain.errors import DamagedLedgerError, ForeignLedgerError, RevokedKeyError
from provchain.merkle import node_hash
from provchain.store.base import SequencingStore
from provchain.store.postgres import SCHEMA, PostgresStore

AT = T0 + 100 * HOUR


def _sql(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _stored(url: str, item: str) -> list[tuple[object, ...]]:
    return _sql(url, f"SELECT idx FROM {SCHEMA}.entries WHERE item = '{item}' ORDER BY idx")


class _SignsAfter:
    """A party's real key that runs ``hook`` once, just before its first signature: between the writer's read
    of the state (or its kept head) and the store of the event, where another writer may act."""

    def __init__(self, key: KeyPair, hook: Callable[[], object]) -> None:
        self._key = key
        self._hook: Callable[[], object] | None = hook
        self.signed = 0

    @property
    def name(self) -> str:
        return self._key.name

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    @property
    def key_id(self) -> bytes:
        return self._key.key_id

    def sign(self, message: bytes) -> bytes:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        self.signed += 1
        return self._key.sign(message)


@pytest.fixture
def url(postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]) -> str:
    return make_pg_ledger(postgres_url, operator, parties, Clock(AT))


def test_a_writer_that_wrote_the_items_last_event_sends_one_pipeline_and_nothing_else(
    url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    with Ledger.open(url, clock=Clock(AT)) as led:
        assert isinstance(led.store, SequencingStore) and led.store.sequences
        led.append("ONE-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        spy = _Counting(led.store._conn)  # type: ignore[attr-defined]
        led.store._conn = spy  # type: ignore[attr-defined]
        e = led.append("ONE-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        # no read: BEGIN, the function, COMMIT and the flush, in one message
        [sent] = spy.statements
        assert [s.split(" ")[0] for s in sent.split("; ")] == ["BEGIN", "SELECT", "COMMIT", "SELECT"]
        assert f"{SCHEMA}.append_event(" in sent and "pg_logical_emit_message" in sent
        spy.statements.clear()
        led.append("ONE-1", "origin", parties["origin"], country="FR", at=T0 + HOUR)  # an item it did not write
        assert len(spy.statements) == 2 and "UNION ALL" in spy.statements[0]
        assert [x.index for x in led.store.item_entries("ONE-0")] == [e.index - 1, e.index]  # type: ignore[operator]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


@pytest.mark.parametrize("kept", [True, False], ids=["kept-head", "read-head"])
def test_another_writer_moves_the_item_between_the_read_and_the_store(
    url: str, operator: KeyPair, parties: dict[str, KeyPair], kept: bool
) -> None:
    """The chain index refuses the event built on the old head; the writer reads the new head, builds and signs
    the event again on it, and stores it: one chain, both events."""
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, clock=Clock(AT)) as b:
        b.append("RACE-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        (a if kept else b).append("RACE-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        size = a.size

        def other() -> None:
            b.append("RACE-0", "warehouse", parties["warehouse"], country="CN", at=T0 + 3 * HOUR)

        key = _SignsAfter(parties["warehouse"], other)
        e = a.append("RACE-0", "warehouse", key, country="CN", at=T0 + 4 * HOUR)
        assert key.signed == 2  # signed on the old head, refused, signed again on the new one
        assert e.index == size + 1
        assert [x.stage for x in a.history("RACE-0")] == ["origin", "import", "warehouse", "warehouse"]
        assert e.content.prev == a.store.entry(size).leaf_hash  # type: ignore[union-attr]
    assert _stored(url, "RACE-0") == [(size - 2,), (size - 1,), (size,), (size + 1,)]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_a_refusal_on_a_state_read_without_the_lock_is_decided_under_it(url: str, parties: dict[str, KeyPair]) -> None:
    """The other writer appends the same stage: on the new head the event is out of order, and the writer
    section (not the state read without the lock) refuses it; nothing more is written."""
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, clock=Clock(AT)) as b:
        a.append("RACE-1", "origin", parties["origin"], country="FR", at=T0 + HOUR)

        def other() -> None:
            b.append("RACE-1", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)

        size = a.size + 1
        with pytest.raises(Exception, match="import") as refused:
            a.append("RACE-1", "import", _SignsAfter(parties["customs"], other), country="CN", at=T0 + 3 * HOUR)
        assert type(refused.value).__module__ == "provchain.errors"
        assert a.size == size
    assert len(_stored(url, "RACE-1")) == 2


def test_a_revocation_between_the_read_and_the_store_refuses_the_event(
    url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The operator revokes the signer's key after the writer checked it: the function sees an operator entry
    stored since the state the writer checked against and refuses; the writer applies the revocation, and the
    event is refused, not appended."""
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, operator=operator, clock=Clock(AT)) as op:
        a.append("REV-0", "origin", parties["origin"], country="FR", at=AT - HOUR)
        size = a.size

        def revoke() -> None:
            op.revoke_party(parties["customs"].key_id, reason="key leaked", at=AT - HOUR)

        with pytest.raises(RevokedKeyError):
            a.append("REV-0", "import", _SignsAfter(parties["customs"], revoke), country="CN", at=AT)
        assert a.size == size + 1  # the revocation only
        assert a.store.entry(size).kind == "revoke"
    assert len(_stored(url, "REV-0")) == 1


def test_a_registration_between_the_read_and_the_store_is_applied_and_the_event_stored(
    url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """An operator entry that does not concern the event: refused once, applied, checked again; the event was
    not changed, so it is not signed again."""
    spare = KeyPair.from_seed("spare-labs", b"s" * 32)
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, operator=operator, clock=Clock(AT)) as op:
        a.append("REG-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)

        def register() -> None:
            op.register_party(spare.name, roles=["origin"], public_key=spare.public_key, at=T0, valid_from=T0)

        key = _SignsAfter(parties["customs"], register)
        e = a.append("REG-0", "import", key, country="CN", at=T0 + 2 * HOUR)
        assert key.signed == 1
        assert a.store.entry((e.index or 0) - 1).kind == "party"
        assert spare.key_id in {k.key_id for k in a.parties()}


def test_a_replaced_function_is_refused_at_open_and_reported_by_the_audit(url: str, operator: KeyPair) -> None:
    (definition,) = _sql(url, f"SELECT pg_get_functiondef('{SCHEMA}.append_event'::regproc)")[0]
    assert isinstance(definition, str) and " FOR UPDATE;" in definition
    _sql(url, definition.replace(" FOR UPDATE;", ";"))  # CREATE OR REPLACE, without the writer lock
    with pytest.raises(ForeignLedgerError, match="append_event"):
        Ledger.open(url)
    report = audit_path(url, operator.vkey, workers=1)
    assert not report.clean and any("append_event" in str(f) for f in report.findings)
    _sql(url, f"ALTER FUNCTION {SCHEMA}.append_event SECURITY DEFINER")
    with pytest.raises(ForeignLedgerError, match="append_event"):
        Ledger.open(url)


def test_a_ledger_made_before_the_function_opens_and_takes_the_writer_section(
    url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    _sql(url, f"DROP FUNCTION {SCHEMA}.append_event")
    with Ledger.open(url, clock=Clock(AT)) as led:
        assert not led.store.sequences  # type: ignore[attr-defined]
        spy = _Counting(led.store._conn)  # type: ignore[attr-defined]
        led.store._conn = spy  # type: ignore[attr-defined]
        led.append("OLD-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        led.append("OLD-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        assert not any("append_event" in s for s in spy.statements)
        assert any(s.startswith("BEGIN") and "FOR UPDATE" in s for s in spy.statements)
    assert PostgresStore.open(url).foreign_schema() == []
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_a_stored_node_that_changed_under_the_writer_refuses_the_append(url: str, parties: dict[str, KeyPair]) -> None:
    """The writer holds the tree's frontier it computed; a stored left sibling that is not the same (an edit of
    the database below the frontier) refuses the event in the function, before anything is written."""
    with Ledger.open(url, clock=Clock(AT)) as led:
        for k in range(4):  # the writer's own frontier: it computed (or checked) the nodes
            led.append(f"NODE-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        k = 4
        while led.size % 4 != 3:  # the next leaf completes a level-2 node: it needs (0, n-1) and (1, n//2-1)
            led.append(f"NODE-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
            k += 1
        size = led.size
        _sql(url, f"UPDATE {SCHEMA}.entries SET nodes = '\\x{'ab' * 32}' WHERE idx = {size - 2}")
        with pytest.raises(DamagedLedgerError, match=r"differs from the one the writer holds.*nothing was written"):
            led.append("NODE-X", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert led.size == size
    _sql(url, f"UPDATE {SCHEMA}.entries SET nodes = '' WHERE idx = {size - 2}")  # cut short
    with Ledger.open(url, clock=Clock(AT)) as led:  # a fresh writer: the stored nodes are all it has
        with pytest.raises(DamagedLedgerError, match=r"missing or cut short.*nothing was written"):
            led.append("NODE-X", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert led.size == size


def test_a_lost_answer_is_found_under_the_lock_and_acknowledged_once(
    url: str, proxy: CuttingProxy, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    with Ledger.open(proxy.url(url), clock=Clock(AT)) as led:
        assert led.store.sequences  # type: ignore[attr-defined]
        led.append("CUT-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        proxy.arm(b"append_event", "after")  # the whole pipeline reaches the server; the answers do not come back
        e = led.append("CUT-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        assert proxy.cuts == 1
        nxt = led.append("CUT-0", "warehouse", parties["warehouse"], country="CN", at=T0 + 3 * HOUR)
        assert nxt.index == (e.index or 0) + 1
    assert _stored(url, "CUT-0") == [((e.index or 0) - 1,), (e.index,), (nxt.index,)]
    report = audit_path(url, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_a_pipeline_that_never_reached_the_server_is_found_absent_and_sent_once_more(
    url: str, proxy: CuttingProxy, parties: dict[str, KeyPair]
) -> None:
    with Ledger.open(proxy.url(url), clock=Clock(AT)) as led:
        led.append("CUT-1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        size = led.size
        proxy.arm(b"append_event", "before")
        e = led.append("CUT-1", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
        assert proxy.cuts == 1 and e.index == size
    assert _stored(url, "CUT-1") == [(size - 1,), (size,)]


# --- the server's answer, checked before anything is believed --------------------------------------------


def _event_entry(parties: dict[str, KeyPair]) -> object:
    ev = Event(origin=ORIGIN, at=T0, signer=parties["origin"].key_id, item="ANS-0", stage="origin", country="FR")
    return sign_body(ev, parties["origin"])


def test_an_answer_whose_nodes_do_not_fold_from_its_siblings_is_refused(
    url: str, parties: dict[str, KeyPair]
) -> None:
    store = PostgresStore.open(url)
    try:
        entry = _event_entry(parties)
        leaf = entry.leaf_hash  # type: ignore[attr-defined]
        sib0, sib1 = b"\x01" * 32, b"\x02" * 32
        n1 = node_hash(sib0, leaf)
        good = (3, n1 + node_hash(sib1, n1), sib0 + sib1)
        assert store._sequenced(entry, good).nodes == good[1]  # type: ignore[arg-type]
        for bad in [
            (3, good[1][:-1], good[2]),  # a node cut short
            (3, good[1], good[2][:-32]),  # a sibling missing
            (3, n1 + n1, good[2]),  # a second node that is not the fold
            (5, good[1], good[2]),  # an index whose leaf completes one node, not two
            (2, good[1], good[2]),  # an even index completes none
            (-1, b"", b""),
            (None, b"", b""),
            ("3", good[1], good[2]),
            (3, None, None),
            (3,),
            None,
        ]:
            with pytest.raises(DamagedLedgerError):
                store._sequenced(entry, bad)  # type: ignore[arg-type]
    finally:
        store.close()


@settings(max_examples=200, deadline=None)
@given(idx=st.integers(-3, 1 << 41), nodes=st.binary(max_size=130), sibs=st.one_of(st.none(), st.binary(max_size=130)))
def test_any_answer_is_a_checked_placement_or_a_damaged_ledger(idx: int, nodes: bytes, sibs: bytes | None) -> None:
    store = PostgresStore.__new__(PostgresStore)
    entry = _event_entry({"origin": KeyPair.from_seed("grasse-labs", b"\x01" * 32)})
    try:
        got = store._sequenced(entry, (idx, nodes, sibs))  # type: ignore[arg-type]
    except DamagedLedgerError:
        return
    k = ((idx ^ (idx + 1)).bit_length()) - 1
    assert got.log_index == idx and len(got.nodes) == 32 * k
    if sibs is not None:
        h = entry.leaf_hash  # type: ignore[attr-defined]
        for i in range(k):
            h = node_hash(sibs[32 * i : 32 * i + 32], h)
            assert got.nodes[32 * i : 32 * i + 32] == h


def test_an_item_id_with_quotes_and_backslashes_is_sequenced_as_itself(url: str, parties: dict[str, KeyPair]) -> None:
    """The values of the sequencing message are hexadecimal digits and numbers: nothing in an item id (quotes,
    backslashes, a semicolon) is read as SQL, whatever the session's string settings."""
    item = "O'Neil\\';--$$COMMIT;"
    with Ledger.open(url, clock=Clock(AT)) as a, Ledger.open(url, clock=Clock(AT)) as b:
        _sql(url, "ALTER DATABASE " + url.rsplit("/", 1)[1] + " SET standard_conforming_strings = off")
        for k, (stage, role) in enumerate([("origin", "origin"), ("import", "customs"), ("warehouse", "warehouse")]):
            (a if k % 2 else b).append(item, stage, parties[role], country="CN", at=T0 + HOUR + k)
        assert [e.stage for e in a.history(item)] == ["origin", "import", "warehouse"]
    with Ledger.open(url, clock=Clock(AT)) as c:  # a session under the changed setting
        c.append(item, "warehouse", parties["warehouse"], country="CN", at=T0 + 5 * HOUR)
        assert [e.content.item for e in c.store.item_entries(item)] == [item] * 4  # type: ignore[union-attr]


def test_a_role_that_may_not_run_the_function_appends_through_the_writer_section(
    postgres_server: PgServer, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    if not postgres_server.restartable:
        pytest.skip("needs the password role of a server the tests started")
    url = postgres_server.password_role("Secret-2").replace("provchain_pw@", "provchain_pw:Secret-2@")
    admin = postgres_server.url(url.rsplit("/", 1)[1])
    with Ledger.create(url, origin=ORIGIN, operator=operator, at=T0, clock=Clock(AT)) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    _sql(admin, f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.append_event FROM PUBLIC, provchain_pw")
    with Ledger.open(url, clock=Clock(AT)) as led:
        assert led.store.sequences  # type: ignore[attr-defined]
        for n, (stage, role) in enumerate([("origin", "origin"), ("import", "customs"), ("warehouse", "warehouse")]):
            e = led.append("NOEXEC", stage, parties[role], country="CN", at=T0 + (2 + n) * HOUR)
            assert led.head("NOEXEC").index == e.index  # type: ignore[union-attr]
        assert not led.store.sequences  # type: ignore[attr-defined]
    assert len(_stored(url, "NOEXEC")) == 3
    assert audit_path(url, operator.vkey, workers=1).clean


def test_an_append_inside_a_read_snapshot_is_refused_as_before(url: str, parties: dict[str, KeyPair]) -> None:
    from provchain.errors import StorageError

    with Ledger.open(url, clock=Clock(AT)) as led:
        size = led.size
        with led.snapshot(), pytest.raises(StorageError, match="inside a read snapshot"):
            led.append("SNAP-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert led.size == size
        led.append("SNAP-0", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        with led.snapshot(), pytest.raises(StorageError, match="inside a read snapshot"):
            led.append("SNAP-0", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)  # a kept head
        assert led.size == size + 1
