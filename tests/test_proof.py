"""Tests for provchain.proof (C2SP tlog-proof) and Ledger.prove: round trips, the mutation catalogue, fuzzing,
and the worked example of docs/spec/checkpoints.md, regenerated here so the document cannot go stale."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import forge
import pytest
import rawdb
from conftest import HOUR, ORIGIN, T0, journey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain import errors as E
from provchain import merkle
from provchain.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.note import new_verifier
from provchain.proof import (
    MAX_PROOF_HASHES,
    TLOG_PROOF_HEADER,
    ProofFormatError,
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)

SPEC = Path(__file__).parent.parent / "docs" / "spec" / "checkpoints.md"
OTHER_ORIGIN = "example.com/other-ledger"


@pytest.fixture
def proved(ledger: Ledger, parties: dict[str, KeyPair]) -> Iterator[tuple[Ledger, bytes]]:
    """A ledger with three journeys, a checkpoint, and the tlog-proof of the middle item's head."""
    for n, item in enumerate(("A-1", "A-2", "A-3")):
        journey(ledger, parties, item, start=T0 + HOUR + n * 10 * HOUR)
    ledger.checkpoint()
    yield ledger, ledger.prove("A-2")


def _vkey(led: Ledger) -> str:
    return led.operator_vkey


# --- format and parse -----------------------------------------------------------------------------------


def test_ledger_proof_round_trips_and_verifies(proved: tuple[Ledger, bytes]) -> None:
    led, text = proved
    p = parse_tlog_proof(text)
    assert format_tlog_proof(p) == text
    head = led.head("A-2")
    assert head is not None and p.index == head.index
    assert p.extra == led.entry(head.index).body
    assert list(p.hashes) == led.inclusion_proof(head.index, led.size)
    assert p.checkpoint == led.latest_checkpoint()
    # the entry named three ways: by the extra data alone, by its leaf hash, by its body
    for kwargs in ({}, {"leaf_hash": head.leaf_hash}, {"body": p.extra}):
        cp = verify_tlog_proof(text, kwargs.get("leaf_hash"), _vkey(led), ORIGIN, body=kwargs.get("body"))
        assert cp == Checkpoint(ORIGIN, led.size, led.root())
    assert verify_tlog_proof(p, head.leaf_hash, _vkey(led), ORIGIN).size == led.size


def test_format_without_extra_matches_the_spec_layout(proved: tuple[Ledger, bytes]) -> None:
    led, text = proved
    p = replace(parse_tlog_proof(text), extra=None)
    out = format_tlog_proof(p)
    lines = out.split(b"\n")
    assert lines[0] == TLOG_PROOF_HEADER.encode() and lines[1] == f"index {p.index}".encode()
    assert [base64.b64decode(x) for x in lines[2 : 2 + len(p.hashes)]] == list(p.hashes)
    assert lines[2 + len(p.hashes)] == b""
    assert out.endswith(b"\n\n" + p.checkpoint)
    assert parse_tlog_proof(out) == p and format_tlog_proof(parse_tlog_proof(out)) == out
    head = led.head("A-2")
    assert head is not None
    verify_tlog_proof(out, head.leaf_hash, _vkey(led), ORIGIN)
    with pytest.raises(E.InputError, match="give the entry's leaf hash or body"):
        verify_tlog_proof(out, None, _vkey(led), ORIGIN)


def test_empty_extra_and_single_leaf_tree(tmp_path: Path, operator: KeyPair) -> None:
    cp = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(b"x")), operator)
    p = TlogProof(0, (), cp, b"x")
    text = format_tlog_proof(p)
    assert text.startswith(b"c2sp.org/tlog-proof@v1\nextra eA==\nindex 0\n\n")
    assert verify_tlog_proof(text, None, operator.vkey, ORIGIN).size == 1
    empty = TlogProof(0, (), sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(b"")), operator), b"")
    text = format_tlog_proof(empty)
    assert b"\nextra \nindex 0\n" in text  # Go's Marshal writes an empty extra line the same way
    assert parse_tlog_proof(text) == empty
    verify_tlog_proof(text, merkle.leaf_hash(b""), operator.vkey, ORIGIN)


