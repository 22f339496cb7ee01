"""Tests for provchain.checkpoint: strict parsing, round trips, a real sum.golang.org checkpoint, fuzzing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import note
from provchain.checkpoint import SIZE_MAX, Checkpoint, open_checkpoint, sign_checkpoint
from provchain.errors import (
    CheckpointError,
    InputError,
    NoteFormatError,
    NoteVerificationError,
    ProvchainError,
)
from provchain.keys import KeyPair

SUMDB_VECTOR = Path(__file__).parent / "vectors" / "note" / "sumdb_01_tree_1514086.json"
SUMDB = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

# The example checkpoint text of the C2SP tlog-checkpoint specification (C2SP/C2SP, tlog-checkpoint.md).
SPEC_EXAMPLE = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
KEY = KeyPair.from_seed("example.com/log", bytes(range(100, 132)))
OTHER = KeyPair.from_seed("example.com/other", bytes(range(50, 82)))


def test_sumdb_checkpoint() -> None:
    vec = json.loads(SUMDB_VECTOR.read_text(encoding="utf-8"))
    msg = vec["msg"].encode("utf-8")
    cp, n = open_checkpoint(msg, "go.sum database tree", note.new_verifier(SUMDB))
    want = vec["checkpoint"]
    assert cp == Checkpoint(want["origin"], want["size"], base64.b64decode(want["root"]))
    assert cp.format() == n.text == vec["want_text"].encode("utf-8")
    with pytest.raises(CheckpointError):
        open_checkpoint(msg, "sum.golang.org", note.new_verifier(SUMDB))
    with pytest.raises(NoteVerificationError):
        open_checkpoint(msg, "go.sum database tree", note.new_verifier(KEY.vkey))


def test_spec_example_parses() -> None:
    cp = Checkpoint.parse(SPEC_EXAMPLE)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.extensions == ()
    assert cp.format() == SPEC_EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        f"o\n0\n{ROOT_B64}\n".encode(),
        f"o\n{SIZE_MAX}\n{ROOT_B64}\n".encode(),
        f"go.sum database tree\n7\n{ROOT_B64}\next one\n\u2014 two\n".encode(),
        f"\u00e9\u4e2d \u2014\n12\n{ROOT_B64}\n".encode(),
    ],
)
def test_parse_format_round_trip(text: bytes) -> None:
    assert Checkpoint.parse(text).format() == text


def _cp(origin: str = "o", size: str = "1", root: str = ROOT_B64, rest: str = "") -> bytes:
    return f"{origin}\n{size}\n{root}\n{rest}".encode()


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b"o\n1\n",
        _cp()[:-1],
        _cp(origin=""),
        _cp(size=""),
        _cp(size="01"),
        _cp(size="00"),
        _cp(size="+1"),
        _cp(size="-1"),
        _cp(size="-0"),
        _cp(size=" 1"),
        _cp(size="1 "),
        _cp(size="1_000"),
        _cp(size="0x10"),
        _cp(size="\u0661"),  # ARABIC-INDIC DIGIT ONE
        _cp(size="\uff11"),  # FULLWIDTH DIGIT ONE
        _cp(size=str(SIZE_MAX + 1)),
        _cp(size="9" * 21),
        _cp(size="9" * 5000),
        _cp(root=""),
        _cp(root=base64.b64encode(bytes(31)).decode()),
        _cp(root=base64.b64encode(bytes(33)).decode()),
        _cp(root=ROOT_B64.rstrip("=")),
        _cp(root=ROOT_B64[:-2] + "9="),  # non-zero padding bits
        _cp(root=ROOT_B64 + " "),
        _cp(root=" " + ROOT_B64),
        _cp(root=ROOT_B64.replace("A", "-")),
        _cp(rest="\n"),
        _cp(rest="ext\n\n"),
        _cp(rest="ext"),
        _cp(origin="o\r"),
        _cp(origin="o\x00"),
        _cp(origin="o\t"),
        b"\xff" + _cp(),
        _cp().replace(b"\n", b"\r\n"),
    ],
)
def test_parse_rejects(text: bytes) -> None:
    with pytest.raises(NoteFormatError):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("a\x01", 1, ROOT, ()),
        ("\ud800", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", SIZE_MAX + 1, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1.0, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, bytearray(ROOT), ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("a\nb",)),
        ("o", 1, ROOT, "ab"),
        ("o", 1, ROOT, (b"ext",)),
    ],
)
def test_constructor_rejects(origin: object, size: object, root: object, extensions: object) -> None:
    with pytest.raises(InputError):
        Checkpoint(origin, size, root, extensions)  # type: ignore[arg-type]


def test_constructor_accepts_list_extensions() -> None:
    cp = Checkpoint("o", 1, ROOT, ["a", "b"])  # type: ignore[arg-type]
    assert cp.extensions == ("a", "b")
    assert hash(cp) == hash(Checkpoint("o", 1, ROOT, ("a", "b")))


def test_sign_open_round_trip() -> None:
    cp = Checkpoint("example.com/log", 42, ROOT)
    msg = sign_checkpoint(cp, KEY)
    assert msg == sign_checkpoint(cp, KEY)
    assert msg.startswith(cp.format() + b"\n\xe2\x80\x94 example.com/log ")
    got, n = open_checkpoint(msg, "example.com/log", note.new_verifier(KEY.vkey))
    assert got == cp
    assert [s.name for s in n.sigs] == ["example.com/log"]
    with pytest.raises(CheckpointError):
        open_checkpoint(msg, "example.com/log2", note.new_verifier(KEY.vkey))
    with pytest.raises(NoteVerificationError):
        open_checkpoint(msg, "example.com/log", note.new_verifier(OTHER.vkey))
    with pytest.raises(InputError):
        open_checkpoint(msg, "example.com/log", [note.new_verifier(KEY.vkey)])  # type: ignore[arg-type]


def test_cosigned_checkpoint_keeps_other_signature_unverified() -> None:
    cp = Checkpoint("example.com/log", 42, ROOT)
    msg = note.sign(cp.format(), [OTHER, KEY])
    got, n = open_checkpoint(msg, "example.com/log", note.new_verifier(KEY.vkey))
    assert got == cp
    assert [s.name for s in n.unverified_sigs] == ["example.com/other"]


def test_open_signed_non_checkpoint() -> None:
    msg = note.sign(b"example.com/log\nnot a size\n", [KEY])
    with pytest.raises(NoteFormatError):
        open_checkpoint(msg, "example.com/log", note.new_verifier(KEY.vkey))


# --- properties ---------------------------------------------------------------------------------

_LINE = st.text(
    st.characters(codec="utf-8", exclude_characters="".join(map(chr, range(32)))),
    min_size=1,
    max_size=30,
)
_CHECKPOINTS = st.builds(
    Checkpoint,
    origin=_LINE,
    size=st.integers(0, SIZE_MAX),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_LINE, max_size=3).map(tuple),
)


@given(_CHECKPOINTS)
def test_format_parse_round_trip(cp: Checkpoint) -> None:
    text = cp.format()
    assert Checkpoint.parse(text) == cp
    assert Checkpoint.parse(text).format() == text


@given(st.binary(max_size=200))
def test_parse_fuzz_bytes(text: bytes) -> None:
    try:
        cp = Checkpoint.parse(text)
    except NoteFormatError:
        return
    assert cp.format() == text


@st.composite
def _mutated(draw: st.DrawFn, cps: st.SearchStrategy[Checkpoint]) -> bytes:
    data = bytearray(draw(cps).format())
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "set"]))
        byte = draw(st.sampled_from(b"\n 0+-=A/\x00\xff"))
        if op == "insert":
            data.insert(i, byte)
        elif i < len(data):
            if op == "delete":
                del data[i]
            else:
                data[i] = byte
    return bytes(data)


@given(_mutated(_CHECKPOINTS))
def test_parse_fuzz_mutations(text: bytes) -> None:
    try:
        cp = Checkpoint.parse(text)
    except NoteFormatError:
        return
    assert cp.format() == text


_SIGNED = sign_checkpoint(Checkpoint("example.com/log", 7, ROOT, ("ext",)), KEY)


@settings(deadline=None, max_examples=300)
@given(st.data())
def test_open_checkpoint_never_accepts_a_modified_note(data: st.DataObject) -> None:
    msg = bytearray(_SIGNED)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(msg) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip":
            msg[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            msg.insert(i, data.draw(st.sampled_from(b"\n 0=A")))
        elif op == "delete":
            del msg[i]
        else:
            del msg[i:]
        if not msg:
            break
    try:
        cp, _ = open_checkpoint(bytes(msg), "example.com/log", note.new_verifier(KEY.vkey))
    except ProvchainError:
        return
    assert bytes(msg) == _SIGNED
    assert cp.size == 7


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_open_checkpoint_fuzz_bytes(msg: bytes) -> None:
    with pytest.raises(ProvchainError):
        open_checkpoint(msg, "example.com/log", note.new_verifier(KEY.vkey))
