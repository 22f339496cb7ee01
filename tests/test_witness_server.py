"""The add-checkpoint decision (C2SP tlog-witness v1.0.0), in process over a real SQLite state file: every
status code of the spec, the state's durability and key binding, and a fuzzed request parser."""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import fails, ok, run
from conftest import ORIGIN, T0, journey
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import merkle
from provchain.checkpoint import Checkpoint, sign_checkpoint
from provchain.equivocation import check_evidence
from provchain.errors import InputError, KeyFormatError, WitnessRequestError, WitnessStateError
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import Cosignature, CosignatureVerifier, WitnessKey, split_note
from provchain.witness_server import (
    MAX_EVIDENCE,
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessState,
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_listen,
)

NOW = 1_760_000_000
WKEY = WitnessKey(KeyPair.from_seed("witness.example/w1", bytes([7]) * 32))


@pytest.fixture
def grown(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    """The shared ledger, with checkpoints at its size after registrations, after one and two journeys."""
    ledger.checkpoint()
    journey(ledger, parties, "SERUM-0001")
    ledger.checkpoint()
    journey(ledger, parties, "SERUM-0002", start=T0 + 20 * 3_600_000)
    ledger.checkpoint()
    return ledger


@pytest.fixture
def witness(tmp_path: Path, operator: KeyPair) -> Iterator[Witness]:
    state = WitnessState.open(tmp_path / "w.state", WKEY.vkey)
    yield Witness(WKEY, state, [operator.vkey], clock=lambda: NOW)
    state.close()


def notes(led: Ledger) -> list[tuple[int, bytes]]:
    return list(led.store.checkpoints())


def body(led: Ledger, old: int, size: int) -> bytes:
    note = dict(notes(led))[size]
    proof = led.consistency_proof(old, size) if 0 < old < size else []
    return format_add_checkpoint(old, proof, note)


def cosig_of(reply: bytes) -> Cosignature:
    lines = reply.decode().splitlines(keepends=True)
    assert len(lines) == 1
    c = Cosignature.from_line(lines[0])
    assert c is not None
    return c


def test_cosigns_and_advances(grown: Ledger, witness: Witness) -> None:
    (s1, n1), (s2, _), (s3, _) = notes(grown)
    r = witness.add_checkpoint(body(grown, 0, s1))
    assert (r.status, r.content_type) == (200, "text/plain; charset=utf-8")
    c = cosig_of(r.body)
    assert c.timestamp == NOW
    CosignatureVerifier.from_vkey(WKEY.vkey).check(split_note(n1)[0], c)
    # the next one needs the proof from s1
    assert witness.add_checkpoint(body(grown, s1, s2)).status == 200
    assert witness.add_checkpoint(body(grown, s2, s3)).status == 200
    assert witness.state.latest(ORIGIN) == (s3, grown.root(s3))
    # the same checkpoint again, from its own size: cosigned again (same root, empty proof)
    assert witness.add_checkpoint(body(grown, s3, s3)).status == 200


def test_wrong_old_size_is_409_with_the_witness_size(grown: Ledger, witness: Witness) -> None:
    (s1, _), (s2, _), _ = notes(grown)
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    for old in (0, s1 - 1):
        r = witness.add_checkpoint(body(grown, old, s2))
        assert (r.status, r.content_type, r.body) == (409, SIZE_CONTENT_TYPE, b"%d\n" % s1)


def test_unknown_origin_404_untrusted_signature_403(grown: Ledger, witness: Witness, operator: KeyPair) -> None:
    (s1, n1), *_ = notes(grown)
    other = KeyPair.from_seed("example.com/other", bytes(32))
    foreign = sign_checkpoint(Checkpoint("example.com/other", s1, grown.root(s1)), other)
    assert witness.add_checkpoint(format_add_checkpoint(0, [], foreign)).status == 404
    impostor = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)  # the right name, another key
    forged = sign_checkpoint(Checkpoint(ORIGIN, s1, grown.root(s1)), impostor)
    r = witness.add_checkpoint(format_add_checkpoint(0, [], forged))
    assert r.status == 403
    # a bad signature by the trusted key itself
    text, lines = split_note(n1)
    raw = base64.b64decode(lines[0].split(" ")[2])
    bad = text + b"\n" + f"\u2014 {ORIGIN} {base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()}\n".encode()
    assert witness.add_checkpoint(format_add_checkpoint(0, [], bad)).status == 403
    assert witness.state.latest(ORIGIN) is None  # nothing recorded


