"""Tests for provchain.note: Go's sumdb/note test data, a real sum.golang.org note, and fuzzing."""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain import errors, note
from provchain.errors import (
    InputError,
    KeyFormatError,
    NoteFormatError,
    NoteVerificationError,
    ProvchainError,
    SignatureError,
)
from provchain.keys import KeyPair, key_id
from provchain.note import Ed25519Verifier, Signature, VerifierList

VECTORS = Path(__file__).parent / "vectors" / "note"

PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
SUMDB = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
TEXT = b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
ENOCH_B64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n".encode()
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n".encode()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _msg(vec: dict[str, Any]) -> bytes:
    if vec.get("msg_encoding") == "base64":
        return base64.b64decode(vec["msg"])
    msg: str = vec["msg"]
    return msg.encode("utf-8")


def _sig_list(sigs: tuple[Signature, ...]) -> list[list[str]]:
    return [[s.name, s.key_id.hex(), s.base64] for s in sigs]


VECTOR_FILES = sorted(VECTORS.glob("*.json"))


def test_vectors_present() -> None:
    assert len(VECTOR_FILES) >= 19
    assert (VECTORS / "SOURCE.md").is_file()


@pytest.mark.parametrize("path", VECTOR_FILES, ids=[p.stem for p in VECTOR_FILES])
def test_vector(path: Path) -> None:
    vec = _load(path)
    verifiers = [note.new_verifier(k) for k in vec["vkeys"]]
    msg = _msg(vec)
    if vec["want_error"] is not None:
        cls = getattr(errors, vec["want_error"])
        with pytest.raises(cls):
            note.open(msg, verifiers)
        return
    n = note.open(msg, verifiers)
    assert n.text == vec["want_text"].encode("utf-8")
    assert _sig_list(n.sigs) == vec["want_sigs"]
    assert _sig_list(n.unverified_sigs) == vec["want_unverified_sigs"]
    if "skey" in vec:
        assert note.sign(vec["text"].encode("utf-8"), [note.new_signer(vec["skey"])]) == msg


# --- keys ---------------------------------------------------------------------------------------


def test_new_verifier() -> None:
    v = note.new_verifier(PETER)
    assert v.name == "PeterNeumann"
    assert v.key_id == bytes.fromhex("c74f20a3")
    assert v.vkey == PETER
    assert isinstance(v, note.Verifier)


def _manglings(s: str) -> list[str]:
    """Every proper substring of ``s`` and every one-character increment (Go's TestNewVerifier)."""
    out = [s[i:j] for i in range(len(s) + 1) for j in range(i + 1, len(s) + 1) if (i, j) != (0, len(s))]
    out += [s[:i] + chr(ord(s[i]) + 1) + s[i + 1 :] for i in range(len(s))]
    return out


def test_new_verifier_rejects_manglings() -> None:
    for bad in _manglings(PETER):
        with pytest.raises(KeyFormatError):
            note.new_verifier(bad)


