"""Witnesses: cosigned checkpoints, so that no operator can show two buyers two histories.

A *witness* keeps, for each log it follows, the latest checkpoint it has verified, and cosigns a new
checkpoint only after a consistency proof shows that the new tree extends that one. A checkpoint that
carries the cosignatures of enough independent witnesses (a *quorum*) is one that the operator has shown
to all of them: an operator that forks its ledger cannot get both forks cosigned by the same witnesses.

Versions implemented (pinned; docs/spec/witness.md gives the details):

* C2SP tlog-cosignature v1.0.1 (https://c2sp.org/tlog-cosignature@v1.0.1): Ed25519 ``cosignature/v1``;
  a witness verifier key has signature type ``0x04`` and key id
  ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``; a cosignature is ``u64 timestamp || signature``
  (72 bytes) over ``"cosignature/v1\\ntime " timestamp "\\n"`` followed by the checkpoint's note text.
* C2SP tlog-witness v1.0.0 (https://c2sp.org/tlog-witness@v1.0.0): the ``add-checkpoint`` protocol
  (:mod:`provchain.witness_server`, :mod:`provchain.witness_client`). In that version an equal size with a
  different root is answered ``409 Conflict``; the draft before it said ``422``.
* C2SP tlog-policy at commit ``1896a5a`` (the file format has no version tag yet): ``log``, ``witness``,
  ``group`` and ``quorum`` lines (:class:`WitnessPolicy`).

>>> from provchain.keys import KeyPair
>>> w = WitnessKey(KeyPair.from_seed("witness.example/w1", bytes(32)))
>>> text = b"example.com/log\\n2\\n" + b"A" * 43 + b"=\\n"
>>> cosig = w.cosign(text, 1700000000)
>>> policy = WitnessPolicy.from_witnesses([w.vkey], 1)
>>> [c.timestamp for c in policy.verify_cosignatures(text, [cosig])]
[1700000000]
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import field

from ._internal.record import record
from ._internal.validate import canonical_b64decode, format_key_id
from .checkpoint import Checkpoint
from .errors import (
    CosignatureError,
    InputError,
    KeyFormatError,
    NoteFormatError,
    QuorumError,
    SignatureError,
    WitnessPolicyError,
)
from .keys import ALG_ED25519, KeyPair, check_key_name, key_id, split_vkey, verify_signature
from .note import split_lines

__all__ = [
    "ALG_COSIGNATURE_V1",
    "COSIGNATURE_SIZE",
    "COSIGNATURE_V1_HEADER",
    "MAX_POLICY_BYTES",
    "MAX_WITNESSES",
    "TIMESTAMP_MAX",
    "Cosignature",
    "CosignatureVerifier",
    "WitnessKey",
    "WitnessPolicy",
    "cosignature_key_id",
    "cosigned_message",
    "format_witness_vkey",
    "parse_witness_vkey",
    "split_note",
]

ALG_COSIGNATURE_V1 = 0x04
"""The signature type byte of an Ed25519 ``cosignature/v1`` witness key (tlog-cosignature)."""

COSIGNATURE_V1_HEADER = b"cosignature/v1\n"
"""The first line of every message a witness signs: domain separation from notes, entries and codes."""

COSIGNATURE_SIZE = 72
"""The bytes of a ``timestamped_signature``: a big-endian u64 timestamp and a 64-byte Ed25519 signature."""

TIMESTAMP_MAX = 2**63 - 1
"""The largest cosignature timestamp (POSIX seconds) the spec allows."""

MAX_WITNESSES = 32
"""The most witnesses (and, separately, groups and logs) a policy may name (the spec asks for at least 32)."""

MAX_POLICY_BYTES = 65536
"""The largest policy file :meth:`WitnessPolicy.parse` reads."""

_SIG_PREFIX = "\u2014 "


# --- keys -----------------------------------------------------------------------------------------


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of a ``cosignature/v1`` key: ``SHA-256(name || 0x0A || 0x04 || pub)[:4]``."""
    check_key_name(name)
    key_id(name, public_key)  # checks the public key's type and length
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def format_witness_vkey(name: str, public_key: bytes) -> str:
    """The witness verifier key ``name+hex8+base64(0x04||pub)`` (tlog-cosignature's vkey form)."""
    kid = cosignature_key_id(name, public_key)
    return f"{name}+{format_key_id(kid)}+{base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + public_key).decode()}"