def test_old_above_size_is_400(grown: Ledger, witness: Witness) -> None:
    (s1, n1), *_ = notes(grown)
    r = witness.add_checkpoint(format_add_checkpoint(s1 + 1, [], n1))
    assert r.status == 400 and b"larger than the checkpoint size" in r.body


def test_bad_proof_is_422_and_changes_nothing(grown: Ledger, witness: Witness) -> None:
    (s1, _), (s2, n2), _ = notes(grown)
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    proof = grown.consistency_proof(s1, s2)
    for bad in ([bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]], proof[:-1], [*proof, bytes(32)], []):
        r = witness.add_checkpoint(format_add_checkpoint(s1, bad, n2))
        assert r.status == 422, bad
    assert witness.state.latest(ORIGIN) == (s1, grown.root(s1))


def test_a_proof_from_zero_must_be_empty(grown: Ledger, witness: Witness) -> None:
    (_s1, n1), *_ = notes(grown)
    assert witness.add_checkpoint(format_add_checkpoint(0, [bytes(32)], n1)).status == 422
    assert witness.state.latest(ORIGIN) is None


def fork_of(led: Ledger, operator: KeyPair, parties: dict[str, KeyPair], path: Path) -> Ledger:
    """A second ledger with the same origin, operator key and registrations, then different events."""
    fork = Ledger.create(path, origin=ORIGIN, operator=operator, at=T0, clock=lambda: T0 + 100 * 3_600_000)
    for role, kp in parties.items():
        fork.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    return fork


