"""The portable ledger file: a streaming, versioned export of a ledger, and its import.

An export holds everything an auditor needs besides the operator key: the ledger's origin and claimed
operator key, every signed checkpoint, every entry (index, body, signature) in log order, and a trailer
that counts them and states the Merkle root, so that a truncated file is detected. The layout
(normative text in docs/spec/ledger-file.md)::

    MAGIC                      b"PCLEDGER1\\n"
    frame(header)              {"entries": n, "format": 1, "operator": vkey, "origin": origin}
    frame(["c", size, note])   zero or more checkpoints, by increasing size
    frame(["e", index, body, signature])   n entries, in log order
    frame(["t", n, checkpoints, root])     the trailer, then end of file

where ``frame(x)`` is the canonical msgpack encoding of ``x`` preceded by its length as a 4-byte
big-endian unsigned integer. Writing and reading both stream: memory does not grow with the ledger
(checkpoints, which come first and are few, are the exception).

:class:`ExportReader` accepts only what :func:`write_export` writes; anything else raises
:class:`~provchain.errors.ExportFormatError` naming the byte offset of the bad frame. It checks the
container, not the ledger's rules: a well-formed export of a tampered ledger reads fine, and
:func:`provchain.audit.audit_path` reports what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import encoding, merkle
from ._internal.files import atomic_output, check_output
from .entries import FORMAT_VERSION, MAX_BODY, Entry
from .errors import (
    ChainError,
    CheckpointError,
    EncodingError,
    ExpiredKeyError,
    ExportFormatError,
    FormatError,
    InputError,
    KeyFormatError,
    LedgerExistsError,
    OperatorKeyError,
    OriginError,
    PolicyError,
    RevokedKeyError,
    RoleError,
    SignatureError,
    StageError,
    StageOrderError,
    StorageError,
    TimeError,
    UnknownKeyError,
    VerificationError,
)
from .keys import parse_vkey
from .ledger import Ledger
from .store.base import LedgerMeta, StoredEntry
from .store.sqlite import SqliteStore
from .tree.frontier import Frontier

if TYPE_CHECKING:
    from .audit import AuditReport

__all__ = [
    "EXPORT_VERSION",
    "MAGIC",
    "MAX_FRAME",
    "ExportHeader",
    "ExportReader",
    "ExportSummary",
    "ExportTrailer",
    "MerkleFrontier",
    "export_ledger",
    "import_ledger",
    "write_export",
]

MAGIC = b"PCLEDGER1\n"
"""The first 10 bytes of every export; the ``1`` is the container's major version."""

EXPORT_VERSION = 1
"""The container version this module writes and reads (the digit in :data:`MAGIC`)."""

MAX_FRAME = 1 << 16
"""The largest frame payload, in bytes (an entry body is at most 8192 bytes; a note far less)."""

MAX_NOTE = 16384
"""The largest checkpoint note, in bytes."""

MAX_SIGNATURE = 1024
"""The largest signature field, in bytes (a valid one is 64; the auditor reports other lengths)."""

_LEN = struct.Struct(">I")
_HEADER_KEYS = {"entries", "format", "operator", "origin"}


# --- the Merkle frontier --------------------------------------------------------------------------

MerkleFrontier = Frontier
"""The one incremental tree (:class:`provchain.tree.Frontier`), under the name this module gave it first."""


# --- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportHeader:
    """What an export says about its ledger (untrusted until the audit checks it)."""

    format: int
    origin: str
    operator_vkey: str
    entries: int

    def to_map(self) -> dict[str, Any]:
        """The header's canonical map."""
        return {"entries": self.entries, "format": self.format, "operator": self.operator_vkey, "origin": self.origin}


