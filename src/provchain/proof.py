"""C2SP transparency log proofs (https://c2sp.org/tlog-proof): format, parse and verify, all pure.

A tlog-proof is an offline-verifiable proof that one entry is in the log: a header line, optional
extra data, the entry's index, its RFC 9162 inclusion proof (one base64 hash per line, from the leaf's
sibling up to the root's child), a blank line, and the log's signed checkpoint, verbatim::

  c2sp.org/tlog-proof@v1
  extra hqJ2AaRraW5kpWV2ZW50...
  index 41
  gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
  B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=

  example.com/acme-ledger
  42
  sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

  \u2014 example.com/acme-ledger hI2DJw...

provchain's ``prove`` puts the proven entry's body (its canonical msgpack, whose leaf hash is
``SHA-256(0x00 || body)``) in the extra data, so the proof alone shows what was logged. Nothing in the
extra data is trusted: :func:`verify_tlog_proof` hashes it and checks that hash's inclusion.

:func:`parse_tlog_proof` accepts exactly the bytes :func:`format_tlog_proof` writes (canonical base64,
decimal without leading zeros, one blank line), so ``format_tlog_proof(parse_tlog_proof(x)) == x`` for every
accepted ``x``. The normative specification is docs/spec/checkpoints.md.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from . import merkle
from ._internal.validate import canonical_b64decode
from .checkpoint import SIZE_MAX, Checkpoint, open_checkpoint
from .errors import InclusionError, InputError, KeyFormatError, ProofFormatError, ProvchainError
from .note import check_note_text, new_verifier

__all__ = [
    "MAX_PROOF_BYTES",
    "MAX_PROOF_HASHES",
    "TLOG_PROOF_HEADER",
    "ProofFormatError",
    "TlogProof",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
"""The first line of every proof (version 1 of the format)."""

MAX_PROOF_HASHES = 63
"""The longest inclusion proof: a tree of at most ``2**64 - 1`` leaves is at most 64 levels high."""

MAX_PROOF_BYTES = 1 << 20
"""The largest proof :func:`parse_tlog_proof` reads (1 MiB; a real one is a few kilobytes)."""

_EXTRA = "extra "
_INDEX = "index "
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof: where the entry is, the path to the root, and the checkpoint that signs the root.

    Fields are checked on construction; a bad field raises :class:`InputError`. The checkpoint is kept as
    the exact signed note bytes; it is verified by :func:`verify_tlog_proof`, not here.
    """

    index: int
    """The zero-based index of the entry in the log."""
    hashes: tuple[bytes, ...]
    """The RFC 9162 inclusion proof: 32-byte hashes from the leaf's sibling up to the root's child."""
    checkpoint: bytes
    """The log's signed checkpoint note (C2SP tlog-checkpoint), verbatim."""
    extra: bytes | None = None
    """Opaque extra data (not authenticated); provchain puts the entry body here. None: no extra line."""

    def __post_init__(self) -> None:
        if isinstance(self.hashes, list):
            object.__setattr__(self, "hashes", tuple(self.hashes))
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not 0 <= self.index < SIZE_MAX:
            raise InputError(f"a proof index is an integer from 0 to {SIZE_MAX - 1}")
        if not isinstance(self.hashes, tuple) or len(self.hashes) > MAX_PROOF_HASHES:
            raise InputError(f"proof hashes are a tuple of at most {MAX_PROOF_HASHES} hashes")
        for i, h in enumerate(self.hashes):
            if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
                raise InputError(f"proof hash {i} is not {merkle.HASH_SIZE} bytes")
        if not isinstance(self.checkpoint, bytes):
            raise InputError("the checkpoint of a proof is the signed note's bytes")
        try:
            _check_signed_note(self.checkpoint)
        except ProofFormatError as exc:
            raise InputError(str(exc)) from None
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise InputError("the extra data of a proof is bytes or None")


