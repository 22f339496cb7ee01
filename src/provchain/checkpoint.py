"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is a signed note whose text is the log's origin, its tree size and the base64 of its
RFC 6962 Merkle root, one per line, then optional extension lines::

  example.com/behind-the-sofa
  20852163
  CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

:meth:`Checkpoint.parse` accepts only the text :meth:`Checkpoint.format` writes: the size in decimal
without sign or leading zeros (at most 2**64 - 1), the root as canonical base64 of exactly 32 bytes, and
non-empty lines throughout, so ``format(parse(x)) == x`` for every accepted ``x``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from ._internal.record import record
from ._internal.validate import canonical_b64decode
from .errors import CheckpointError, InputError, NoteFormatError
from .keys import Signer
from .note import Note, Verifier, check_note_text, sign
from .note import open as open_note

__all__ = ["ROOT_SIZE", "SIZE_MAX", "Checkpoint", "open_checkpoint", "sign_checkpoint"]

ROOT_SIZE = 32
"""The length of a root hash (SHA-256), in bytes."""

SIZE_MAX = 2**64 - 1
"""The largest tree size a checkpoint may state (an unsigned 64-bit integer)."""

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_LINE_CONTROL = re.compile(r"[\x00-\x1f]")


_set = object.__setattr__  # how a record with slots sets its fields (provchain._internal.record)


@record(slots=True)
class Checkpoint:
    """The text of a checkpoint: origin, tree size, root hash and extension lines.

    Fields are checked on construction; a bad field raises :class:`InputError`.

    >>> cp = Checkpoint("example.com/log", 2, bytes(32))
    >>> cp.format()
    b'example.com/log\\n2\\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n'
    >>> Checkpoint.parse(cp.format()) == cp
    True
    """

    origin: str
    """The log's identity, a non-empty line (such as ``example.com/log42``)."""
    size: int
    """The number of leaves in the tree."""
    root: bytes
    """The RFC 6962 Merkle tree root hash at ``size``, 32 bytes."""
    extensions: tuple[str, ...] = ()
    """Opaque, non-empty extension lines after the root (NOT RECOMMENDED by the spec)."""

    def __init__(self, origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()) -> None:
        _set(self, "origin", origin)
        _set(self, "size", size)
        _set(self, "root", root)
        _set(self, "extensions", tuple(extensions) if isinstance(extensions, list) else extensions)
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= SIZE_MAX:
            raise InputError(f"a checkpoint size is an integer from 0 to {SIZE_MAX}")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise InputError(f"a checkpoint root is exactly {ROOT_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise InputError("checkpoint extensions must be a tuple of strings")
        for ext in self.extensions:
            _check_line("extension line", ext)

    def format(self) -> bytes:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` followed by the extension lines."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint note text strictly; raise :class:`NoteFormatError` when it is malformed."""
        s = check_note_text(text)
        lines = s[:-1].split("\n")
        if len(lines) < 3:
            raise NoteFormatError("a checkpoint has at least three lines: origin, size and root hash")
        origin, size_line, root_line, *extensions = lines
        if not origin:
            raise NoteFormatError("a checkpoint origin must not be empty")
        if not _SIZE.fullmatch(size_line) or int(size_line) > SIZE_MAX:
            raise NoteFormatError(
                f"a checkpoint size is a decimal from 0 to {SIZE_MAX} without sign or leading zeros"
            )
        root = canonical_b64decode(
            root_line,
            "a checkpoint root hash",
            NoteFormatError,
            length=ROOT_SIZE,
            message=f"a checkpoint root hash is canonical base64 of exactly {ROOT_SIZE} bytes",
        )
        if any(not ext for ext in extensions):
            raise NoteFormatError("checkpoint extension lines must not be empty")
        try:
            return cls(origin, int(size_line), root, tuple(extensions))
        except InputError as exc:  # unreachable after the checks above; kept as a safety net
            raise NoteFormatError(str(exc)) from exc


def _check_line(what: str, line: object) -> None:
    if not isinstance(line, str) or not line:
        raise InputError(f"a checkpoint {what} must be a non-empty string")
    if _LINE_CONTROL.search(line):
        raise InputError(f"a checkpoint {what} may not contain newlines or control characters")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"a checkpoint {what} must be encodable as UTF-8") from exc


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> bytes:
    """The signed note of ``cp`` with one signature by ``signer``."""
    if not isinstance(cp, Checkpoint):
        raise InputError("cp must be a Checkpoint")
    return sign(cp.format(), [signer])


def open_checkpoint(msg: bytes, origin: str, verifier: Verifier) -> tuple[Checkpoint, Note]:
    """Verify the signed checkpoint ``msg`` by ``verifier`` and check that it is for ``origin``.

    Signatures by other keys are ignored (they are in the note's ``unverified_sigs``). Raises
    :class:`NoteFormatError` when the note or its checkpoint text is malformed,
    :class:`NoteVerificationError` when it carries no valid signature by ``verifier`` (or a bad one), and
    :class:`CheckpointError` when its origin is not ``origin``.
    """
    if not isinstance(verifier, Verifier) or isinstance(verifier, Sequence):
        raise InputError("verifier must be a single Verifier")
    note = open_note(msg, [verifier])
    cp = Checkpoint.parse(note.text)
    if cp.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {cp.origin!r}, expected {origin!r}")
    return cp, note
