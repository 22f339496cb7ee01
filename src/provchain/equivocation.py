"""Evidence of equivocation: two checkpoints one operator signed that cannot both be true.

An operator equivocates when it signs two views of its log that do not extend each other: the same size
with two roots, or a larger tree whose first entries do not hash to the smaller tree's root. Either pair,
with the consistency proof that shows the larger tree's prefix (for two sizes), is a proof anyone can
check with the operator's verifier key alone: :func:`compare` finds it, :func:`check_evidence` checks it.

The evidence is a text (``provchain compare`` prints it, docs/spec/witness.md gives the layout)::

  EQUIVOCATION: <one line saying what the two checkpoints claim>
  provchain-equivocation/v1
  operator <the operator's verifier key>
  prefix-root <base64 root of the larger tree's first N entries>      (two sizes only)
  proof <base64 hash>                                                 (two sizes only, one line per hash)
  note <byte length>
  <the first signed checkpoint, verbatim>
  note <byte length>
  <the second signed checkpoint, verbatim>

>>> from provchain.keys import KeyPair
>>> from provchain.checkpoint import Checkpoint, sign_checkpoint
>>> op = KeyPair.from_seed("example.com/log", bytes(32))
>>> a = sign_checkpoint(Checkpoint("example.com/log", 3, bytes(32)), op)
>>> b = sign_checkpoint(Checkpoint("example.com/log", 3, bytes([1]) * 32), op)
>>> result = compare(a, b, op.vkey)
>>> result.consistent, result.evidence.startswith(b"EQUIVOCATION: ")
(False, True)
>>> check_evidence(result.evidence, op.vkey).startswith("example.com/log signed two checkpoints")
True
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import merkle
from ._internal.validate import canonical_b64decode
from .checkpoint import ROOT_SIZE, Checkpoint, open_checkpoint
from .errors import ConsistencyError, FormatError, InputError, NoteFormatError
from .keys import parse_vkey
from .note import MAX_NOTE_BYTES, new_verifier, split_lines

if TYPE_CHECKING:
    from .ledger import Ledger

__all__ = ["EVIDENCE_HEADER", "Comparison", "check_evidence", "compare", "compare_with_ledger", "evidence_operator"]

EVIDENCE_HEADER = b"provchain-equivocation/v1\n"
"""The line that starts the body of an evidence text, after its ``EQUIVOCATION:`` line."""

_MAX_PROOF = 64
_NOTE_LINE = re.compile(rb"note (0|[1-9][0-9]{0,5})\n")


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing two checkpoints."""

    consistent: bool
    """True when the two checkpoints agree (one extends the other, or they are equal)."""
    message: str
    """What was found, in one line."""
    evidence: bytes | None = None
    """When they do not agree: the evidence text that :func:`check_evidence` verifies."""


def _open(note: bytes, operator_vkey: str, which: str) -> Checkpoint:
    name, _, _ = parse_vkey(operator_vkey)
    try:
        cp, _ = open_checkpoint(note, name, new_verifier(operator_vkey))
    except FormatError as exc:
        raise NoteFormatError(f"{which} is not a signed checkpoint: {exc}") from None
    return cp


def _peek(note: bytes, which: str) -> Checkpoint:
    """The checkpoint text of ``note``, unverified (:func:`compare` verifies it)."""
    try:
        return Checkpoint.parse(split_lines(note)[0])
    except FormatError as exc:
        raise NoteFormatError(f"{which} is not a signed checkpoint: {exc}") from None


def _statement(origin: str, small: Checkpoint, large: Checkpoint) -> str:
    if small.size == large.size:
        return f"{origin} signed two checkpoints that cannot both be true: size {small.size} with two different roots"
    return (
        f"{origin} signed two checkpoints that cannot both be true: the tree of size {large.size} does not extend "
        f"the tree of size {small.size}"
    )


def _evidence(
    operator_vkey: str, notes: tuple[bytes, bytes], statement: str, prefix_root: bytes | None, proof: Sequence[bytes]
) -> bytes:
    out = [b"EQUIVOCATION: " + statement.encode("utf-8") + b"\n", EVIDENCE_HEADER]
    out.append(b"operator " + operator_vkey.encode("utf-8") + b"\n")
    if prefix_root is not None:
        out.append(b"prefix-root " + base64.b64encode(prefix_root) + b"\n")
        out += [b"proof " + base64.b64encode(h) + b"\n" for h in proof]
    for note in notes:
        out.append(b"note %d\n" % len(note) + note)
    return b"".join(out)


