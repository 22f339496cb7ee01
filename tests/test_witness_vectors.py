"""Real published cosignatures (Armored Witness, Sigsum witnesses) and the C2SP spec examples, verified with
provchain.witness; see tests/vectors/witness/README.md for their sources."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from provchain.checkpoint import Checkpoint
from provchain.errors import CosignatureError, NoteFormatError, QuorumError
from provchain.keys import check_key_name, format_vkey, verify_signature
from provchain.note import new_verifier
from provchain.note import open as open_note
from provchain.witness import (
    Cosignature,
    CosignatureVerifier,
    WitnessPolicy,
    format_witness_vkey,
    parse_witness_vkey,
    split_note,
)
from provchain.witness_server import parse_add_checkpoint

VECTORS = Path(__file__).parent / "vectors" / "witness"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text("utf-8"))


# --- Armored Witness: published 0x01 keys --------------------------------------------------------


AW = load("armored-witness.json")


@pytest.mark.parametrize("case", AW["notes"], ids=lambda c: c["desc"][:30])
def test_armored_witness_cosignatures_verify_with_published_0x01_keys(case: dict[str, Any]) -> None:
    note = case["note"].encode("utf-8")
    assert all(base64.b64decode(v.split("+", 2)[2])[0] == 0x01 for v in AW["witness_vkeys"])
    policy = WitnessPolicy.from_witnesses(AW["witness_vkeys"], 2)
    text, counted = policy.verify_note(note)
    assert [[c.name, c.timestamp] for c in counted] == case["want_cosigners"]
    Checkpoint.parse(text)
    if case["log_vkey"]:
        opened = open_note(note, [new_verifier(case["log_vkey"])])
        assert [s.name for s in opened.sigs] == [case["log_vkey"].split("+")[0]]
    # a quorum of 3 is not met by these two
    with pytest.raises(QuorumError):
        WitnessPolicy.from_witnesses(AW["witness_vkeys"], 3).verify_note(note)


def test_0x01_and_0x04_forms_of_one_key_are_one_witness() -> None:
    for vkey in AW["witness_vkeys"]:
        name, kid, pub = parse_witness_vkey(vkey)
        v04 = format_witness_vkey(name, pub)
        assert parse_witness_vkey(v04) == (name, kid, pub)
        assert CosignatureVerifier.from_vkey(vkey) == CosignatureVerifier.from_vkey(v04)
        assert v04.split("+")[1] == kid.hex()  # the 0x04 form carries the cosignature key id
        assert format_vkey(name, pub) == vkey  # and the 0x01 form is the note key as published


@pytest.mark.parametrize("what", ["signature", "timestamp", "text"])
def test_armored_witness_mutations_fail(what: str) -> None:
    note = AW["notes"][0]["note"].encode("utf-8")
    text, lines = split_note(note)
    cosig = Cosignature.from_line(lines[1])
    assert cosig is not None
    v = CosignatureVerifier.from_vkey(next(k for k in AW["witness_vkeys"] if k.startswith(cosig.name + "+")))
    v.check(text, cosig)
    if what == "signature":
        flipped = bytes([cosig.signature[0] ^ 1]) + cosig.signature[1:]
        bad = Cosignature(cosig.name, cosig.key_id, cosig.timestamp, flipped)
        target = text
    elif what == "timestamp":
        bad, target = Cosignature(cosig.name, cosig.key_id, cosig.timestamp + 1, cosig.signature), text
    else:
        bad, target = cosig, text.replace(b"\n59\n", b"\n60\n")
    with pytest.raises(CosignatureError):
        v.check(target, bad)


# --- Sigsum: raw keys as 0x04 verifier keys --------------------------------------------------------


SIGSUM = load("sigsum-barreleye.json")


def _sigsum_checkpoint() -> bytes:
    root = bytes.fromhex(SIGSUM["root_hash_hex"])
    log_key = bytes.fromhex(SIGSUM["log_key_hex"])
    assert hashlib.sha256(log_key).hexdigest() == SIGSUM["log_key_hash"]
    return Checkpoint(f"sigsum.org/v1/tree/{SIGSUM['log_key_hash']}", SIGSUM["size"], root).format()


def test_sigsum_log_signature_verifies_over_the_rebuilt_checkpoint() -> None:
    log_key, sig = bytes.fromhex(SIGSUM["log_key_hex"]), bytes.fromhex(SIGSUM["log_signature_hex"])
    verify_signature(log_key, _sigsum_checkpoint(), sig)


def test_sigsum_cosignatures_by_public_witnesses_verify() -> None:
    text = _sigsum_checkpoint()
    verifiers = {name: CosignatureVerifier(name, bytes.fromhex(k)) for name, k in SIGSUM["witnesses"].items()}
    by_hash = {hashlib.sha256(v.public_key).hexdigest(): v for v in verifiers.values()}
    cosigs, unknown = [], []
    for line in SIGSUM["cosignatures"]:
        key_hash, ts, sig = line.split()
        v = by_hash.get(key_hash)
        if v is None:
            unknown.append(key_hash)
            continue
        cosigs.append(Cosignature(v.name, v.key_id, int(ts), bytes.fromhex(sig)))
    assert unknown == SIGSUM["unknown_key_hashes"]
    vkeys = [v.vkey for v in verifiers.values()]
    assert all(base64.b64decode(v.split("+", 2)[2])[0] == 0x04 for v in vkeys)
    counted = WitnessPolicy.from_witnesses(vkeys, 4).verify_cosignatures(text, cosigs)
    assert sorted(c.name for c in counted) == SIGSUM["want_cosigners"]
    # as note lines, appended to the log's note, they verify the same way
    note = text + b"\n" + "".join(c.line() for c in cosigs).encode("utf-8")
    assert len(WitnessPolicy.from_witnesses(vkeys, 4).verify_note(note)[1]) == 4
    # the same cosignatures say nothing about another size
    origin, root = f"sigsum.org/v1/tree/{SIGSUM['log_key_hash']}", bytes.fromhex(SIGSUM["root_hash_hex"])
    other = Checkpoint(origin, SIGSUM["size"] + 1, root)
    with pytest.raises(CosignatureError):
        WitnessPolicy.from_witnesses(vkeys, 1).verify_cosignatures(other.format(), cosigs)


def test_published_witness_names_pass_the_key_name_rule() -> None:
    for name in [*SIGSUM["witnesses"], "transparency.dev/DEV:witness-little-garden"]:
        assert check_key_name(name) == name
    for vkey in AW["witness_vkeys"]:
        check_key_name(vkey.split("+")[0])


# --- the spec's examples --------------------------------------------------------------------------


C2SP = load("c2sp-examples.json")


def test_tlog_witness_request_example_parses() -> None:
    req = parse_add_checkpoint(C2SP["add_checkpoint_request"].encode("utf-8"))
    assert req.old == 20852014
    assert len(req.proof) == 4 and all(len(h) == 32 for h in req.proof)
    text, lines = split_note(req.note)
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert len(lines) == 2


def test_tlog_witness_response_example_is_cosignature_lines() -> None:
    """The example's bytes are random: two of its three lines have a timestamp above 2^63 - 1, which
    tlog-cosignature forbids and provchain refuses as malformed; the third parses and formats back."""
    lines = C2SP["add_checkpoint_response"].splitlines(keepends=True)
    assert len(lines) == 3
    assert all(len(base64.b64decode(line.split(" ")[2])) == 4 + 72 for line in lines)
    for line in lines[:2]:
        with pytest.raises(NoteFormatError, match="2\\^63"):
            Cosignature.from_line(line)
    cosig = Cosignature.from_line(lines[2])
    assert cosig is not None and cosig.name == "witness.example/w2" and cosig.key_id.hex() == "016ba2f1"
    assert cosig.line() == lines[2]  # format(parse(x)) == x


def test_tlog_cosignature_example_note() -> None:
    note = C2SP["cosigned_checkpoint"].encode("utf-8")
    text, lines = split_note(note)
    Checkpoint.parse(text)
    assert Cosignature.from_line(lines[0]) is None  # the log's Ed25519 signature: not a cosignature
    cosig = Cosignature.from_line(lines[1])
    assert cosig is not None and cosig.name == "witness.example.com/w1"
    assert cosig.key_id.hex() == "8d66cf3f"
    assert cosig.timestamp == 1679315147  # 2023-03-20T12:25:47Z
    # no trusted key of that name: the line is ignored, and the quorum of one fails
    stranger = CosignatureVerifier("witness.example.com/w1", bytes(range(32)))
    with pytest.raises(QuorumError):
        WitnessPolicy.from_witnesses([stranger.vkey], 1).verify_note(note)
