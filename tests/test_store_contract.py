"""The store contract (provchain/store/base.py), one suite run against every store: SQLite and PostgreSQL.

Each test gets a location of each kind: a new file path, or a new, empty database on a real PostgreSQL
server (the ``postgres_url`` fixture of tests/conftest.py). The entries are real signed entries of a
journey recorded by a reference ledger; the nodes given with them, and every node compared, are computed
here from the leaf hashes with the public :mod:`provchain.merkle` functions, not by any store.

Then the same ledger-level behaviour through :class:`~provchain.ledger.Ledger` on both: create, open,
append, batch, proofs, checkpoints, and a clean audit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HOUR, ORIGIN, T0, Clock, journey

from provchain import errors as E
from provchain import merkle
from provchain.audit import audit_path
from provchain.entries import FORMAT_VERSION, Entry, Event
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.store import LedgerMeta, Store, StoredEntry, create_store, open_store
from provchain.store.base import MultiHeadStore, NodeKey

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new ledger goes: a file that does not exist yet, or an empty database."""
    if request.param == "sqlite":
        return str(tmp_path / "contract.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[LedgerMeta, list[Entry]]:
    """The entries of a reference SQLite ledger: the policy, five registrations, three six-event journeys of
    interleaved items, a revocation: 25 entries (one tile of 16 and an open block of 9)."""
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    roles = ["origin", "customs", "warehouse", "appraiser", "courier"]
    parties = {role: KeyPair.from_seed(f"party-{role}", bytes([i + 1]) * 32) for i, role in enumerate(roles)}
    path = tmp_path_factory.mktemp("ref") / "ref.db"
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=Clock(T0 + 100 * HOUR))
    with led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        for n in range(3):
            journey(led, parties, f"ITEM-{n}", start=T0 + HOUR + n * 60_000)
        led.revoke_party(parties["courier"].name, at=T0 + 50 * HOUR)
        meta = LedgerMeta(FORMAT_VERSION, ORIGIN, led.operator_vkey)
        entries = list(led.entries())
    assert len(entries) == 25
    return meta, entries


def _leaves(entries: list[Entry]) -> list[bytes]:
    return [e.leaf_hash for e in entries]


def _stored(entries: list[Entry], index: int) -> StoredEntry:
    """Entry ``index`` with the nodes its leaf completes (levels 1, 2, ... bottom up), from merkle.root."""
    leaves = _leaves(entries[: index + 1])
    nodes = b""
    level = 1
    while (index + 1) % (1 << level) == 0:
        nodes += merkle.root(leaves[index + 1 - (1 << level) :])
        level += 1
    return StoredEntry(entries[index], nodes)


def _fill(store: Store, entries: list[Entry], start: int = 0, end: int | None = None) -> None:
    with store.transaction():
        for i in range(start, len(entries) if end is None else end):
            store.add_entry(i, _stored(entries, i))


def _complete_nodes(size: int) -> list[NodeKey]:
    """Every complete subtree of a tree of ``size`` leaves."""
    out = []
    level = 0
    while (1 << level) <= size:
        out += [(level, j) for j in range(size >> level)]
        level += 1
    return out


def _expected_node(entries: list[Entry], key: NodeKey) -> bytes:
    level, j = key
    leaves = _leaves(entries)[j << level : (j + 1) << level]
    return leaves[0] if level == 0 else merkle.root(leaves)


def _same(a: Entry, b: Entry) -> bool:
    return (a.body, a.signature, a.index) == (b.body, b.signature, b.index)


@pytest.fixture
def store(location: str, reference: tuple[LedgerMeta, list[Entry]]) -> Iterator[Store]:
    s = create_store(location, reference[0])
    yield s
    s.close()


# --- an empty store, metadata ---------------------------------------------------------------------------