def format_tlog_proof(proof: TlogProof) -> bytes:
    """The text of ``proof`` in the C2SP tlog-proof format."""
    if not isinstance(proof, TlogProof):
        raise InputError("format_tlog_proof takes a TlogProof")
    lines = [TLOG_PROOF_HEADER]
    if proof.extra is not None:
        lines.append(_EXTRA + base64.b64encode(proof.extra).decode("ascii"))
    lines.append(f"{_INDEX}{proof.index}")
    lines.extend(base64.b64encode(h).decode("ascii") for h in proof.hashes)
    return ("\n".join(lines) + "\n\n").encode("ascii") + proof.checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a C2SP tlog-proof strictly; raise :class:`ProofFormatError` when it is malformed.

    Only :class:`~provchain.errors.ProvchainError` subclasses are raised, whatever the input. The
    checkpoint's structure is checked (a checkpoint text, a blank line, signature lines); its signatures
    are not: that is :func:`verify_tlog_proof`'s job.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProofFormatError(f"a tlog-proof is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_PROOF_BYTES:
        raise ProofFormatError(f"a tlog-proof is at most {MAX_PROOF_BYTES} bytes")
    split = data.find(b"\n\n")
    if split < 0:
        raise ProofFormatError("a tlog-proof needs a blank line between the inclusion proof and the checkpoint")
    try:
        head = data[:split].decode("ascii")
    except UnicodeDecodeError:
        raise ProofFormatError("the lines before a tlog-proof's checkpoint must be ASCII") from None
    checkpoint = data[split + 2 :]
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise ProofFormatError(f"a tlog-proof starts with the line {TLOG_PROOF_HEADER!r}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith(_EXTRA):
        extra = canonical_b64decode(lines[pos][len(_EXTRA) :], "the extra data", ProofFormatError)
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith(_INDEX):
        raise ProofFormatError("a tlog-proof needs an 'index N' line after its header (and extra data)")
    digits = lines[pos][len(_INDEX) :]
    if not _DECIMAL.fullmatch(digits) or int(digits) >= SIZE_MAX:
        raise ProofFormatError(f"a tlog-proof index is a decimal from 0 to {SIZE_MAX - 1} without leading zeros")
    hash_lines = lines[pos + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise ProofFormatError(f"an inclusion proof has at most {MAX_PROOF_HASHES} hashes")
    hashes = []
    for n, line in enumerate(hash_lines):
        hashes.append(canonical_b64decode(line, f"proof hash {n}", ProofFormatError, length=merkle.HASH_SIZE))
    _check_signed_note(checkpoint)
    return TlogProof(int(digits), tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    proof: bytes | TlogProof,
    leaf_hash: bytes | None,
    operator_vkey: str,
    origin: str,
    *,
    body: bytes | None = None,
) -> Checkpoint:
    """Verify that a tlog-proof puts an entry in the log ``origin`` signed by ``operator_vkey``.

    The entry is named by its 32-byte ``leaf_hash``, or by its ``body`` (hashed here), or, when both are
    None, by the proof's extra data taken as the body. When the proof carries extra data and the entry is
    named otherwise too, the extra data must be that entry's body. Checks, in order: the checkpoint's
    signature by the operator key (:class:`~provchain.errors.NoteVerificationError`), its origin
    (:class:`~provchain.errors.CheckpointError`), and the inclusion proof against its root
    (:class:`~provchain.errors.InclusionError`). Returns the checkpoint on success.

    Pure: bytes and strings in, no I/O and no clock.
    """
    if isinstance(proof, bytes | bytearray | memoryview):
        proof = parse_tlog_proof(bytes(proof))
    elif not isinstance(proof, TlogProof):
        raise InputError("proof must be the text of a tlog-proof or a TlogProof")
    leaf = _expected_leaf(proof, leaf_hash, body)
    try:
        verifier = new_verifier(operator_vkey)
    except KeyFormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from exc
    cp, _ = open_checkpoint(proof.checkpoint, origin, verifier)
    merkle.verify_inclusion(leaf, proof.index, cp.size, list(proof.hashes), cp.root)
    return cp


def _expected_leaf(proof: TlogProof, leaf_hash: bytes | None, body: bytes | None) -> bytes:
    if body is not None and not isinstance(body, bytes):
        raise InputError("body must be bytes")
    if leaf_hash is not None and (not isinstance(leaf_hash, bytes) or len(leaf_hash) != merkle.HASH_SIZE):
        raise InputError(f"a leaf hash is exactly {merkle.HASH_SIZE} bytes")
    named = [h for h in (leaf_hash, None if body is None else merkle.leaf_hash(body)) if h is not None]
    if len(named) == 2 and named[0] != named[1]:
        raise InputError("the leaf hash and the body given name different entries")
    if proof.extra is not None:
        from_extra = merkle.leaf_hash(proof.extra)
        if named and named[0] != from_extra:
            raise InclusionError(f"the proof's extra data is not the body of the entry to prove (index {proof.index})")
        return from_extra
    if not named:
        raise InputError("the proof carries no entry body: give the entry's leaf hash or body")
    return named[0]


def _check_signed_note(note: bytes) -> None:
    """Check the structure of a signed checkpoint note: checkpoint text, blank line, signature lines."""
    try:
        check_note_text(note)
        split = note.rfind(b"\n\n")
        if split < 0 or split + 2 >= len(note):
            raise ProofFormatError("the checkpoint of a tlog-proof must be a signed note with signature lines")
        Checkpoint.parse(note[: split + 1])
    except ProofFormatError:
        raise
    except ProvchainError as exc:
        raise ProofFormatError(f"the checkpoint of a tlog-proof is malformed: {exc}") from None