def parse_witness_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """Parse a witness verifier key into ``(name, cosignature key id, public key)``.

    Both published forms are accepted: type ``0x04`` (the cosignature key itself) and type ``0x01`` (an
    Ed25519 note key, which some witnesses publish); the key id in the string must match its own type, and
    the key id returned is always the ``cosignature/v1`` one, derived from the name and the key. Raises
    :class:`KeyFormatError` for anything else.
    """
    name, given, raw = split_vkey(vkey, "a witness verifier key")
    if len(raw) != 33 or raw[0] not in (ALG_COSIGNATURE_V1, ALG_ED25519):
        raise KeyFormatError("a witness verifier key holds 0x04 (or 0x01) followed by a 32-byte Ed25519 key")
    public_key = raw[1:]
    own = cosignature_key_id(name, public_key) if raw[0] == ALG_COSIGNATURE_V1 else key_id(name, public_key)
    if own != given:
        raise KeyFormatError(f"witness verifier key id {given.hex()} does not match its name and key")
    return name, cosignature_key_id(name, public_key), public_key


def cosigned_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """The message a ``cosignature/v1`` signs: header, ``time T`` and the checkpoint's note text."""
    _check_timestamp(timestamp, InputError)
    Checkpoint.parse(checkpoint_text)  # a witness cosigns checkpoints only
    return COSIGNATURE_V1_HEADER + b"time %d\n" % timestamp + checkpoint_text


def _check_timestamp(timestamp: object, error: type[Exception]) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= TIMESTAMP_MAX:
        raise error(f"a cosignature timestamp is an integer from 0 to {TIMESTAMP_MAX} (POSIX seconds)")
    return timestamp


_set = object.__setattr__  # how a record with slots sets its fields (provchain._internal.record)


@record(slots=True)
class Cosignature:
    """One cosignature: the witness key's name and key id, the time it was made and the signature."""

    name: str
    """The witness key's name (from the signature line; matched against the trusted key)."""
    key_id: bytes
    """The 4-byte ``cosignature/v1`` key id."""
    timestamp: int
    """When the witness cosigned, in POSIX seconds."""
    signature: bytes
    """The 64-byte Ed25519 signature."""

    def __init__(self, name: str, key_id: bytes, timestamp: int, signature: bytes) -> None:
        _set(self, "name", name)
        _set(self, "key_id", key_id)
        _set(self, "timestamp", timestamp)
        _set(self, "signature", signature)
        check_key_name(self.name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != 4:
            raise InputError("a cosignature's key id is 4 bytes")
        _check_timestamp(self.timestamp, InputError)
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise InputError("a cosignature's signature is 64 bytes")

    @property
    def raw(self) -> bytes:
        """The 72-byte ``timestamped_signature``."""
        return struct.pack(">Q", self.timestamp) + self.signature

    def line(self) -> str:
        """The note signature line ``— name base64(key id || timestamp || signature)`` with its newline."""
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.raw).decode('ascii')}\n"

    @classmethod
    def from_line(cls, line: str) -> Cosignature | None:
        """The cosignature in a note signature line, or None when the line is not 4 + 72 bytes long (a
        signature of another kind, such as the operator's). Raises :class:`NoteFormatError` when the line
        is malformed."""
        if not isinstance(line, str) or not line.startswith(_SIG_PREFIX) or not line.endswith("\n"):
            raise NoteFormatError("a signature line starts with an em dash and a space and ends in a newline")
        name, sep, b64 = line[len(_SIG_PREFIX) : -1].partition(" ")
        if not sep or not name or "+" in name or any(c.isspace() for c in name):
            raise NoteFormatError("a signature line names a key with an invalid name")
        raw = canonical_b64decode(b64, "a signature", NoteFormatError)
        if len(raw) != 4 + COSIGNATURE_SIZE:
            return None
        try:
            check_key_name(name)
        except KeyFormatError:
            return None  # a name no trusted key can have: the line is ignored like any unknown key's
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > TIMESTAMP_MAX:
            raise NoteFormatError(f"the cosignature by {name} has a timestamp above 2^63 - 1")
        try:
            return cls(name, raw[:4], timestamp, raw[12:])
        except (InputError, KeyFormatError) as exc:
            raise NoteFormatError(f"a cosignature line is malformed: {exc}") from None