GOOD_CP = (
    b"example.com/acme-ledger\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
    b"\xe2\x80\x94 example.com/acme-ledger AAAAAAAA\n"
)
H = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"", "blank line"),
        (b"c2sp.org/tlog-proof@v2\nindex 0\n\n" + GOOD_CP, "starts with"),
        (b"c2sp.org/tlog-proof@v1 \nindex 0\n\n" + GOOD_CP, "starts with"),
        (b"\nc2sp.org/tlog-proof@v1\nindex 0\n\n" + GOOD_CP, "starts with"),
        (b"c2sp.org/tlog-proof@v1\n\n" + GOOD_CP, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex\n\n" + GOOD_CP, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex 01\n\n" + GOOD_CP, "leading zeros"),
        (b"c2sp.org/tlog-proof@v1\nindex -1\n\n" + GOOD_CP, "leading zeros"),
        (b"c2sp.org/tlog-proof@v1\nindex +1\n\n" + GOOD_CP, "leading zeros"),
        (b"c2sp.org/tlog-proof@v1\nindex 18446744073709551615\n\n" + GOOD_CP, "decimal"),
        (b"c2sp.org/tlog-proof@v1\nindex  1\n\n" + GOOD_CP, "decimal"),
        (b"c2sp.org/tlog-proof@v1\nINDEX 1\n\n" + GOOD_CP, "index"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\nextra AA==\n\n" + GOOD_CP, "base64"),
        (b"c2sp.org/tlog-proof@v1\nextra AA=\nindex 1\n\n" + GOOD_CP, "base64"),
        (b"c2sp.org/tlog-proof@v1\nextra AB==\nindex 1\n\n" + GOOD_CP, "canonical"),
        (b"c2sp.org/tlog-proof@v1\nextra AA==\nextra AA==\nindex 1\n\n" + GOOD_CP, "index"),
        (f"c2sp.org/tlog-proof@v1\nindex 1\n{H[:-2]}\n\n".encode() + GOOD_CP, "base64"),
        (f"c2sp.org/tlog-proof@v1\nindex 1\n{H} \n\n".encode() + GOOD_CP, "base64"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n" + GOOD_CP, "3 bytes"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\r\n\n" + GOOD_CP, "decimal"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\xff\n\n" + GOOD_CP, "ASCII"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\n", "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\n\n" + GOOD_CP, "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\n" + GOOD_CP[:-1], "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\n" + GOOD_CP.split(b"\n\n")[0] + b"\n", "checkpoint"),
        (b"c2sp.org/tlog-proof@v1\nindex 1\n\nexample.com/x\n01\nAAAA\n\n\xe2\x80\x94 k AAAAAAAA\n", "checkpoint"),
        (
            ("c2sp.org/tlog-proof@v1\nindex 1\n" + f"{H}\n" * (MAX_PROOF_HASHES + 1) + "\n").encode() + GOOD_CP,
            "at most",
        ),
    ],
)
def test_parse_rejects(text: bytes, why: str) -> None:
    with pytest.raises(ProofFormatError, match=why):
        parse_tlog_proof(text)


def test_parse_accepts_the_edges() -> None:
    p = parse_tlog_proof(b"c2sp.org/tlog-proof@v1\nindex 18446744073709551614\n\n" + GOOD_CP)
    assert p.index == 2**64 - 2 and p.hashes == () and p.extra is None
    many = ("c2sp.org/tlog-proof@v1\nindex 0\n" + f"{H}\n" * MAX_PROOF_HASHES + "\n").encode() + GOOD_CP
    assert len(parse_tlog_proof(many).hashes) == MAX_PROOF_HASHES
    assert format_tlog_proof(parse_tlog_proof(many)) == many


def test_tlog_proof_checks_its_fields() -> None:
    for bad in (
        {"index": -1},
        {"index": True},
        {"index": 2**64 - 1},
        {"hashes": (b"short",)},
        {"hashes": "not a tuple"},
        {"checkpoint": b"not a note\n"},
        {"checkpoint": "text"},
        {"extra": "text"},
    ):
        with pytest.raises(E.InputError):
            TlogProof(**{"index": 0, "hashes": (), "checkpoint": GOOD_CP, "extra": None, **bad})  # type: ignore[arg-type]
    assert TlogProof(0, [bytes(32)], GOOD_CP).hashes == (bytes(32),)  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        format_tlog_proof(b"text")  # type: ignore[arg-type]
    with pytest.raises(ProofFormatError):
        parse_tlog_proof("text")  # type: ignore[arg-type]


# --- the mutation catalogue -------------------------------------------------------------------------