@pytest.mark.parametrize(
    "vkey",
    [
        # From golang/mod sumdb/note/note_test.go TestNewVerifier: wrong key length, unknown algorithm
        # (each with a key id adjusted to match).
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        # A mistyped copy of the sum.golang.org key: its key id does not match its key.
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ady8XXSMXvLFi3qa",
        PETER_SKEY,
        "",
    ],
)
def test_new_verifier_rejects(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        note.new_verifier(vkey)


def test_new_signer() -> None:
    s = note.new_signer(PETER_SKEY)
    assert s.name == "PeterNeumann"
    assert s.key_id == bytes.fromhex("c74f20a3")
    assert s.vkey == PETER
    assert s.unsafe_private_skey() == PETER_SKEY
    assert "AYEKFALV" not in repr(s)


def test_new_signer_rejects_manglings() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises(KeyFormatError) as info:
            note.new_signer(bad)
        assert "AYEKFALV" not in str(info.value)


@pytest.mark.parametrize("skey", [PETER, "", PETER_SKEY.replace("c74f20a3", "C74F20A3")])
def test_new_signer_rejects(skey: str) -> None:
    with pytest.raises(KeyFormatError):
        note.new_signer(skey)


def test_generated_key_round_trip() -> None:
    kp = KeyPair.generate("EnochRoot")
    signer = note.new_signer(kp.unsafe_private_skey())
    verifier = note.new_verifier(kp.vkey)
    assert signer.key_id == verifier.key_id == kp.key_id
    sig = signer.sign(b"hi")
    assert verifier.verify(b"hi", sig)
    assert not verifier.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(b"hj", sig)
    assert not verifier.verify(b"hi", sig[:63])


# --- sign ---------------------------------------------------------------------------------------


def test_sign_with_keypair_and_round_trip() -> None:
    a = KeyPair.from_seed("example.com/a", bytes(range(32)))
    b = KeyPair.from_seed("example.com/b", bytes(range(1, 33)))
    text = b"hello\n\nworld, with an empty line\n"
    msg = note.sign(text, [a, b])
    assert msg.startswith(text + "\n\u2014 example.com/a ".encode())
    assert note.sign(text, [a, b]) == msg
    n = note.open(msg, [note.new_verifier(a.vkey), note.new_verifier(b.vkey)])
    assert n.text == text
    assert [s.name for s in n.sigs] == ["example.com/a", "example.com/b"]
    assert n.sigs[0].signature == a.sign(text)
    n = note.open(msg, [note.new_verifier(b.vkey)])
    assert [s.name for s in n.sigs] == ["example.com/b"]
    assert [s.name for s in n.unverified_sigs] == ["example.com/a"]


@pytest.mark.parametrize("text", [b"abc", b"", b"a\x01\n", b"\xff\n", b"a\r\n"])
def test_sign_rejects_bad_text(text: bytes) -> None:
    with pytest.raises(NoteFormatError):
        note.sign(text, [note.new_signer(PETER_SKEY)])


@dataclass
class FakeSigner:
    """A Signer whose parts can be made inconsistent."""

    name: str
    public_key: bytes
    key_id: bytes
    inner: KeyPair
    corrupt: bool = False

    def sign(self, message: bytes) -> bytes:
        sig = self.inner.sign(message)
        return bytes([sig[0] ^ 1]) + sig[1:] if self.corrupt else sig


def test_sign_rejects_bad_signers() -> None:
    kp = note.new_signer(PETER_SKEY)
    with pytest.raises(InputError):
        note.sign(TEXT, [])
    with pytest.raises(InputError):
        note.sign(TEXT, [kp, kp])
    with pytest.raises(InputError):
        note.sign(TEXT, [KeyPair.from_seed(f"k{i}", bytes([i]) * 32) for i in range(101)])
    with pytest.raises(KeyFormatError):
        note.sign(TEXT, [FakeSigner("bad name", kp.public_key, kp.key_id, kp)])
    with pytest.raises(InputError):
        note.sign(TEXT, [FakeSigner(kp.name, kp.public_key, b"\0\0\0\0", kp)])
    with pytest.raises(SignatureError):
        note.sign(TEXT, [FakeSigner(kp.name, kp.public_key, kp.key_id, kp, corrupt=True)])
    with pytest.raises(InputError):
        note.sign(TEXT, kp)  # type: ignore[arg-type]


# --- open ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeVerifier:
    """A Verifier with any name and key id, accepting every signature."""

    name: str
    key_id: bytes

    def verify(self, msg: bytes, sig: bytes) -> bool:
        return True


class FixedVerifiers:
    """A Verifiers lookup that always returns the same verifier (Go's fixedVerifier)."""

    def __init__(self, v: note.Verifier) -> None:
        self.v = v

    def verifier(self, name: str, key_id: bytes) -> note.Verifier | None:
        return self.v


def test_open_with_lookup_returning_wrong_verifier() -> None:
    peter = note.new_verifier(PETER)
    misnamed = PETER_SIG.replace(b"PeterNeumann", b"CarmenSandiego")
    with pytest.raises(NoteVerificationError):
        note.open(TEXT + b"\n" + misnamed, FixedVerifiers(peter))
    wrong_id = PETER_SIG.replace(b"x08g", b"xxxx")
    with pytest.raises(NoteVerificationError):
        note.open(TEXT + b"\n" + wrong_id, FixedVerifiers(peter))
    assert note.open(TEXT + b"\n" + PETER_SIG, FixedVerifiers(peter)).text == TEXT


def test_duplicated_verifier() -> None:
    peter, enoch = note.new_verifier(PETER), note.new_verifier(ENOCH)
    # Go reports "ambiguous key" when the same verifier is listed twice; equal verifiers count once here.
    n = note.open(TEXT + b"\n" + ENOCH_SIG, [enoch, peter, note.new_verifier(ENOCH)])
    assert [s.name for s in n.sigs] == ["EnochRoot"]
    # Two different verifiers with the same name and key id are ambiguous, as in Go.
    twin = FakeVerifier("EnochRoot", enoch.key_id)
    lookup = VerifierList([enoch, twin])
    with pytest.raises(NoteVerificationError, match="ambiguous"):
        lookup.verifier("EnochRoot", enoch.key_id)
    with pytest.raises(NoteVerificationError, match="ambiguous"):
        note.open(TEXT + b"\n" + ENOCH_SIG, [enoch, twin])
    assert note.open(TEXT + b"\n" + PETER_SIG, [peter, enoch, twin]).sigs[0].name == "PeterNeumann"


def test_open_accepts_exactly_100_signatures() -> None:
    n = note.open(TEXT + b"\n" + PETER_SIG * 100, [note.new_verifier(PETER)])
    assert len(n.sigs) == 1


def test_repeated_known_signature_is_verified_every_time() -> None:
    # Go skips a repeated signature by a key it has already verified; provchain verifies it and rejects.
    bad = PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteVerificationError):
        note.open(TEXT + b"\n" + PETER_SIG + bad, [note.new_verifier(PETER)])


