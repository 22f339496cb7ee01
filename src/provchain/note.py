"""C2SP signed notes (https://c2sp.org/signed-note), byte-compatible with Go's ``sumdb/note``.

A signed note is a UTF-8 text that ends in a newline, a blank line, and one or more signature lines::

  If you think cryptography is the answer to your problem,
  then you don't know what your problem is.

  — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=

Each signature line is an em dash (U+2014), a space, the key name, a space and
``base64(key_id || signature)``. Ed25519 signatures are over the note text exactly (with its final
newline, without the blank line). :func:`open` verifies a note against known keys: a signature by an
unknown key is kept as unverified, a failing signature by a known key rejects the note, and a note with
no verified signature is rejected.

Rules that go beyond Go's package, all of which Go's own output satisfies:

* signature base64 must be canonical (Go accepts non-zero padding bits);
* every signature by a known key is verified, including repeated ones (Go skips repeats), so a note
  is never accepted when it carries a bad signature by a key the caller trusts.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Protocol, TypeAlias, runtime_checkable

from ._internal.record import record
from ._internal.validate import canonical_b64decode, parse_key_id_hex
from .errors import InputError, KeyFormatError, NoteFormatError, NoteVerificationError, SignatureError
from .keys import (
    ALG_ED25519,
    KeyPair,
    Signer,
    check_key_name,
    format_vkey,
    key_id,
    parse_vkey,
    verify_signature,
)

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Ed25519Verifier",
    "Note",
    "NoteSigner",
    "Signature",
    "Verifier",
    "VerifierList",
    "Verifiers",
    "check_note_text",
    "new_signer",
    "new_verifier",
    "open",
    "sign",
    "split_lines",
]

MAX_SIGNATURES = 100

MAX_NOTE_BYTES = 65536
"""The largest signed note :func:`open` and :func:`check_note_text` accept (checkpoints are ~200 bytes)."""
"""The most signature lines a note may carry (the limit Go's ``sumdb/note`` applies)."""

_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


# --- verifiers ----------------------------------------------------------------------------------


@runtime_checkable
class Verifier(Protocol):
    """Verifies signatures by one named key (Go's ``note.Verifier``)."""

    @property
    def name(self) -> str:
        """The key name that appears in signature lines."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id that prefixes the key's signatures."""
        ...

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` (without the key id) is a valid signature of ``msg``."""
        ...


@runtime_checkable
class Verifiers(Protocol):
    """Looks up the verifier of a (key name, key id) pair (Go's ``note.Verifiers``)."""

    def verifier(self, name: str, key_id: bytes) -> Verifier | None:
        """The verifier for ``name`` and ``key_id``, or None when the key is unknown."""
        ...


_set = object.__setattr__  # how a record with slots sets its fields (provchain._internal.record)


@record(slots=True)
class Ed25519Verifier:
    """A :class:`Verifier` for one named Ed25519 key; verification is strict (see :mod:`provchain.keys`)."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)

    def __init__(self, name: str, public_key: bytes) -> None:
        _set(self, "name", name)
        _set(self, "public_key", public_key)
        check_key_name(name)
        _set(self, "key_id", key_id(name, public_key))

    @property
    def vkey(self) -> str:
        """The C2SP verifier key string ``name+hex8+base64(0x01||pub)``."""
        return format_vkey(self.name, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` is a valid Ed25519 signature of ``msg`` by this key."""
        try:
            verify_signature(self.public_key, msg, sig)
        except SignatureError:
            return False
        return True


def new_verifier(vkey: str) -> Ed25519Verifier:
    """The verifier for a C2SP verifier key ``name+hex8+base64(0x01||pub)``.

    Raises :class:`KeyFormatError` when the key is malformed or its key id does not match.

    >>> v = new_verifier("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    >>> v.name, v.key_id.hex()
    ('PeterNeumann', 'c74f20a3')
    """
    name, _, public_key = parse_vkey(vkey)
    return Ed25519Verifier(name, public_key)


class VerifierList:
    """A :class:`Verifiers` lookup over a fixed list of verifiers.

    Equal verifiers listed twice count once. Two different verifiers with the same name and key id are
    ambiguous: looking that pair up raises :class:`NoteVerificationError` (as in Go).
    """

    __slots__ = ("_map",)

    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        if isinstance(verifiers, str | bytes) or not isinstance(verifiers, Sequence):
            raise InputError("verifiers must be a sequence of Verifier objects")
        self._map: dict[tuple[str, bytes], list[Verifier]] = {}
        for v in verifiers:
            if not isinstance(v, Verifier):
                raise InputError(f"{v!r} is not a Verifier")
            if not isinstance(v.key_id, bytes) or len(v.key_id) != 4:
                raise InputError(f"verifier {v.name!r} has a key id that is not 4 bytes")
            entry = self._map.setdefault((v.name, v.key_id), [])
            if v not in entry:
                entry.append(v)

    def verifier(self, name: str, key_id: bytes) -> Verifier | None:
        """The verifier for ``name`` and ``key_id``, or None when the key is unknown."""
        entry = self._map.get((name, key_id))
        if not entry:
            return None
        if len(entry) > 1:
            raise NoteVerificationError(f"ambiguous key {name}+{key_id.hex()}: several verifiers match")
        return entry[0]


# --- signers ------------------------------------------------------------------------------------

NoteSigner: TypeAlias = KeyPair
"""The signer :func:`new_signer` returns: a :class:`provchain.keys.KeyPair` (implements ``Signer``)."""


def new_signer(skey: str) -> NoteSigner:
    """The signer for a C2SP signer key ``PRIVATE+KEY+name+hex8+base64(0x01||seed)``.

    Raises :class:`KeyFormatError` when the key is malformed or its key id does not match the public key
    derived from the seed. Error messages never contain the key material.
    """
    if not isinstance(skey, str):
        raise KeyFormatError("a signer key must be a string")
    if len(skey) > 256:  # PRIVATE+KEY+ and a name of at most 128 bytes, key id and base64 seed: about 200
        raise KeyFormatError("a signer key is at most 256 characters")
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise KeyFormatError("a signer key has the form PRIVATE+KEY+name+hex8+base64key")
    _, _, name, hex_id, b64 = parts
    check_key_name(name)
    kid = parse_key_id_hex(hex_id, "the key id of a signer key", KeyFormatError)
    raw = canonical_b64decode(b64, "the key part of a signer key", KeyFormatError)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFormatError("a signer key must hold an Ed25519 seed (0x01 followed by 32 bytes)")
    kp = KeyPair.from_seed(name, raw[1:])
    if kp.key_id != kid:
        raise KeyFormatError(f"signer key id {hex_id} does not match its name and key")
    return kp


# --- notes --------------------------------------------------------------------------------------


@record(slots=True)
class Signature:
    """One signature line of a note, verified or not."""

    name: str
    """The key name."""
    key_id: bytes
    """The 4-byte key id."""
    base64: str
    """The base64 text of the line: ``base64(key_id || signature)``."""

    def __init__(self, name: str, key_id: bytes, base64: str) -> None:
        _set(self, "name", name)
        _set(self, "key_id", key_id)
        _set(self, "base64", base64)

    @property
    def signature(self) -> bytes:
        """The signature bytes, without the key id."""
        return base64.b64decode(self.base64)[4:]


@record(slots=True)
class Note:
    """An opened note: its text and its signatures."""

    text: bytes
    """The note text, ending in a newline."""
    sigs: tuple[Signature, ...]
    """Signatures that verified, by known keys, in order of appearance (each key once)."""
    unverified_sigs: tuple[Signature, ...] = ()
    """Signatures by unknown keys, in order of appearance (repeated identical lines once)."""

    def __init__(self, text: bytes, sigs: tuple[Signature, ...], unverified_sigs: tuple[Signature, ...] = ()) -> None:
        _set(self, "text", text)
        _set(self, "sigs", sigs)
        _set(self, "unverified_sigs", unverified_sigs)


def check_note_text(text: bytes) -> str:
    """Return ``text`` decoded if it is a valid note text, else raise :class:`NoteFormatError`.

    A note text is valid UTF-8, ends in a newline and contains no ASCII control character other than
    newline.
    """
    if not isinstance(text, bytes):
        raise NoteFormatError("a note text must be bytes")
    if len(text) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"a note text is at most {MAX_NOTE_BYTES} bytes, not {len(text)}")
    s = _decode_utf8(text)
    if not s.endswith("\n"):
        raise NoteFormatError("a note text must end in a newline")
    return s


def sign(text: bytes, signers: Sequence[Signer]) -> bytes:
    """Sign ``text`` with each signer, in order, and return the signed note.

    Each signature is checked against the signer's public key before it is written (a faulty signer
    raises :class:`SignatureError`). Raises :class:`NoteFormatError` when ``text`` is not a valid note
    text and :class:`InputError` when the signers are empty, more than :data:`MAX_SIGNATURES`, repeat a
    key, or report a key id that does not match their name and public key.
    """
    check_note_text(text)
    if isinstance(signers, str | bytes) or not isinstance(signers, Sequence):
        raise InputError("signers must be a sequence of Signer objects")
    if not signers:
        raise InputError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise InputError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    lines: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for s in signers:
        if not isinstance(s, Signer):
            raise InputError(f"{s!r} is not a Signer")
        name = check_key_name(s.name)
        kid = s.key_id
        if kid != key_id(name, s.public_key):
            raise InputError(f"signer {name}: its key id does not match its name and public key")
        if (name, kid) in seen:
            raise InputError(f"signer {name}+{kid.hex()} is listed twice")
        seen.add((name, kid))
        sig = s.sign(text)
        verify_signature(s.public_key, text, sig)
        lines.append(f"{_SIG_PREFIX}{name} {base64.b64encode(kid + sig).decode('ascii')}\n")
    return text + b"\n" + "".join(lines).encode("utf-8")


def open(msg: bytes, verifiers: Sequence[Verifier] | Verifiers) -> Note:
    """Parse the signed note ``msg`` and verify its signatures by the known ``verifiers``.

    Returns the :class:`Note`. Raises :class:`NoteFormatError` when ``msg`` is malformed (including more
    than :data:`MAX_SIGNATURES` signature lines) and :class:`NoteVerificationError` when a signature by a
    known key fails or no signature by a known key is present.
    """
    if not isinstance(msg, bytes):
        raise NoteFormatError("a signed note must be bytes")
    if len(msg) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"a signed note is at most {MAX_NOTE_BYTES} bytes, not {len(msg)}")
    lookup = verifiers if isinstance(verifiers, Verifiers) else VerifierList(verifiers)
    text, parsed = _parse(msg)
    sigs: list[Signature] = []
    unverified: list[Signature] = []
    seen_keys: set[tuple[str, bytes]] = set()
    seen_lines: set[tuple[str, str]] = set()
    for sig, raw in parsed:
        v = lookup.verifier(sig.name, sig.key_id)
        if v is None:
            if (sig.name, sig.base64) not in seen_lines:
                seen_lines.add((sig.name, sig.base64))
                unverified.append(sig)
            continue
        if v.name != sig.name or v.key_id != sig.key_id:
            raise NoteVerificationError("the verifier lookup returned a verifier for another key")
        if not v.verify(text, raw):
            raise NoteVerificationError(f"invalid signature for key {sig.name}+{sig.key_id.hex()}")
        if (sig.name, sig.key_id) not in seen_keys:
            seen_keys.add((sig.name, sig.key_id))
            sigs.append(sig)
    if not sigs:
        raise NoteVerificationError("note has no verifiable signatures by a known key")
    return Note(text, tuple(sigs), tuple(unverified))


# --- parsing ------------------------------------------------------------------------------------


def _decode_utf8(data: bytes) -> str:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFormatError("a signed note must be valid UTF-8") from exc
    if _CONTROL.search(s):
        raise NoteFormatError("a signed note may not contain control characters other than newline")
    return s


def _valid_name(name: str) -> bool:
    """Go's rule for names in signature lines: non-empty, no Unicode spaces, no ``+``."""
    return name != "" and "+" not in name and not any(c.isspace() for c in name)


def split_lines(msg: bytes) -> tuple[bytes, list[str]]:
    """Split a signed note into its text and its signature lines (without their newlines), checking the
    form of the whole only (UTF-8, no control character, a blank line, at most :data:`MAX_SIGNATURES`
    lines, a final newline); raises :class:`NoteFormatError`."""
    if not isinstance(msg, bytes):
        raise NoteFormatError("a signed note must be bytes")
    if len(msg) > MAX_NOTE_BYTES:
        raise NoteFormatError(f"a signed note is at most {MAX_NOTE_BYTES} bytes, not {len(msg)}")
    _decode_utf8(msg)
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise NoteFormatError("a signed note needs a blank line before its signatures")
    text, block = msg[: split + 1], msg[split + 2 :].decode("utf-8")
    if not block or not block.endswith("\n"):
        raise NoteFormatError("a signed note must end with signature lines, each ending in a newline")
    if block.count("\n") > MAX_SIGNATURES:
        raise NoteFormatError(f"a signed note may carry at most {MAX_SIGNATURES} signatures")
    return text, block[:-1].split("\n")


def _parse(msg: bytes) -> tuple[bytes, list[tuple[Signature, bytes]]]:
    """Split a signed note into its text and its parsed signature lines (with raw signatures)."""
    text, lines = split_lines(msg)
    parsed: list[tuple[Signature, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteFormatError("a signature line must start with an em dash and a space")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not _valid_name(name):
            raise NoteFormatError("a signature line names a key with an invalid name")
        malformed = f"the signature by {name} is not canonical base64 of key id and signature"
        raw = canonical_b64decode(b64, "a signature", NoteFormatError, message=malformed)
        if len(raw) < 5:
            raise NoteFormatError(malformed)
        parsed.append((Signature(name, raw[:4], b64), raw[4:]))
    return text, parsed
