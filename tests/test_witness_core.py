"""provchain.witness: cosignature/v1 keys and signatures, tlog-policy parsing and quorums, witness key files."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provchain.checkpoint import Checkpoint
from provchain.errors import (
    CosignatureError,
    KeyFormatError,
    NoteFormatError,
    QuorumError,
    WitnessKeyError,
    WitnessPolicyError,
)
from provchain.keys import KeyPair
from provchain.witness import (
    COSIGNATURE_V1_HEADER,
    Cosignature,
    CosignatureVerifier,
    WitnessKey,
    WitnessPolicy,
    cosignature_key_id,
    cosigned_message,
    format_witness_vkey,
    parse_witness_vkey,
)

TEXT = Checkpoint("example.com/log", 7, bytes(range(32))).format()
T = 1_764_800_000


def wkey(n: int, name: str | None = None) -> WitnessKey:
    return WitnessKey(KeyPair.from_seed(name or f"witness.example/w{n}", bytes([n]) * 32))


# --- keys and messages ---


def test_key_id_uses_type_0x04() -> None:
    w = wkey(1)
    want = hashlib.sha256(w.name.encode() + b"\n\x04" + w.public_key).digest()[:4]
    assert w.key_id == want == cosignature_key_id(w.name, w.public_key)
    assert w.key_id != KeyPair.from_seed(w.name, bytes([1]) * 32).key_id  # the note key id uses 0x01
    assert base64.b64decode(w.vkey.split("+")[2])[0] == 0x04


def test_both_published_key_forms_give_the_cosignature_key_id() -> None:
    kp = KeyPair.from_seed("witness.example/w1", bytes([1]) * 32)
    from_04 = parse_witness_vkey(format_witness_vkey(kp.name, kp.public_key))
    from_01 = parse_witness_vkey(kp.vkey)
    assert from_04 == from_01 == (kp.name, cosignature_key_id(kp.name, kp.public_key), kp.public_key)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.replace("+", "+0", 1),  # key id of 9 digits
        lambda v: v.split("+")[0] + "+00000000+" + v.split("+")[2],  # wrong key id
        lambda v: v[:-2] + "==",  # not canonical or wrong length
        lambda v: v.rsplit("+", 1)[0] + "+" + base64.b64encode(b"\x02" + bytes(32)).decode(),  # type 0x02
        lambda v: "a b" + v[v.index("+") :],  # bad name
        lambda v: v + "A" * 300,  # huge
    ],
)
def test_malformed_witness_keys_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyFormatError):
        parse_witness_vkey(mutate(wkey(1).vkey))


def test_signed_message_is_the_spec_layout() -> None:
    msg = cosigned_message(TEXT, 1679315147)
    assert msg == b"cosignature/v1\ntime 1679315147\n" + TEXT
    assert msg.startswith(COSIGNATURE_V1_HEADER)
    with pytest.raises(NoteFormatError):
        cosigned_message(b"not a checkpoint\n", 1)


def test_cosign_and_verify_round_trip() -> None:
    w = wkey(1)
    cosig = w.cosign(TEXT, T)
    v = CosignatureVerifier.from_vkey(w.vkey)
    v.check(TEXT, cosig)
    assert v.verify(TEXT, cosig.raw) and len(cosig.raw) == 72
    assert struct.unpack(">Q", cosig.raw[:8])[0] == T
    assert Cosignature.from_line(cosig.line()) == cosig


@pytest.mark.parametrize("what", ["text", "time", "signature", "name"])
def test_any_change_breaks_a_cosignature(what: str) -> None:
    w = wkey(1)
    cosig = w.cosign(TEXT, T)
    v = CosignatureVerifier.from_vkey(w.vkey)
    text = TEXT
    if what == "text":
        text = Checkpoint("example.com/log", 8, bytes(range(32))).format()
    elif what == "time":
        cosig = Cosignature(cosig.name, cosig.key_id, T + 1, cosig.signature)
    elif what == "signature":
        cosig = Cosignature(cosig.name, cosig.key_id, T, bytes([cosig.signature[0] ^ 1]) + cosig.signature[1:])
    else:
        cosig = Cosignature("witness.example/other", cosig.key_id, T, cosig.signature)
    with pytest.raises(CosignatureError):
        v.check(text, cosig)
    assert not v.verify(text, cosig.raw) or what == "name"


def test_the_spec_example_line_parses() -> None:
    # tlog-cosignature v1.0.1, "Format": its example cosignature line; its signed-message example says
    # "time 1679315147", which is the timestamp this line carries.
    line = (
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqh"
        "f5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    cosig = Cosignature.from_line(line)
    assert cosig is not None
    assert (cosig.name, cosig.key_id.hex(), cosig.timestamp) == ("witness.example.com/w1", "8d66cf3f", 1679315147)
    op_line = (
        "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nT"
        "o+zyWE+xeMcTOAYQ8=\n"
    )
    assert Cosignature.from_line(op_line) is None  # 4 + 64 bytes: a note signature, not a cosignature


@pytest.mark.parametrize(
    "line", ["no dash\n", "\u2014 name\n", "\u2014 name !!!!\n", "\u2014 a b AAAA\n", "\u2014 n AAAA"]
)
def test_malformed_lines(line: str) -> None:
    with pytest.raises(NoteFormatError):
        Cosignature.from_line(line)


def test_timestamp_above_2_63_is_refused() -> None:
    raw = bytes(4) + (2**63).to_bytes(8, "big") + bytes(64)
    with pytest.raises(NoteFormatError):
        Cosignature.from_line(f"\u2014 w {base64.b64encode(raw).decode()}\n")


# --- key files ---


def test_witness_key_files_are_kept_apart(tmp_path: Path) -> None:
    w = WitnessKey.generate("witness.example/w1")
    w.save(tmp_path / "w.key")
    assert WitnessKey.load(tmp_path / "w.key").vkey == w.vkey
    with pytest.raises(WitnessKeyError, match="is a witness key"):
        KeyPair.load(tmp_path / "w.key")
    KeyPair.generate("op").save(tmp_path / "op.key")
    with pytest.raises(WitnessKeyError, match="not a witness key"):
        WitnessKey.load(tmp_path / "op.key")
    w.save(tmp_path / "enc.key", "pass phrase")
    assert WitnessKey.load(tmp_path / "enc.key", "pass phrase").vkey == w.vkey


# --- policies and quorums ---


def test_from_witnesses_counts_each_witness_once() -> None:
    ws = [wkey(i) for i in (1, 2, 3)]
    policy = WitnessPolicy.from_witnesses([w.vkey for w in ws], 2)
    assert policy.describe() == "2 of 3 in group witnesses"
    c1, c2 = ws[0].cosign(TEXT, T), ws[1].cosign(TEXT, T + 5)
    assert [c.name for c in policy.verify_cosignatures(TEXT, [c1, c2])] == [ws[0].name, ws[1].name]
    with pytest.raises(QuorumError, match="by 1 trusted witness"):
        policy.verify_cosignatures(TEXT, [c1, c1, ws[0].cosign(TEXT, T + 9)])
    stranger = wkey(9).cosign(TEXT, T)
    with pytest.raises(QuorumError):
        policy.verify_cosignatures(TEXT, [c1, stranger])  # an unknown witness is ignored, not counted


def test_bad_cosignature_by_a_trusted_witness_is_refused() -> None:
    ws = [wkey(1), wkey(2)]
    policy = WitnessPolicy.from_witnesses([w.vkey for w in ws], 1)
    good = ws[0].cosign(TEXT, T)
    bad = Cosignature(ws[1].name, ws[1].key_id, T, good.signature)
    with pytest.raises(CosignatureError):
        policy.verify_cosignatures(TEXT, [good, bad])


def test_future_cosignature_is_refused() -> None:
    w = wkey(1)
    policy = WitnessPolicy.from_witnesses([w.vkey])
    policy.verify_cosignatures(TEXT, [w.cosign(TEXT, T + 86400)], now=T)
    with pytest.raises(CosignatureError, match="after this device's clock"):
        policy.verify_cosignatures(TEXT, [w.cosign(TEXT, T + 86401)], now=T)


def test_quorum_arguments() -> None:
    v = wkey(1).vkey
    assert not WitnessPolicy.from_witnesses([]).requires_witnesses
    for vkeys, quorum in (([v], 2), ([v], 0), ([], 1), ([v, v], None)):
        with pytest.raises(WitnessPolicyError):
            WitnessPolicy.from_witnesses(vkeys, quorum)


def spec_policy(keys: dict[str, WitnessKey]) -> bytes:
    """The example of tlog-policy (commit 1896a5a), "Example policy", with real keys."""
    lines = ["# the spec's example", f"log {KeyPair.from_seed('example.com/log', bytes(32)).vkey}", ""]
    lines += [f"witness {n} {keys[n].vkey}" for n in ("X1", "X2", "X3")]
    lines += ["group X-witnesses 2 X1 X2 X3", ""]
    lines += [f"\twitness {n}   {keys[n].vkey} https://{n}.example/  " for n in ("Y1", "Y2", "Y3")]
    lines += ["group Y-witnesses any Y1 Y2 Y3", "", "group X-and-Y all X-witnesses Y-witnesses", "quorum X-and-Y"]
    return "\n".join(lines).encode() + b"\n"


def test_the_spec_example_policy() -> None:
    keys = {n: wkey(i + 1) for i, n in enumerate(["X1", "X2", "X3", "Y1", "Y2", "Y3"])}
    policy = WitnessPolicy.parse(spec_policy(keys))
    assert policy.url("Y2") == "https://Y2.example/" and policy.url("X1") is None
    assert len(policy.logs) == 1
    assert policy.satisfied({"X1", "X3", "Y2"})
    assert not policy.satisfied({"X1", "Y1", "Y2", "Y3"})
    assert not policy.satisfied({"X1", "X2", "X3"})
    cos = [keys[n].cosign(TEXT, T) for n in ("X2", "Y3", "X3")]
    assert len(policy.verify_cosignatures(TEXT, cos)) == 3
    with pytest.raises(QuorumError, match="X-and-Y"):
        policy.verify_cosignatures(TEXT, cos[:2])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"witness A {a}\n", "quorum line"),
        (b"witness A {a}\nquorum A\nquorum A\n", "exactly one quorum"),
        (b"quorum A\n", "line 1"),
        (b"witness A {a}\nwitness A {b}\nquorum A\n", "defined twice"),
        (b"witness A {a}\nwitness B {a}\nquorum A\n", "listed twice"),
        (b"witness A {a}\ngroup g 2 A\nquorum g\n", "threshold"),
        (b"witness A {a}\ngroup g 0 A\nquorum g\n", "threshold"),
        (b"witness A {a}\ngroup g any A A\nquorum g\n", "twice"),
        (b"witness A {a}\ngroup g any none\nquorum g\n", "none"),
        (b"group g any A\nwitness A {a}\nquorum g\n", "defined before"),
        (b"witness none {a}\nquorum none\n", "reserved"),
        (b"witness A {a}\nquorum A\nwitnesses B\n", "line 3"),
        (b"witness A not-a-key\nquorum A\n", "line 1"),
        (b"witness A {a}\x0b\nquorum A\n", "control"),
    ],
)
def test_malformed_policies(text: bytes, words: str) -> None:
    a, b = wkey(1).vkey.encode(), wkey(2).vkey.encode()
    with pytest.raises(WitnessPolicyError, match=words):
        WitnessPolicy.parse(text.replace(b"{a}", a).replace(b"{b}", b))


def test_quorum_none_and_load(tmp_path: Path) -> None:
    p = tmp_path / "policy"
    p.write_bytes(b"# nobody\nquorum none\n")
    assert not WitnessPolicy.load(p).requires_witnesses
    with pytest.raises(WitnessPolicyError, match="cannot read"):
        WitnessPolicy.load(tmp_path / "missing")


@given(st.binary(max_size=400))
def test_policy_parser_fuzz(data: bytes) -> None:
    with contextlib.suppress(WitnessPolicyError):
        WitnessPolicy.parse(data)


@given(st.text(max_size=200))
def test_line_parser_fuzz(line: str) -> None:
    with contextlib.suppress(NoteFormatError):
        Cosignature.from_line(line)