def test_a_new_store_is_empty(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    assert store.meta() == reference[0]
    assert store.size() == 0
    with pytest.raises(IndexError):
        store.entry(0)
    assert list(store.entries()) == []
    assert store.item_entries("ITEM-0") == []
    assert store.head("ITEM-0") is None
    assert list(store.operator_entries()) == []
    assert store.nodes([(0, 0), (1, 0)]) == {}
    assert store.size_and_nodes([(0, 0)]) == (0, {})
    assert list(store.checkpoints()) == [] and list(store.checkpoints(newest_first=True)) == []
    assert store.checkpoint(0) is None and store.latest_checkpoint() is None


def test_meta_survives_reopening(location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    store.close()
    again = open_store(location)
    try:
        assert again.meta() == reference[0]
        assert again.size() == 0
    finally:
        again.close()
    ro = open_store(location, readonly=True, durability="normal")
    try:
        assert ro.meta() == reference[0]
    finally:
        ro.close()


# --- entries -------------------------------------------------------------------------------------------


def test_entries_read_back_in_order_and_by_range(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    entries = reference[1]
    _fill(store, entries)
    n = len(entries)
    assert store.size() == n
    for i in (0, 1, 15, 16, n - 1):
        got = store.entry(i)
        assert _same(got, entries[i]) and got.index == i
    assert all(_same(a, b) for a, b in zip(store.entries(), entries, strict=True))
    for start, end in [(0, None), (3, 9), (16, 17), (n - 1, None), (5, n + 100), (n, None), (9, 3), (0, 0)]:
        want = entries[start : n if end is None else end]
        got = list(store.entries(start, end))
        assert len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=True)), (start, end)
    for bad in (-1, n, n + 1, 2**40, 2**70):
        with pytest.raises(IndexError):
            store.entry(bad)


def test_item_entries_heads_and_operator_entries(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    entries = reference[1]
    _fill(store, entries)
    for item in ("ITEM-0", "ITEM-1", "ITEM-2"):
        want = [e for e in entries if type(e.content) is Event and e.content.item == item]
        got = store.item_entries(item)
        assert len(want) == 6 and len(got) == 6 and all(_same(a, b) for a, b in zip(got, want, strict=True))
        head = store.head(item)
        last = want[-1]
        assert isinstance(last.content, Event)
        assert head is not None
        assert (head.index, head.leaf_hash, head.stage, head.at) == (
            last.index, last.leaf_hash, last.content.stage, last.content.at,
        )  # fmt: skip
    assert store.item_entries("NO-SUCH-ITEM") == [] and store.head("NO-SUCH-ITEM") is None
    operator = [e for e in entries if type(e.content) is not Event]
    assert [e.index for e in store.operator_entries()] == [e.index for e in operator] == [0, 1, 2, 3, 4, 5, 24]
    assert all(_same(a, b) for a, b in zip(store.operator_entries(), operator, strict=True))
    assert [e.index for e in store.operator_entries(3)] == [3, 4, 5, 24]
    assert [e.index for e in store.operator_entries(25)] == []


def test_heads_of_many_items_in_one_read(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    """MultiHeadStore.heads answers for each item what head() answers, committed or written in the open
    transaction (queued or not), and leaves out items without events."""
    entries = reference[1]
    assert isinstance(store, MultiHeadStore)
    items = ["ITEM-2", "NO-SUCH-ITEM", "ITEM-0", "ITEM-1", "ITEM-0"]

    def expected(upto: int) -> dict[str, tuple[int, bytes, str, int]]:
        out = {}
        for e in entries[:upto]:
            if type(e.content) is Event:
                assert e.index is not None
                out[e.content.item] = (e.index, e.leaf_hash, e.content.stage, e.content.at)
        return out

    def got(s: MultiHeadStore) -> dict[str, tuple[int, bytes, str, int]]:
        return {item: (h.index, h.leaf_hash, h.stage, h.at) for item, h in s.heads(items).items()}

    assert store.heads(items) == {} and store.heads([]) == {}
    with store.transaction():  # inside a transaction: its own writes, however far the backend has sent them
        for i in range(len(entries)):
            store.add_entry(i, _stored(entries, i))
            if i in (6, 7, 12, 19, 23, 24):
                assert got(store) == expected(i + 1), i
                assert all(store.heads([item]) == {item: store.head(item)} for item in expected(i + 1))
    assert got(store) == expected(len(entries)) and len(expected(len(entries))) == 3
    assert store.heads(items) == {item: store.head(item) for item in ("ITEM-0", "ITEM-1", "ITEM-2")}


# --- nodes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 7, 16, 17, 25])
def test_every_complete_subtree_is_served(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]], size: int
) -> None:
    entries = reference[1][:size]
    _fill(store, entries)
    keys = _complete_nodes(size)
    for s in (store, open_store(location, readonly=True)):  # the writer, and a new reader
        got = s.nodes(keys)
        for key in keys:  # a store may return more, never other hashes
            assert got[key] == _expected_node(entries, key), key
        n, got2 = s.size_and_nodes(keys[:3])
        assert n == size and all(got2[k] == _expected_node(entries, k) for k in keys[:3])
        # subtrees that are not complete (or beyond the tree) are absent, not an error
        incomplete = [(0, size), (1, size // 2 + (size % 2)), (5, 0), (40, 0)]
        absent = s.nodes(incomplete)
        assert all(k not in absent for k in incomplete if (k[1] + 1) << k[0] > size)
        if s is not store:
            s.close()


def test_nodes_of_a_tree_grown_in_several_transactions(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    entries = reference[1]
    for start, end in [(0, 3), (3, 4), (4, 15), (15, 16), (16, 25)]:
        _fill(store, entries, start, end)
        assert store.size() == end
        got = store.nodes(_complete_nodes(end))
        assert all(got[k] == _expected_node(entries[:end], k) for k in _complete_nodes(end))
    store.close()
    # a new writer appends after a reopen: it serves the nodes the earlier writer left, and its own
    again = open_store(location)
    try:
        assert again.size() == 25
        got = again.nodes(_complete_nodes(25))
        assert all(got[k] == _expected_node(entries, k) for k in _complete_nodes(25))
    finally:
        again.close()


# --- checkpoints ---------------------------------------------------------------------------------------


def test_checkpoints_in_order_by_size_and_latest(store: Store) -> None:
    notes = {5: b"note five\n", 1: b"note one\n", 25: b"note twenty-five\n", 12: b"note twelve\n"}
    with store.transaction():
        for size, note in notes.items():
            store.add_checkpoint(size, note)
    assert list(store.checkpoints()) == sorted(notes.items())
    assert list(store.checkpoints(newest_first=True)) == sorted(notes.items(), reverse=True)
    assert store.checkpoint(12) == b"note twelve\n"
    assert store.checkpoint(13) is None and store.checkpoint(-1) is None and store.checkpoint(2**70) is None
    assert store.latest_checkpoint() == (25, b"note twenty-five\n")
    with store.transaction():  # one per size: a new note of a size replaces the old
        store.add_checkpoint(12, b"another twelve\n")
    assert store.checkpoint(12) == b"another twelve\n"
    assert [s for s, _ in store.checkpoints()] == [1, 5, 12, 25]


def test_many_checkpoints_newest_first(store: Store) -> None:
    with store.transaction():
        for size in range(1, 601):
            store.add_checkpoint(size, b"n%d\n" % size)
    newest = store.checkpoints(newest_first=True)
    assert [next(newest)[0] for _ in range(3)] == [600, 599, 598]  # a reader may stop early
    assert [s for s, _ in store.checkpoints(newest_first=True)] == list(range(600, 0, -1))


# --- transactions --------------------------------------------------------------------------------------


class _Boom(Exception):
    pass


def test_an_exception_in_a_transaction_writes_nothing(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    entries = reference[1]
    _fill(store, entries, 0, 10)
    with store.transaction():
        store.add_checkpoint(10, b"ten\n")
    before = (store.size(), store.nodes(_complete_nodes(10)), list(store.checkpoints()))
    with pytest.raises(_Boom), store.transaction():
        for i in range(10, 25):  # entries, a tile's worth of nodes, and checkpoints
            store.add_entry(i, _stored(entries, i))
        store.add_checkpoint(25, b"twenty-five\n")
        store.add_checkpoint(10, b"ten, replaced\n")
        raise _Boom
    assert (store.size(), store.nodes(_complete_nodes(10)), list(store.checkpoints())) == before
    assert store.head("ITEM-2") is None  # its events are entries 18 to 23
    with pytest.raises(IndexError):
        store.entry(10)
    assert not store.nodes([(4, 0), (0, 16)])
    # the store goes on: the same entries can be written now
    _fill(store, entries, 10, 25)
    assert store.size() == 25
    store.close()
    again = open_store(location, readonly=True)
    try:
        assert again.size() == 25 and list(again.checkpoints()) == [(10, b"ten\n")]
    finally:
        again.close()


def test_a_nested_transaction_is_a_savepoint(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    entries = reference[1]
    with store.transaction():
        for i in range(5):
            store.add_entry(i, _stored(entries, i))
        with pytest.raises(_Boom), store.transaction():
            for i in range(5, 20):
                store.add_entry(i, _stored(entries, i))
            store.add_checkpoint(20, b"twenty\n")
            assert store.size() == 20
            raise _Boom
        assert store.size() == 5  # the inner writes are undone, the outer ones kept
        assert store.latest_checkpoint() is None
        with store.transaction():  # an inner block that ends normally is kept
            for i in range(5, 8):
                store.add_entry(i, _stored(entries, i))
        store.add_checkpoint(8, b"eight\n")
    assert store.size() == 8
    assert list(store.checkpoints()) == [(8, b"eight\n")]
    assert all(_same(a, b) for a, b in zip(store.entries(), entries[:8], strict=True))
    got = store.nodes(_complete_nodes(8))
    assert all(got[k] == _expected_node(entries[:8], k) for k in _complete_nodes(8))


def test_a_transaction_reads_its_own_writes(store: Store, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    entries = reference[1]
    with store.transaction():
        for i in range(25):
            store.add_entry(i, _stored(entries, i))
            assert store.size() == i + 1
            assert _same(store.entry(i), entries[i])
            content = entries[i].content
            if type(content) is Event:
                head = store.head(content.item)
                assert head is not None and head.index == i and head.leaf_hash == entries[i].leaf_hash
        store.add_checkpoint(25, b"twenty-five\n")
        assert store.latest_checkpoint() == (25, b"twenty-five\n")
        assert len(store.item_entries("ITEM-1")) == 6
        assert [e.index for e in store.operator_entries()] == [0, 1, 2, 3, 4, 5, 24]
        n, got = store.size_and_nodes(_complete_nodes(25))
        assert n == 25 and all(got[k] == _expected_node(entries, k) for k in _complete_nodes(25))
        assert len(list(store.entries())) == 25


# --- several store objects on one ledger ------------------------------------------------------------


def test_a_snapshot_sees_one_state_while_another_writer_commits(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    entries = reference[1]
    _fill(store, entries, 0, 10)
    with store.transaction():
        store.add_checkpoint(10, b"ten\n")
    reader = open_store(location, readonly=True)
    try:
        with reader.snapshot():
            assert reader.size() == 10
            _fill(store, entries, 10, 25)  # another connection writes and commits meanwhile
            with store.transaction():
                store.add_checkpoint(25, b"twenty-five\n")
            assert store.size() == 25
            assert reader.size() == 10
            assert len(list(reader.entries())) == 10
            assert reader.head("ITEM-2") is None  # its events are entries 18 to 23
            head = reader.head("ITEM-0")
            assert head is not None and head.index == 9
            assert reader.latest_checkpoint() == (10, b"ten\n")
            assert reader.nodes([(4, 0), (0, 16)]) == {}
            n, _ = reader.size_and_nodes([(0, 0)])
            assert n == 10
        assert reader.size() == 25  # after the snapshot: the latest state
        assert reader.latest_checkpoint() == (25, b"twenty-five\n")
    finally:
        reader.close()


def test_writers_on_one_ledger_take_turns(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    """Two store objects (two connections) on one ledger: while one holds the writer section, the other's
    transaction() waits; once in, it reads the state the first committed."""
    entries = reference[1]
    _fill(store, entries, 0, 5)
    order: list[str] = []
    held = threading.Event()
    ready = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def second() -> None:
        try:
            other = open_store(location)  # a store object belongs to the thread that uses it
            try:
                assert other.size() == 5  # read before the wait: a reader's view, not the writer's
                ready.set()
                held.wait()
                with other.transaction():
                    order.append("second in")
                    seen.append(other.size())
                    other.add_entry(seen[0], _stored(entries, seen[0]))
            finally:
                other.close()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
            ready.set()

    t = threading.Thread(target=second)
    t.start()
    ready.wait(60)
    with store.transaction():
        store.add_entry(5, _stored(entries, 5))
        held.set()
        t.join(0.5)  # the other writer waits meanwhile (this is no timing assertion: only the order is)
        order.append("first commits")
    t.join(60)
    assert not failures, failures
    assert order == ["first commits", "second in"]
    assert seen == [6]  # the size read inside the section is current
    assert store.size() == 7
    assert all(_same(a, b) for a, b in zip(store.entries(), entries[:7], strict=True))


# --- errors ---------------------------------------------------------------------------------------------


def test_a_closed_store_refuses_with_a_provchain_error(store: Store) -> None:
    store.close()
    with pytest.raises(E.StorageError):
        store.size()
    with pytest.raises(E.StorageError):
        list(store.entries())
    with pytest.raises(E.ProvchainError), store.transaction():
        pass
    store.close()  # closing twice is harmless


def test_a_readonly_store_refuses_writes(
    location: str, store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    entries = reference[1]
    _fill(store, entries, 0, 3)
    ro = open_store(location, readonly=True)
    try:
        with pytest.raises(E.ProvchainError), ro.transaction():
            ro.add_entry(3, _stored(entries, 3))
        with pytest.raises(E.ProvchainError), ro.transaction():
            ro.add_checkpoint(3, b"three\n")
        assert ro.size() == 3 and ro.latest_checkpoint() is None
    finally:
        ro.close()
    assert store.size() == 3


def test_writing_a_taken_index_fails_and_dooms_the_transaction(
    store: Store, reference: tuple[LedgerMeta, list[Entry]]
) -> None:
    entries = reference[1]
    _fill(store, entries, 0, 3)
    with pytest.raises(E.ProvchainError), store.transaction():
        store.add_entry(3, _stored(entries, 3))
        with contextlib.suppress(E.ProvchainError):  # index 2 is taken (the error may surface at commit)
            store.add_entry(2, _stored(entries, 2))
    assert store.size() == 3


def test_create_on_an_existing_ledger_is_refused(location: str, store: Store) -> None:
    with pytest.raises(E.LedgerExistsError):
        create_store(location, store.meta())
    assert store.meta().origin == ORIGIN  # untouched


def test_open_where_there_is_no_ledger_is_refused(location: str) -> None:
    with pytest.raises(E.LedgerNotFoundError):
        open_store(location)
    with pytest.raises(E.LedgerNotFoundError):
        open_store(location, readonly=True)


def test_durability_is_full_or_normal(location: str, reference: tuple[LedgerMeta, list[Entry]]) -> None:
    with pytest.raises(E.InputError, match="durability"):
        create_store(location, reference[0], durability="fast")
    s = create_store(location, reference[0], durability="normal")
    s.close()
    with pytest.raises(E.InputError, match="durability"):
        open_store(location, durability="FULL")


# --- the ledger on every store ------------------------------------------------------------------------


def test_the_ledger_on_every_store(location: str, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    clock = Clock(T0 + 100 * HOUR)
    with Ledger.create(location, origin=ORIGIN, operator=operator, at=T0, clock=clock) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        journey(led, parties, "SERUM-1")
        note1 = led.checkpoint()
        size1 = led.size
        with led.batch():
            for n in range(20):
                led.append(f"BATCH-{n}", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        with pytest.raises(E.StageOrderError):  # a refused append writes nothing
            led.append("SERUM-1", "origin", parties["origin"], country="FR", at=T0 + 9 * HOUR)
        size2 = led.size
        root2 = led.root()
        assert size2 == size1 + 20
        head = led.head("SERUM-1")
        assert head is not None
        merkle.verify_inclusion(head.leaf_hash, head.index, size2, led.inclusion_proof(head.index), root2)
        merkle.verify_consistency(size1, size2, led.consistency_proof(size1), led.root(size1), root2)
        led.checkpoint()
        assert led.check_consistency(note1).size == size1  # the ledger extends the checkpoint it signed before
        assert led.prove("SERUM-1").startswith(b"c2sp.org/tlog-proof@v1\n")
        led_history = led.history("SERUM-1")
        assert len(led_history) == 6
    with Ledger.open(location, readonly=True) as again:
        assert again.size == size2 and again.root() == root2
        assert [e.index for e in again.history("SERUM-1")] == [e.index for e in led_history]
        with pytest.raises(E.ProvchainError):
            again.append("SERUM-2", "origin", parties["origin"], country="FR", at=T0 + 3 * HOUR)
    report = audit_path(location, operator.vkey)
    assert report.clean, report.findings
    assert report.size == size2


def test_a_ledger_that_cannot_be_created_leaves_nothing(location: str, operator: KeyPair) -> None:
    stranger = KeyPair.from_seed("someone-else", bytes(32))
    with pytest.raises(E.InputError):
        Ledger.create(location, origin=ORIGIN, operator=stranger)
    with pytest.raises(E.LedgerNotFoundError):
        Ledger.open(location)
    with pytest.raises(E.InputError):  # the first entry cannot be made: the new ledger is removed again
        Ledger.create(location, origin=ORIGIN, operator=operator, at=-5)
    with pytest.raises(E.LedgerNotFoundError):
        Ledger.open(location)
    Ledger.create(location, origin=ORIGIN, operator=operator, at=T0).close()  # the location is free
    with pytest.raises(E.LedgerExistsError):
        Ledger.create(location, origin=ORIGIN, operator=operator, at=T0)
    with Ledger.open(location, operator) as led:
        assert led.size == 1