def test_equal_size_other_root_is_409(
    grown: Ledger, witness: Witness, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    (s1, _), (s2, _), _ = notes(grown)
    fork = fork_of(grown, operator, parties, tmp_path / "fork.db")
    journey(fork, parties, "SERUM-FAKE")  # as many events as SERUM-0001: the same size, another root
    assert fork.size == s2 and fork.root(s1) == grown.root(s1) and fork.root() != grown.root(s2)
    fork_note = fork.checkpoint()
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    assert witness.add_checkpoint(body(grown, s1, s2)).status == 200
    r = witness.add_checkpoint(format_add_checkpoint(s2, [], fork_note))
    assert (r.status, r.content_type) == (409, "text/plain; charset=utf-8")
    # and the fork's proof from s1 does not lead to the witness's size either
    r = witness.add_checkpoint(format_add_checkpoint(s1, fork.consistency_proof(s1, s2), fork_note))
    assert (r.status, r.body) == (409, b"%d\n" % s2)
    fork.close()


def test_concurrent_conflicting_requests_cosign_one(
    grown: Ledger, witness: Witness, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    (_, _), (_s2, n2), _ = notes(grown)
    fork = fork_of(grown, operator, parties, tmp_path / "fork.db")
    journey(fork, parties, "SERUM-FAKE")
    fork_note = fork.checkpoint()
    fork.close()
    bodies = [format_add_checkpoint(0, [], n2 if i % 2 else fork_note) for i in range(16)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def send(b: bytes) -> None:
        barrier.wait()
        statuses.append(witness.add_checkpoint(b).status)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 15


def test_state_is_durable_and_bound_to_its_key(grown: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    (s1, _), *_ = notes(grown)
    path = tmp_path / "state.db"
    state = WitnessState.open(path, WKEY.vkey)
    assert Witness(WKEY, state, [operator.vkey]).add_checkpoint(body(grown, 0, s1)).status == 200
    state.close()
    again = WitnessState.open(path, WKEY.vkey)
    assert again.latest(ORIGIN) == (s1, grown.root(s1))
    assert [row[:2] for row in again.logs()] == [(ORIGIN, s1)]
    assert again.note(ORIGIN) == dict(notes(grown))[s1]
    again.close()
    other = WitnessKey(KeyPair.from_seed("witness.example/w2", bytes([8]) * 32))
    with pytest.raises(WitnessStateError, match="belongs to witness key"):
        WitnessState.open(path, other.vkey)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(WitnessStateError):
        WitnessState.open(junk, WKEY.vkey)
    with pytest.raises(WitnessStateError, match="directory"):
        WitnessState.open(tmp_path, WKEY.vkey)


def test_witness_arguments_are_checked(tmp_path: Path, operator: KeyPair) -> None:
    state = WitnessState.open(tmp_path / "s.db", WKEY.vkey)
    with pytest.raises(InputError):
        Witness(WKEY, state, [])
    with pytest.raises(InputError):
        Witness(WKEY, state, operator.vkey)  # type: ignore[arg-type]
    with pytest.raises(KeyFormatError):
        Witness(WKEY, state, ["nonsense"])
    with pytest.raises(InputError):
        Witness(operator, state, [operator.vkey])  # type: ignore[arg-type]
    assert Witness(WKEY, state, [operator.vkey, operator.vkey]).origins == [ORIGIN]
    state.close()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ["127.0.0.1", ":80", "host:99999", "host:-1", "host:port", "[]:80", " :80"]:
        with pytest.raises(InputError):
            parse_listen(bad)


# --- the request parser ---------------------------------------------------------------------------

NOTE = sign_checkpoint(Checkpoint(ORIGIN, 5, merkle.EMPTY_ROOT), KeyPair.from_seed(ORIGIN, bytes(range(32))))


def test_parse_strictly() -> None:
    good = format_add_checkpoint(3, [bytes(32), bytes([1]) * 32], NOTE)
    req = parse_add_checkpoint(good)
    assert (req.old, req.proof, req.note) == (3, (bytes(32), bytes([1]) * 32), NOTE)
    h = base64.b64encode(bytes(32))
    bad = {
        "leading zero": b"old 03\n\n" + NOTE,
        "sign": b"old +3\n\n" + NOTE,
        "no old line": b"\n" + NOTE,
        "two spaces": b"old  3\n\n" + NOTE,
        "CRLF": b"old 3\r\n\r\n" + NOTE,
        "short hash": b"old 3\n" + base64.b64encode(bytes(31)) + b"\n\n" + NOTE,
        "non-canonical base64": b"old 3\n" + h[:-2] + b"B=\n\n" + NOTE,
        "no empty line": b"old 3\n" + h + b"\n" + NOTE,
        "too many proof lines": b"old 3\n" + (h + b"\n") * (MAX_PROOF_LINES + 1) + b"\n" + NOTE,
        "no note": b"old 3\n\n",
        "note without signature": b"old 3\n\n" + NOTE.split(b"\n\n")[0] + b"\n",
        "not a checkpoint": b"old 3\n\nhello\n\n" + NOTE.split(b"\n\n")[1],
        "above 2^64": b"old 18446744073709551616\n\n" + NOTE,
        "non-ASCII proof": b"old 3\n\xff\n\n" + NOTE,
        "huge": b"old 3\n\n" + NOTE + b"x" * 70000,
    }
    for what, b in bad.items():
        with pytest.raises(WitnessRequestError):
            parse_add_checkpoint(b)
        assert what
    assert len(parse_add_checkpoint(b"old 3\n" + (h + b"\n") * MAX_PROOF_LINES + b"\n" + NOTE).proof) == 63
    with pytest.raises(WitnessRequestError):
        parse_add_checkpoint("old 3\n\n")  # type: ignore[arg-type]


def test_format_checks_its_arguments() -> None:
    for args in [(-1, [], NOTE), (True, [], NOTE), (0, [bytes(31)], NOTE), (0, b"x" * 32, NOTE), (0, [], "note")]:
        with pytest.raises(InputError):
            format_add_checkpoint(*args)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_fuzz_parser_raises_only_request_errors(data: bytes) -> None:
    with contextlib.suppress(WitnessRequestError):
        parse_add_checkpoint(data)


@settings(max_examples=300)
@given(st.integers(0, 2**64 - 1), st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_LINES))
def test_fuzz_format_parse_round_trip(old: int, proof: list[bytes]) -> None:
    req = parse_add_checkpoint(format_add_checkpoint(old, proof, NOTE))
    assert (req.old, list(req.proof), req.note) == (old, proof, NOTE)


GOOD = format_add_checkpoint(0, [], NOTE)


@pytest.fixture(scope="module")
def fuzz_witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witness]:
    state = WitnessState.open(tmp_path_factory.mktemp("fuzz") / "w.db", WKEY.vkey)
    yield Witness(WKEY, state, [KeyPair.from_seed(ORIGIN, bytes(range(32))).vkey])
    state.close()


@settings(max_examples=300)
@given(data=st.data())
def test_fuzz_witness_answers_hostile_bodies_with_client_errors(fuzz_witness: Witness, data: st.DataObject) -> None:
    """Mutations of a valid body (flipped, inserted, deleted bytes) get 200 or a 4xx, never an exception."""
    b = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        i = data.draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=3))
        elif len(b) > 1:
            del b[i]
    reply = fuzz_witness.add_checkpoint(bytes(b))
    assert reply.status in (200, 400, 403, 404, 409, 422)
    assert reply.body.endswith(b"\n")


