"""Ed25519 keys: key pairs, key files, C2SP verifier keys, key ids and the Signer protocol.

A key has a *name* (the party's or the ledger's name) and a 32-byte Ed25519 public key. Its key id is
the C2SP signed-note key id, ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``, and its public form is
the C2SP verifier key string ``name+hex(key_id)+base64(0x01 || public_key)``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import stat
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open as _sodium_open
from nacl.exceptions import BadSignatureError

from ._internal import ed25519_strict
from ._internal.text import describe, escape, identifier_problem
from ._internal.validate import canonical_b64decode, check_path, format_key_id, parse_key_id_hex
from .errors import (
    InputError,
    KeyFileError,
    KeyFormatError,
    PassphraseError,
    ProvchainError,
    SignatureError,
    WitnessKeyError,
)

__all__ = [
    "ALG_ED25519",
    "KEY_NAME_MAX",
    "KeyPair",
    "Signer",
    "check_key_name",
    "format_vkey",
    "is_signer",
    "key_id",
    "parse_vkey",
    "split_vkey",
    "verify_signature",
]

ALG_ED25519 = 0x01
"""The C2SP signed-note algorithm byte for Ed25519."""

KEY_NAME_MAX = 128
"""The longest key name, in bytes of UTF-8."""

_NAME_HEADER = "provchain-key-name: "
_WITNESS_HEADER = "provchain-key-type: witness\n"  # a witness key signs cosignatures only (provchain.witness)
_MAX_KEY_FILE = 16384  # bytes; a key file is a name line and a PEM of a few hundred bytes
_MAX_VKEY = KEY_NAME_MAX + 1 + 8 + 1 + 44  # name + hex key id + base64 of 33 bytes; refused before any copy


def check_key_name(name: object) -> str:
    """Return ``name`` if it is a valid C2SP key name, else raise :class:`KeyFormatError`.

    A key name (a party's name, or a ledger's origin) is 1 to :data:`KEY_NAME_MAX` bytes of UTF-8
    without ``+`` (C2SP signed-note) that pass the identifier profile of docs/spec/entries.md: NFC, no
    space, control, invisible or compatibility character, and letters of one script, so that two
    names that look alike are equal.
    """
    if not isinstance(name, str) or not name:
        raise KeyFormatError("a key name must be a non-empty string")
    if len(name.encode("utf-8", "surrogatepass")) > KEY_NAME_MAX:
        raise KeyFormatError(f"key name is longer than {KEY_NAME_MAX} bytes")
    if "+" in name:
        raise KeyFormatError(f"key name '{escape(name)}' may not contain '+'")
    reason = identifier_problem(name)
    if reason is not None:
        raise KeyFormatError(f"key name '{escape(name)}' is refused: it contains {describe(reason, name)}")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key id of an Ed25519 key: ``SHA-256(name || 0x0A || 0x01 || pub)[:4]``."""
    if not isinstance(name, str) or not isinstance(public_key, bytes) or len(public_key) != 32:
        check_key_name(name)  # a bad name is named first
        _check_public_key(public_key)
    return _key_id(name, public_key)


@functools.lru_cache(maxsize=4096)
def _key_id(name: str, public_key: bytes) -> bytes:
    # Remembered: a registration's key id is asked for several times as it is judged and applied (a ledger
    # with thousands of parties applies them all at open). Only valid names are remembered (an exception
    # is not), so check_key_name runs for every name that is not.
    check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def format_vkey(name: str, public_key: bytes) -> str:
    """The C2SP verifier key string ``name+hex8+base64(0x01||pub)``."""
    kid = key_id(name, public_key)
    b64 = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode("ascii")
    return f"{name}+{format_key_id(kid)}+{b64}"


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """Parse a C2SP verifier key string into ``(name, key_id, public_key)``.

    Raises :class:`KeyFormatError` when the string is malformed, names another algorithm than Ed25519,
    or its key id does not match its name and key.
    """
    name, hex_kid, raw = split_vkey(vkey)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFormatError("a verifier key must hold an Ed25519 key (0x01 followed by 32 bytes)")
    public_key = raw[1:]
    kid = key_id(name, public_key)
    if kid != hex_kid:
        raise KeyFormatError(f"verifier key id {hex_kid.hex()} does not match its name and key")
    return name, kid, public_key


