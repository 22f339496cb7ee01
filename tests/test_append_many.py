"""``Ledger.append_many``: many events in one call, all or nothing.

The oracle is the ledger's own single append: Ed25519 signatures are deterministic, so a call of
``append_many`` must store, byte for byte, the entries that the same events appended one by one in a batch
store, on a ledger made the same way; and when one of them is refused, the call raises the error (same
class, same reason) that the first refused append raised, names its position, and writes nothing.
Then hostile specs, the heads read in one statement (more items than one SQLite statement takes), a full
disk in the middle of the writes, a store without the MultiHeadStore capability, and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import HOUR, ORIGIN, T0, Clock, journey
from hypothesis import event, given, settings
from hypothesis import strategies as st

from provchain import errors as E
from provchain.audit import audit_path
from provchain.keys import KeyPair
from provchain.ledger import EventSpec, Ledger
from provchain.store.base import MultiHeadStore, Store
from provchain.store.sqlite import SqliteStore

ROLES = ["origin", "customs", "warehouse", "appraiser", "courier"]


def _parties() -> dict[str, KeyPair]:
    return {role: KeyPair.from_seed(f"party-{role}", bytes([i + 1]) * 32) for i, role in enumerate(ROLES)}


def _ledger(location: str | Path, clock: Clock, *, revoke: str | None = None) -> Ledger:
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    led = Ledger.create(location, origin=ORIGIN, operator=op, at=T0, clock=clock)
    for role, kp in _parties().items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    if revoke is not None:
        led.revoke_party(_parties()[revoke].name, at=T0)
    return led


def _kwargs(spec: EventSpec) -> dict[str, Any]:
    return {"country": spec.country, "place": spec.place, "data": spec.data, "at": spec.at}


def _one_by_one(led: Ledger, specs: list[EventSpec]) -> tuple[int, E.ProvchainError] | None:
    """Append ``specs`` one by one in a batch; the position and error of the first refused one (the batch
    is then rolled back), or None."""
    refused = None
    try:
        with led.batch():
            for pos, spec in enumerate(specs):
                try:
                    led.append(spec.item, spec.stage, spec.signer, **_kwargs(spec))
                except E.ProvchainError as exc:
                    refused = (pos, exc)
                    raise
    except E.ProvchainError:
        if refused is None:
            raise
    return refused


def _stored(led: Ledger) -> list[tuple[bytes, bytes, int | None]]:
    return [(e.body, e.signature, e.index) for e in led.entries()]


@contextlib.contextmanager
def _two_ledgers(revoke: str | None = None) -> Iterator[tuple[Ledger, Ledger]]:
    with tempfile.TemporaryDirectory() as d:
        a = _ledger(os.path.join(d, "a.db"), Clock(T0 + 100 * HOUR), revoke=revoke)
        b = _ledger(os.path.join(d, "b.db"), Clock(T0 + 100 * HOUR), revoke=revoke)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


# --- the oracle: the same entries as appends one by one --------------------------------------------------

STAGES = ["origin", "export", "import", "warehouse", "appraisal", "delivery", "return", "recall", ""]
COUNTRIES = ["FR", "CN", "US", "XX", "fr"]
DATA: list[Mapping[str, Any] | None] = [
    None, {}, {"bin": "A-07"}, {"batch": "B-17", "qty": 12}, {"Bad Key": 1}, {"x": 2**64}, {"note": "\x00"},
]  # fmt: skip
PLACES = [None, "Hangzhou", "", "Z\u00fcrich", "line\nbreak"]


NEXT = {None: ["origin"], "origin": ["export", "import"], "export": ["import"], "import": ["warehouse"],
        "warehouse": ["warehouse", "appraisal", "delivery"], "appraisal": ["appraisal", "delivery"],
        "delivery": ["return"], "return": ["warehouse", "appraisal"]}  # fmt: skip
ROLE = {"origin": "origin", "export": "origin", "import": "customs", "warehouse": "warehouse", "appraisal": "appraiser",
        "delivery": "courier", "return": "courier"}  # fmt: skip
FAULTS = ["stage", "role", "country", "data", "place", "earlier", "future", "item", "none"]


@st.composite
def journeys(draw: st.DrawFn) -> list[EventSpec]:
    """Events over a few items, each following the default policy, the odd one with one fault (a stage out of
    order, the wrong role, a bad field, a time before the item's last or in the future, a bad item id)."""
    parties = _parties()
    n = draw(st.integers(1, 24))
    out = []
    last: dict[str, str | None] = {}
    t = T0 + HOUR
    for _ in range(n):
        item = draw(st.sampled_from(["A", "B", "C"]))
        stage = draw(st.sampled_from(NEXT[last.get(item)]))
        role = ROLE[stage]
        t += draw(st.integers(0, HOUR))
        at: int | None = draw(st.sampled_from([t] * 9 + [None]))
        country, place, data = draw(st.sampled_from(COUNTRIES[:3])), draw(st.sampled_from(PLACES[:2])), None
        data = draw(st.sampled_from(DATA[:4]))
        fault = draw(st.sampled_from(FAULTS)) if draw(st.integers(0, 11)) == 0 else "none"
        if fault == "stage":
            stage = draw(st.sampled_from(STAGES))
        elif fault == "role":
            role = draw(st.sampled_from(ROLES))
        elif fault == "country":
            country = draw(st.sampled_from(COUNTRIES))
        elif fault == "data":
            data = draw(st.sampled_from(DATA))
        elif fault == "place":
            place = draw(st.sampled_from(PLACES))
        elif fault == "earlier":
            at = t - draw(st.integers(1, 3 * HOUR))
        elif fault == "future":
            at = T0 + 10_000 * HOUR
        elif fault == "item":
            item = draw(st.sampled_from(["urn:epc:id:sgtin:bad", "D E", "https://id.gs1.org/01/1"]))
        if stage in NEXT and fault == "none":
            last[item] = stage
        out.append(EventSpec(item, stage, parties[role], country, place, data, at))
    return out


@settings(max_examples=60)
@given(
    events=journeys(), cut=st.integers(0, 14), revoke=st.sampled_from([None, None, None, "courier"]),
    threads=st.sampled_from([None, 1, 2, 3]),
)
def test_the_same_entries_as_appends_one_by_one(
    events: list[EventSpec], cut: int, revoke: str | None, threads: int | None
) -> None:
    cut = min(cut, len(events) - 1)
    prefix, specs = events[:cut], events[cut:]
    with _two_ledgers(revoke) as (a, b):
        # Both ledgers first take the same prefix (whatever of it is accepted), one event at a time, so that
        # the call continues items that already have heads.
        for spec in prefix:
            for led in (a, b):
                with contextlib.suppress(E.ProvchainError):
                    led.append(spec.item, spec.stage, spec.signer, **_kwargs(spec))
        assert _stored(a) == _stored(b)
        before = _stored(b)
        refused = _one_by_one(a, specs)
        event("accepted" if refused is None else f"refused: {type(refused[1]).__name__}")
        if refused is None:
            got = b.append_many(specs, threads=threads)  # signed on several threads or one: the same bytes
            assert _stored(a) == _stored(b)
            assert [(e.body, e.signature, e.index) for e in got] == _stored(b)[len(before) :]
            for item in {s.item for s in specs}:
                assert a.head(item) == b.head(item)
        else:
            pos, exc = refused
            with pytest.raises(E.ProvchainError) as info:
                b.append_many(specs, threads=threads)
            assert type(info.value) is type(exc)
            assert str(info.value).startswith(f"events[{pos}]")
            assert str(info.value).endswith(f"none of the {len(specs)} events was written: {exc}")
            assert _stored(b) == before == _stored(a)
        # and the ledger goes on from where it is
        assert b.append("NEXT", "origin", _parties()["origin"], country="FR", at=T0).index == len(_stored(b)) - 1


def test_mappings_and_records_and_a_generator(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    o, c = parties["origin"], parties["customs"]
    specs: list[EventSpec | Mapping[str, Any]] = [
        {"item": "BAG-1", "stage": "origin", "signer": o, "country": "FR", "data": {"batch": "B-1"}, "at": T0},
        EventSpec("BAG-2", "origin", o, "FR", at=T0 + 1),
        {"item": "BAG-1", "stage": "import", "signer": c, "country": "CN", "place": "Shanghai", "at": T0 + 2},
    ]
    got = ledger.append_many(spec for spec in specs)
    assert [e.index for e in got] == [6, 7, 8]
    assert [(h.stage, h.party, h.place) for h in ledger.history("BAG-1")] == [
        ("origin", "grasse-labs", None), ("import", "shanghai-customs-broker", "Shanghai"),
    ]  # fmt: skip
    assert ledger.append_many([]) == [] and ledger.append_many(iter(())) == []
    assert ledger.size == 9


def test_undated_events_take_one_reading_of_the_clock(
    ledger: Ledger, parties: dict[str, KeyPair], clock: Clock
) -> None:
    got = ledger.append_many([EventSpec(f"BAG-{n}", "origin", parties["origin"], "FR") for n in range(3)])
    assert [e.content.at for e in got] == [clock.now] * 3


# --- refusals: all or nothing ---------------------------------------------------------------------------


def test_a_refused_event_refuses_the_call_and_writes_nothing(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "BAG-1")
    size, head = ledger.size, ledger.head("BAG-1")
    specs = [
        EventSpec("BAG-2", "origin", parties["origin"], "FR", at=T0),
        EventSpec("BAG-2", "import", parties["customs"], "CN", at=T0 + 1),
        EventSpec("BAG-1", "warehouse", parties["courier"], "CN", at=T0 + 100 * HOUR),  # a courier: wrong role
    ]
    with pytest.raises(E.RoleError, match=r"^events\[2\] \(item 'BAG-1'\) was refused, so none of the 3"):
        ledger.append_many(specs)
    assert ledger.size == size and ledger.head("BAG-1") == head and ledger.head("BAG-2") is None
    # inside a batch: the batch is left as it was, and goes on
    with ledger.batch():
        ledger.append("BAG-3", "origin", parties["origin"], country="FR", at=T0)
        with pytest.raises(E.StageOrderError, match=r"^events\[1\] \(item 'BAG-3'\)"):
            ledger.append_many([EventSpec("BAG-4", "origin", parties["origin"], "FR", at=T0),
                                EventSpec("BAG-3", "origin", parties["origin"], "FR", at=T0)])  # fmt: skip
        with pytest.raises(E.TimeError, match=r"^events\[1\]"):
            ledger.append_many([EventSpec("BAG-3", "export", parties["origin"], "FR", at=T0 + 5),
                                EventSpec("BAG-3", "import", parties["customs"], "CN", at=T0 + 4)])  # fmt: skip
        got = ledger.append_many([EventSpec("BAG-3", "export", parties["origin"], "FR", at=T0 + 1)])
    assert ledger.size == size + 2 and got[0].index == size + 1
    assert [h.stage for h in ledger.history("BAG-3")] == ["origin", "export"] and ledger.head("BAG-4") is None


def test_a_future_date_is_refused_by_the_clock(ledger: Ledger, parties: dict[str, KeyPair], clock: Clock) -> None:
    with pytest.raises(E.TimeError, match=r"^events\[0\].*in the future"):
        ledger.append_many([EventSpec("BAG-1", "origin", parties["origin"], "FR", at=clock.now + HOUR)])


HOSTILE_EVENTS: list[tuple[object, type[E.ProvchainError], str]] = [
    ("BAG-1", E.InputError, "events must be a list"),
    (b"BAG-1", E.InputError, "events must be a list"),
    ({"item": "BAG-1"}, E.InputError, "events must be a list"),
    (42, E.InputError, "events must be a list"),
    (None, E.InputError, "events must be a list"),
    ([None], E.InputError, r"events\[0\] is NoneType"),
    ([("BAG-1", "origin", "x", "FR")], E.InputError, r"events\[0\] is tuple"),
    ([{"item": "BAG-1", "stage": "origin", "country": "FR"}], E.InputError, r"events\[0\] lacks signer"),
    ([{1: 2}], E.InputError, r"events\[0\] has unknown field"),
    ([{"item": "B", "stage": "origin", "signer": None, "country": "FR", "colour": "red"}], E.InputError, "colour"),
    ([{"item": "B", "stage": "origin", "signer": "grasse-labs", "country": "FR"}], E.InputError, "Signer"),
]


@pytest.mark.parametrize(("events", "error", "match"), HOSTILE_EVENTS)
def test_hostile_event_lists(ledger: Ledger, events: object, error: type[E.ProvchainError], match: str) -> None:
    size = ledger.size
    with pytest.raises(error, match=match):
        ledger.append_many(events)  # type: ignore[arg-type]
    assert ledger.size == size


def test_hostile_fields_name_the_event(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    o = parties["origin"]
    good = EventSpec("BAG-0", "origin", o, "FR", at=T0)
    cases: list[tuple[EventSpec, type[E.ProvchainError]]] = [
        (EventSpec(7, "origin", o, "FR", at=T0), E.ItemError),  # type: ignore[arg-type]
        (EventSpec("bag\u202e1", "origin", o, "FR", at=T0), E.ItemError),
        (EventSpec("B" * 129, "origin", o, "FR", at=T0), E.ItemError),
        (EventSpec("BAG 1", "origin", o, "FR", at=T0), E.ItemError),
        (EventSpec("BAG-1", "", o, "FR", at=T0), E.InputError),
        (EventSpec("BAG-1", None, o, "FR", at=T0), E.InputError),  # type: ignore[arg-type]
        (EventSpec("BAG-1", "origin", o, "ZZ", at=T0), E.CountryError),
        (EventSpec("BAG-1", "origin", o, "FR", place="a\nb", at=T0), E.DataError),
        (EventSpec("BAG-1", "origin", o, "FR", data={"k": True}, at=T0), E.DataError),
        (EventSpec("BAG-1", "origin", o, "FR", data={f"k{i}": "x" for i in range(17)}, at=T0), E.DataError),
        (EventSpec("BAG-1", "origin", o, "FR", data=[("k", 1)], at=T0), E.DataError),  # type: ignore[arg-type]
        (EventSpec("BAG-1", "origin", o, "FR", at=True), E.InputError),
        (EventSpec("BAG-1", "origin", o, "FR", at=-1), E.InputError),
        (EventSpec("BAG-1", "origin", o, "FR", at="today"), E.InputError),  # type: ignore[arg-type]
        (EventSpec("BAG-1", "origin", KeyPair.from_seed("stranger", b"s" * 32), "FR", at=T0), E.UnknownKeyError),
        (EventSpec("BAG-1", "nowhere", o, "FR", at=T0), E.StageError),
    ]
    size = ledger.size
    for bad, error in cases:
        with pytest.raises(error) as info:
            ledger.append_many([good, bad])
        message = str(info.value)
        assert message.startswith("events[1]"), message
        assert message.isprintable() and "\u202e" not in message, message  # hostile text is escaped
        assert ledger.size == size and ledger.head("BAG-0") is None


class _BadSigner:
    """A Signer whose signatures are not 64 bytes."""

    name = "grasse-labs"

    def __init__(self, real: KeyPair) -> None:
        self.key_id = real.key_id
        self.public_key = real.public_key

    def sign(self, message: bytes) -> bytes:
        return b"short"


def test_a_signer_that_returns_no_signature(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    with pytest.raises(E.InputError, match=r"^events\[0\].*64-byte"):
        ledger.append_many([EventSpec("BAG-1", "origin", _BadSigner(parties["origin"]), "FR", at=T0)])
    assert ledger.head("BAG-1") is None


# --- heads in one read, and stores ---------------------------------------------------------------------


def test_more_items_than_one_statement_takes(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    """1,200 items, 600 of them with earlier events: SQLite reads the heads 500 items a statement."""
    o, c = parties["origin"], parties["customs"]
    ledger.append_many([EventSpec(f"OLD-{n}", "origin", o, "FR", at=T0) for n in range(600)])
    old = {f"OLD-{n}": ledger.head(f"OLD-{n}") for n in range(600)}
    specs = []
    for n in range(600):
        specs.append(EventSpec(f"NEW-{n}", "origin", o, "FR", at=T0 + 1))
        specs.append(EventSpec(f"OLD-{599 - n}", "import", c, "CN", at=T0 + 2))
    got = ledger.append_many(specs)
    assert len(got) == 1200
    for n in (0, 1, 257, 599):
        item = f"OLD-{n}"
        ev = got[2 * (599 - n) + 1].content
        assert ev.item == item and ev.prev == old[item].leaf_hash  # type: ignore[union-attr]
        assert [h.stage for h in ledger.history(item)] == ["origin", "import"]
    ledger.checkpoint()
    assert audit_path(ledger.store.path, operator.vkey, workers=1).clean  # type: ignore[attr-defined]


def test_a_full_disk_in_the_middle_of_the_writes(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    journey(ledger, parties, "BAG-1")
    size, root = ledger.size, ledger.root()
    store = ledger.store
    assert isinstance(store, SqliteStore)
    store.set_max_pages(1)
    big = {f"k{i:02d}": "x" * 200 for i in range(16)}
    specs = [EventSpec(f"FULL-{n}", "origin", parties["origin"], "FR", data=big, at=T0) for n in range(300)]
    with pytest.raises(E.StorageError, match="full"):
        ledger.append_many(specs)
    assert (ledger.size, ledger.root()) == (size, root) and ledger.head("FULL-0") is None
    with pytest.raises(E.LedgerError, match="rolled back"), ledger.batch():  # inside a batch: it dooms the batch
        ledger.append("BAG-2", "origin", parties["origin"], country="FR", at=T0)
        with pytest.raises(E.StorageError, match="full"):
            ledger.append_many(specs)
        with pytest.raises(E.LedgerError, match="failed"):
            ledger.append_many(specs[:1])
    assert (ledger.size, ledger.root()) == (size, root) and ledger.head("BAG-2") is None
    store.set_max_pages(1 << 30)
    assert len(ledger.append_many(specs)) == 300
    assert audit_path(store.path, operator.vkey, workers=1).clean


class _PlainStore:
    """A real store seen only through the Store protocol: without the heads capability."""

    def __init__(self, store: Store) -> None:
        self._inner = store

    def __getattr__(self, name: str) -> Any:
        if name == "heads":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_store_without_the_heads_capability(tmp_path: Path, clock: Clock) -> None:
    parties = _parties()
    with _ledger(tmp_path / "a.db", clock) as a:
        journey(a, parties, "BAG-1")
    store = SqliteStore.open(str(tmp_path / "a.db"))
    plain = _PlainStore(store)
    assert not isinstance(plain, MultiHeadStore) and isinstance(store, MultiHeadStore)
    led = Ledger(plain, clock=clock)
    try:
        got = led.append_many([EventSpec("BAG-1", "return", parties["courier"], "CN", at=T0 + 50 * HOUR),
                               EventSpec("BAG-2", "origin", parties["origin"], "FR", at=T0)])  # fmt: skip
        assert got[0].content.prev == led.history("BAG-1")[-2].leaf_hash  # type: ignore[union-attr]
    finally:
        led.close()


def test_postgresql_stores_what_sqlite_stores(postgres_url: str, tmp_path: Path) -> None:
    parties = _parties()
    specs = []
    for n in range(40):
        specs += [EventSpec(f"BAG-{n}", "origin", parties["origin"], "FR", "Grasse", {"batch": f"B-{n}"}, T0 + n),
                  EventSpec(f"BAG-{n}", "import", parties["customs"], "CN", None, None, T0 + n + 1)]  # fmt: skip
    with _ledger(tmp_path / "s.db", Clock(T0 + 100 * HOUR)) as s, _ledger(postgres_url, Clock(T0 + 100 * HOUR)) as p:
        for led in (s, p):
            led.append_many(specs[:10])
            with led.batch():
                led.append("BAG-1", "warehouse", parties["warehouse"], country="CN", at=T0 + 9)
                led.append_many(specs[10:])
                with pytest.raises(E.StageOrderError, match=r"^events\[0\]"):
                    led.append_many([EventSpec("BAG-1", "origin", parties["origin"], "FR", at=T0 + 99)])
        assert _stored(s) == _stored(p)
        assert p.head("BAG-39") == s.head("BAG-39")


def test_signing_on_threads_gives_the_same_entries(tmp_path: Path, clock: Clock) -> None:
    """A thousand events signed on one, two and five threads (and a mixed list, which signs on the calling
    thread because one signer is no KeyPair): the same ledgers, byte for byte, audited clean."""

    class Wrapped:  # a Signer that is not a KeyPair (as a remote signer or an HSM would be)
        def __init__(self, kp: KeyPair) -> None:
            self.kp, self.name, self.key_id, self.public_key = kp, kp.name, kp.key_id, kp.public_key
            self.calls = 0

        def sign(self, message: bytes) -> bytes:
            self.calls += 1
            return self.kp.sign(message)

    p = _parties()
    specs = [EventSpec(f"T-{k}", "origin", p["origin"], "FR", None, {"n": k}, T0 + k) for k in range(1000)]
    stored = []
    for n, threads in enumerate((1, 2, 5, None)):
        with _ledger(tmp_path / f"t{n}.db", clock) as led:
            got = led.append_many(specs, threads=threads)
            assert all(len(e.signature) == 64 for e in got)
            stored.append(_stored(led))
    assert stored[1:] == stored[:1] * 3
    wrapped = Wrapped(p["origin"])
    mixed = [*specs[:500], EventSpec("T-x", "origin", wrapped, "FR", None, None, T0), *specs[500:]]
    with _ledger(tmp_path / "mixed.db", clock) as led:
        led.append_many(mixed, threads=4)
        assert wrapped.calls == 1
    vkey = KeyPair.from_seed(ORIGIN, bytes(range(32))).vkey
    assert audit_path(tmp_path / "mixed.db", vkey, workers=1).clean
    assert audit_path(tmp_path / "t2.db", vkey, workers=1).clean
    for bad in (0, 65, True, 1.5, "2"):
        with _ledger(tmp_path / "bad.db", clock) as led, pytest.raises(E.InputError, match="threads"):
            led.append_many(specs[:3], threads=bad)  # type: ignore[arg-type]
        (tmp_path / "bad.db").unlink()
