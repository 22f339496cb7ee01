"""provchain compare / provchain.equivocation: a forked operator is caught, with evidence anyone can check."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from clirun import fails, ok, run
from conftest import HOUR, ORIGIN, T0, Clock

from provchain.equivocation import check_evidence, compare, compare_with_ledger
from provchain.errors import ConsistencyError, InputError, NoteFormatError, NoteVerificationError
from provchain.keys import KeyPair
from provchain.ledger import Ledger


def fork(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair], common: int, a_more: int, b_more: int):  # type: ignore[no-untyped-def]
    """Two ledgers of one operator and origin: ``common`` events alike, then different ones. Returns
    (ledger A, ledger B, checkpoints of A, checkpoints of B), each checkpoint signed at every size."""
    leds, notes = [], []
    for name, more, verdict in (("a", a_more, "genuine"), ("b", b_more, "fake")):
        clock = Clock(T0 + 100 * HOUR)
        led = Ledger.create(tmp_path / f"{name}.db", origin=ORIGIN, operator=operator, at=T0, clock=clock)
        led.register_party("grasse-labs", ["origin"], parties["origin"].public_key, at=T0, valid_from=T0)
        cps = []
        for i in range(common + more):
            data = {"n": i} if i < common else {"verdict": verdict, "n": i}
            led.append(f"ITEM-{i}", "origin", parties["origin"], country="FR", data=data, at=T0 + HOUR + i)
            cps.append(led.checkpoint())
        leds.append(led)
        notes.append(cps)
    return leds[0], leds[1], notes[0], notes[1]


def size_of(note: bytes) -> int:
    return int(note.split(b"\n")[1])


def test_same_size_two_roots(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    a, b, na, nb = fork(tmp_path, operator, parties, 3, 2, 2)
    result = compare(na[-1], nb[-1], operator.vkey)
    assert not result.consistent and result.evidence is not None
    assert result.evidence.startswith(b"EQUIVOCATION: example.com/acme-ledger signed two checkpoints")
    assert "size 7 with two different roots" in check_evidence(result.evidence, operator.vkey)
    assert compare(na[-1], na[-1], operator.vkey).consistent
    assert compare(na[2], nb[2], operator.vkey).consistent  # the common prefix: same root
    a.close()
    b.close()


@pytest.mark.parametrize(("small", "large"), [(3, 5), (4, 6), (5, 7), (1, 6)])
def test_two_sizes_with_the_ledger(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair], small: int, large: int
) -> None:
    # small - 1 entries of the notes' index: entry 0 is the policy, 1 the registration, then events.
    a, b, na, nb = fork(tmp_path, operator, parties, 2, 6, 6)
    note_a = next(n for n in na if size_of(n) == small + 2)
    note_b = next(n for n in nb if size_of(n) == large + 2)
    result = compare_with_ledger(note_a, note_b, b)
    if small + 2 <= 4:  # inside the common prefix (2 registration entries and 2 common events)
        assert result.consistent
    else:
        assert not result.consistent and result.evidence is not None
        assert "does not extend" in check_evidence(result.evidence, operator.vkey)
        # the evidence alone (no ledger) convinces anyone holding the operator key
        assert check_evidence(result.evidence, operator.vkey) == result.message
    # A's own later checkpoint extends its earlier one
    later = next(n for n in na if size_of(n) == large + 2)
    assert compare_with_ledger(note_a, later, a).consistent
    if small + 2 > 4:
        with pytest.raises(InputError, match="does not hold the tree"):
            compare_with_ledger(note_a, note_b, a)
    a.close()
    b.close()


def test_proof_file_form_and_power_of_two(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    a, b, na, nb = fork(tmp_path, operator, parties, 1, 6, 6)
    note_a = next(n for n in na if size_of(n) == 5)  # not a power of two
    note_b = next(n for n in nb if size_of(n) == 8)
    proof = b.consistency_proof(5, 8)
    result = compare(note_a, note_b, operator.vkey, proof=proof)
    assert not result.consistent
    check_evidence(result.evidence or b"", operator.vkey)
    # size 4, a power of two: the proof alone cannot show B's prefix; the ledger can
    note_a4 = next(n for n in na if size_of(n) == 4)
    with pytest.raises(ConsistencyError, match="power of two"):
        compare(note_a4, note_b, operator.vkey, proof=b.consistency_proof(4, 8))
    result = compare_with_ledger(note_a4, note_b, b)
    assert not result.consistent
    check_evidence(result.evidence or b"", operator.vkey)
    with pytest.raises(InputError, match="consistency proof or the ledger"):
        compare(note_a, note_b, operator.vkey)
    with pytest.raises(ConsistencyError, match="proves nothing"):
        compare(note_a, note_b, operator.vkey, proof=[bytes(32)] * len(proof))
    a.close()
    b.close()


def test_evidence_cannot_be_forged(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    a, b, na, nb = fork(tmp_path, operator, parties, 2, 3, 3)
    ev = compare_with_ledger(na[-2], nb[-1], b).evidence
    assert ev is not None
    with pytest.raises(InputError, match="another operator"):
        check_evidence(ev, KeyPair.from_seed(ORIGIN, bytes(32)).vkey)
    # a different root in a note breaks its signature
    lines = ev.split(b"\n")
    i = next(k for k, line in enumerate(lines) if line == b"example.com/acme-ledger") + 2
    lines[i] = base64.b64encode(bytes(32))
    with pytest.raises(NoteVerificationError):
        check_evidence(b"\n".join(lines), operator.vkey)
    for broken in (ev[:-5], ev + b"x", ev.replace(b"EQUIVOCATION: ", b"EQUIVOCATION: not ", 1), b"junk"):
        with pytest.raises((NoteFormatError, NoteVerificationError)):
            check_evidence(broken, operator.vkey)
    # the honest pair (one extends the other) is no evidence, however it is dressed up
    honest = compare_with_ledger(na[1], na[-1], a)
    assert honest.consistent
    forged = compare(na[-1], nb[-1], operator.vkey).evidence
    assert forged is not None
    same = forged.replace(nb[-1], na[-1])
    with pytest.raises((ConsistencyError, NoteFormatError)):
        check_evidence(same, operator.vkey)
    a.close()
    b.close()


def test_cli(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    a, b, na, nb = fork(tmp_path, operator, parties, 2, 3, 3)
    pa, pb, pa2 = tmp_path / "a.note", tmp_path / "b.note", tmp_path / "a2.note"
    pa.write_bytes(na[-1])
    pb.write_bytes(nb[-1])
    pa2.write_bytes(na[-3])
    a.close()
    b.close()
    res = run("compare", str(pa), str(pb), "--operator", operator.vkey)
    assert res.exit_code == 1 and res.stdout.startswith("EQUIVOCATION: ")
    ev = tmp_path / "evidence"
    ev.write_text(res.stdout)
    res = run("compare", str(ev), "--operator", operator.vkey)
    assert res.exit_code == 1 and res.stdout.startswith("EQUIVOCATION: ") and "checks out" in res.stdout
    op = ("--operator", operator.vkey)
    assert ok("compare", str(pa2), str(pa), *op, "--ledger", str(tmp_path / "a.db")).stdout.startswith("CONSISTENT")
    res = run("compare", str(pa2), str(pb), "--operator", operator.vkey, "--ledger", str(tmp_path / "b.db"))
    assert res.exit_code == 1 and res.stdout.startswith("EQUIVOCATION: ")
    proof = tmp_path / "proof"
    with Ledger.open(tmp_path / "a.db", readonly=True) as led:
        hashes = led.consistency_proof(size_of(na[-3]), size_of(na[-1]))
    proof.write_text("".join(base64.b64encode(h).decode() + "\n" for h in hashes))
    assert ok("compare", str(pa2), str(pa), *op, "--proof", str(proof)).stdout.startswith("CONSISTENT")
    fails(2, "consistency proof or the ledger", "compare", str(pa2), str(pb), "--operator", operator.vkey)
    fails(2, "not a signed checkpoint", "compare", str(proof), str(pb), "--operator", operator.vkey)
    other = KeyPair.from_seed(ORIGIN, bytes(32)).vkey
    fails(1, "no verifiable signatures", "compare", str(pa), str(pb), "--operator", other)
    fails(2, "does not exist", "compare", str(tmp_path / "nope"), str(pb), "--operator", operator.vkey)
