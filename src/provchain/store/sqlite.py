"""The SQLite store: one file per ledger, WAL mode, one IMMEDIATE transaction per append.

The schema is created through sqlite-utils; the hot path uses the connection directly. SQLite's
locking serializes writers across processes: an append reads the item's head and writes the new entry
inside one ``BEGIN IMMEDIATE`` transaction, so the compare-and-swap on the head cannot be raced.
A writer that finds the database locked waits (SQLite's busy handler) and retries, for at most
``busy_timeout`` seconds in all, then gets :class:`LedgerBusyError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from ..entries import Entry
from ..errors import (
    ForeignLedgerError,
    LedgerBusyError,
    LedgerExistsError,
    LedgerNotFoundError,
    StorageError,
)
from ..rules import Head
from .base import LedgerMeta, NodeKey, StoredEntry

__all__ = ["SCHEMA_VERSION", "SQLITE_MAGIC", "SqliteStore", "node_place", "read_magic"]

SCHEMA_VERSION = 2  # 2: low tree nodes live in the row of the entry that completes them
_APP_ID = 0x50435631  # "PCV1", in the SQLite header's application_id
_DENSE = 4  # entry rows spread over at most 4x their number are read with one range scan
_HASH = 32
ROW_LEVELS = 3
"""Nodes of levels 1 to 3 are kept in the row of the entry that completes them; higher ones in ``nodes``."""
_LEVEL_SHIFT = 40  # nodes table key: level << 40 | index; a ledger holds < 2**40 entries
_QUEUE_ROWS = 64  # inside a transaction, entry rows are written 64 at a time (see SqliteStore.add_entry)
_INSERT_ENTRY = "INSERT INTO entries (idx, kind, item, stage, at, leaf, nodes, body, sig) VALUES (?,?,?,?,?,?,?,?,?)"
_INSERT_NODE = "INSERT INTO nodes (id, hash) VALUES (?, ?)"


def node_place(level: int, index: int) -> tuple[str, int, int]:
    """Where the SQLite store keeps the hash of node ``(level, index)``: ``(table, key, byte offset)``.

    * level 0, the leaf hash: ``("leaf", index, 0)``, the entry's ``leaf`` column;
    * levels 1 to :data:`ROW_LEVELS`: ``("entries", e, 32 * (level - 1))``, in the ``nodes`` column of entry
      ``e = ((index + 1) << level) - 1``, whose leaf completes the node. That column holds the hashes of the
      nodes the leaf completes up to level 3, bottom up. So a node is written in the same row as the entry
      that completes it, and a proof's three lowest inner nodes sit in the 16 entries around its leaf,
      one or two pages;
    * higher levels: ``("nodes", level << 40 | index, 0)``, a row of the compact ``nodes`` table (an eighth
      of the nodes: small enough for the page cache, where scattering them over the entries would cost a
      page read each).
    """
    if level == 0:
        return "leaf", index, 0
    if level <= ROW_LEVELS:
        return "entries", ((index + 1) << level) - 1, _HASH * (level - 1)
    return "nodes", (level << _LEVEL_SHIFT) | index, 0



def _translate(exc: sqlite3.Error, what: str) -> Exception:
    msg = str(exc)
    low = msg.lower()
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_DIRECTORY":
        return StorageError(
            f"{what}: the ledger's directory is read-only, and SQLite needs to create the ledger's -wal and "
            "-shm files beside it to write (or to read uncheckpointed writes); open the ledger read-only, or "
            "from a writable directory"
        )
    if "locked" in low or "busy" in low:
        return LedgerBusyError(f"{what}: the ledger stayed locked by other writers; try again")
    if "full" in low:
        return StorageError(f"{what}: the disk or the ledger's size limit is full; nothing was written")
    if "readonly" in low or "read-only" in low:
        return StorageError(
            f"{what}: the ledger is read-only (opened read-only, or its file cannot be written); nothing was written"
        )
    if "not a database" in low or "malformed" in low or "no such table" in low:
        return ForeignLedgerError(f"{what}: the file is not a provchain ledger or is damaged ({msg})")
    return StorageError(f"{what}: {msg}")


SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


def read_magic(path: str | os.PathLike[str], n: int = 16) -> bytes:
    """The first ``n`` bytes of a ledger file, to tell its kind; raises when there is no such file."""
    p = Path(path)
    if not p.exists():
        raise LedgerNotFoundError(f"no ledger at {p}")
    if p.is_dir():
        raise ForeignLedgerError(f"{p} is a directory, not a ledger file")
    try:
        with p.open("rb") as f:
            return f.read(n)
    except OSError as exc:
        raise StorageError(f"cannot read {p}: {exc.strerror}") from exc


class SqliteStore:
    """A ledger stored in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: str, busy_timeout: float) -> None:
        self._conn = conn
        self._db = sqlite_utils.Database(conn)
        self.path = path
        self._busy_timeout = busy_timeout
        self._depth = 0
        self._meta: LedgerMeta | None = None
        # Rows written in the open transaction but not yet handed to SQLite (see add_entry), and the
        # failure of an earlier hand-over, which dooms the transaction.
        self._queue: list[tuple[Any, ...]] = []
        self._queue_nodes: list[tuple[int, bytes]] = []
        self._queue_heads: dict[str, int] = {}  # item -> its last row in the queue
        self._failed: StorageError | None = None

    # --- opening ------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: str, readonly: bool, busy_timeout: float, *, immutable: bool = False) -> sqlite3.Connection:
        uri = f"file:{Path(path).resolve()}?mode={'ro' if readonly else 'rw'}{'&immutable=1' if immutable else ''}"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=busy_timeout, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise _translate(exc, f"cannot open {path}") from exc
        return conn

    @classmethod
    def create(
        cls, path: str, meta: LedgerMeta, *, durability: str = "full", busy_timeout: float = 10.0
    ) -> SqliteStore:
        """Create a new ledger file; :class:`LedgerExistsError` if ``path`` exists."""
        p = Path(path)
        if p.exists():
            raise LedgerExistsError(f"{path} already exists; open it instead of creating it")
        try:
            p.touch(exist_ok=False)
        except OSError as exc:
            raise StorageError(f"cannot create {path}: {exc.strerror}") from exc
        conn = cls._connect(path, False, busy_timeout)
        store = cls(conn, path, busy_timeout)
        try:
            store._pragmas(durability)
            store._create_schema(meta)
        except BaseException:
            conn.close()
            p.unlink(missing_ok=True)
            raise
        return store

    @classmethod
    def open(
        cls,
        path: str,
        *,
        readonly: bool = False,
        durability: str = "full",
        busy_timeout: float = 10.0,
    ) -> SqliteStore:
        """Open an existing ledger file."""
        if read_magic(path) != SQLITE_MAGIC:
            raise ForeignLedgerError(f"{path} is not a provchain ledger (not an SQLite database)")
        try:
            return cls._open(path, readonly, durability, busy_timeout, immutable=False)
        except StorageError as exc:
            error = getattr(exc.__cause__, "sqlite_errorname", "")
            if error not in ("SQLITE_READONLY_DIRECTORY", "SQLITE_CANTOPEN"):
                raise
            # A WAL ledger in a read-only directory, without its -shm file: SQLite cannot set up the shared
            # memory it reads WAL ledgers with. When there is no -wal file either (the last writer closed
            # cleanly), the database file alone is the whole ledger and nobody can write to it (a writer
            # would need to create the -wal file): read it as immutable. With a -wal file, its writes would
            # be silently ignored: refuse instead, saying why.
            wal, shm = Path(path + "-wal"), Path(path + "-shm")
            if wal.exists() and wal.stat().st_size > 0 and not shm.exists():
                raise StorageError(
                    f"cannot open {path}: its directory is read-only and {wal.name} holds writes that SQLite "
                    f"can read only with a {shm.name} file beside it; copy the ledger with its -wal file to a "
                    "writable directory, or open it once where it can be written"
                ) from exc
            if not readonly or error != "SQLITE_READONLY_DIRECTORY":
                raise
            return cls._open(path, readonly, durability, busy_timeout, immutable=True)

    @classmethod
    def _open(cls, path: str, readonly: bool, durability: str, busy_timeout: float, *, immutable: bool) -> SqliteStore:
        conn = cls._connect(path, readonly, busy_timeout, immutable=immutable)
        store = cls(conn, path, busy_timeout)
        try:
            store._pragmas(durability, readonly=readonly)
            store.meta()
        except BaseException:
            conn.close()
            raise
        return store

    def _pragmas(self, durability: str, readonly: bool = False) -> None:
        if durability not in ("full", "normal"):
            raise ValueError("durability must be 'full' or 'normal'")
        try:
            if not readonly:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            self._conn.execute("PRAGMA cache_size=-32768")
            self._conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.Error as exc:
            raise _translate(exc, f"cannot open {self.path}") from exc

    def _create_schema(self, meta: LedgerMeta) -> None:
        db = self._db
        with self.transaction():
            self._conn.execute(f"PRAGMA application_id={_APP_ID}")
            db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
            db.table("entries").create(
                {
                    "idx": int,
                    "kind": str,
                    "item": str,
                    "stage": str,
                    "at": int,
                    "leaf": bytes,
                    "nodes": bytes,
                    "body": bytes,
                    "sig": bytes,
                },
                pk="idx",
                not_null={"kind", "at", "leaf", "nodes", "body", "sig"},
            )
            db.table("nodes").create({"id": int, "hash": bytes}, pk="id", not_null={"hash"})
            self._conn.execute("CREATE INDEX entries_item ON entries(item, idx) WHERE item IS NOT NULL")
            self._conn.execute("CREATE INDEX entries_operator ON entries(idx) WHERE kind != 'event'")
            db.table("checkpoints").create({"size": int, "note": bytes}, pk="size", not_null={"note"})
            db.table("meta").insert_all(
                [
                    {"key": "format", "value": str(meta.format)},
                    {"key": "schema", "value": str(SCHEMA_VERSION)},
                    {"key": "origin", "value": meta.origin},
                    {"key": "operator", "value": meta.operator_vkey},
                ]
            )

    # --- metadata -----------------------------------------------------------------------------

    def meta(self) -> LedgerMeta:
        """The ledger's metadata (read once, then cached)."""
        if self._meta is None:
            try:
                rows = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
                app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            except sqlite3.Error as exc:
                raise ForeignLedgerError(f"{self.path} is not a provchain ledger ({exc})") from exc
            if app_id != _APP_ID or not {"format", "origin", "operator", "schema"} <= set(rows):
                raise ForeignLedgerError(f"{self.path} is an SQLite database, but not a provchain ledger")
            if rows["schema"] != str(SCHEMA_VERSION):
                raise ForeignLedgerError(
                    f"{self.path} uses ledger schema {rows['schema']}; this provchain reads {SCHEMA_VERSION}"
                )
            self._meta = LedgerMeta(int(rows["format"]), rows["origin"], rows["operator"])
        return self._meta

    # --- reading ------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        if self._queue:  # every read sees every write of the transaction
            self._flush()
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot read the ledger") from exc

    def size(self) -> int:
        """The number of entries (``MAX(idx) + 1``: a B-tree lookup, not a count)."""
        row = self._query("SELECT MAX(idx) FROM entries")[0]
        return 0 if row[0] is None else int(row[0]) + 1

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        rows = self._query("SELECT body, sig FROM entries WHERE idx = ?", (index,))
        if not rows:
            raise IndexError(f"the ledger has no entry {index}")
        body, sig = rows[0]
        return Entry(bytes(body), bytes(sig), index)

    def entries(self, start: int = 0, end: int | None = None, *, chunk: int = 2000) -> Iterator[Entry]:
        """Entries ``[start, end)`` in order, read in chunks so memory stays flat."""
        pos = start
        while end is None or pos < end:
            limit = chunk if end is None else min(chunk, end - pos)
            rows = self._query(
                "SELECT idx, body, sig FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?", (pos, limit)
            )
            if not rows:
                return
            for idx, body, sig in rows:
                yield Entry(bytes(body), bytes(sig), int(idx))
            pos = int(rows[-1][0]) + 1

    def item_entries(self, item: str) -> list[Entry]:
        """The entries of ``item`` in order."""
        rows = self._query("SELECT idx, body, sig FROM entries WHERE item = ? ORDER BY idx", (item,))
        return [Entry(bytes(b), bytes(s), int(i)) for i, b, s in rows]

    def head(self, item: str) -> Head | None:
        """The last entry of ``item``."""
        queued = self._queue_heads.get(item)
        if queued is not None:
            idx, _, _, stage, at, leaf = self._queue[queued][:6]
            return Head(idx, leaf, stage, at)
        # Every queued row comes after every row SQLite holds, and none of them is the item's: the query
        # need not wait for the queue (an append reads the head of each new item; a write there would
        # make the queue useless).
        try:
            rows = self._conn.execute(
                "SELECT idx, leaf, stage, at FROM entries WHERE item = ? ORDER BY idx DESC LIMIT 1", (item,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot read the ledger") from exc
        if not rows:
            return None
        idx, leaf, stage, at = rows[0]
        return Head(int(idx), bytes(leaf), str(stage), int(at))

    def operator_entries(self, start: int = 0) -> Iterator[Entry]:
        """Registrations, revocations and policies at index >= ``start``."""
        rows = self._query(
            "SELECT idx, body, sig FROM entries WHERE kind != 'event' AND idx >= ? ORDER BY idx", (start,)
        )
        for idx, body, sig in rows:
            yield Entry(bytes(body), bytes(sig), int(idx))

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Complete-subtree hashes (see :func:`node_place`); a node whose row is absent, or whose stored hash
        is cut short, is left out.

        A proof's few dozen nodes are fetched in one statement (entry rows and ``nodes`` rows together); a
        dense run of entry rows, such as an audit's comparison of a stretch of the tree, is one range scan.
        """
        in_rows: dict[int, list[tuple[NodeKey, int]]] = {}
        high: list[int] = []
        for key in keys:
            level, index = key
            if level > ROW_LEVELS:
                high.append((level << _LEVEL_SHIFT) | index)
                continue
            # node_place, inlined for the proof path (tests/test_store_layout.py holds the two to each other)
            row, offset = (index, -1) if level == 0 else (((index + 1) << level) - 1, _HASH * (level - 1))
            spot = in_rows.get(row)
            if spot is None:
                in_rows[row] = [(key, offset)]
            else:
                spot.append((key, offset))
        rows = sorted(in_rows)
        found: list[Any] = []
        if rows and rows[-1] - rows[0] < _DENSE * len(rows) and len(rows) > 16:
            found += self._query("SELECT idx, leaf, nodes FROM entries WHERE idx BETWEEN ? AND ?", (rows[0], rows[-1]))
            rows = []
        # node ids are >= 2**42 (level >= 4), entry indices < 2**40: the two never collide
        for start in range(0, max(len(rows), len(high)), 500):
            part, hi = rows[start : start + 500], high[start : start + 500]
            selects = []
            if part:
                selects.append(f"SELECT idx, leaf, nodes FROM entries WHERE idx IN ({','.join('?' * len(part))})")
            if hi:
                selects.append(f"SELECT id, hash, NULL FROM nodes WHERE id IN ({','.join('?' * len(hi))})")
            found += self._query(" UNION ALL ".join(selects), (*part, *hi))
        out: dict[NodeKey, bytes] = {}
        mask = (1 << _LEVEL_SHIFT) - 1
        for key_or_row, first, blob in found:
            if key_or_row > mask:
                out[(key_or_row >> _LEVEL_SHIFT, key_or_row & mask)] = bytes(first)
                continue
            for key, offset in in_rows.get(key_or_row, ()):
                if offset < 0:
                    out[key] = bytes(first)
                else:
                    h = bytes(blob[offset : offset + _HASH])
                    if len(h) == _HASH:
                        out[key] = h
        return out

    def checkpoints(self) -> Iterator[tuple[int, bytes]]:
        """Stored checkpoints, smallest size first."""
        for size, note in self._query("SELECT size, note FROM checkpoints ORDER BY size"):
            yield int(size), bytes(note)

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size."""
        rows = self._query("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        if not rows:
            return None
        return int(rows[0][0]), bytes(rows[0][1])

    # --- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; inside an open transaction, a savepoint.

        A transaction in which a write failed cannot commit, even if the caller went on: leaving the
        block then rolls it back and raises :class:`StorageError`.
        """
        if self._depth:
            self._flush()
            name = f"sp{self._depth}"
            self._exec(f"SAVEPOINT {name}", "cannot write")
            failed = self._failed
            self._depth += 1
            try:
                yield
                self._flush()
            except BaseException:
                self._depth -= 1
                self._drop_queue()
                self._rollback(f"ROLLBACK TO {name}")
                self._failed = failed  # what failed after the savepoint is undone with it
                self._exec(f"RELEASE {name}", "cannot write")
                raise
            self._depth -= 1
            self._exec(f"RELEASE {name}", "cannot write")
            return
        self._begin()
        self._depth = 1
        try:
            yield
            self._flush()
            if self._failed is not None:
                raise StorageError(f"the transaction was rolled back because a write in it failed: {self._failed}")
        except BaseException:
            self._end()
            self._rollback("ROLLBACK")
            raise
        self._end()
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback("ROLLBACK")
            raise _translate(exc, "cannot commit") from exc

    def _end(self) -> None:
        self._depth = 0
        self._failed = None
        self._drop_queue()

    def _drop_queue(self) -> None:
        self._queue = []
        self._queue_nodes = []
        self._queue_heads = {}

    def _begin(self) -> None:
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                low = str(exc).lower()
                if ("locked" not in low and "busy" not in low) or time.monotonic() >= deadline:
                    raise _translate(exc, "cannot start a write") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _rollback(self, sql: str) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(sql)

    def _exec(self, sql: str, what: str) -> None:
        try:
            self._conn.execute(sql)
        except sqlite3.Error as exc:
            raise _translate(exc, what) from exc

    def add_entry(self, index: int, stored: StoredEntry) -> None:
        """Write one entry row, with the tree nodes its leaf completes (see :func:`node_place`).

        Inside a transaction the row is queued and handed to SQLite with others in one ``executemany``
        (every 64 rows, before any read, and at commit): one statement per row cost about a microsecond
        more of a batched append. So an error such as a full disk may surface from a later append of the
        batch or from its commit; either way the transaction cannot commit any more (see
        :meth:`transaction`).
        """
        if self._failed is not None:
            raise StorageError(f"an earlier write in this transaction failed ({self._failed}); it will be rolled back")
        e = stored.entry
        nodes = stored.nodes
        self._queue.append(
            (index, e.kind, stored.item, stored.stage, stored.at, e.leaf_hash, nodes[: _HASH * ROW_LEVELS],
             e.body, e.signature)
        )  # fmt: skip
        if stored.item is not None:
            self._queue_heads[stored.item] = len(self._queue) - 1
        if len(nodes) > _HASH * ROW_LEVELS:  # one entry in 16 completes a node of level 4 or more
            self._queue_nodes += [
                ((level << _LEVEL_SHIFT) | (index >> level), nodes[_HASH * (level - 1) : _HASH * level])
                for level in range(ROW_LEVELS + 1, len(nodes) // _HASH + 1)
            ]
        if not self._depth or len(self._queue) >= _QUEUE_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Hand the queued rows to SQLite. A failure dooms the open transaction."""
        if not self._queue:
            return
        rows, nodes = self._queue, self._queue_nodes
        self._drop_queue()
        try:
            self._conn.executemany(_INSERT_ENTRY, rows)
            if nodes:
                self._conn.executemany(_INSERT_NODE, nodes)
        except sqlite3.Error as exc:
            err = _translate(exc, "cannot write the entry")
            if self._depth:
                self._failed = err if isinstance(err, StorageError) else StorageError(str(err))
            raise err from exc

    def add_checkpoint(self, size: int, note: bytes) -> None:
        """Insert a signed checkpoint."""
        try:
            self._conn.execute("INSERT OR REPLACE INTO checkpoints (size, note) VALUES (?, ?)", (size, note))
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot write the checkpoint") from exc

    def set_cache_size(self, kib: int) -> None:
        """Set SQLite's page cache for this connection (default 32 MiB). A sequential scan such as an audit
        gains nothing from a large cache, so the auditor uses a small one to keep its memory flat."""
        self._exec(f"PRAGMA cache_size=-{int(kib)}", "cannot set the cache size")

    def set_max_pages(self, pages: int) -> None:
        """Cap the database file at ``pages`` pages (SQLite ``max_page_count``), e.g. to test a full disk."""
        self._exec(f"PRAGMA max_page_count={int(pages)}", "cannot set the size limit")

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