@record(slots=True)
class CosignatureVerifier:
    """A trusted witness: verifies its ``cosignature/v1`` signatures (also a :class:`provchain.note.Verifier`,
    whose ``verify`` takes the 72-byte timestamped signature)."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)

    def __init__(self, name: str, public_key: bytes) -> None:
        _set(self, "name", name)
        _set(self, "public_key", public_key)
        _set(self, "key_id", cosignature_key_id(name, public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """The verifier of a witness verifier key (either form, see :func:`parse_witness_vkey`)."""
        name, _, public_key = parse_witness_vkey(vkey)
        return cls(name, public_key)

    @property
    def vkey(self) -> str:
        """The witness verifier key in the ``0x04`` form."""
        return format_witness_vkey(self.name, self.public_key)

    def check(self, checkpoint_text: bytes, cosig: Cosignature) -> None:
        """Raise :class:`CosignatureError` unless ``cosig`` is this witness's valid cosignature of the
        checkpoint ``checkpoint_text``."""
        if cosig.key_id != self.key_id or cosig.name != self.name:
            raise CosignatureError(f"the cosignature is not by witness {self.name}+{self.key_id.hex()}")
        try:
            verify_signature(self.public_key, cosigned_message(checkpoint_text, cosig.timestamp), cosig.signature)
        except SignatureError:
            raise CosignatureError(
                f"the cosignature by witness {self.name}+{self.key_id.hex()} does not verify"
            ) from None

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` (72 bytes: timestamp and signature) cosigns the checkpoint text ``msg``."""
        if not isinstance(sig, bytes) or len(sig) != COSIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(sig[:8], "big")
        if timestamp > TIMESTAMP_MAX:
            return False
        try:
            self.check(msg, Cosignature(self.name, self.key_id, timestamp, sig[8:]))
        except (CosignatureError, NoteFormatError, InputError):
            return False
        return True


