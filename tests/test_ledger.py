"""The Ledger API: journeys, refusals with specific errors, nothing written on failure."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import forge
import pytest
import rawdb
from conftest import HOUR, ORIGIN, T0, Clock, journey

from provchain import KeyPair, Ledger, Policy
from provchain import errors as E
from provchain.entries import ENTRY_DOMAIN, Event, PartyRegistration, sign_body
from provchain.keys import verify_signature


def snapshot(led: Ledger) -> tuple[int, bytes, int]:
    """Everything that must not change after a refused write."""
    return led.size, led.root(), len(led.parties())


def test_full_journey(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "SERUM-0001")
    hist = ledger.history("SERUM-0001")
    assert [e.stage for e in hist] == ["origin", "import", "warehouse", "warehouse", "appraisal", "delivery"]
    assert [e.party for e in hist] == [
        "grasse-labs",
        "shanghai-customs-broker",
        "hz-bonded-wh-3",
        "hz-bonded-wh-3",
        "cciq-inspection",
        "sf-express",
    ]
    assert hist[0].country == "FR" and hist[0].place == "Grasse"
    assert hist[4].data == {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}
    assert hist[1].at - hist[0].at == HOUR
    # the chain: every event names the previous one's leaf hash
    for prev, cur in itertools.pairwise(hist):
        body = cur.entry.content
        assert isinstance(body, Event) and body.prev == prev.leaf_hash
    assert hist[0].entry.content.prev is None  # type: ignore[union-attr]
    # every signature is real
    for ev in hist:
        key = next(p for p in parties.values() if p.key_id == ev.key_id)
        verify_signature(key.public_key, ENTRY_DOMAIN + ev.entry.body, ev.entry.signature)
    assert ledger.history("UNKNOWN-ITEM") == []


def test_reopen_sees_everything(ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "BAG-1")
    root = ledger.root()
    ledger.close()
    with Ledger.open(ledger_path) as again:
        assert again.root() == root
        assert len(again.history("BAG-1")) == 6
        assert {p.name for p in again.parties()} == {p.name for p in parties.values()}
        assert again.origin == ORIGIN


def test_two_items_interleaved(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("A", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    ledger.append("B", "origin", parties["origin"], country="IT", at=T0 + HOUR)
    ledger.append("A", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
    ledger.append("B", "export", parties["origin"], country="IT", at=T0 + 2 * HOUR)
    assert [e.stage for e in ledger.history("A")] == ["origin", "import"]
    assert [e.stage for e in ledger.history("B")] == ["origin", "export"]


Refusal = Callable[[Ledger, dict[str, KeyPair]], object]

REFUSALS: list[tuple[str, Refusal, type[Exception], str]] = [
    ("unknown stage", lambda led, p: led.append("X", "teleport", p["origin"], country="FR"), E.StageError, "teleport"),
    (
        "malformed stage name",
        lambda led, p: led.append("X", "Tele Port", p["origin"], country="FR"),
        E.StageNameError,
        "not a valid stage name",
    ),
    ("invalid country", lambda led, p: led.append("X", "origin", p["origin"], country="XX"), E.CountryError, "XX"),
    ("lowercase country", lambda led, p: led.append("X", "origin", p["origin"], country="fr"), E.CountryError, "fr"),
    (
        "unregistered key",
        lambda led, p: led.append("X", "origin", KeyPair.from_seed("mallory", b"m" * 32), country="FR"),
        E.UnknownKeyError,
        "not registered",
    ),
    ("wrong role", lambda led, p: led.append("X", "origin", p["courier"], country="FR"), E.RoleError, "role origin"),
    (
        "stage out of order",
        lambda led, p: led.append("X", "delivery", p["courier"], country="CN"),
        E.StageOrderError,
        "cannot start",
    ),
    (
        "oversized data",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", data={"note": "x" * 300}),
        E.DataError,
        "256",
    ),
    (
        "too many data keys",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", data={f"k{i}": "v" for i in range(17)}),
        E.DataError,
        "16",
    ),
    (
        "non-serializable data",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", data={"price": 12.5}),
        E.DataError,
        "decimal strings",
    ),
    (
        "nested data",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", data={"a": {"b": "c"}}),
        E.DataError,
        "text or an integer",
    ),
    (
        "bad data key",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", data={"Bad Key": "v"}),
        E.DataError,
        "not valid",
    ),
    ("empty item", lambda led, p: led.append("", "origin", p["origin"], country="FR"), E.ItemError, "non-empty"),
    ("item with spaces", lambda led, p: led.append("a b", "origin", p["origin"], country="FR"), E.ItemError, "a space"),
    ("long item", lambda led, p: led.append("x" * 129, "origin", p["origin"], country="FR"), E.ItemError, "128"),
    (
        "control char in place",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", place="a\x00b"),
        E.DataError,
        "control",
    ),
    (
        "future event",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", at=T0 + 200 * HOUR),
        E.TimeError,
        "future",
    ),
    (
        "before key validity",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", at=T0 - 1),
        E.ExpiredKeyError,
        "valid from",
    ),
    ("signer not a Signer", lambda led, p: led.append("X", "origin", "key", country="FR"), E.InputError, "Signer"),
    (
        "naive datetime",
        lambda led, p: led.append("X", "origin", p["origin"], country="FR", at=datetime(2025, 1, 1)),
        E.InputError,
        "timezone",
    ),
]


@pytest.mark.parametrize(("name", "call", "exc", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_leave_ledger_unchanged(
    ledger: Ledger, parties: dict[str, KeyPair], name: str, call: Refusal, exc: type[Exception], words: str
) -> None:
    before = snapshot(ledger)
    with pytest.raises(exc, match=words) as info:
        call(ledger, parties)
    assert isinstance(info.value, E.ProvchainError)
    assert snapshot(ledger) == before


def test_stage_order_and_terminal_stage(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "S1")
    before = snapshot(ledger)
    with pytest.raises(E.StageOrderError, match="after 'delivery' comes: return"):
        ledger.append("S1", "warehouse", parties["warehouse"], country="CN", at=T0 + 10 * HOUR)
    ledger.append("S2", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    with pytest.raises(E.StageOrderError, match="may not follow 'origin'"):
        ledger.append("S2", "warehouse", parties["warehouse"], country="CN", at=T0 + 2 * HOUR)
    with pytest.raises(E.TimeError, match="before the item's previous event"):
        ledger.append("S2", "import", parties["customs"], country="CN", at=T0)
    assert ledger.size == before[0] + 1


def test_revoked_key_refused(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("R1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    [rev] = ledger.revoke_party(parties["origin"].key_id, reason="key leaked", at=T0 + 2 * HOUR)
    assert rev.kind == "revoke"
    before = snapshot(ledger)
    with pytest.raises(E.RevokedKeyError, match="revoked by entry"):
        ledger.append("R2", "origin", parties["origin"], country="FR", at=T0 + 3 * HOUR)
    assert snapshot(ledger) == before
    with pytest.raises(E.InputError, match="already revoked"):
        ledger.revoke_party(parties["origin"].key_id.hex())
    with pytest.raises(E.InputError, match="not registered"):
        ledger.revoke_party("nobody")
    # the history recorded before the revocation stays readable
    assert [e.party for e in ledger.history("R1")] == ["grasse-labs"]


def test_key_rotation(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    new = KeyPair.from_seed("grasse-labs", b"n" * 32)
    ledger.revoke_party(parties["origin"].vkey, at=T0)
    ledger.register_party("grasse-labs", roles=["origin"], public_key=new.public_key, at=T0, valid_from=T0)
    ledger.append("ROT", "origin", new, country="FR", at=T0 + HOUR)
    assert ledger.history("ROT")[0].party == "grasse-labs"
    with pytest.raises(E.RevokedKeyError):
        ledger.append("ROT2", "origin", parties["origin"], country="FR", at=T0 + HOUR)


def test_second_key_under_a_name_is_refused_unless_a_rotation(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    new = KeyPair.from_seed("grasse-labs", b"n" * 32)
    before = snapshot(ledger)
    # The old key is neither revoked nor expired: the new one would sign as the same party at the same time.
    with pytest.raises(E.VerificationError, match=r"already held by key 395bfbb3.*rotation"):
        ledger.register_party("grasse-labs", roles=["origin"], public_key=new.public_key, at=T0, valid_from=T0)
    assert snapshot(ledger) == before
    assert [p.name for p in ledger.parties()].count("grasse-labs") == 1
    ledger.revoke_party(parties["origin"].key_id, at=T0)
    ledger.register_party("grasse-labs", roles=["origin"], public_key=new.public_key, at=T0, valid_from=T0)
    # A third key while the second is active is refused again: every earlier key must be retired.
    third = KeyPair.from_seed("grasse-labs", b"3" * 32)
    with pytest.raises(E.VerificationError, match="already held by key"):
        ledger.register_party("grasse-labs", roles=["origin"], public_key=third.public_key, at=T0, valid_from=T0)


def test_rotation_by_validity_window(ledger: Ledger) -> None:
    old = KeyPair.from_seed("seasonal-courier", b"o" * 32)
    new = KeyPair.from_seed("seasonal-courier", b"p" * 32)
    ledger.register_party(
        "seasonal-courier", ["origin"], old.public_key, valid_from=T0, valid_until=T0 + 2 * HOUR, at=T0
    )
    # Starting one millisecond before the old window ends overlaps it: refused.
    with pytest.raises(E.VerificationError, match="already held"):
        ledger.register_party("seasonal-courier", ["origin"], new.public_key, valid_from=T0 + 2 * HOUR - 1, at=T0)
    # Starting when it ends is the successor: accepted, and each key signs in its own window.
    ledger.register_party("seasonal-courier", ["origin"], new.public_key, valid_from=T0 + 2 * HOUR, at=T0)
    ledger.append("WIN1", "origin", old, country="FR", at=T0 + HOUR)
    ledger.append("WIN2", "origin", new, country="FR", at=T0 + 3 * HOUR)
    assert [(e.party, e.key_id) for e in ledger.history("WIN2")] == [("seasonal-courier", new.key_id)]


def test_validity_window(ledger: Ledger, operator: KeyPair) -> None:
    temp = KeyPair.from_seed("seasonal-courier", b"t" * 32)
    ledger.register_party(
        "seasonal-courier",
        roles=["origin"],
        public_key=temp.public_key,
        valid_from=T0 + HOUR,
        valid_until=T0 + 3 * HOUR,
        at=T0,
    )
    ledger.append("W1", "origin", temp, country="FR", at=T0 + 2 * HOUR)
    with pytest.raises(E.ExpiredKeyError, match="valid from"):
        ledger.append("W2", "origin", temp, country="FR", at=T0 + 3 * HOUR)


def test_operator_actions_need_operator(ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.close()
    with Ledger.open(ledger_path) as led:
        with pytest.raises(E.OperatorKeyError, match="operator key"):
            led.register_party("x", roles=["origin"], public_key=b"\x01" * 32)
        with pytest.raises(E.OperatorKeyError):
            led.checkpoint()
    with pytest.raises(E.WrongKeyError, match="not this ledger's operator key"):
        Ledger.open(ledger_path, operator=KeyPair.from_seed(ORIGIN, b"z" * 32))


def test_register_party_validation(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    before = snapshot(ledger)
    cases: list[tuple[Callable[[], object], type[Exception]]] = [
        (lambda: ledger.register_party("has space", roles=["origin"], public_key=b"\x01" * 32), E.InputError),
        (lambda: ledger.register_party("ok", roles=[], public_key=b"\x01" * 32), E.InputError),
        (lambda: ledger.register_party("ok", roles="origin", public_key=b"\x01" * 32), E.InputError),  # type: ignore[arg-type]
        (lambda: ledger.register_party("ok", roles=["Bad Role"], public_key=b"\x01" * 32), E.InputError),
        (lambda: ledger.register_party("ok", roles=["origin"], public_key=b"\x01" * 31), E.InputError),
        (
            lambda: ledger.register_party("ok", roles=["origin"], public_key=bytes(32)),
            E.VerificationError,
        ),  # small order
        (
            lambda: ledger.register_party(
                parties["origin"].name, roles=["origin"], public_key=parties["origin"].public_key
            ),
            E.VerificationError,
        ),  # same key twice
        (
            lambda: ledger.register_party(ORIGIN, roles=["origin"], public_key=operator.public_key),
            E.VerificationError,
        ),
        (
            lambda: ledger.register_party("ok", roles=["origin"], public_key=b"\x01" * 32, valid_from=5, valid_until=5),
            E.InputError,
        ),
    ]
    for call, exc in cases:
        with pytest.raises(exc):
            call()
        assert snapshot(ledger) == before


def test_batch_commits_once_and_survives_refusals(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    before = ledger.size
    with ledger.batch():
        ledger.append("B1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        with pytest.raises(E.RoleError):
            ledger.append("B2", "origin", parties["courier"], country="FR", at=T0 + HOUR)
        ledger.append("B1", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
    assert ledger.size == before + 2
    assert [e.stage for e in ledger.history("B1")] == ["origin", "import"]
    assert ledger.history("B2") == []


def test_reads_inside_a_batch_see_its_appends(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    """The store queues a batch's rows and hands them to SQLite in groups: every read in between, through
    any API, must still see every append of the batch so far (on both sides of a group boundary)."""
    from provchain import merkle

    start = ledger.size
    with ledger.batch():
        for n in range(150):
            item = f"R{n // 2}"  # two events each: the second reads a head that may still be queued
            if n % 2 == 0:
                entry = ledger.append(item, "origin", parties["origin"], country="FR", at=T0 + HOUR + n)
                continue
            entry = ledger.append(item, "export", parties["origin"], country="FR", at=T0 + HOUR + n)
            # reads only now and then: in between the queue fills, crosses 64 rows (written by the append
            # itself) and fills again, so the reads find rows both queued and already in SQLite
            if n in (1, 67, 141, 149):
                assert ledger.size == start + n + 1
                assert ledger.entry(start + n) == entry
                assert ledger.history(item)[-1].leaf_hash == entry.leaf_hash
                leaves = [e.leaf_hash for e in ledger.entries()]
                assert len(leaves) == start + n + 1
                assert ledger.root() == merkle.root(leaves)
                merkle.verify_inclusion(entry.leaf_hash, start + n, len(leaves),
                                        ledger.inclusion_proof(start + n), merkle.root(leaves))  # fmt: skip
        # a remote party's event against a head that is still queued (prepare_event asks the store)
        first = ledger.append("R-remote", "origin", parties["origin"], country="FR", at=T0 + 2 * HOUR)
        ev = ledger.prepare_event("R-remote", "export", parties["origin"].key_id, country="FR", at=T0 + 2 * HOUR)
        assert ev.prev == first.leaf_hash
        ledger.submit(sign_body(ev, parties["origin"]))
    assert ledger.size == start + 152
    assert ledger.root() == merkle.root([e.leaf_hash for e in ledger.entries()])
    assert [h.stage for h in ledger.history("R-remote")] == ["origin", "export"]


def test_batch_rolls_back_on_exception(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    before = snapshot(ledger)
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.append("C1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        raise RuntimeError("the caller changed its mind")
    assert snapshot(ledger) == before
    # and the ledger still works, with a tree consistent with its entries
    ledger.append("C1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    from provchain import merkle

    assert ledger.root() == merkle.root([e.leaf_hash for e in ledger.entries()])


def test_submit_remote_signed(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("RS", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    customs = parties["customs"]
    ev = ledger.prepare_event("RS", "import", customs.key_id, country="CN", at=T0 + 2 * HOUR)
    assert ledger.size == 7  # prepare writes nothing
    # the remote party signs on its own machine
    entry = sign_body(ev, customs)
    stored = ledger.submit(entry)
    assert stored.index == 7 and stored.body == entry.body
    assert [e.stage for e in ledger.history("RS")] == ["origin", "import"]


def test_submit_stale_head_refused(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("ST", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    ev = ledger.prepare_event("ST", "export", parties["origin"].key_id, country="FR", at=T0 + 2 * HOUR)
    signed = sign_body(ev, parties["origin"])
    ledger.append("ST", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)  # someone else moved first
    before = snapshot(ledger)
    with pytest.raises(E.StaleHeadError, match="moved on"):
        ledger.submit(signed)
    assert snapshot(ledger) == before


def test_submit_bad_signature_and_forged_party(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    ev = ledger.prepare_event("SB", "origin", parties["origin"].key_id, country="FR", at=T0 + HOUR)
    good = sign_body(ev, parties["origin"])
    before = snapshot(ledger)
    from provchain.entries import Entry

    with pytest.raises(E.SignatureError):
        ledger.submit(Entry(good.body, bytes(64)))
    flipped = bytearray(good.signature)
    flipped[5] ^= 1
    with pytest.raises(E.SignatureError):
        ledger.submit(Entry(good.body, bytes(flipped)))
    # a party registration signed by a party instead of the operator
    mallory = KeyPair.from_seed("mallory", b"m" * 32)
    reg = PartyRegistration(
        origin=ORIGIN,
        at=T0,
        signer=parties["origin"].key_id,
        name="mallory",
        roles=("appraiser",),
        key=mallory.public_key,
        valid_from=T0,
    )
    with pytest.raises(E.OperatorKeyError):
        ledger.submit(sign_body(reg, parties["origin"]))
    # an event for another ledger
    other = Event(
        origin="other.example/ledger",
        at=T0 + HOUR,
        signer=parties["origin"].key_id,
        item="SB",
        stage="origin",
        country="FR",
    )
    with pytest.raises(E.OriginError):
        ledger.submit(sign_body(other, parties["origin"]))
    with pytest.raises(E.EncodingError):
        ledger.submit(Entry(b"\x80", good.signature))
    assert snapshot(ledger) == before


def test_custom_policy(tmp_path: Path, operator: KeyPair) -> None:
    policy = Policy.build(
        {
            "harvest": (["farm"], [], True),
            "roast": (["roaster"], ["harvest", "roast"], False),
            "sale": (["shop"], ["roast"], False),
        }
    )
    clock = Clock(T0 + 10 * HOUR)
    with Ledger.create(tmp_path / "c.db", origin=ORIGIN, operator=operator, policy=policy, at=T0, clock=clock) as led:
        farm = KeyPair.from_seed("finca", b"f" * 32)
        led.register_party("finca", roles=["farm"], public_key=farm.public_key, at=T0, valid_from=T0)
        led.append("LOT-9", "harvest", farm, country="CO", at=T0 + HOUR)
        with pytest.raises(E.StageError, match="harvest, roast, sale"):
            led.append("LOT-9", "origin", farm, country="CO", at=T0 + HOUR)
        assert led.policy == policy


def test_create_and_open_errors(tmp_path: Path, operator: KeyPair) -> None:
    with pytest.raises(E.LedgerNotFoundError, match="no ledger"):
        Ledger.open(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 10)
    with pytest.raises(E.ForeignLedgerError, match="not an SQLite"):
        Ledger.open(junk)
    other = tmp_path / "other.db"
    rawdb.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(E.ForeignLedgerError, match="not a provchain ledger"):
        Ledger.open(other)
    with pytest.raises(E.ForeignLedgerError, match="directory"):
        Ledger.open(tmp_path)
    path = tmp_path / "l.db"
    Ledger.create(path, origin=ORIGIN, operator=operator).close()
    with pytest.raises(E.LedgerExistsError):
        Ledger.create(path, origin=ORIGIN, operator=operator)
    with pytest.raises(E.InputError, match="named after the ledger origin"):
        Ledger.create(tmp_path / "n.db", origin="another.example/x", operator=operator)
    assert not (tmp_path / "n.db").exists()


def test_proofs_from_the_ledger(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    from provchain import merkle

    for i in range(4):
        journey(ledger, parties, f"P{i}")
    leaves = [e.leaf_hash for e in ledger.entries()]
    n = ledger.size
    assert ledger.root() == merkle.root(leaves)
    for size in (1, 2, 7, 16, n):
        root = ledger.root(size)
        for index in {0, size // 2, size - 1}:
            proof = ledger.inclusion_proof(index, size)
            merkle.verify_inclusion(leaves[index], index, size, proof, root)
        for old in {1, size // 3 or 1, size}:
            merkle.verify_consistency(old, size, ledger.consistency_proof(old, size), ledger.root(old), root)
    with pytest.raises(E.InputError):
        ledger.inclusion_proof(n, n)
    with pytest.raises(E.InputError):
        ledger.root(n + 1)


def test_checkpoints_never_inconsistent(ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    from provchain.checkpoint import open_checkpoint
    from provchain.note import new_verifier

    journey(ledger, parties, "K1")
    first = ledger.checkpoint()
    cp, _ = open_checkpoint(first, ORIGIN, new_verifier(ledger.operator_vkey))
    assert cp.size == ledger.size and cp.root == ledger.root()
    journey(ledger, parties, "K2")
    second = ledger.checkpoint()
    assert ledger.latest_checkpoint() == second
    assert ledger.check_consistency(first).size == cp.size
    ledger.close()
    # an attacker rewrites an early entry and rebuilds a self-consistent tree over it: the ledger
    # refuses to sign a checkpoint that is inconsistent with the one it signed before
    from provchain import merkle

    conn = rawdb.connect(ledger_path)
    forge.set_node(conn, 0, 3, merkle.leaf_hash(b"forged"))  # entry 3's leaf hash, in block 0's tile
    leaves = forge.rebuild_tree(conn)
    conn.commit()
    conn.close()
    with Ledger.open(ledger_path, operator=KeyPair.from_seed(ORIGIN, bytes(range(32)))) as led:
        assert led.root() == merkle.root(leaves)  # the forged tree is self-consistent
        with pytest.raises(E.ConsistencyError, match="history was rewritten"):
            led.checkpoint()
        with pytest.raises(E.ConsistencyError):
            led.check_consistency(second)


def test_operator_entries_are_checked_before_signing(
    ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]
) -> None:
    """What the operator writes must read back: times and reasons within bounds (regression)."""
    before = snapshot(ledger)
    other = KeyPair.from_seed("late-party", b"l" * 32)
    with pytest.raises(E.InputError, match="milliseconds"):
        ledger.register_party("late-party", roles=["origin"], public_key=other.public_key, at=2**53)
    with pytest.raises(E.InputError, match="256 bytes"):
        ledger.revoke_party(parties["courier"].key_id, reason="é" * 200)  # 200 characters, 400 bytes
    with pytest.raises(E.InputError, match="control"):
        ledger.revoke_party(parties["courier"].key_id, reason="bad\nreason")
    assert snapshot(ledger) == before
    ledger.close()
    with Ledger.open(ledger_path) as again:
        assert len(again.parties()) == 5


def test_same_public_key_under_two_names_refused(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    """Revoking a key must not leave it valid under another name."""
    before = snapshot(ledger)
    with pytest.raises(E.VerificationError, match="already registered"):
        ledger.register_party("alias-of-courier", roles=["origin"], public_key=parties["courier"].public_key)
    assert snapshot(ledger) == before


@pytest.mark.parametrize("item", [None, 5, ["a"], b"bytes", {"a": 1}])
def test_item_of_wrong_type(ledger: Ledger, parties: dict[str, KeyPair], item: object) -> None:
    before = snapshot(ledger)
    with pytest.raises(E.ItemError):
        ledger.append(item, "origin", parties["origin"], country="FR")  # type: ignore[arg-type]
    assert snapshot(ledger) == before


def test_proofs_follow_a_ledger_that_grows_under_them(
    ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]
) -> None:
    """A proof reads the size in the same statement as its nodes, planning for the size the previous proof
    saw: when another writer has appended since, the answer must still be for the current size, and an
    index or size that only the grown ledger has must be accepted."""
    from provchain import merkle

    journey(ledger, parties, "G1")
    with Ledger.open(ledger_path, readonly=True) as reader:
        n = reader.size
        reader.inclusion_proof(0)  # the reader has seen size n
        for k in range(40):  # the writer (another connection) grows the ledger past blocks of 16
            ledger.append(f"G-{k}", "origin", parties["origin"], country="FR", at=T0 + HOUR)
            size = ledger.size
            leaves = [e.leaf_hash for e in ledger.entries()]
            root = merkle.root(leaves)
            # first a request that fits the size the reader saw last: it must still be for the new size
            if k % 4 == 0:
                assert reader.root() == root
            elif k % 4 == 1:
                merkle.verify_inclusion(leaves[3], 3, size, reader.inclusion_proof(3), root)
            elif k % 4 == 2:
                merkle.verify_consistency(n, size, reader.consistency_proof(n), merkle.root(leaves[:n]), root)
            else:  # an explicit size the reader has not seen yet
                assert reader.root(size) == root
                assert reader.inclusion_proof(3, size) == ledger.inclusion_proof(3, size)
            proof = reader.inclusion_proof(size - 1)  # only the grown ledger has this index
            merkle.verify_inclusion(leaves[-1], size - 1, size, proof, root)
        with pytest.raises(E.InputError, match=f"size must be an integer from 0 to the ledger size {size}"):
            reader.root(size + 1)
        with pytest.raises(E.InputError, match=f"below the tree size {size}"):
            reader.inclusion_proof(size)
        with pytest.raises(E.InputError, match=f"from 0 to size2 \\({size}\\)"):
            reader.consistency_proof(size + 1)