def compare(
    note_a: bytes,
    note_b: bytes,
    operator_vkey: str,
    *,
    proof: Sequence[bytes] | None = None,
    prefix_root: bytes | None = None,
) -> Comparison:
    """Compare two checkpoints signed by the operator ``operator_vkey`` (for its origin).

    Equal sizes need nothing else. Two sizes need the consistency ``proof`` from the smaller size to the
    larger, made by whoever holds the larger tree; ``prefix_root`` (the larger tree's root at the smaller
    size) is needed only when the smaller size is a power of two, where the proof does not determine it.
    Returns a :class:`Comparison`: consistent, or not with its evidence. Raises :class:`NoteFormatError` or
    :class:`~provchain.errors.NoteVerificationError` when a note is not the operator's valid checkpoint,
    :class:`InputError` when the sizes differ and no usable proof is given, and
    :class:`ConsistencyError` when the proof does not lead to the larger tree's root (it proves nothing).
    """
    a = _open(note_a, operator_vkey, "the first note")
    b = _open(note_b, operator_vkey, "the second note")
    small, large = (a, b) if a.size <= b.size else (b, a)
    origin = a.origin
    if a.size == b.size:
        if a.root == b.root:
            return Comparison(True, f"both checkpoints are of size {a.size} with the same root")
        statement = _statement(origin, small, large)
        return Comparison(False, statement, _evidence(operator_vkey, (note_a, note_b), statement, None, ()))
    if small.size == 0:
        if small.root != merkle.EMPTY_ROOT:
            raise ConsistencyError("the checkpoint of size 0 does not have the empty tree's root")
        return Comparison(True, f"every tree extends the empty tree; the other checkpoint is of size {large.size}")
    if proof is None:
        raise InputError("checkpoints of two sizes are compared with a consistency proof or the ledger")
    if len(proof) > _MAX_PROOF or any(not isinstance(h, bytes) or len(h) != ROOT_SIZE for h in proof):
        raise InputError(f"a consistency proof is at most {_MAX_PROOF} hashes of {ROOT_SIZE} bytes each")
    try:
        merkle.verify_consistency(small.size, large.size, proof, small.root, large.root)
    except ConsistencyError:
        pass
    else:
        return Comparison(True, f"the tree of size {large.size} extends the tree of size {small.size}")
    derived = _prefix_root(small.size, large.size, proof, large.root, prefix_root)
    statement = _statement(origin, small, large)
    return Comparison(False, statement, _evidence(operator_vkey, (note_a, note_b), statement, derived, proof))


def _prefix_root(size1: int, size2: int, proof: Sequence[bytes], root2: bytes, given: bytes | None) -> bytes:
    """The root at ``size1`` that ``proof`` shows the ``size2`` tree ``root2`` to have. Raises
    :class:`ConsistencyError` when the proof does not lead to ``root2``."""
    old, new = merkle.consistency_roots(size1, size2, proof, given)
    if new != root2:
        raise ConsistencyError(
            f"the consistency proof does not lead to the root of the tree of size {size2}: it proves nothing"
        )
    if given is not None and old != given:
        raise ConsistencyError(f"the proof does not lead to the given root of the tree's first {size1} entries")
    return old


def compare_with_ledger(note_a: bytes, note_b: bytes, ledger: Ledger) -> Comparison:
    """Compare two checkpoints of ``ledger``'s operator, taking the consistency proof from ``ledger``,
    which must hold the larger checkpoint's tree (:class:`InputError` otherwise)."""
    # Only the sizes and roots are read here, to pick the proof; compare() then verifies both notes.
    a, b = _peek(note_a, "the first note"), _peek(note_b, "the second note")
    if a.size == b.size:
        return compare(note_a, note_b, ledger.operator_vkey)
    small, large = (a, b) if a.size < b.size else (b, a)
    if small.size == 0:
        return compare(note_a, note_b, ledger.operator_vkey)
    with ledger.snapshot():
        if ledger.size < large.size or ledger.root(large.size) != large.root:
            raise InputError(
                f"the ledger does not hold the tree of the checkpoint of size {large.size}; give the ledger that "
                "checkpoint came from"
            )
        proof = ledger.consistency_proof(small.size, large.size)
        prefix = ledger.root(small.size)
    return compare(note_a, note_b, ledger.operator_vkey, proof=proof, prefix_root=prefix)