def split_vkey(vkey: object, what: str = "a verifier key") -> tuple[str, bytes, bytes]:
    """Split a C2SP verifier key ``name+hex8+base64`` into its name (checked), its stated key id and its
    decoded key bytes (type byte first), checking the form only; :class:`KeyFormatError` names ``what``."""
    if not isinstance(vkey, str):
        raise KeyFormatError(f"{what} must be a string")
    if len(vkey) > _MAX_VKEY:
        raise KeyFormatError(f"{what} is at most {_MAX_VKEY} characters, not {len(vkey)}")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError(f"{what} has the form name+hex8+base64key")
    name, hex_id, b64 = parts
    check_key_name(name)
    kid = parse_key_id_hex(hex_id, f"the key id of {what}", KeyFormatError)
    return name, kid, canonical_b64decode(b64, f"the key part of {what}", KeyFormatError)


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise KeyFormatError("an Ed25519 public key is exactly 32 bytes")
    return public_key


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature strictly; raise :class:`SignatureError` if it does not verify.

    Strict means: exact lengths; ``S < L``; a canonical public key in the prime-order subgroup (no
    small-order or mixed-order key); a reduced ``R`` that is not of small order; the cofactorless
    equation. OpenSSL and libsodium agree on every C2SP/CCTV edge-case vector under these rules
    (docs/notes/ed25519.md). Every verifier in provchain goes through here; after the pre-checks, the
    verification itself is libsodium's (PyNaCl).
    """
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise SignatureError("an Ed25519 signature is exactly 64 bytes")
    _check_public_key(public_key)
    if not ed25519_strict.acceptable(public_key, signature):
        raise SignatureError("signature uses a non-canonical or small-order encoding")
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise SignatureError("a signed message must be bytes")
    try:
        # libsodium's crypto_sign_open: PyNaCl has no detached-verify binding, so the signed-message form
        # (signature || message) is given; its cofactorless check agrees with the policy after the pre-checks.
        _sodium_open(signature + message, public_key)
    except (BadSignatureError, ValueError, TypeError) as exc:
        raise SignatureError("signature does not verify") from exc


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign for a named Ed25519 key: a key in memory, an HSM, a KMS.

    ``sign`` receives the complete, already domain-separated message and returns a 64-byte
    Ed25519 signature of it.
    """

    @property
    def name(self) -> str:
        """The key's name (a party name, or the ledger origin for the operator)."""
        ...

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte C2SP key id."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` and return the 64-byte signature."""
        ...


def is_signer(obj: object) -> bool:
    """True if ``obj`` has the :class:`Signer` attributes (a cheap structural check for hot paths)."""
    return type(obj) is KeyPair or (callable(getattr(obj, "sign", None)) and hasattr(obj, "key_id"))