@dataclass(frozen=True)
class ExportTrailer:
    """The last frame: how many entries and checkpoints the file holds, and the writer's Merkle root."""

    entries: int
    checkpoints: int
    root: bytes


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_ledger` or :func:`import_ledger` moved."""

    entries: int
    checkpoints: int
    root: bytes


def _frame(value: Any) -> bytes:
    payload = encoding.encode(value)
    if len(payload) > MAX_FRAME:
        raise InputError(f"a record of {len(payload)} bytes exceeds the frame limit of {MAX_FRAME} bytes")
    return _LEN.pack(len(payload)) + payload


def write_export(
    out: IO[bytes],
    header: ExportHeader,
    checkpoints: Iterable[tuple[int, bytes]],
    entries: Iterable[Entry],
) -> ExportSummary:
    """Write an export to the binary stream ``out``: header, checkpoints, entries, trailer.

    ``entries`` are written in the order given with their ``index`` (which must be set). The trailer's
    root is computed from the entries written, as they stream past.
    """
    out.write(MAGIC)
    out.write(_frame(header.to_map()))
    n_cp = 0
    last = -1
    for size, note in checkpoints:
        if size < last:
            raise InputError("checkpoints must be written by increasing size")
        last = size
        out.write(_frame(["c", size, note]))
        n_cp += 1
    tree = Frontier()
    for e in entries:
        if e.index is None:
            raise InputError("every exported entry needs its index")
        out.write(_frame(["e", e.index, e.body, e.signature]))
        tree.append(e.leaf_hash)
    root = tree.root()
    if tree.size != header.entries:
        raise InputError(f"the header announces {header.entries} entries but {tree.size} were written")
    out.write(_frame(["t", tree.size, n_cp, root]))
    return ExportSummary(tree.size, n_cp, root)


def export_ledger(
    source: Ledger | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> ExportSummary:
    """Export a ledger (a :class:`~provchain.ledger.Ledger` or the path of its SQLite file) to ``out_path``.

    The export is a snapshot of the ledger's size when it starts, streamed to a new temporary file next
    to ``out_path`` and moved into place when complete, so ``out_path`` never holds a partial export and
    is left as it was on any failure. An existing ``out_path`` is replaced only with ``force``; a link,
    a directory, the ledger itself (or its ``-wal``/``-shm`` file) and any other ledger file are never
    written over (:class:`InputError`, :class:`LedgerExistsError`). ``progress(done, total)`` is called as
    entries are written.
    """
    if not isinstance(source, Ledger):
        check_output(out_path, force=force, protect=[source])  # before opening: nothing happens on a refusal
    led = source if isinstance(source, Ledger) else Ledger.open(source, readonly=True)
    own = led is not source
    try:
        store = led.store
        path = getattr(store, "path", None)  # the files of the ledger being read are never written over
        protect = [path] if isinstance(path, str) else []
        if not isinstance(source, Ledger):
            protect.append(os.fspath(source))
        # one state of the ledger, whatever writers do meanwhile
        with store.snapshot(), atomic_output(out_path, force=force, protect=protect) as f:
            size = store.size()
            header = ExportHeader(FORMAT_VERSION, led.origin, led.operator_vkey, size)
            cps = [(s, n) for s, n in store.checkpoints() if s <= size]
            entries = store.entries(0, size)
            summary = write_export(f, header, cps, entries if progress is None else _counted(entries, size, progress))
    finally:
        if own:
            led.close()
    return summary


def _counted(entries: Iterable[Entry], total: int, progress: Callable[[int, int | None], None]) -> Iterator[Entry]:
    done = 0
    for e in entries:
        yield e
        done += 1
        if done % 2000 == 0:
            progress(done, total)
    progress(done, total)


# --- reading ----------------------------------------------------------------------------------------


class ExportReader:
    """Reads an export from a binary stream; checks the container strictly, streams the entries.

    On construction it reads the magic, the header and the checkpoints; :meth:`entries` then yields
    each entry and, at the end, checks the trailer (available as :attr:`trailer` afterwards). Every
    defect raises :class:`ExportFormatError` with the offset of the frame where it was found.
    """

    def __init__(self, stream: IO[bytes], name: str = "export") -> None:
        self._f = stream
        self._name = name
        self._offset = 0
        self._frame_at = 0
        self._pending: list[Any] | None = None
        self.trailer: ExportTrailer | None = None
        magic = self._read_exact(len(MAGIC), allow_eof=True)
        if magic != MAGIC:
            if magic[:8] == MAGIC[:8]:
                raise self._error(f"unsupported export version {magic[8:9]!r} (this provchain reads 1)", 0)
            raise self._error("not a provchain ledger export (bad magic)", 0)
        self.header = self._read_header()
        self.checkpoints: list[tuple[int, bytes]] = []
        while True:
            rec = self._record()
            if rec[0] != "c":
                self._pending = rec
                break
            self.checkpoints.append((rec[1], rec[2]))

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike[str]) -> Iterator[ExportReader]:
        """Open the export at ``path`` for reading."""
        with Path(path).open("rb") as f:
            yield cls(f, os.fspath(path))

    def _error(self, message: str, offset: int | None = None) -> ExportFormatError:
        at = self._frame_at if offset is None else offset
        return ExportFormatError(f"{self._name}: {message} (at byte {at})")

    def _read_exact(self, n: int, *, allow_eof: bool = False) -> bytes:
        data = self._f.read(n)
        if len(data) != n and not allow_eof:
            raise self._error(
                f"the file ends after {self._offset + len(data)} bytes, inside a frame: it is truncated"
            )
        self._offset += len(data)
        return data

    def _frame(self) -> Any:
        self._frame_at = self._offset
        raw = self._read_exact(_LEN.size, allow_eof=True)
        if not raw:
            raise self._error("the file ends without a trailer: it is truncated")
        if len(raw) != _LEN.size:
            raise self._error("the file ends inside a frame length: it is truncated")
        (length,) = _LEN.unpack(raw)
        if not 0 < length <= MAX_FRAME:
            raise self._error(f"frame length {length} is outside 1..{MAX_FRAME}")
        payload = self._read_exact(length)
        try:
            return encoding.decode(payload, max_size=MAX_FRAME)
        except EncodingError as exc:
            raise self._error(f"frame is not canonical msgpack: {exc}") from None

    def _read_header(self) -> ExportHeader:
        m = self._frame()
        if not isinstance(m, dict) or set(m) != _HEADER_KEYS:
            raise self._error(f"the header must be a map with exactly: {', '.join(sorted(_HEADER_KEYS))}")
        fmt, origin, vkey, n = m["format"], m["origin"], m["operator"], m["entries"]
        if type(fmt) is not int or fmt != FORMAT_VERSION:
            raise self._error(f"unsupported entry format {fmt!r} (this provchain reads {FORMAT_VERSION})")
        if not isinstance(origin, str) or not origin or len(origin) > 1024:
            raise self._error("the header's origin must be non-empty text")
        if not isinstance(vkey, str):
            raise self._error("the header's operator must be a verifier key string")
        try:
            parse_vkey(vkey)
        except KeyFormatError as exc:
            raise self._error(f"the header's operator key is malformed: {exc}") from None
        if type(n) is not int or n < 0:
            raise self._error("the header's entry count must be a non-negative integer")
        return ExportHeader(fmt, origin, vkey, n)

    def _record(self) -> list[Any]:
        rec = self._frame()
        if not isinstance(rec, list) or not rec or not isinstance(rec[0], str):
            raise self._error("a record must be an array that starts with its type")
        kind = rec[0]
        if kind == "c":
            if len(rec) != 3 or type(rec[1]) is not int or rec[1] < 0 or not isinstance(rec[2], bytes):
                raise self._error("a checkpoint record is [\"c\", size, note]")
            if not 0 < len(rec[2]) <= MAX_NOTE:
                raise self._error(f"a checkpoint note is 1 to {MAX_NOTE} bytes")
            if self.checkpoints and rec[1] <= self.checkpoints[-1][0]:
                raise self._error("checkpoint records must come by strictly increasing size")
        elif kind == "e":
            if len(rec) != 4 or type(rec[1]) is not int or rec[1] < 0:
                raise self._error("an entry record is [\"e\", index, body, signature]")
            if not isinstance(rec[2], bytes) or not 0 < len(rec[2]) <= MAX_BODY:
                raise self._error(f"an entry body is 1 to {MAX_BODY} bytes")
            if not isinstance(rec[3], bytes) or len(rec[3]) > MAX_SIGNATURE:
                raise self._error(f"an entry signature is at most {MAX_SIGNATURE} bytes")
        elif kind == "t":
            if (
                len(rec) != 4
                or type(rec[1]) is not int
                or type(rec[2]) is not int
                or not isinstance(rec[3], bytes)
                or len(rec[3]) != merkle.HASH_SIZE
            ):
                raise self._error("the trailer is [\"t\", entries, checkpoints, root]")
        else:
            raise self._error(f"unknown record type {kind!r}")
        return rec

    def entries(self) -> Iterator[Entry]:
        """Yield every entry; then check the trailer and the end of the file."""
        if self._pending is None:
            raise InputError("the entries of an export can be read only once")
        rec, self._pending = self._pending, None
        count = 0
        while rec[0] == "e":
            yield Entry(rec[2], rec[3], rec[1])
            count += 1
            rec = self._record()
        if rec[0] != "t":
            raise self._error("a checkpoint record after the entries")
        _, n, n_cp, root = rec
        if n != count or n_cp != len(self.checkpoints):
            raise self._error(
                f"the trailer counts {n} entries and {n_cp} checkpoints, but the file holds {count} and "
                f"{len(self.checkpoints)}"
            )
        if n != self.header.entries:
            raise self._error(f"the header announces {self.header.entries} entries, the file holds {n}")
        if self._f.read(1):
            raise self._error("bytes after the trailer", self._offset)
        self.trailer = ExportTrailer(n, n_cp, root)


# --- import -------------------------------------------------------------------------------------------

# What a refused import raises, by the check of its first finding (any other check: VerificationError).
_FINDING_ERRORS: dict[str, type[VerificationError]] = {
    "signature": SignatureError,
    "chain": ChainError,
    "origin": OriginError,
    "operator-key": OperatorKeyError,
    "unknown-key": UnknownKeyError,
    "revoked-key": RevokedKeyError,
    "key-validity": ExpiredKeyError,
    "policy": PolicyError,
    "stage": StageError,
    "role": RoleError,
    "stage-order": StageOrderError,
    "time": TimeError,
    "checkpoint-signature": CheckpointError,
    "checkpoint": CheckpointError,
    "export-trailer": CheckpointError,
}


def import_ledger(
    export_path: str | os.PathLike[str],
    db_path: str | os.PathLike[str],
    *,
    operator_vkey: str | None = None,
    now: int | None = None,
    workers: int | None = None,
    commit_every: int = 20000,
    progress: Callable[[int, int | None], None] | None = None,
) -> Ledger:
    """Rebuild a ledger file at ``db_path`` from the export at ``export_path``; return it as a ``Ledger``.

    The export is verified completely while it is read, exactly as :func:`provchain.audit.audit_path`
    audits it: every body, signature, registration, policy rule and chain link, every checkpoint, and the
    trailer's counts and Merkle root against the recomputed tree. The entries are verified under
    ``operator_vkey`` when given (pin it: it must be the key the export names), else under the key the
    export names (which then proves only that the file is self-consistent). ``now`` (ms) also refuses
    events dated in the future; ``workers`` processes check signatures (see
    :func:`~provchain.audit.audit_entries`); ``progress(done, total)`` is called as entries are checked.

    The ledger is built in a new private directory beside ``db_path`` and linked into place only when
    everything checked out; otherwise nothing is left behind. Raises :class:`LedgerExistsError` when
    ``db_path`` exists (it is never overwritten), :class:`ExportFormatError` when the export is malformed
    or truncated, and a :class:`VerificationError` (:class:`SignatureError`, :class:`ChainError`,
    :class:`CheckpointError`, ...) naming the first finding and how many there are when the export does
    not verify.
    """
    from .audit import audit_entries  # the auditor imports this module

    db = Path(db_path)
    if os.path.lexists(db):
        raise LedgerExistsError(f"{db} already exists; not overwriting it")
    check_output(db, protect=[export_path])
    with ExportReader.open(export_path) as reader:
        h = reader.header
        pinned = h.operator_vkey if operator_vkey is None else operator_vkey
        _check_pinned(h, pinned)
        workdir = Path(tempfile.mkdtemp(dir=db.parent, prefix=f".{db.name}.", suffix=".importing"))
        try:
            builder = _Builder(workdir / db.name, LedgerMeta(h.format, h.origin, h.operator_vkey), commit_every)
            try:
                report = audit_entries(
                    builder.feed(reader.entries()),
                    pinned,
                    origin=h.origin,
                    checkpoints=reader.checkpoints,
                    workers=workers,
                    now=now,
                    expected_size=h.entries,
                    max_findings=1,
                    progress=progress,
                )
                _check_report(os.fspath(export_path), report, reader.trailer, builder)
                builder.finish(reader.checkpoints)
            finally:
                builder.close()
            if any(p.name != db.name for p in workdir.iterdir()):  # pragma: no cover - SQLite removes them
                raise StorageError(f"cannot import into {db}: SQLite left files beside the new ledger")
            _link_new(workdir / db.name, db)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return Ledger.open(db)


def _check_pinned(h: ExportHeader, pinned: str) -> None:
    try:
        name = parse_vkey(pinned)[0]
    except KeyFormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    if pinned != h.operator_vkey:
        raise OperatorKeyError(f"the export names the operator key {h.operator_vkey}, not the pinned key {pinned}")
    if name != h.origin:
        raise OriginError(f"the export's origin {h.origin!r} is not its operator key's name {name!r}")


def _check_report(name: str, report: AuditReport, trailer: ExportTrailer | None, builder: _Builder) -> None:
    """Raise unless the audit of the export is clean, the trailer's root is the recomputed one and every
    entry was stored."""
    if trailer is None:  # pragma: no cover - reading the entries checks the trailer
        raise ExportFormatError(f"{name}: the export has no trailer")
    trailer_ok = trailer.root == report.root
    if not report.clean:
        first = report.findings[0]
        n = report.finding_count + (not trailer_ok)  # counted as the audit counts them
        raise _FINDING_ERRORS.get(first.check, VerificationError)(
            f"{name} does not verify ({n} finding{'' if n == 1 else 's'}; the first: {first}); nothing was imported "
            "(run provchain audit on it for the full report)"
        )
    if not trailer_ok:
        raise CheckpointError(
            f"{name}: the trailer states the root {trailer.root.hex()}, but the entries give {report.root.hex()} "
            "(the file was changed after it was written); nothing was imported"
        )
    if builder.problem is not None or builder.tree.size != report.size:  # pragma: no cover - the audit finds these
        raise ExportFormatError(f"{name}: {builder.problem or 'not every entry could be stored'}")


def _link_new(tmp: Path, db: Path) -> None:
    """Give the finished ledger its name, unless that name was taken meanwhile (never replaced)."""
    try:
        os.link(tmp, db)
    except FileExistsError:
        raise LedgerExistsError(f"{db} appeared while importing; not overwriting it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(db):  # a file system without hard links
            raise LedgerExistsError(f"{db} appeared while importing; not overwriting it") from None
        os.replace(tmp, db)


class _Builder:
    """Stores the entries the audit reads, as they stream past, into a new SQLite ledger file.

    Storing stops (and :attr:`problem` says why) at the first entry that cannot be stored: an index out of
    place or a body that is not an entry. The audit goes on and reports it, and the import is refused.
    """

    def __init__(self, path: Path, meta: LedgerMeta, commit_every: int) -> None:
        if type(commit_every) is not int or commit_every < 1:
            raise InputError("commit_every must be a positive integer")
        self._path = path
        self._meta = meta
        self._commit_every = commit_every
        self._store: SqliteStore | None = None
        self._feeding: Iterator[Entry] | None = None
        self.tree = Frontier()
        self.problem: str | None = None

    def feed(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        """Yield ``entries`` on, storing each one; a batch of entries is one transaction."""
        self._feeding = self._feed(entries)
        return self._feeding

    def _feed(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        # Created on the first read, that is after the audit has started its worker processes: they never
        # inherit the connection.
        self._store = store = SqliteStore.create(os.fspath(self._path), self._meta, durability="normal")
        while True:
            with store.transaction():
                for _ in range(self._commit_every):
                    e = next(entries, None)
                    if e is None:
                        return
                    self._add(store, e)
                    yield e

    def _add(self, store: SqliteStore, e: Entry) -> None:
        if self.problem is not None:
            return
        index = self.tree.size
        if e.index != index:
            self.problem = f"entry {e.index} comes where entry {index} belongs"
            return
        try:
            e.content  # noqa: B018 - parsed here, so that a malformed entry is named with its index
        except FormatError as exc:
            self.problem = f"entry {index} is not a valid entry ({exc})"
            return
        store.add_entry(index, StoredEntry(e, self.tree.add(index, e.leaf_hash)))

    def finish(self, checkpoints: Iterable[tuple[int, bytes]]) -> None:
        """Store the (verified) checkpoints."""
        if self._store is None:  # pragma: no cover - the audit reads the entries first
            raise ExportFormatError("the export's entries were not read")
        with self._store.transaction():
            for size, note in checkpoints:
                self._store.add_checkpoint(size, note)

    def close(self) -> None:
        """Close the new file (the last connection folds the WAL into it)."""
        if isinstance(self._feeding, Generator):
            self._feeding.close()  # a batch still open when the audit stopped early is rolled back
        if self._store is not None:
            self._store.close()