class WitnessKey:
    """A witness's signing key: it signs ``cosignature/v1`` messages and nothing else.

    Its key file is marked as a witness key (:meth:`provchain.keys.KeyPair.save` with ``witness=True``),
    and every other part of provchain refuses to load it, so the same key never signs notes or entries.
    """

    __slots__ = ("_kp",)

    def __init__(self, keypair: KeyPair) -> None:
        if not isinstance(keypair, KeyPair):
            raise InputError("a witness key wraps a KeyPair")
        self._kp = keypair

    @classmethod
    def generate(cls, name: str) -> WitnessKey:
        """A new random witness key named ``name`` (a schema-less URL such as ``witness.example/w1``)."""
        return cls(KeyPair.generate(name))

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> WitnessKey:
        """Read a witness key file (:class:`~provchain.errors.WitnessKeyError` if it is another key)."""
        return cls(KeyPair.load(path, passphrase, witness=True))

    def save(self, path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> None:
        """Write the key to a new file (mode 0600), marked as a witness key."""
        self._kp.save(path, passphrase, witness=True)

    @property
    def name(self) -> str:
        """The witness key's name."""
        return self._kp.name

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._kp.public_key

    @property
    def key_id(self) -> bytes:
        """The ``cosignature/v1`` key id."""
        return cosignature_key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The witness verifier key (``0x04`` form) to publish."""
        return format_witness_vkey(self.name, self.public_key)

    def cosign(self, checkpoint_text: bytes, timestamp: int) -> Cosignature:
        """Cosign the checkpoint note text ``checkpoint_text`` at ``timestamp`` (POSIX seconds).

        The caller (the witness) must first have checked that the checkpoint extends the latest one it
        cosigned for that log; this method only signs.
        """
        sig = self._kp.sign(cosigned_message(checkpoint_text, timestamp))
        cosig = Cosignature(self.name, self.key_id, timestamp, sig)
        CosignatureVerifier(self.name, self.public_key).check(checkpoint_text, cosig)
        return cosig

    def __repr__(self) -> str:
        return f"WitnessKey({self.vkey!r})"


def split_note(note: bytes) -> tuple[bytes, list[str]]:
    """Split a signed note into its text and its signature lines (each with its newline), checking the
    form only. Raises :class:`NoteFormatError`."""
    text, lines = split_lines(note)
    return text, [line + "\n" for line in lines]


# --- policy ---------------------------------------------------------------------------------------

_POLICY_WORD = re.compile(r"[^\t ]+")
_DECIMAL = re.compile(r"[1-9][0-9]{0,3}")


@record(slots=True)
class _Group:
    """A group of a witness policy: how many of its members must cosign."""

    threshold: int
    members: tuple[str, ...]

    def __init__(self, threshold: int, members: tuple[str, ...]) -> None:
        _set(self, "threshold", threshold)
        _set(self, "members", members)


class WitnessPolicy:
    """Which witnesses a verifier trusts and how many of them must cosign (C2SP tlog-policy).

    Build one from a policy file (:meth:`parse`, :meth:`load`) or from a list of witness keys and a
    threshold (:meth:`from_witnesses`). :meth:`verify_cosignatures` checks the cosignatures of a checkpoint
    and raises :class:`QuorumError` unless they satisfy the quorum.
    """

    __slots__ = ("_groups", "_quorum", "_urls", "_witnesses", "logs")

    def __init__(
        self,
        witnesses: Sequence[tuple[str, CosignatureVerifier, str | None]],
        groups: Sequence[tuple[str, int, Sequence[str]]],
        quorum: str,
        logs: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        self._witnesses: dict[str, CosignatureVerifier] = {}
        self._urls: dict[str, str] = {}
        self._groups: dict[str, _Group] = {}
        keys: set[bytes] = set()
        if len(witnesses) > MAX_WITNESSES or len(groups) > MAX_WITNESSES or len(logs) > MAX_WITNESSES:
            raise WitnessPolicyError(f"a witness policy names at most {MAX_WITNESSES} witnesses, groups and logs")
        for name, verifier, url in witnesses:
            self._define(name)
            if verifier.public_key in keys:
                raise WitnessPolicyError(f"witness {name}: its key is listed twice")
            keys.add(verifier.public_key)
            self._witnesses[name] = verifier
            if url is not None:
                self._urls[name] = url
        for name, threshold, members in groups:
            self._define(name)
            if not members:
                raise WitnessPolicyError(f"group {name} has no members")
            if len(set(members)) != len(members):
                raise WitnessPolicyError(f"group {name} lists a member twice")
            for m in members:
                if m not in self._witnesses and m not in self._groups:
                    raise WitnessPolicyError(f"group {name}: {m} is not a witness or group defined before it")
            if not 1 <= threshold <= len(members):
                raise WitnessPolicyError(f"group {name}: the threshold must be from 1 to {len(members)}")
            self._groups[name] = _Group(threshold, tuple(members))
        if quorum != "none" and quorum not in self._witnesses and quorum not in self._groups:
            raise WitnessPolicyError(f"the quorum {quorum} is not a witness or group defined before it")
        self._quorum = quorum
        self.logs: tuple[tuple[str, str | None], ...] = tuple(logs)
        """The ``log`` lines: (verifier key, URL or None)."""

    def _define(self, name: str) -> None:
        if name == "none":
            raise WitnessPolicyError("'none' is reserved and cannot name a witness or group")
        if name in self._witnesses or name in self._groups:
            raise WitnessPolicyError(f"the name {name} is defined twice")

    # --- building ---

    @classmethod
    def from_witnesses(cls, vkeys: Sequence[str], quorum: int | None = None) -> WitnessPolicy:
        """A policy of the witnesses ``vkeys`` of which at least ``quorum`` (default: all) must cosign.

        With no witnesses and ``quorum`` None or 0, the policy requires nothing (``quorum none``).
        """
        if isinstance(vkeys, str) or not isinstance(vkeys, Sequence):
            raise InputError("witness keys must be a list of verifier key strings")
        verifiers = [CosignatureVerifier.from_vkey(v) for v in vkeys]
        if quorum is not None and (isinstance(quorum, bool) or not isinstance(quorum, int)):
            raise InputError("the quorum must be an integer")
        if not verifiers:
            if quorum:
                raise WitnessPolicyError(f"a quorum of {quorum} needs at least {quorum} witness keys")
            return cls([], [], "none")
        n = len(verifiers) if quorum is None else quorum
        if not 1 <= n <= len(verifiers):
            raise WitnessPolicyError(f"the quorum must be from 1 to the number of witnesses, {len(verifiers)}, not {n}")
        names = [f"{v.name}+{v.key_id.hex()}" for v in verifiers]
        if len(set(names)) != len(names):
            raise WitnessPolicyError("a witness key is listed twice")
        return cls(
            [(name, v, None) for name, v in zip(names, verifiers, strict=True)],
            [("witnesses", n, names)],
            "witnesses",
        )

    @classmethod
    def parse(cls, text: bytes) -> WitnessPolicy:
        """Parse a C2SP tlog-policy file. Raises :class:`WitnessPolicyError` naming the line at fault."""
        if not isinstance(text, bytes):
            raise WitnessPolicyError("a witness policy must be bytes")
        if len(text) > MAX_POLICY_BYTES:
            raise WitnessPolicyError(f"a witness policy is at most {MAX_POLICY_BYTES} bytes")
        if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", text):
            raise WitnessPolicyError("a witness policy may contain no control character other than tab and newline")
        witnesses: list[tuple[str, CosignatureVerifier, str | None]] = []
        groups: list[tuple[str, int, list[str]]] = []
        logs: list[tuple[str, str | None]] = []
        quorum: str | None = None
        # Names are opaque octets; decoding with surrogateescape keeps them so without assuming UTF-8.
        lines = text.decode("utf-8", "surrogateescape").split("\n")
        for number, line in enumerate(lines, 1):
            words = _POLICY_WORD.findall(line)
            if not words or words[0].startswith("#"):
                continue
            where = f"policy line {number}"
            try:
                kind, args = words[0], words[1:]
                if kind == "log" and len(args) in (1, 2):
                    logs.append((args[0], args[1] if len(args) == 2 else None))
                elif kind == "witness" and len(args) in (2, 3):
                    url = args[2] if len(args) == 3 else None
                    witnesses.append((args[0], CosignatureVerifier.from_vkey(args[1]), url))
                elif kind == "group" and len(args) >= 3:
                    name, k, members = args[0], args[1], args[2:]
                    if k == "all":
                        threshold = len(members)
                    elif k == "any":
                        threshold = 1
                    elif _DECIMAL.fullmatch(k):
                        threshold = int(k)
                    else:
                        raise WitnessPolicyError("a group's threshold is all, any or a decimal number")
                    groups.append((name, threshold, members))
                    cls(witnesses, groups, "none")  # checks names and members defined on earlier lines
                elif kind == "quorum" and len(args) == 1:
                    if quorum is not None:
                        raise WitnessPolicyError("a policy has exactly one quorum line")
                    quorum = args[0]
                    cls(witnesses, groups, quorum)
                else:
                    raise WitnessPolicyError(f"unknown or malformed line starting with {kind[:20]!r}")
                cls(witnesses, groups, "none")
            except (WitnessPolicyError, KeyFormatError) as exc:
                raise WitnessPolicyError(f"{where}: {exc}") from None
        if quorum is None:
            raise WitnessPolicyError("a witness policy needs a quorum line (quorum none to require no witness)")
        return cls(witnesses, groups, quorum, logs)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WitnessPolicy:
        """Read and parse a policy file."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise WitnessPolicyError(f"cannot read the witness policy {path}: {exc.strerror}") from None
        return cls.parse(data)

    # --- reading ---

    @property
    def requires_witnesses(self) -> bool:
        """False for ``quorum none``."""
        return self._quorum != "none"

    @property
    def witnesses(self) -> dict[str, CosignatureVerifier]:
        """The trusted witnesses by policy name."""
        return dict(self._witnesses)

    def url(self, name: str) -> str | None:
        """The URL the policy gives for witness ``name``, if any."""
        return self._urls.get(name)

    def to_json(self) -> dict[str, object]:
        """The policy as ``{"witnesses": [[name, vkey]], "groups": [[name, threshold, [members]]], "quorum"}``,
        in the order of definition (the form the verifier page pins and ``web/src/verifier/witness.js`` reads;
        URLs and log lines are left out)."""
        return {
            "witnesses": [[name, v.vkey] for name, v in self._witnesses.items()],
            "groups": [[name, g.threshold, list(g.members)] for name, g in self._groups.items()],
            "quorum": self._quorum,
        }

    def describe(self) -> str:
        """A one-line summary such as ``2 of 3 witnesses``."""
        if not self.requires_witnesses:
            return "no witnesses required"
        if self._quorum in self._witnesses:
            return f"witness {self._quorum}"
        g = self._groups[self._quorum]
        return f"{g.threshold} of {len(g.members)} in group {self._quorum}"

    def satisfied(self, names: Iterable[str]) -> bool:
        """Whether the witnesses ``names`` (policy names) that cosigned satisfy the quorum."""
        cosigned = set(names)

        def ok(name: str) -> bool:
            if name in self._witnesses:
                return name in cosigned
            g = self._groups[name]
            return sum(1 for m in g.members if ok(m)) >= g.threshold

        return not self.requires_witnesses or ok(self._quorum)

    def verify_cosignatures(
        self, checkpoint_text: bytes, cosigs: Iterable[Cosignature], *, now: int | None = None, skew: int = 86400
    ) -> list[Cosignature]:
        """The valid cosignatures of ``checkpoint_text`` by trusted witnesses, once each, in the order given.

        Cosignatures by keys the policy does not name are ignored. A cosignature by a trusted key that
        does not verify, or whose time lies more than ``skew`` seconds after ``now`` (POSIX seconds; not
        checked when None), raises :class:`CosignatureError`; fewer valid cosignatures than the quorum
        raises :class:`QuorumError`.
        """
        Checkpoint.parse(checkpoint_text)
        by_id = {(v.name, v.key_id): (pname, v) for pname, v in self._witnesses.items()}
        counted: dict[str, Cosignature] = {}
        for cosig in cosigs:
            hit = by_id.get((cosig.name, cosig.key_id))
            if hit is None:
                continue
            pname, verifier = hit
            verifier.check(checkpoint_text, cosig)
            if now is not None and cosig.timestamp > now + skew:
                raise CosignatureError(
                    f"the cosignature by witness {verifier.name} is dated {cosig.timestamp - now} s after this "
                    "device's clock"
                )
            counted.setdefault(pname, cosig)
        if not self.satisfied(counted):
            raise QuorumError(
                f"the checkpoint carries valid cosignatures by {len(counted)} trusted witness(es); the policy "
                f"requires {self.describe()}"
            )
        return list(counted.values())

    def verify_note(
        self, note: bytes, *, now: int | None = None, skew: int = 86400
    ) -> tuple[bytes, list[Cosignature]]:
        """Check the cosignature lines of a signed checkpoint note (its operator signature is checked
        elsewhere): returns the note text and the counted cosignatures (see :meth:`verify_cosignatures`)."""
        text, lines = split_note(note)
        cosigs = [c for c in (Cosignature.from_line(line) for line in lines) if c is not None]
        return text, self.verify_cosignatures(text, cosigs, now=now, skew=skew)