def test_non_canonical_base64_signature_is_malformed() -> None:
    # The last base64 digit before '=' carries two unused bits; Go accepts them non-zero, provchain does not.
    non_canonical = PETER_SIG.replace(b"AM=\n", b"AN=\n")
    with pytest.raises(NoteFormatError):
        note.open(TEXT + b"\n" + non_canonical, [note.new_verifier(PETER)])


@pytest.mark.parametrize(
    "sigline",
    [
        "\u2014 PeterNeumann AAAAAA==\n",  # 4 bytes: a key id and no signature
        "\u2014 PeterNeumann\n",
        f"\u2014  {PETER_B64}\n",
        "\u2014 Peter+Neumann AAAAAAA=\n",
        "\u2014 Peter\u00a0Neumann AAAAAAA=\n",
        "- PeterNeumann AAAAAAA=\n",
        "\u2014PeterNeumann AAAAAAA=\n",
        "\u2014 PeterNeumann AAAA AAA=\n",
        "\u2014 PeterNeumann AAAAAAA\n",
    ],
)
def test_malformed_signature_lines(sigline: str) -> None:
    with pytest.raises(NoteFormatError):
        note.open(TEXT + b"\n" + PETER_SIG + sigline.encode(), [note.new_verifier(PETER)])


def test_known_key_wrong_length_signature() -> None:
    kid = bytes.fromhex("c74f20a3")
    line = "\u2014 PeterNeumann " + base64.b64encode(kid + bytes(63)).decode() + "\n"
    with pytest.raises(NoteVerificationError):
        note.open(TEXT + b"\n" + line.encode(), [note.new_verifier(PETER)])


def test_open_argument_types() -> None:
    with pytest.raises(InputError):
        note.open(TEXT + b"\n" + PETER_SIG, note.new_verifier(PETER))  # type: ignore[arg-type]
    with pytest.raises(NoteFormatError):
        note.open((TEXT + b"\n" + PETER_SIG).decode(), [note.new_verifier(PETER)])  # type: ignore[arg-type]


def test_sumdb_real_note() -> None:
    vec = _load(VECTORS / "sumdb_01_tree_1514086.json")
    msg = _msg(vec)
    n = note.open(msg, [note.new_verifier(SUMDB)])
    assert n.sigs[0].key_id == key_id("sum.golang.org", note.new_verifier(SUMDB).public_key)
    # Any change to the text breaks it.
    tampered = msg.replace(b"1514086", b"1514087")
    with pytest.raises(NoteVerificationError):
        note.open(tampered, [note.new_verifier(SUMDB)])


# --- properties ---------------------------------------------------------------------------------

_TEXT_CHARS = st.characters(codec="utf-8", exclude_characters="".join(map(chr, range(32))))
_LINES = st.lists(st.text(_TEXT_CHARS, max_size=40), min_size=1, max_size=6)
_KEY = KeyPair.from_seed("example.com/fuzz", bytes(range(32)))
_OTHER = KeyPair.from_seed("example.com/other", bytes(range(2, 34)))
_SIGNED = note.sign(TEXT, [_KEY, _OTHER])


@settings(deadline=None)
@given(_LINES)
def test_sign_open_round_trip(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines).encode("utf-8")
    msg = note.sign(text, [_KEY])
    assert note.sign(text, [_KEY]) == msg
    n = note.open(msg, [note.new_verifier(_KEY.vkey)])
    assert n.text == text
    assert n.sigs[0].signature == _KEY.sign(text)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_open_fuzz_only_provchain_errors(msg: bytes) -> None:
    with contextlib.suppress(ProvchainError):
        note.open(msg, [note.new_verifier(_KEY.vkey)])


@st.composite
def _mutations(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[i] = draw(st.sampled_from(b"\n -+=/A\x00\xe2\x80\x94"))
        elif kind == "insert":
            data[i:i] = draw(st.sampled_from([b"\n", b" ", b"\n\n", b"=", b"A", "\u2014 ".encode()]))
        elif kind == "delete" and data:
            del data[i]
        elif kind == "truncate":
            del data[i:]
    return bytes(data)


@settings(deadline=None, max_examples=300)
@given(_mutations(_SIGNED))
def test_open_never_accepts_a_modified_note(msg: bytes) -> None:
    verifiers = [note.new_verifier(_KEY.vkey), note.new_verifier(_OTHER.vkey)]
    try:
        n = note.open(msg, verifiers)
    except ProvchainError:
        return
    # Dropping a whole signature line is allowed; the text and every verified signature are original.
    assert n.text == TEXT
    original = _SIGNED.decode().split("\n")
    for sig in n.sigs:
        assert f"\u2014 {sig.name} {sig.base64}" in original


def test_verifier_equality_and_hash() -> None:
    a, b = note.new_verifier(PETER), note.new_verifier(PETER)
    assert a == b
    assert hash(a) == hash(b)
    assert isinstance(a, Ed25519Verifier)