class KeyPair:
    """An Ed25519 key pair with a name; implements :class:`Signer`.

    >>> kp = KeyPair.generate("example.com/acme-ledger")
    >>> len(kp.public_key), len(kp.key_id)
    (32, 4)
    >>> kp.vkey.startswith("example.com/acme-ledger+")
    True
    """

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = check_key_name(name)
        self._key = private_key
        self._public_key = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self._public_key)

    @classmethod
    def generate(cls, name: str) -> KeyPair:
        """A new random key pair named ``name``."""
        check_key_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> KeyPair:
        """The key pair whose 32-byte Ed25519 seed is ``seed`` (for tests and test vectors)."""
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise KeyFormatError("an Ed25519 seed is exactly 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def name(self) -> str:
        """The key's name."""
        return self._name

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def key_id(self) -> bytes:
        """The 4-byte C2SP key id."""
        return self._key_id

    @property
    def vkey(self) -> str:
        """The C2SP verifier key string, safe to publish."""
        return format_vkey(self._name, self._public_key)

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` with Ed25519."""
        if not isinstance(message, bytes):
            raise InputError("message must be bytes")
        return self._key.sign(message)

    def unsafe_private_skey(self) -> str:
        """The C2SP signer key string ``PRIVATE+KEY+name+hex8+base64(0x01||seed)``. Secret: never log it."""
        seed = self._key.private_bytes_raw()
        b64 = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"PRIVATE+KEY+{self._name}+{format_key_id(self._key_id)}+{b64}"

    def __repr__(self) -> str:
        return f"KeyPair({self.vkey!r})"

    # --- files ----------------------------------------------------------------------------------

    def save(
        self, path: str | os.PathLike[str], passphrase: str | bytes | None = None, *, witness: bool = False
    ) -> None:
        """Write the key to a new file at ``path`` with mode 0600 (PEM, PKCS#8).

        ``witness=True`` marks the file as a witness key (:mod:`provchain.witness`): :meth:`load` then
        refuses it unless asked for a witness key, so that a witness key never signs anything but
        cosignatures, and no other key ever cosigns.

        With a passphrase the PEM is encrypted; an empty passphrase is refused (:class:`PassphraseError`).
        An existing file (or link) at ``path`` is never overwritten, and the file appears complete or not
        at all: raises :class:`KeyFileError` when it cannot be created.
        """
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        if passphrase == b"":
            raise PassphraseError("an empty passphrase is not allowed; pass None for an unencrypted key")
        from cryptography.hazmat.primitives import serialization  # key files only: a verifier never loads it

        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase is not None
            else serialization.NoEncryption()
        )
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        data = (_NAME_HEADER + self._name + "\n" + (_WITNESS_HEADER if witness else "")).encode("utf-8") + pem
        p = check_path(path, "the key file", InputError)
        if os.path.lexists(p):
            raise KeyFileError(f"key file {p} already exists; not overwriting it")
        # A temporary file of mode 0600 from its creation, linked into place: never written through a
        # link, never over a file that appeared meanwhile, never left half written.
        from ._internal.files import write_atomic  # here: it imports tempfile, which a verifier needs not

        try:
            write_atomic(p, data, private=True)
        except ProvchainError as exc:
            raise KeyFileError(f"cannot create key file {p}: {exc}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot create key file {p}: {exc.strerror}") from None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes | None = None,
        *,
        check_permissions: bool = True,
        witness: bool = False,
    ) -> KeyPair:
        """Read a key file written by :meth:`save`.

        Raises :class:`KeyFileError` when the file is missing, malformed or readable by group or others,
        :class:`PassphraseError` when the passphrase is wrong or missing, and :class:`WitnessKeyError` when
        the file is a witness key and ``witness`` is false, or the reverse.
        """
        p = check_path(path, "the key file", InputError)
        try:
            with p.open("rb") as f:
                st = os.fstat(f.fileno())
                data = f.read(_MAX_KEY_FILE + 1)  # never more: from_bytes refuses anything larger
        except FileNotFoundError as exc:
            raise KeyFileError(f"key file {p} does not exist") from exc
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {p}: {exc.strerror}") from exc
        if check_permissions and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"key file {p} is accessible by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {p}"
            )
        return cls.from_bytes(data, passphrase, source=str(p), witness=witness)

    @classmethod
    def from_bytes(
        cls, data: bytes, passphrase: str | bytes | None = None, *, source: str = "key", witness: bool = False
    ) -> KeyPair:
        """Parse the contents of a key file (see :meth:`save`; ``witness`` as in :meth:`load`).

        An empty passphrase is refused (:class:`PassphraseError`): no key file is encrypted with one.
        """
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        if passphrase == b"":
            raise PassphraseError(f"{source}: an empty passphrase is not allowed; give the key's passphrase, or none")
        if len(data) > _MAX_KEY_FILE:
            raise KeyFileError(f"{source} is too large to be a key file")
        if not isinstance(data, bytes):
            raise KeyFileError(f"{source}: key file contents must be bytes")
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # raise outside the handler: the decode error holds the file's bytes (secret)
        if text is None:
            raise KeyFileError(f"{source} is not a provchain key file (not UTF-8 text)")
        first, _, pem = text.partition("\n")
        if not first.startswith(_NAME_HEADER) or "-----BEGIN" not in pem:
            raise KeyFileError(f"{source} is not a provchain key file (expected a name line and a PEM key)")
        name = first[len(_NAME_HEADER) :].strip()
        is_witness = pem.startswith(_WITNESS_HEADER)
        if is_witness and not witness:
            raise WitnessKeyError(
                f"{source} is a witness key: it signs only cosignatures ('provchain witness serve --key')"
            )
        if witness and not is_witness:
            raise WitnessKeyError(f"{source} is not a witness key (make one with 'provchain keygen --witness')")
        if is_witness:
            pem = pem[len(_WITNESS_HEADER) :]
        valid_name = True
        try:
            check_key_name(name)
        except KeyFormatError:
            valid_name = False
        if not valid_name:  # never quote the line: in a damaged file it may run into the secret PEM body
            raise KeyFileError(
                f"{source}: the key name line is not a valid key name (printable, no spaces or '+', at most "
                f"{KEY_NAME_MAX} bytes)"
            )
        encrypted = "ENCRYPTED" in pem
        if encrypted and passphrase is None:
            raise PassphraseError(f"{source} is encrypted; give its passphrase")
        # cryptography's errors may quote the PEM (the secret key itself): none of them is chained to
        # ours, and ours are raised outside the handler so that not even __context__ refers to them.
        from cryptography.hazmat.primitives import serialization  # key files only: a verifier never loads it

        key: object = None
        try:
            key = serialization.load_pem_private_key(
                pem.encode("utf-8"), password=passphrase if encrypted else None
            )
        except (ValueError, TypeError):
            pass
        except Exception:  # cryptography may raise its own errors on malformed DER
            encrypted = False
        if key is None:
            if encrypted:
                raise PassphraseError(f"wrong passphrase for {source}, or the key file is damaged")
            raise KeyFileError(f"{source} holds no readable private key")
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{source} does not hold an Ed25519 key")
        return cls(name, key)