# --- evidence of equivocation ---------------------------------------------------------------------


def test_a_conflicting_signed_checkpoint_is_kept_as_evidence(
    grown: Ledger, witness: Witness, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    """The same size with another root, both signed by the operator: the witness refuses (409) and keeps
    the self-contained evidence, once, that anyone checks with the operator key alone."""
    _, (s2, _), _ = notes(grown)
    fork = fork_of(grown, operator, parties, tmp_path / "fork.db")
    journey(fork, parties, "SERUM-FAKE")
    fork_note = fork.checkpoint()
    fork.close()
    assert witness.add_checkpoint(body(grown, 0, s2)).status == 200
    for _ in range(2):  # sent twice: kept once
        r = witness.add_checkpoint(format_add_checkpoint(s2, [], fork_note))
        assert r.status == 409 and b"keeps the evidence" in r.body
    kept = witness.state.evidence()
    assert [(n, origin) for n, origin, *_ in kept] == [(1, ORIGIN)]
    _, _, found, statement, text = kept[0]
    assert found == NOW and f"size {s2} with two different roots" in statement
    assert check_evidence(text, operator.vkey) == statement
    assert witness.state.latest(ORIGIN) == (s2, grown.root(s2))  # still the first history


def test_a_proof_to_another_history_is_kept_as_evidence(
    grown: Ledger, witness: Witness, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    """A larger checkpoint whose consistency proof leads to its own root from another root at the witness's
    size (422): the proof shows what the operator's larger tree says the smaller tree was, so the refusal
    is evidence too."""
    _, (s2, _), _ = notes(grown)
    assert s2 & (s2 - 1), "the witness's size must not be a power of two (the proof would not fix its root)"
    fork = fork_of(grown, operator, parties, tmp_path / "fork.db")
    journey(fork, parties, "SERUM-FAKE")  # size s2 with another root
    journey(fork, parties, "SERUM-MORE", start=T0 + 20 * 3_600_000)
    assert fork.size > s2 and fork.root(s2) != grown.root(s2)
    fork_note = fork.checkpoint()
    proof = fork.consistency_proof(s2, fork.size)
    fork.close()
    assert witness.add_checkpoint(body(grown, 0, s2)).status == 200
    r = witness.add_checkpoint(format_add_checkpoint(s2, proof, fork_note))
    assert r.status == 422 and b"keeps the evidence" in r.body
    ((_, _, _, statement, text),) = witness.state.evidence()
    assert f"does not extend the tree of size {s2}" in statement
    assert check_evidence(text, operator.vkey) == statement


def test_a_proof_that_proves_nothing_keeps_nothing(grown: Ledger, witness: Witness) -> None:
    (s1, _), (s2, n2), _ = notes(grown)
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    proof = grown.consistency_proof(s1, s2)
    for bad in ([bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]], proof[:-1], [*proof, bytes(32)], []):
        r = witness.add_checkpoint(format_add_checkpoint(s1, bad, n2))
        assert r.status == 422 and b"evidence" not in r.body
    assert witness.state.evidence() == []


def test_evidence_is_capped_per_log(grown: Ledger, witness: Witness, operator: KeyPair) -> None:
    (s1, _), *_ = notes(grown)
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    for i in range(MAX_EVIDENCE + 3):
        other = sign_checkpoint(Checkpoint(ORIGIN, s1, bytes([i + 1]) * 32), operator)
        assert witness.add_checkpoint(format_add_checkpoint(s1, [], other)).status == 409
    kept = witness.state.evidence()
    assert len(kept) == MAX_EVIDENCE and [n for n, *_ in kept] == list(range(1, MAX_EVIDENCE + 1))


def test_cli_lists_and_prints_the_evidence(
    grown: Ledger, operator: KeyPair, tmp_path: Path
) -> None:
    wkey_path = tmp_path / "w.key"
    WKEY.save(wkey_path)
    state_path = tmp_path / "w.state"
    args = ["--key", str(wkey_path), "--state", str(state_path)]
    (s1, _), *_ = notes(grown)
    state = WitnessState.open(state_path, WKEY.vkey)
    w = Witness(WKEY, state, [operator.vkey], clock=lambda: NOW)
    assert w.add_checkpoint(body(grown, 0, s1)).status == 200
    assert "no evidence" in ok("witness", "evidence", *args).stdout
    other = sign_checkpoint(Checkpoint(ORIGIN, s1, bytes(32)), operator)
    assert w.add_checkpoint(format_add_checkpoint(s1, [], other)).status == 409
    state.close()
    status = run("witness", "status", *args)
    assert status.exit_code == 0 and "EQUIVOCATION" in status.stdout
    listed = run("witness", "evidence", *args)
    assert listed.exit_code == 1 and "two different roots" in listed.stdout
    as_json = run("witness", "evidence", *args, "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["evidence"][0]["number"] == 1
    printed = run("witness", "evidence", *args, "--number", "1")
    assert printed.exit_code == 1 and printed.stdout_bytes.startswith(b"EQUIVOCATION: ")
    (tmp_path / "evidence.txt").write_bytes(printed.stdout_bytes)
    checked = run("compare", str(tmp_path / "evidence.txt"), "--operator", operator.vkey)
    assert checked.exit_code == 1 and "the evidence checks out" in checked.stdout
    fails(2, "no evidence number 2", "witness", "evidence", *args, "--number", "2")


def test_the_statement_shown_is_checked_from_the_signed_notes(
    grown: Ledger, witness: Witness, operator: KeyPair
) -> None:
    """What the witness says its evidence proves comes from the evidence's signed notes, checked again at each
    read: a state file edited afterwards shows "not valid evidence", not a statement nobody signed."""
    (s1, _), *_ = notes(grown)
    assert witness.add_checkpoint(body(grown, 0, s1)).status == 200
    other = sign_checkpoint(Checkpoint(ORIGIN, s1, bytes(32)), operator)
    assert witness.add_checkpoint(format_add_checkpoint(s1, [], other)).status == 409
    ((_, _, _, statement, text),) = witness.state.evidence()
    assert statement == check_evidence(text, operator.vkey)
    forged = text.replace(base64.b64encode(bytes(32)), base64.b64encode(bytes([1]) * 32))
    assert forged != text
    conn = sqlite3.connect(witness.state.path)
    conn.execute("UPDATE evidence SET evidence = ?", (forged,))
    conn.commit()
    conn.close()
    ((_, _, _, statement, _),) = witness.state.evidence()
    assert statement.startswith("not valid evidence")
