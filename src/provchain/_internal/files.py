"""Writing output files safely: the one way provchain creates or replaces a file it is asked to write.

Every file the CLI writes (exports, reports, saved checkpoints, item codes, key files, imported ledgers)
goes through :func:`atomic_output` (or :func:`write_atomic` for bytes in memory). The rules:

1. The target is checked first (:func:`check_output`): a symbolic link, a directory or another
   non-regular file is refused; so is a ledger, always, even with ``force``: the ledger being read
   (the same file, or its ``-wal``, ``-shm`` or ``-journal`` companion, by path or by device and inode),
   and any file that looks like a provchain ledger (an SQLite file with provchain's application id, an
   export) or the companion of one. An existing regular file is replaced only with ``force``.
2. The data goes to a new temporary file in the target's directory, created with ``O_CREAT | O_EXCL``
   under a random name (:func:`tempfile.mkstemp`), so no planted file or link is ever written through.
   It is flushed and fsynced.
3. The target is checked again, and the temporary file takes its place in one step: ``os.link`` when
   the target must not exist (it fails if the name appeared meanwhile; nothing is replaced), else
   ``os.replace``. Neither follows a link at the target's name. The directory is fsynced.
4. On any failure the temporary file is removed and the target is left as it was.

The module imports nothing heavy: key files are written through it, and the key module loads fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from ..errors import InputError, LedgerExistsError, StorageError

__all__ = ["atomic_output", "check_output", "looks_like_ledger", "write_atomic"]

PathLike = str | os.PathLike[str]

LEDGER_APP_ID = 0x50435631
"""The SQLite ``application_id`` of a provchain ledger ("PCV1"; the same value as in
:mod:`provchain.store.sqlite`, repeated here so that writing a key file does not load the store)."""

EXPORT_MAGIC_PREFIX = b"PCLEDGER"
"""The first bytes of every provchain export, whatever its version (see :data:`provchain.export.MAGIC`)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_COMPANIONS = ("-wal", "-shm", "-journal")


def _refuse_ledger(target: Path, why: str) -> LedgerExistsError:
    return LedgerExistsError(f"{target} {why}; provchain never overwrites a ledger, not even with --force")


def looks_like_ledger(path: PathLike) -> bool:
    """True if the regular file at ``path`` starts like a provchain ledger: an SQLite database whose
    header carries provchain's application id, or a ledger export (any version).

    Raises :class:`StorageError` when the file cannot be read (it is then not safe to replace).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise StorageError(f"cannot read {os.fspath(path)} to check that it is not a ledger: {exc.strerror}") from exc
    try:
        head = os.read(fd, 72)
    finally:
        os.close(fd)
    if head.startswith(EXPORT_MAGIC_PREFIX):
        return True
    return head[:16] == _SQLITE_MAGIC and len(head) >= 72 and int.from_bytes(head[68:72], "big") == LEDGER_APP_ID


def _place(path: Path) -> str:
    """The path with its directory resolved (the name itself is kept: it may be a link we must not follow)."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def _protected_places(protect: Sequence[PathLike]) -> dict[str, str]:
    """Every path a protected ledger lives at (itself and its companions, by the given and the resolved
    path), mapped to what it is, for the message."""
    places: dict[str, str] = {}
    for item in protect:
        given = Path(item)
        for base in {_place(given), os.path.realpath(given)}:
            places[base] = f"is the ledger being read ({os.fspath(item)})"
            for suffix in _COMPANIONS:
                places[base + suffix] = f"is the {suffix} file of the ledger being read ({os.fspath(item)})"
    return places


def check_output(path: PathLike, *, force: bool = False, protect: Sequence[PathLike] = ()) -> Path:
    """Check that ``path`` may be written as an output file; return it as a :class:`Path`.

    Refuses (see the module's rules) a link, a directory, a non-regular file, a protected ledger or one of
    its companion files, anything that looks like a provchain ledger, and an existing file unless
    ``force``. Raises :class:`InputError`, or :class:`LedgerExistsError` for a ledger.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise InputError("an output file name must be a non-empty path")
    target = Path(path)
    places = _protected_places(protect)
    where = _place(target)
    if where in places:
        raise _refuse_ledger(target, places[where])
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise StorageError(f"cannot check {target}: {exc.strerror}") from exc
    if st is None:
        if not target.parent.is_dir():
            raise InputError(f"cannot write {target}: the directory {target.parent} does not exist")
        return target
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{target} is a symbolic link; provchain does not write through links: name a plain file")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{target} is a directory; name a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{target} is not a regular file; name a plain file")
    for item in protect:
        with contextlib.suppress(OSError):
            other = os.stat(item)
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                raise _refuse_ledger(target, f"is the ledger being read ({os.fspath(item)})")
    if looks_like_ledger(target):
        raise _refuse_ledger(target, "is a provchain ledger")
    for suffix in _COMPANIONS:
        if target.name.endswith(suffix) and len(target.name) > len(suffix):
            main = target.with_name(target.name[: -len(suffix)])
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(main).st_mode) and looks_like_ledger(main):
                    raise _refuse_ledger(target, f"belongs to the ledger {main}")
    if not force:
        raise InputError(f"{target} already exists; not replacing it (--force replaces it)")
    return target


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it."""
    # read as bytes: no codec lookup, which may import a module (and fail once privileges are dropped)
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or file system lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _place_new(tmp: str, target: Path, *, force: bool, protect: Sequence[PathLike]) -> None:
    """Move the finished temporary file onto ``target`` (see the module's rule 3)."""
    check_output(target, force=force, protect=protect)
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise InputError(f"{target} appeared while it was being written; not replacing it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        # A file system without hard links: the target was checked absent just above.
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(
    path: PathLike, *, force: bool = False, protect: Sequence[PathLike] = (), private: bool = False
) -> Iterator[IO[bytes]]:
    """Open a new temporary file for ``path``; on a clean exit it becomes ``path``, on an error it vanishes.

    ``force`` allows replacing an existing regular file (never a ledger); ``protect`` names the ledger
    files being read; ``private`` keeps the file readable by its owner only (mode 0600, from its creation),
    else it gets the usual mode (0666 less the umask).
    """
    target = check_output(path, force=force, protect=protect)
    directory = target.parent
    import tempfile  # here: a command that writes no file does not load it (nor shutil and random)

    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise StorageError(f"cannot create a file in {directory}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            if not private:
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        _place_new(tmp, target, force=force, protect=protect)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def write_atomic(
    path: PathLike, data: bytes, *, force: bool = False, protect: Sequence[PathLike] = (), private: bool = False
) -> None:
    """Write ``data`` to ``path`` by the rules of :func:`atomic_output`."""
    if not isinstance(data, bytes):
        raise InputError("the data to write must be bytes")
    with atomic_output(path, force=force, protect=protect, private=private) as f:
        f.write(data)
