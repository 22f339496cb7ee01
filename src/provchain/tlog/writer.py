"""Publishing a ledger as a C2SP tlog-tiles tree in a directory (docs/spec/tiles.md).

:func:`publish` writes the tree of the ledger's latest signed checkpoint: entry bundles, signature bundles
and hash tiles, then the checkpoint note, verbatim, last. It reads the ledger in one snapshot, so a writer
appending meanwhile never makes it publish a torn tree. It is incremental: a file already in the directory
is never written again (every tile path names immutable content; the full tile of a partial one has another
path), each new file is written to a temporary name, fsynced and renamed into place, and the checkpoint is
replaced only once every file it needs is there. Running it again changes nothing; running it after the
ledger grew writes only the new files.

One publisher at a time: the directory is locked (``flock``) for the run, and a second one is refused with
:class:`~provchain.errors.LedgerBusyError`.

What it publishes is checked on the way: the stored checkpoint's signature, the stored tree's root at its
size, each entry's leaf hash against the stored level-0 node, each new tile hash of level >= 1 against the
tile below it written in the same run, and at the end the root the written tiles give, before the
checkpoint is replaced. A directory that holds another log's checkpoint, or a checkpoint the ledger does
not extend, is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import merkle
from ..checkpoint import Checkpoint, open_checkpoint
from ..errors import (
    ConsistencyError,
    DamagedLedgerError,
    FormatError,
    InputError,
    LedgerBusyError,
    LedgerError,
    StorageError,
    VerificationError,
)
from ..ledger import Ledger
from ..note import new_verifier
from ..tree.tlog_tiles import tile_nodes, tile_root
from . import layout
from .fetch import DirFetcher
from .reader import MAX_CHECKPOINT, TiledLog

__all__ = ["PublishResult", "publish", "publish_loop"]


@dataclass(frozen=True)
class PublishResult:
    """What one :func:`publish` run did."""

    directory: str
    size: int
    """The published tree size (the size of the ledger's latest signed checkpoint)."""
    root: bytes
    files_written: int
    """New files written (the checkpoint included when it changed)."""
    bytes_written: int
    files_kept: int
    """Files the tree needs that were already in the directory."""
    previous_size: int | None
    """The size of the checkpoint the directory held before, if any."""

    def __str__(self) -> str:
        before = "" if self.previous_size is None else f" (was {self.previous_size})"
        return (
            f"published size {self.size}{before} to {self.directory}: {self.files_written} files written "
            f"({self.bytes_written:,} bytes), {self.files_kept} already there"
        )


class _Writer:
    """Writes new files under ``root`` atomically and counts them. Files are written by a few threads (each
    file's fsync waits for the disk; several overlap), :meth:`finish` waits for all of them."""

    THREADS = 4

    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self.written = 0
        self.bytes = 0
        self.kept = 0
        self.dirs: set[Path] = set()
        self._made: set[Path] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def exists(self, rel: str) -> bool:
        if os.path.lexists(self.root / rel):
            self.kept += 1
            return True
        return False

    def write(self, rel: str, data: bytes, *, replace: bool = False) -> None:
        """Write ``rel`` in the background (the next :meth:`finish` waits for it and raises its error)."""
        target = self.root / rel
        directory = target.parent
        if directory not in self._made:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {directory}: {exc.strerror or exc}") from None
            self._made.add(directory)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="provchain-publish")
        if len(self._pending) >= 64 * self.THREADS:  # bounded memory: wait for the oldest half
            half, self._pending = self._pending[: len(self._pending) // 2], self._pending[len(self._pending) // 2 :]
            for fut in half:
                fut.result()
        self._pending.append(self._pool.submit(self._write, target, data, replace))

    def _write(self, target: Path, data: bytes, replace: bool) -> None:
        directory = target.parent
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise StorageError(f"cannot create a file in {directory}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o644)
                f.write(data)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            if not replace and os.path.lexists(target):  # another publisher wrote it meanwhile: same bytes
                os.unlink(tmp)
                with self._lock:
                    self.kept += 1
                return
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
        with self._lock:
            self.dirs.add(directory)
            self.written += 1
            self.bytes += len(data)

    def finish(self) -> None:
        """Wait for every file being written (raising the first failure), then fsync their directories."""
        try:
            pending, self._pending = self._pending, []
            for fut in pending:
                fut.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        if self.fsync:
            for d in sorted(self.dirs, key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        self.dirs.clear()


def _open_dir(directory: str | os.PathLike[str]) -> Path:
    if not isinstance(directory, str | os.PathLike):
        raise InputError(f"the directory must be a path, not {type(directory).__name__}")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {root}: {exc.strerror or exc}") from None
    return root


def publish(
    ledger: Ledger | str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    fsync: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
) -> PublishResult:
    """Publish ``ledger`` (a :class:`~provchain.ledger.Ledger` or a ledger file's path) as static tiles in
    ``directory`` (created if missing), up to its latest signed checkpoint; see the module docstring.

    Raises :class:`~provchain.errors.LedgerError` when the ledger has no signed checkpoint,
    :class:`~provchain.errors.DamagedLedgerError` when what it stores disagrees with itself, and
    :class:`~provchain.errors.ConsistencyError` when ``directory`` holds a checkpoint of another log or one
    this ledger does not extend. ``fsync=False`` skips the fsyncs (for a directory that is copied elsewhere
    once written; a crash may then leave empty files behind). ``progress(done, total)`` is called as entries
    are published.
    """
    if isinstance(ledger, Ledger):
        return _publish(ledger, _open_dir(directory), fsync, progress)
    if not isinstance(ledger, str | os.PathLike):
        raise InputError(f"ledger must be a Ledger or a path, not {type(ledger).__name__}")
    with Ledger.open(ledger, readonly=True) as led:
        return _publish(led, _open_dir(directory), fsync, progress)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the directory itself (flock on its descriptor: no lock file to serve), so
    that two publishers never interleave and an older checkpoint never replaces a newer one."""
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise StorageError(f"cannot open {root}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LedgerBusyError(f"another provchain publish is writing to {root}; try again later") from None
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _publish(
    led: Ledger, root: Path, fsync: bool, progress: Callable[[int, int | None], None] | None = None
) -> PublishResult:
    with _locked(root):
        return _publish_locked(led, root, fsync, progress)


def _publish_locked(
    led: Ledger, root: Path, fsync: bool, progress: Callable[[int, int | None], None] | None = None
) -> PublishResult:
    verifier = new_verifier(led.operator_vkey)
    out = _Writer(root, fsync)
    store = led.store
    with led.snapshot():
        # (1) The ledger's latest signed checkpoint, verified; the stored tree must give its root.
        latest = store.latest_checkpoint()
        if latest is None:
            raise LedgerError("the ledger has no signed checkpoint yet: sign one (provchain checkpoint), then publish")
        note = latest[1]
        try:
            cp, _ = open_checkpoint(note, led.origin, verifier)
        except (FormatError, VerificationError) as exc:
            raise DamagedLedgerError(f"the ledger's latest checkpoint does not verify ({exc}); audit it") from None
        size = cp.size
        if store.size() < size or led.root(size) != cp.root:
            raise DamagedLedgerError(f"the ledger's tree does not give its checkpoint's root at size {size}; audit it")
        # (2) What the directory holds already must be an earlier state of this log.
        previous = _previous(root, led)
        if previous is not None and previous.size > size:
            raise ConsistencyError(
                f"{root} holds a checkpoint of size {previous.size}, larger than the ledger's latest ({size}): "
                "it was published from another copy of the ledger, or the ledger was rolled back"
            )
        # (3) Entry bundles, signature bundles and level-0 tiles; then the tiles above.
        subtree: dict[tuple[int, int], bytes] = {}  # MTH of each full tile written in this run
        count = (size + layout.TILE_WIDTH - 1) // layout.TILE_WIDTH
        try:
            for n in range(count):
                _bundle(led, out, n, layout.tile_width(0, n, size), subtree)
                if progress is not None and (n % 16 == 15 or n == count - 1):
                    progress(min((n + 1) * layout.TILE_WIDTH, size), size)
            for level, n, width in layout.tiles_for(size):
                if level:
                    _tile(led, out, level, n, width, subtree)
        finally:
            out.finish()  # on an error too: no write goes on behind the caller's back
    # (4) The root the written tiles give, then the checkpoint, last.
    with TiledLog(DirFetcher(root), parallel=1) as written:
        if written.root(size) != cp.root:  # pragma: no cover - the checks above make it impossible
            raise DamagedLedgerError(f"the tiles written to {root} do not give the checkpoint's root; not published")
    current = _read(root / layout.CHECKPOINT_PATH)
    if current == note:
        out.kept += 1
    else:
        out.write(layout.CHECKPOINT_PATH, note, replace=True)
        out.finish()
    return PublishResult(
        str(root), size, cp.root, out.written, out.bytes, out.kept, None if previous is None else previous.size
    )


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_CHECKPOINT + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _previous(root: Path, led: Ledger) -> Checkpoint | None:
    """The checkpoint the directory holds (None if none), checked to be one this ledger extends."""
    data = _read(root / layout.CHECKPOINT_PATH)
    if data is None:
        return None
    try:
        cp, _ = open_checkpoint(data, led.origin, new_verifier(led.operator_vkey))
    except (FormatError, VerificationError) as exc:
        raise ConsistencyError(f"{root} holds a checkpoint that is not this ledger's ({exc}); not publishing") from None
    if cp.size <= led.size and cp.size and led.root(cp.size) != cp.root:
        raise ConsistencyError(
            f"{root} holds a checkpoint of size {cp.size} whose root this ledger does not have: its history differs"
        )
    return cp


def _bundle(led: Ledger, out: _Writer, n: int, width: int, subtree: dict[tuple[int, int], bytes]) -> None:
    """Entry bundle ``n``, its signature bundle and its level-0 tile, those not yet written."""
    paths = (layout.entries_path(n, width), layout.sigs_path(n, width), layout.tile_path(0, n, width))
    missing = [not out.exists(p) for p in paths]
    if not any(missing):
        return
    keys = tile_nodes(0, n, width)
    first = keys[0][1]
    entries = list(led.store.entries(first, first + width))
    stored = led.store.nodes(keys)
    leaves = []
    for j in range(width):
        e = entries[j] if j < len(entries) else None
        if e is None or e.index != first + j:
            raise DamagedLedgerError(f"the ledger lacks entry {first + j}; audit it")
        leaf = merkle.leaf_hash(e.body)
        if stored.get(keys[j]) != leaf or len(e.signature) != layout.SIGNATURE_SIZE:
            raise DamagedLedgerError(f"entry {first + j} disagrees with the stored tree; audit it")
        leaves.append(leaf)
    if missing[0]:
        out.write(paths[0], layout.encode_bundle([e.body for e in entries]))
    if missing[1]:
        out.write(paths[1], b"".join(e.signature for e in entries))
    if missing[2]:
        out.write(paths[2], b"".join(leaves))
        if width == layout.TILE_WIDTH:
            subtree[tile_root(0, n)] = merkle.root(leaves)


def _tile(led: Ledger, out: _Writer, level: int, n: int, width: int, subtree: dict[tuple[int, int], bytes]) -> None:
    """Hash tile ``n`` of tile level ``level`` >= 1, from the stored nodes, unless it is written already."""
    path = layout.tile_path(level, n, width)
    if out.exists(path):
        return
    keys = tile_nodes(level, n, width)
    stored = led.store.nodes(keys)
    hashes = []
    for key in keys:
        h = stored.get(key)
        if h is None or len(h) != merkle.HASH_SIZE:
            raise DamagedLedgerError(f"the ledger's Merkle tree lacks node {key}; audit it")
        below = subtree.get(key)
        if below is not None and below != h:
            raise DamagedLedgerError(f"the ledger's stored Merkle node {key} is not the hash of its subtree; audit it")
        hashes.append(h)
    out.write(path, b"".join(hashes))
    if width == layout.TILE_WIDTH:
        subtree[tile_root(level, n)] = merkle.root(hashes)


def publish_loop(
    ledger: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    interval: float = 10.0,
    rounds: int | None = None,
    on_round: Callable[[PublishResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Publish again every ``interval`` seconds as the ledger grows (``rounds`` times, or until interrupted);
    ``on_round`` receives each run's result. Returns how many runs were made."""
    if not isinstance(interval, int | float) or isinstance(interval, bool) or not interval > 0:
        raise InputError("interval must be a positive number of seconds")
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1):
        raise InputError("rounds must be a positive integer")
    done = 0
    with Ledger.open(ledger, readonly=True) as led:
        root = _open_dir(directory)
        while rounds is None or done < rounds:
            if done:
                sleep(interval)
            result = _publish(led, root, True)
            done += 1
            if on_round is not None:
                on_round(result)
    return done