def evidence_operator(evidence: bytes) -> str:
    """The operator key an evidence text names (its third line), unchecked: :func:`check_evidence` with it
    shows whether the text proves anything about that key."""
    if not isinstance(evidence, bytes):
        raise InputError("evidence is bytes")
    lines = evidence.split(b"\n", 3)
    if len(lines) < 4 or not lines[2].startswith(b"operator "):
        raise NoteFormatError("the evidence's third line names the operator key")
    try:
        return lines[2][len(b"operator ") :].decode("utf-8")
    except UnicodeDecodeError:
        raise NoteFormatError("the evidence's operator key is not UTF-8") from None


def check_evidence(evidence: bytes, operator_vkey: str) -> str:
    """Check an evidence text (as :func:`compare` writes it) against the pinned ``operator_vkey``.

    Returns the statement it proves. Raises :class:`NoteFormatError` when it is malformed, a
    :class:`~provchain.errors.VerificationError` when a note is not the operator's, and
    :class:`ConsistencyError` when it proves nothing (the checkpoints agree, or the proof does not lead to
    the larger tree).
    """
    if not isinstance(evidence, bytes):
        raise InputError("evidence is bytes")
    if len(evidence) > 4 * MAX_NOTE_BYTES:
        raise NoteFormatError("the evidence is too large")
    first, sep, rest = evidence.partition(b"\n")
    if not sep or not first.startswith(b"EQUIVOCATION: ") or not rest.startswith(EVIDENCE_HEADER):
        raise NoteFormatError("evidence starts with an EQUIVOCATION line and the line provchain-equivocation/v1")
    rest = rest[len(EVIDENCE_HEADER) :]
    line, sep, rest = rest.partition(b"\n")
    if not line.startswith(b"operator "):
        raise NoteFormatError("the evidence's third line names the operator key")
    if line[len(b"operator ") :].decode("utf-8", "replace") != operator_vkey:
        raise InputError("the evidence is about another operator key than the one given")
    prefix_root: bytes | None = None
    proof: list[bytes] = []
    if rest.startswith(b"prefix-root "):
        line, _, rest = rest.partition(b"\n")
        prefix_root = _b64_hash(line[len(b"prefix-root ") :])
        while rest.startswith(b"proof "):
            line, _, rest = rest.partition(b"\n")
            proof.append(_b64_hash(line[len(b"proof ") :]))
            if len(proof) > _MAX_PROOF:
                raise NoteFormatError(f"the evidence's proof has more than {_MAX_PROOF} hashes")
    notes: list[bytes] = []
    for _ in range(2):
        m = _NOTE_LINE.match(rest)
        if m is None:
            raise NoteFormatError("each note in the evidence follows a line 'note <byte length>'")
        n = int(m.group(1))
        body = rest[m.end() : m.end() + n]
        if len(body) != n:
            raise NoteFormatError("the evidence is truncated")
        notes.append(body)
        rest = rest[m.end() + n :]
    if rest:
        raise NoteFormatError("the evidence has bytes after its second note")
    result = compare(
        notes[0], notes[1], operator_vkey, proof=proof if prefix_root is not None else None, prefix_root=prefix_root
    )
    if result.consistent:
        raise ConsistencyError(f"the evidence proves nothing: {result.message}")
    if result.evidence != evidence:
        first_line = result.evidence.partition(b"\n")[0] if result.evidence else b""
        if first_line != first:
            raise NoteFormatError("the evidence's EQUIVOCATION line does not say what its checkpoints show")
    return result.message


def _b64_hash(text: bytes) -> bytes:
    return canonical_b64decode(
        text.decode("ascii", "replace"), "a hash in the evidence", NoteFormatError, length=ROOT_SIZE
    )