def _flip(h: bytes, bit: int) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def _mutations(p: TlogProof, other: KeyPair, operator: KeyPair) -> Iterator[tuple[str, TlogProof, type[Exception]]]:
    cp, note_sig = p.checkpoint.split(b"\n\n")
    text = Checkpoint.parse(cp + b"\n")
    yield "index - 1", replace(p, index=p.index - 1), E.InclusionError
    yield "index + 1", replace(p, index=p.index + 1), E.InclusionError
    yield "index ^ 2", replace(p, index=p.index ^ 2), E.InclusionError
    for i in range(len(p.hashes)):
        for bit in (0, 7):
            hashes = list(p.hashes)
            hashes[i] = _flip(hashes[i], bit)
            yield f"bit {bit} of hash {i}", replace(p, hashes=tuple(hashes)), E.InclusionError
    yield "truncated", replace(p, hashes=p.hashes[:-1]), E.InclusionError
    yield "extra hash at the end", replace(p, hashes=(*p.hashes, bytes(32))), E.InclusionError
    yield "extra hash in front", replace(p, hashes=(bytes(32), *p.hashes)), E.InclusionError
    yield "root appended", replace(p, hashes=(*p.hashes, text.root)), E.InclusionError
    yield "hashes swapped", replace(p, hashes=(*p.hashes[1:], p.hashes[0])), E.InclusionError
    yield "no hashes", replace(p, hashes=()), E.InclusionError
    assert p.extra is not None
    yield "other body", replace(p, extra=p.extra + b"\x00"), E.InclusionError
    yield (
        "wrong root",
        replace(p, checkpoint=sign_checkpoint(replace(text, root=bytes(32)), operator)),
        E.InclusionError,
    )
    yield (
        "size x2",
        replace(p, checkpoint=sign_checkpoint(replace(text, size=text.size * 2), operator)),
        E.InclusionError,
    )
    yield (
        "size / 2",
        replace(p, checkpoint=sign_checkpoint(replace(text, size=text.size // 2), operator)),
        E.InclusionError,
    )
    sig = base64.b64decode(note_sig.split(b" ")[-1])
    for pos in (4, 40, 67):  # a bit in R, in S, and the last byte
        bad = sig[:pos] + bytes([sig[pos] ^ 1]) + sig[pos + 1 :]
        line = note_sig.rsplit(b" ", 1)[0] + b" " + base64.b64encode(bad) + b"\n"
        yield f"signature byte {pos}", replace(p, checkpoint=cp + b"\n\n" + line), E.NoteVerificationError
    yield "signed by another key", replace(p, checkpoint=sign_checkpoint(text, other)), E.NoteVerificationError
    same_name = KeyPair.from_seed(operator.name, bytes(32))
    yield "another key, same name", replace(p, checkpoint=sign_checkpoint(text, same_name)), E.NoteVerificationError
    foreign = KeyPair.from_seed(OTHER_ORIGIN, bytes(range(32)))
    yield (
        "other origin",
        replace(p, checkpoint=sign_checkpoint(replace(text, origin=OTHER_ORIGIN), operator)),
        E.CheckpointError,
    )
    yield (
        "other ledger's key",
        replace(p, checkpoint=sign_checkpoint(replace(text, origin=OTHER_ORIGIN), foreign)),
        E.NoteVerificationError,
    )


def test_every_mutation_fails(proved: tuple[Ledger, bytes], operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    led, text = proved
    p = parse_tlog_proof(text)
    head = led.head("A-2")
    assert head is not None
    seen = 0
    for desc, bad, error in _mutations(p, parties["origin"], operator):
        bad_text = format_tlog_proof(bad)
        assert format_tlog_proof(parse_tlog_proof(bad_text)) == bad_text, desc
        with pytest.raises(error):
            verify_tlog_proof(bad_text, None, _vkey(led), ORIGIN)
        with pytest.raises(E.VerificationError):  # the same when the verifier names the entry itself
            verify_tlog_proof(bad_text, head.leaf_hash, _vkey(led), ORIGIN)
        seen += 1
    assert seen > 20
    # the untouched proof, the wrong leaf, the wrong pinned key and the wrong expected origin
    verify_tlog_proof(text, head.leaf_hash, _vkey(led), ORIGIN)
    with pytest.raises(E.InclusionError, match="extra data is not the body"):
        verify_tlog_proof(text, merkle.leaf_hash(b"another entry"), _vkey(led), ORIGIN)
    with pytest.raises(E.InclusionError):
        verify_tlog_proof(replace(p, extra=None), merkle.leaf_hash(b"another entry"), _vkey(led), ORIGIN)
    with pytest.raises(E.NoteVerificationError):
        verify_tlog_proof(text, None, parties["origin"].vkey, ORIGIN)
    with pytest.raises(E.CheckpointError):
        verify_tlog_proof(text, None, _vkey(led), OTHER_ORIGIN)


def test_verify_argument_errors(proved: tuple[Ledger, bytes]) -> None:
    led, text = proved
    head = led.head("A-2")
    assert head is not None
    with pytest.raises(E.InputError, match="name different entries"):
        verify_tlog_proof(text, head.leaf_hash, _vkey(led), ORIGIN, body=b"other")
    with pytest.raises(E.InputError, match="32 bytes"):
        verify_tlog_proof(text, head.leaf_hash[:31], _vkey(led), ORIGIN)
    with pytest.raises(E.InputError, match="operator key"):
        verify_tlog_proof(text, None, "not a key", ORIGIN)
    with pytest.raises(E.InputError):
        verify_tlog_proof(12, None, _vkey(led), ORIGIN)  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        verify_tlog_proof(text, None, _vkey(led), ORIGIN, body="text")  # type: ignore[arg-type]


# --- Ledger.prove -----------------------------------------------------------------------------------


def test_prove_needs_a_checkpoint_that_covers_the_head(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "B-1")
    with pytest.raises(E.LedgerError, match=r"no checkpoint.*sign a checkpoint first"):
        ledger.prove("B-1")
    ledger.checkpoint()
    size1 = ledger.size
    journey(ledger, parties, "B-2")
    with pytest.raises(E.LedgerError, match=f"latest checkpoint covers {size1} entries"):
        ledger.prove("B-2")
    with pytest.raises(E.InputError, match="no events for item"):
        ledger.prove("B-3")
    ledger.checkpoint()
    for item in ("B-1", "B-2"):
        head = ledger.head(item)
        assert head is not None
        assert verify_tlog_proof(ledger.prove(item), head.leaf_hash, _vkey(ledger), ORIGIN).size == ledger.size


def test_prove_at_a_stored_size(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("C-1", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    first = ledger.checkpoint()
    size1 = ledger.size
    ledger.append("C-1", "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
    ledger.checkpoint()
    old = parse_tlog_proof(ledger.prove("C-1", size1))
    assert old.index == size1 - 1 and old.checkpoint == first  # the head as of that checkpoint
    new = parse_tlog_proof(ledger.prove("C-1"))
    assert new.index == size1 and new.checkpoint == ledger.latest_checkpoint()
    assert parse_tlog_proof(ledger.prove("C-1", ledger.size)) == new
    with pytest.raises(E.InputError, match=f"no checkpoint of size 3 is stored .*{size1}, {ledger.size}"):
        ledger.prove("C-1", 3)
    with pytest.raises(E.InputError, match="size must be"):
        ledger.prove("C-1", ledger.size + 1)
    ledger.append("C-2", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    with pytest.raises(E.InputError, match="hold no events for item 'C-2'"):
        ledger.prove("C-2", size1)


def test_prove_refuses_a_rewritten_tree(ledger_path: Path, ledger: Ledger, parties: dict[str, KeyPair]) -> None:

    journey(ledger, parties, "D-1")
    ledger.checkpoint()
    ledger.close()
    conn = rawdb.connect(ledger_path)  # overwrite a stored hash under the root: the tree no longer matches
    (last,) = conn.execute("SELECT MAX(idx) FROM entries").fetchone()
    assert last < 15  # one incomplete block, computed from its bodies: rewrite an event
    forge.rewrite_event(conn, last)
    conn.commit()
    conn.close()
    with Ledger.open(ledger_path, readonly=True) as led, pytest.raises(E.ConsistencyError, match="rewritten"):
        led.prove("D-1")


# --- fuzzing --------------------------------------------------------------------------------------


def _only_provchain_errors(fn: Callable[[], object]) -> None:
    with contextlib.suppress(E.ProvchainError):
        fn()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_parse_random_bytes(data: bytes) -> None:
    _only_provchain_errors(lambda: parse_tlog_proof(data))
    _only_provchain_errors(lambda: parse_tlog_proof(b"c2sp.org/tlog-proof@v1\n" + data))


SAMPLE = format_tlog_proof(
    TlogProof(
        5,
        (bytes(range(32)), bytes(range(1, 33))),
        sign_checkpoint(Checkpoint(ORIGIN, 7, bytes(32)), KeyPair.from_seed(ORIGIN, bytes(range(32)))),
        b"body",
    )
)
SAMPLE_VKEY = KeyPair.from_seed(ORIGIN, bytes(range(32))).vkey


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SAMPLE) - 1),
            st.sampled_from(["flip", "drop", "insert"]),
            st.binary(min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_mutated_proofs(edits: list[tuple[int, str, bytes]]) -> None:
    data = bytearray(SAMPLE)
    for pos, op, b in edits:
        pos %= max(len(data), 1)
        if op == "flip" and data:
            data[pos] ^= b[0] or 1
        elif op == "drop":
            del data[pos : pos + len(b)]
        else:
            data[pos:pos] = b
    text = bytes(data)
    try:
        p = parse_tlog_proof(text)
    except E.ProvchainError:
        return
    assert format_tlog_proof(p) == text  # whatever parses is canonical
    _only_provchain_errors(lambda: verify_tlog_proof(text, None, SAMPLE_VKEY, ORIGIN))


# --- the worked example of docs/spec/checkpoints.md ----------------------------------------------------

EXAMPLE_SEED = bytes(range(32))


def worked_example(path: Path) -> dict[str, str]:
    """Build the ledger of the spec's worked example (deterministic keys and times) and return its values."""
    operator = KeyPair.from_seed(ORIGIN, EXAMPLE_SEED)
    maker = KeyPair.from_seed("grasse-labs", bytes([1]) * 32)
    broker = KeyPair.from_seed("shanghai-customs-broker", bytes([2]) * 32)
    led = Ledger.create(path, origin=ORIGIN, operator=operator, at=T0, clock=lambda: T0 + 100 * HOUR)
    try:
        led.register_party(maker.name, roles=["origin"], public_key=maker.public_key, at=T0, valid_from=T0)
        led.register_party(broker.name, roles=["customs"], public_key=broker.public_key, at=T0, valid_from=T0)
        led.append("SERUM-0001", "origin", maker, country="FR", place="Grasse", data={"batch": "B-17"}, at=T0 + HOUR)
        led.append("SERUM-0002", "origin", maker, country="FR", place="Grasse", data={"batch": "B-18"}, at=T0 + HOUR)
        led.append("SERUM-0001", "import", broker, country="CN", data={"declaration": "3101"}, at=T0 + 2 * HOUR)
        led.append("SERUM-0002", "import", broker, country="CN", data={"declaration": "3102"}, at=T0 + 2 * HOUR)
        checkpoint = led.checkpoint()
        proof = led.prove("SERUM-0001")
        p = parse_tlog_proof(proof)
        leaves = [e.leaf_hash for e in led.entries()]
        left, right, top = p.hashes  # index 5 of 7: leaf 4 on the left, leaf 6 on the right, then [0, 4)
        step1 = merkle.node_hash(left, leaves[5])
        step2 = merkle.node_hash(step1, right)
        walk = [("H(0x01 || proof[0] || leaf 5)", step1), ("H(0x01 || step 1 || proof[1])", step2)]
        walk.append(("H(0x01 || proof[2] || step 2)", merkle.node_hash(top, step2)))
        return {
            "vkey": operator.vkey,
            "checkpoint": checkpoint.decode(),
            "proof": proof.decode(),
            "leaf": leaves[p.index].hex(),
            "leaves": "\n".join(f"{i} {h.hex()}" for i, h in enumerate(leaves)),
            "root": led.root().hex(),
            "walk": "\n".join(f"step {n}  {what:<30} = {h.hex()}" for n, (what, h) in enumerate(walk, 1)),
        }
    finally:
        led.close()


def _doc_blocks(text: str) -> dict[str, str]:
    """The fenced code block after each ``<!-- example:NAME -->`` marker in the spec."""
    pattern = re.compile(r"<!-- example:([a-z]+) -->\n```[a-z]*\n(.*?)```", re.S)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def test_spec_worked_example(tmp_path: Path) -> None:
    want = worked_example(tmp_path / "example.db")
    got = _doc_blocks(SPEC.read_text(encoding="utf-8"))
    for name in ("vkey", "leaves", "root", "leaf", "checkpoint", "proof", "walk"):
        assert got.get(name, "").rstrip("\n") == want[name].rstrip("\n"), (
            f"docs/spec/checkpoints.md, block {name!r} is stale; it should read:\n{want[name]}"
        )
    # and the example verifies with the values the document gives
    cp = verify_tlog_proof(got["proof"].encode(), bytes.fromhex(got["leaf"]), got["vkey"].strip(), ORIGIN)
    assert cp.root.hex() == got["root"].strip()
    assert open_checkpoint(got["checkpoint"].encode(), ORIGIN, new_verifier(got["vkey"].strip()))[0] == cp
