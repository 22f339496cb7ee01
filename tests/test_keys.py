"""Key pairs, key files, verifier keys, key ids."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from provchain import errors as E
from provchain.keys import KeyPair, Signer, format_vkey, key_id, parse_vkey, verify_signature


def test_key_id_is_c2sp() -> None:
    kp = KeyPair.from_seed("example.com/acme-ledger", bytes(32))
    want = hashlib.sha256(b"example.com/acme-ledger\n\x01" + kp.public_key).digest()[:4]
    assert kp.key_id == want == key_id(kp.name, kp.public_key)
    name, hex8, b64 = kp.vkey.split("+", 2)
    assert (name, hex8) == ("example.com/acme-ledger", want.hex())
    assert base64.b64decode(b64) == b"\x01" + kp.public_key
    assert parse_vkey(kp.vkey) == (kp.name, kp.key_id, kp.public_key)
    assert isinstance(kp, Signer)


def test_go_sumdb_vkey_parses() -> None:
    # The sum.golang.org verifier key (golang/go src/cmd/go/internal/modfetch/key.go).
    name, kid, pub = parse_vkey("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
    assert name == "sum.golang.org" and kid.hex() == "033de0ae" and len(pub) == 32


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "name",
        "name+1234abcd",
        "name+1234abc+AQ==",
        "na me+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
        "name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(),  # not Ed25519
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(),  # short key
        "name+00000000+!!!!",
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # wrong key id
        "name+ABCDEF12+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # uppercase hex
    ],
)
def test_bad_vkeys(bad: str) -> None:
    with pytest.raises(E.KeyFormatError):
        parse_vkey(bad)


def test_vkey_round_trip() -> None:
    kp = KeyPair.generate("hz-bonded-wh-3")
    assert format_vkey(*parse_vkey(kp.vkey)[::2]) == kp.vkey


def test_save_load_plain_and_encrypted(tmp_path: Path) -> None:
    kp = KeyPair.generate("hz-bonded-wh-3")
    kp.save(tmp_path / "plain.key")
    kp.save(tmp_path / "enc.key", passphrase="correct horse")
    for name in ("plain.key", "enc.key"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600
    assert KeyPair.load(tmp_path / "plain.key").vkey == kp.vkey
    assert KeyPair.load(tmp_path / "enc.key", passphrase="correct horse").vkey == kp.vkey
    assert b"ENCRYPTED" in (tmp_path / "enc.key").read_bytes()
    with pytest.raises(E.PassphraseError, match="wrong passphrase"):
        KeyPair.load(tmp_path / "enc.key", passphrase="wrong")
    with pytest.raises(E.PassphraseError, match="encrypted"):
        KeyPair.load(tmp_path / "enc.key")
    with pytest.raises(E.KeyFileError, match="already exists"):
        kp.save(tmp_path / "plain.key")


def test_empty_passphrase_is_refused_everywhere(tmp_path: Path) -> None:
    kp = KeyPair.generate("x")
    for empty in ("", b""):
        with pytest.raises(E.PassphraseError, match="empty passphrase"):
            kp.save(tmp_path / "k.key", passphrase=empty)
    assert not (tmp_path / "k.key").exists()
    kp.save(tmp_path / "enc.key", passphrase="pw")
    kp.save(tmp_path / "plain.key")
    for name in ("enc.key", "plain.key"):
        for empty in ("", b""):
            with pytest.raises(E.PassphraseError, match="empty passphrase"):
                KeyPair.load(tmp_path / name, passphrase=empty)
    assert KeyPair.load(tmp_path / "enc.key", passphrase=b"pw").vkey == kp.vkey


def test_save_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    (tmp_path / "link.key").symlink_to(victim)
    (tmp_path / "dangling.key").symlink_to(tmp_path / "new")
    kp = KeyPair.generate("x")
    for name in ("link.key", "dangling.key"):
        with pytest.raises(E.KeyFileError, match="already exists"):
            kp.save(tmp_path / name)
    assert victim.read_bytes() == b"mine" and not (tmp_path / "new").exists()
    with pytest.raises(E.KeyFileError, match="does not exist"):
        kp.save(tmp_path / "no-such-dir" / "k.key")


def test_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(E.KeyFileError, match="does not exist"):
        KeyPair.load(tmp_path / "nope.key")
    bad = tmp_path / "bad.key"
    for content in (
        b"",
        b"garbage",
        b"provchain-key-name: x\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\xff\xfe",
        os.urandom(20000),
    ):
        bad.unlink(missing_ok=True)
        bad.write_bytes(content)
        bad.chmod(0o600)
        with pytest.raises(E.KeyFileError):
            KeyPair.load(bad)
    kp = KeyPair.generate("x")
    kp.save(tmp_path / "open.key")
    (tmp_path / "open.key").chmod(0o644)
    with pytest.raises(E.KeyFileError, match="chmod 600"):
        KeyPair.load(tmp_path / "open.key")


def test_secret_never_in_messages(tmp_path: Path) -> None:
    kp = KeyPair.generate("x")
    kp.save(tmp_path / "k.key", passphrase="pw")
    skey = kp.unsafe_private_skey()
    seed_b64 = skey.split("+", 4)[4]  # PRIVATE+KEY+name+hex8+base64: base64 may itself contain "+"
    assert len(seed_b64) == 44
    assert seed_b64 not in repr(kp)
    try:
        KeyPair.load(tmp_path / "k.key", passphrase="bad")
    except E.PassphraseError as exc:
        assert "pw" not in str(exc) and seed_b64 not in str(exc)


def test_verify_signature_strict() -> None:
    kp = KeyPair.generate("x")
    sig = kp.sign(b"msg")
    verify_signature(kp.public_key, b"msg", sig)
    with pytest.raises(E.SignatureError):
        verify_signature(kp.public_key, b"msh", sig)
    with pytest.raises(E.SignatureError):
        verify_signature(kp.public_key, b"msg", sig[:63])
    # S + L is the same signature in non-canonical form: refused
    L = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(sig[32:], "little") + L
    if s < 2**256:
        with pytest.raises(E.SignatureError):
            verify_signature(kp.public_key, b"msg", sig[:32] + s.to_bytes(32, "little"))
    with pytest.raises(E.SignatureError):
        verify_signature(bytes(32), b"msg", bytes(64))  # small-order key, identity R


def test_damaged_name_line_does_not_leak_the_key(tmp_path: Path) -> None:
    """Regression (found by the slow fuzzer): when a damaged newline joins the name line to the PEM body,
    the "name" holds the private key's base64; the error must not quote it."""
    kp = KeyPair.from_seed("grasse-labs", b"\x01" * 32)
    kp.save(tmp_path / "k.key")
    lines = (tmp_path / "k.key").read_bytes().split(b"\n")  # name, BEGIN, base64 body, END, ""
    secret = lines[2].decode()
    damaged = lines[0] + b"\x0b" + lines[2] + b"\n" + b"\n".join(lines[1:])
    with pytest.raises(E.KeyFileError) as info:
        KeyPair.from_bytes(damaged)
    assert secret not in str(info.value) and secret[:16] not in str(info.value)
    assert info.value.__cause__ is None or secret not in str(info.value.__cause__)
