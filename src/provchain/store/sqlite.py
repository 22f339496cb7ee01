"""The SQLite store: one file per ledger, WAL mode, one IMMEDIATE transaction per append.

The schema is literal SQL (``_SCHEMA``), executed through the connection, as is everything else. SQLite's
locking serializes writers across processes: an append reads the item's head and writes the new entry
inside one ``BEGIN IMMEDIATE`` transaction, so the compare-and-swap on the head cannot be raced.
A writer that finds the database locked waits (SQLite's busy handler) and retries, for at most
``busy_timeout`` seconds in all, then gets :class:`LedgerBusyError`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import msgpack

from ..entries import FORMAT_VERSION, MAX_BODY, Entry, Event, PartyRegistration, PolicyEntry, Revocation, leaf_hash_of
from ..errors import (
    DamagedLedgerError,
    ForeignLedgerError,
    InputError,
    LedgerBusyError,
    LedgerExistsError,
    LedgerNotFoundError,
    StorageError,
)
from ..rules import Head
from ..tree.blocks import (
    BLOCK_LEAVES,
    BLOCK_SHIFT,
    MAX_LEAVES,
    TILE_BYTES,
    TILE_LEVELS,
    block_nodes,
    entry_nodes,
    high_rows,
    node_place,
    read_plan,
    row_length,
    row_nodes,
    tile_edge,
    tile_from_entries,
    tile_from_leaves,
    tile_nodes,
)
from ..tree.hashing import HASH_SIZE
from ._checks import chain_of, event_of, head_of, non_events, queued_heads
from .base import LedgerMeta, NodeKey, StorageProblem, StoredEntry

__all__ = [
    "SCHEMA_VERSION",
    "SQLITE_MAGIC",
    "TILE_LEVELS",
    "SqliteStore",
    "node_place",
    "read_magic",
    "register_functions",
    "schema_objects",
]

SCHEMA_VERSION = 5  # 3: a block of 16 leaves and its inner nodes is one row of ``tiles``; 4: so are 16 high siblings;
# 5: the entries table keeps no unsigned copy of a body's fields: the item index is computed from the body
_APP_ID = 0x50435631  # "PCV1", in the SQLite header's application_id
_DENSE = 4  # keys spread over at most 4x their number are read with one range scan
# The tree's nodes are laid out by provchain.tree.blocks (tiles of 16 leaves in ``tiles``, rows of 16 high
# siblings in ``nodes``: node_place); this module only reads and writes those rows.
_MAX_ENTRIES = MAX_LEAVES  # a stored index at or above it (SQLite takes up to 2**63 - 1) is damage
_SQLITE_MIN = -(1 << 63)  # the smallest integer SQLite stores
_SQLITE_MAX = (1 << 63) - 1  # the largest
_QUEUE_ROWS = 64  # inside a transaction, entry rows are written 64 at a time (see SqliteStore.add_entry)
_INSERT_ENTRY = "INSERT INTO entries (idx, body, sig) VALUES (?,?,?)"
# A full queue goes in with one statement of 64 rows: about a microsecond a row less than executemany, whose
# per-row binding and stepping from Python cost more than SQLite's insert itself (bench/append.py).
_INSERT_ENTRIES = "INSERT INTO entries (idx, body, sig) VALUES " + ",".join(["(?,?,?)"] * _QUEUE_ROWS)
_INSERT_TILE = "INSERT INTO tiles (block, hashes) VALUES (?, ?)"
# A high node starts its row of 16 siblings or extends it. The nodes of a level complete in order, so an
# extended row must be exactly as long as the node's offset (else nothing changes, and _flush notices).
# (|| makes text, whose length stops at a zero byte: the CAST keeps the row a blob.)
_INSERT_NODE = "INSERT INTO nodes (id, hash) VALUES (?, ?)"
_EXTEND_NODE = "UPDATE nodes SET hash = CAST(hash || ?2 AS BLOB) WHERE id = ?1 AND length(hash) = ?3"
_TILES = "SELECT 1, block, hashes FROM tiles WHERE block"
_NODES = "SELECT 2, id, hash FROM nodes WHERE id"
_SIZE = "SELECT 3, MAX(idx), NULL FROM entries"
# The heads of many items (heads()): each item's largest index from the item index (whose item column is the
# index's own value, not recomputed from the body), then the row at that index.
_HEADS = (
    "SELECT h.item, e.idx, e.body, e.sig FROM (SELECT item, MAX(idx) AS idx FROM entries WHERE item IN ({}) "
    "GROUP BY item) AS h JOIN entries AS e ON e.idx = h.idx"
)
_HEADS_CHUNK = 500  # items per statement (SQLite's default limit on parameters is 32766)
_SHAPES: dict[tuple[bool, int, int], str] = {}  # the statement of each small (with size, tiles, high nodes) shape

# The whole schema, as SQLite keeps it in sqlite_schema (type, name, table, sql). A ledger file must hold
# exactly these objects (see _check_schema): a trigger, view or index that provchain did not create could
# change what a statement reads or writes. The only copy of a signed field is ``entries.item``: a virtual
# column computed by SQLite from the body itself (``pc_item``, which provchain registers on every
# connection), so that no SQL statement can set it apart from the body, and the indexes over it are kept
# by SQLite. ``item IS NULL`` marks the operator's entries (registrations, revocations, policies).
_SCHEMA: tuple[tuple[str, str, str, str], ...] = (
    ("table", "meta", "meta", "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    (
        "table",
        "entries",
        "entries",
        "CREATE TABLE entries (idx INTEGER PRIMARY KEY, body BLOB NOT NULL, sig BLOB NOT NULL, "
        "item TEXT GENERATED ALWAYS AS (pc_item(body)) VIRTUAL)",
    ),
    ("index", "entries_item", "entries", "CREATE INDEX entries_item ON entries(item, idx) WHERE item IS NOT NULL"),
    ("index", "entries_operator", "entries", "CREATE INDEX entries_operator ON entries(idx) WHERE item IS NULL"),
    ("table", "tiles", "tiles", "CREATE TABLE tiles (block INTEGER PRIMARY KEY, hashes BLOB NOT NULL)"),
    ("table", "nodes", "nodes", "CREATE TABLE nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)"),
    ("table", "checkpoints", "checkpoints", "CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL)"),
)
_AUTO_OBJECTS = {("index", "sqlite_autoindex_meta_1", "meta", None)}  # made by SQLite for meta's text key
_STAT_TABLES = ("sqlite_stat1", "sqlite_stat4")  # made by ANALYZE: statistics for the planner, nothing more


def _body_item(body: object) -> str | None:
    """``pc_item(body)``: the item of an event body, None for any other body (or bytes that are no body).

    SQLite calls it to fill ``entries.item`` and its indexes; it must be deterministic and never raise.
    Readers that act on the index check the body again (see :meth:`SqliteStore.head`).
    """
    global _last_item
    if type(body) is not bytes:
        return None
    last = _last_item  # one read: another thread may replace it meanwhile
    if last[0] == body:
        return last[1]
    item = None
    try:
        m = msgpack.unpackb(body, raw=False, strict_map_key=True, max_bin_len=MAX_BODY, max_str_len=MAX_BODY)
    except Exception:
        return None
    if type(m) is dict and m.get("kind") == "event" and type(m.get("item")) is str:
        item = m["item"]
    _last_item = (body, item)
    return item


# The last body _body_item read and its item. SQLite's integrity check (run by every audit) asks for each
# row's item four times in a row, once per index and partial-index condition: a quarter of the work.
_last_item: tuple[bytes | None, str | None] = (None, None)
_OPERATOR_BODIES = (PartyRegistration, Revocation, PolicyEntry)  # bodies whose pc_item is None


def register_functions(conn: sqlite3.Connection) -> None:
    """Give a connection the SQL function the schema needs (``pc_item``), for tools that open a ledger file
    with the :mod:`sqlite3` module directly: without it SQLite refuses to write the ``entries`` table."""
    conn.create_function("pc_item", 1, _body_item, deterministic=True)


def schema_objects(conn: sqlite3.Connection) -> list[str]:
    """The schema objects of a ledger file that provchain did not create, or whose definition differs
    from provchain's, each described in words (empty for an intact schema)."""
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall()
    expected = {(t, n, tb, sql) for t, n, tb, sql in _SCHEMA} | _AUTO_OBJECTS
    out = []
    names = {n for _, n, _, _ in expected}
    for row in rows:
        kind, name, table, sql = (v if isinstance(v, str) or v is None else repr(v) for v in row)
        if (kind, name, table, sql) in expected or (kind == "table" and name in _STAT_TABLES):
            continue
        if name in names:
            out.append(f"{kind} {name!r} is not defined as provchain defines it")
        else:
            out.append(f"{kind} {name!r} (on {table!r}) was not created by provchain")
    present = {(str(r[0]), str(r[1])) for r in rows}
    for kind, name, _, _ in sorted(expected):
        if (kind, name) not in present:
            out.append(f"{kind} {name!r} is missing")
    return out


def _runs(keys: list[int]) -> tuple[list[int], list[int]]:
    """Split sorted keys into dense runs of 8 or more (flat ``[first, last, ...]``, each read with one range
    scan, such as an audit's comparison of a stretch of the tree) and the rest."""
    if len(keys) < 8:
        return [], keys
    spans: list[int] = []
    single: list[int] = []
    first = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] - keys[i - 1] > _DENSE:
            if i - first >= 8:
                spans += (keys[first], keys[i - 1])
            else:
                single += keys[first:i]
            first = i
    return spans, single


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


def _describe(value: object) -> str:
    """What a stored value is, in words, without echoing it (it may be long or hostile)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"a blob of {len(value)} bytes"
    if isinstance(value, str):
        return f"text of {len(value)} characters"
    return f"a value of SQLite type {'integer' if isinstance(value, int) else 'real'}"


# How the store's connections read TEXT values. Python's default raises on text that is not UTF-8, with a
# message that quotes the bytes; provchain writes text only in the meta table and the schema, so other text
# is damage, reported as such by the readers (a str with lone surrogates is neither bytes nor printable).
_TEXT = functools.partial(str, encoding="utf-8", errors="surrogateescape")


def _size_of(max_idx: object) -> int:
    """The size of a ledger whose largest stored index is ``max_idx`` (NULL when it has no entries)."""
    if max_idx is None:
        return 0
    if type(max_idx) is not int or not 0 <= max_idx < _MAX_ENTRIES:
        raise DamagedLedgerError(
            f"the entries table's largest index is {max_idx!r}, not an index provchain writes (0 to 2**40 - 1); "
            "the ledger file was edited or damaged (audit it)"
        )
    return max_idx + 1


def _entry(idx: object, body: object, sig: object) -> Entry:
    """An entry from a stored row, its values checked to be of the types provchain writes."""
    if type(idx) is int and not 0 <= idx < _MAX_ENTRIES:
        raise DamagedLedgerError(
            f"the entries table holds an entry at index {idx}, not an index provchain writes (0 to 2**40 - 1); "
            "the ledger file was edited or damaged (audit it)"
        )
    if type(body) is not bytes or type(sig) is not bytes or type(idx) is not int:
        what = "body" if type(body) is not bytes else "sig" if type(sig) is not bytes else "idx"
        value = {"body": body, "sig": sig, "idx": idx}[what]
        raise DamagedLedgerError(
            f"entry {idx if type(idx) is int else '?'}: the entries.{what} column holds {_describe(value)}, not "
            "what provchain writes there; the ledger file was edited or damaged (audit it)"
        )
    return Entry(body, sig, idx)


def _checkpoint_row(size: object, note: object) -> tuple[int, bytes]:
    """A stored checkpoint, its values checked to be of the types provchain writes (the note's own size is
    compared with the ``size`` column where it is opened)."""
    if type(size) is not int or type(note) is not bytes:
        what, value = ("size", size) if type(size) is not int else ("note", note)
        raise DamagedLedgerError(
            f"the checkpoints.{what} column holds {_describe(value)}, not what provchain writes there; the "
            "ledger file was edited or damaged (audit it)"
        )
    return size, note


_DAMAGED = "the ledger file was edited or damaged"

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
        self.path = path
        self._busy_timeout = busy_timeout
        self._depth = 0
        self._snapshot = False  # inside snapshot()
        self._meta: LedgerMeta | None = None
        # Rows written in the open transaction but not yet handed to SQLite (see add_entry), and the
        # failure of an earlier hand-over, which dooms the transaction.
        self._queue: list[tuple[Any, ...]] = []
        self._queue_tiles: list[tuple[int, bytes]] = []
        self._queue_nodes: list[tuple[int, bytes, int]] = []  # row, hash, offset in the row
        self._queue_heads: dict[str, tuple[int, bytes]] = {}  # item -> its last row in the queue, leaf hash
        self._failed: StorageError | None = None
        # The hashes given with each entry of the block being filled, in order from its first entry (None
        # when this connection did not see them all: its tile is then computed from the stored bodies).
        self._block: list[tuple[bytes, bytes]] | None = None  # (leaf hash, nodes) of each entry
        self._block_next = -1
        # The item of each queued body, from the parsed entry add_entry was given (the ledger builds its
        # events itself, so decoding the body again in ``pc_item`` would be wasted work). Keyed by the exact
        # body bytes: ``pc_item`` on this connection answers from here only for the very bytes queued, and
        # computes from the body for any other; it is emptied with the queue. Other connections (another
        # process, the sqlite3 module) use :func:`register_functions`, which always decodes.
        known: dict[bytes, str | None] = {}
        self._queued_items = known

        def pc_item(body: object) -> str | None:
            if type(body) is bytes and body in known:  # a bytes object caches its hash: the second lookup is cheap
                return known[body]
            return _body_item(body)

        with contextlib.suppress(sqlite3.Error):  # on failure the connection keeps register_functions' one
            conn.create_function("pc_item", 1, pc_item, deterministic=True)

    # --- opening ------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: str, readonly: bool, busy_timeout: float, *, immutable: bool = False) -> sqlite3.Connection:
        uri = f"file:{Path(path).resolve()}?mode={'ro' if readonly else 'rw'}{'&immutable=1' if immutable else ''}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
            register_functions(conn)
            conn.text_factory = _TEXT
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
        foreign_schema: bool = False,
    ) -> SqliteStore:
        """Open an existing ledger file.

        A file whose schema holds objects that provchain did not create (a trigger, a view, an index), or
        whose tables are defined otherwise, is refused with :class:`ForeignLedgerError`; with
        ``foreign_schema=True`` (the auditor, which reports them) it is opened read-only all the same.
        """
        if foreign_schema and not readonly:
            raise InputError("a ledger with a foreign schema can only be opened read-only")
        if read_magic(path) != SQLITE_MAGIC:
            raise ForeignLedgerError(f"{path} is not a provchain ledger (not an SQLite database)")
        try:
            return cls._open(path, readonly, durability, busy_timeout, immutable=False, foreign=foreign_schema)
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
            return cls._open(path, readonly, durability, busy_timeout, immutable=True, foreign=foreign_schema)

    @classmethod
    def _open(
        cls, path: str, readonly: bool, durability: str, busy_timeout: float, *, immutable: bool, foreign: bool
    ) -> SqliteStore:
        conn = cls._connect(path, readonly, busy_timeout, immutable=immutable)
        store = cls(conn, path, busy_timeout)
        try:
            store._pragmas(durability, readonly=readonly)
            store.meta()
            if not foreign:
                store._check_schema()
        except BaseException:
            conn.close()
            raise
        return store

    def _check_schema(self) -> None:
        try:
            odd = schema_objects(self._conn)
        except sqlite3.Error as exc:
            raise _translate(exc, f"cannot read the schema of {self.path}") from exc
        if odd:
            more = f" (and {len(odd) - 3} more)" if len(odd) > 3 else ""
            raise ForeignLedgerError(
                f"{self.path} holds schema objects that provchain did not create: {'; '.join(odd[:3])}{more}; "
                "they could change what the ledger reads or writes, so it is not opened (audit it to see them)"
            )

    def foreign_schema(self) -> list[str]:
        """The schema objects of this file that provchain did not create (see :func:`schema_objects`)."""
        try:
            return schema_objects(self._conn)
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot read the schema") from exc

    def integrity_problems(self, limit: int = 1000) -> list[tuple[int | None, str]]:
        """What SQLite's ``PRAGMA integrity_check`` finds, as ``(entry index or None, message)`` pairs.

        It checks every page, and that every index holds exactly what its expressions give for each row (the
        item index is recomputed from the bodies by ``pc_item``). When it finds the two indexes of
        ``entries`` at fault, they are compared with the bodies entry by entry, so that each misfiled
        entry is named by its index.
        """
        messages = [str(m) for (m,) in self._query(f"PRAGMA integrity_check({int(limit)})")]
        messages = [m for m in messages if m != "ok"]
        if not any("entries_item" in m or "entries_operator" in m for m in messages):
            return [(None, m) for m in messages]
        out: list[tuple[int | None, str]] = [
            (None, m) for m in messages if "entries_item" not in m and "entries_operator" not in m
        ]
        listed = dict(self._query("SELECT idx, item FROM entries INDEXED BY entries_item WHERE item IS NOT NULL"))
        operator = {i for (i,) in self._query("SELECT idx FROM entries INDEXED BY entries_operator WHERE item IS NULL")}
        pos = -1
        while len(out) < limit:
            rows = self._query("SELECT idx, body FROM entries WHERE idx > ? ORDER BY idx LIMIT 2000", (pos,))
            if not rows:
                break
            for idx, body in rows:
                item = _body_item(body)
                have = listed.pop(idx, None)
                if item is not None and have != item:
                    shown = "nothing" if have is None else f"another item ({len(str(have))} characters)"
                    out.append((idx, f"the item index lists entry {idx} under {shown}, not the item its body names"))
                elif item is None and have is not None:
                    out.append((idx, f"the item index lists entry {idx} under an item, but its body is no event"))
                if (item is None) != (idx in operator):
                    out.append((idx, f"the operator index {'omits' if item is None else 'lists'} entry {idx}"))
                operator.discard(idx)
            pos = rows[-1][0]
        out += [(idx, f"the item index lists entry {idx}, which does not exist") for idx in sorted(listed)]
        out += [(idx, f"the operator index lists entry {idx}, which does not exist") for idx in sorted(operator)]
        return out[:limit]

    def stray_rows(self, size: int) -> list[str]:
        """Rows of ``tiles`` and ``nodes`` that a tree of ``size`` leaves does not have (a tile of a block
        that is not complete, a row of high nodes beyond the tree or longer than its complete nodes), or
        whose key or length is not one provchain writes. The stored nodes that belong to the tree are
        compared with the recomputed ones by the auditor."""
        out = []
        complete = size >> BLOCK_SHIFT
        for block, kind, length in self._query(
            "SELECT block, typeof(hashes), length(hashes) FROM tiles WHERE block < 0 OR block >= ? "
            "OR typeof(hashes) != 'blob' OR length(hashes) != ?",
            (complete, TILE_BYTES),
        ):
            if kind != "blob" or length != TILE_BYTES:
                out.append(f"tiles row {block} holds a {kind} of {length} bytes, not the {TILE_BYTES} of a tile")
            else:
                out.append(f"tiles row {block} is the tile of a block a ledger of {size} entries has not completed")
        for row_id, kind, length in self._query("SELECT id, typeof(hash), length(hash) FROM nodes"):
            level, first, want = row_length(row_id, size)
            if kind != "blob" or length != want or row_id < 0:
                out.append(
                    f"nodes row {row_id} (level {level}, nodes {first}...) holds a {kind} of {length} "
                    f"bytes where a ledger of {size} entries has {want}"
                )
        return out

    def storage_problems(self, size: int) -> list[StorageProblem]:
        """What the file holds beside the signed entries that disagrees with them (the
        :class:`~provchain.store.base.AuditableStorage` capability): schema objects provchain did not
        create (:meth:`foreign_schema`), index entries that differ from what the bodies give
        (:meth:`integrity_problems`), and tree rows a ledger of ``size`` entries does not have
        (:meth:`stray_rows`)."""
        out = [
            StorageProblem("schema", None, what, f"the ledger file's schema: {what}; it could change what is read "
                           "or written")
            for what in self.foreign_schema()
        ]  # fmt: skip
        out += [
            StorageProblem("index", idx, msg, msg if idx is not None else f"SQLite's integrity check: {msg}")
            for idx, msg in self.integrity_problems()
        ]
        out += [StorageProblem("node", None, what, what) for what in self.stray_rows(size)]
        return out

    def _pragmas(self, durability: str, readonly: bool = False) -> None:
        if durability not in ("full", "normal"):
            raise InputError("durability must be 'full' or 'normal'")
        try:
            if not readonly:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            self._conn.execute("PRAGMA cache_size=-32768")
            self._conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.Error as exc:
            raise _translate(exc, f"cannot open {self.path}") from exc

    def _create_schema(self, meta: LedgerMeta) -> None:
        with self.transaction():
            self._conn.execute(f"PRAGMA application_id={_APP_ID}")
            for _, _, _, sql in _SCHEMA:
                self._conn.execute(sql)
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format", str(meta.format)),
                    ("schema", str(SCHEMA_VERSION)),
                    ("origin", meta.origin),
                    ("operator", meta.operator_vkey),
                ],
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
            for key in ("format", "origin", "operator", "schema"):
                value = rows[key]
                if type(value) is not str or not value.isprintable() or len(value) > 1024:
                    raise ForeignLedgerError(
                        f"{self.path}: the meta table's {key!r} value is not text of the expected form "
                        f"(it holds {_describe(value)}); the ledger file was edited or damaged"
                    )
            if rows["schema"] != str(SCHEMA_VERSION):
                raise ForeignLedgerError(
                    f"{self.path} uses ledger schema {rows['schema']!r}; this provchain reads {SCHEMA_VERSION}"
                )
            if not rows["format"].isascii() or not rows["format"].isdigit() or len(rows["format"]) > 6:
                raise ForeignLedgerError(f"{self.path}: the meta table's format {rows['format']!r} is not a number")
            if int(rows["format"]) != FORMAT_VERSION:  # every reader, the audit too, refuses what it cannot read
                raise ForeignLedgerError(
                    f"{self.path} holds entries of format {rows['format']}; this provchain reads {FORMAT_VERSION}"
                )
            self._meta = LedgerMeta(int(rows["format"]), rows["origin"], rows["operator"])
        return self._meta

    # --- reading ------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        if self._queue or self._queue_tiles or self._queue_nodes:  # every read sees every write of the transaction
            self._flush()
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot read the ledger") from exc

    def size(self) -> int:
        """The number of entries (``MAX(idx) + 1``: a B-tree lookup, not a count)."""
        return _size_of(self._query("SELECT MAX(idx) FROM entries")[0][0])

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        if type(index) is not int or not 0 <= index < _MAX_ENTRIES:
            raise IndexError(f"the ledger has no entry {index!r}")
        rows = self._query("SELECT idx, body, sig FROM entries WHERE idx = ?", (index,))
        if not rows:
            raise IndexError(f"the ledger has no entry {index}")
        return _entry(*rows[0])

    def entries(self, start: int = 0, end: int | None = None, *, chunk: int = 2000) -> Iterator[Entry]:
        """Entries ``[start, end)`` in order, read in chunks so memory stays flat (inside a
        :meth:`snapshot`, every chunk comes from the same state of the ledger)."""
        # From the start, every row is read, a negative index too (damage the reader must see, not skip);
        # SQLite's integers end at 2**63 - 1, entries at 2**40.
        pos = _SQLITE_MIN if start <= 0 else min(start, _MAX_ENTRIES)
        stop = _SQLITE_MAX if end is None else min(end, _MAX_ENTRIES)
        while pos < stop:
            rows = self._query(
                "SELECT idx, body, sig FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?", (pos, stop, chunk)
            )
            if not rows:
                return
            for idx, body, sig in rows:
                yield _entry(idx, body, sig)
            pos = int(rows[-1][0]) + 1

    def item_entries(self, item: str) -> list[Entry]:
        """The entries of ``item`` in order, each checked to be an event of ``item`` by its signed body and to
        name the one before it as its ``prev``: an index that leaves out an event of the item (built by a
        connection whose ``pc_item`` lied) is found here, not passed on as a shorter journey."""
        rows = self._query("SELECT idx, body, sig FROM entries WHERE item = ? ORDER BY idx", (item,))
        return chain_of([_entry(i, b, s) for i, b, s in rows], item, _DAMAGED)

    def head(self, item: str) -> Head | None:
        """The last entry of ``item``, its stage and time read from its signed body."""
        queued = self._queue_heads.get(item)
        if queued is not None:
            pos, leaf = queued
            idx, body, sig = self._queue[pos]
            ev = event_of(_entry(idx, body, sig), item, _DAMAGED)
            return Head(idx, leaf, ev.stage, ev.at)
        # Every queued row comes after every row SQLite holds, and none of them is the item's: the query
        # need not wait for the queue (an append reads the head of each new item; a write there would
        # make the queue useless).
        try:
            rows = self._conn.execute(
                "SELECT idx, body, sig FROM entries WHERE item = ? ORDER BY idx DESC LIMIT 1", (item,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "cannot read the ledger") from exc
        return head_of(_entry(*rows[0]), item, _DAMAGED) if rows else None

    def heads(self, items: Sequence[str]) -> dict[str, Head]:
        """The heads of many items (the :class:`~provchain.store.base.MultiHeadStore` capability): those of
        items whose last row is still queued from the queue, the others with one statement per
        ``_HEADS_CHUNK`` items, each read as :meth:`head` reads one: the item's largest index from the item
        index, the body behind it checked to be an event of that item."""
        out, ask = queued_heads(items, self._queue_heads, self.head)
        # As in head(): every queued row comes after every stored one, and none is one of these items'.
        for k in range(0, len(ask), _HEADS_CHUNK):
            chunk = ask[k : k + _HEADS_CHUNK]
            try:
                rows = self._conn.execute(_HEADS.format(",".join("?" * len(chunk))), chunk).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, "cannot read the ledger") from exc
            asked = set(chunk)
            for item, idx, body, sig in rows:
                if item not in asked or item in out:  # the item index answered for an item not asked, or twice
                    raise DamagedLedgerError(f"the item index answers for items not asked; {_DAMAGED} (audit it)")
                out[item] = head_of(_entry(idx, body, sig), item, _DAMAGED)
        return out

    def operator_entries(self, start: int = 0) -> Iterator[Entry]:
        """Registrations, revocations and policies at index >= ``start``, each checked by its body to be no
        event (an operator index that lists an event was written by a lying ``pc_item``)."""
        rows = self._query("SELECT idx, body, sig FROM entries WHERE item IS NULL AND idx >= ? ORDER BY idx", (start,))
        yield from non_events((_entry(i, b, s) for i, b, s in rows), _DAMAGED)

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Complete-subtree hashes (see :func:`node_place`); a node that is not stored, or whose stored hash
        is cut short, is left out. A node of level >= 4 comes with every sibling stored in its row.

        A proof's few dozen nodes are fetched in one statement (tiles and ``nodes`` rows together); a dense
        run of keys, such as an audit's comparison of a stretch of the tree, is one range scan. The nodes of
        the newest, incomplete block are computed from its stored bodies.
        """
        return self._nodes(keys, False)[1]

    def size_and_nodes(self, keys: Iterable[NodeKey]) -> tuple[int, dict[NodeKey, bytes]]:
        """The size and :meth:`nodes`, read by one statement: a proof at the current size needs no separate
        size query."""
        return self._nodes(keys, True)

    def _nodes(self, keys: Iterable[NodeKey], with_size: bool) -> tuple[int, dict[NodeKey, bytes]]:
        tiles, high = read_plan(keys)  # the tiles and the rows of 16 high siblings that hold the keys
        found: list[Any] = []
        if len(tiles) <= 16 and len(high) <= 20:  # a proof or a root: one statement, its text kept by shape
            shape = (with_size, len(tiles), len(high))
            sql = _SHAPES.get(shape)
            if sql is None:
                parts = [_SIZE] if with_size else []
                for source, n in ((_TILES, shape[1]), (_NODES, shape[2])):
                    if n:
                        parts.append(f"{source} IN ({','.join('?' * n)})")
                sql = _SHAPES[shape] = " UNION ALL ".join(parts)
            if sql:
                found = self._query(sql, (*tiles, *high))
        else:
            # one select per IN list or range; each is tagged by its source: 1 tile, 2 high node, 3 size
            selects: list[tuple[str, list[int]]] = [(_SIZE, [])] if with_size else []
            for source, ids in ((_TILES, tiles), (_NODES, high)):
                if ids:
                    spans, single = _runs(sorted(ids))
                    for k in range(0, len(single), 500):
                        chunk = single[k : k + 500]
                        selects.append((f"{source} IN ({','.join('?' * len(chunk))})", chunk))
                    selects += [(f"{source} BETWEEN ? AND ?", spans[k : k + 2]) for k in range(0, len(spans), 2)]
            for k in range(0, len(selects), 60):  # at most 60 x 500 parameters, and 500 terms, per statement
                group = selects[k : k + 60]
                args = tuple(a for _, ab in group for a in ab)
                found += self._query(" UNION ALL ".join(sql for sql, _ in group), args)
        out: dict[NodeKey, bytes] = {}
        size = -1
        for source, key, value in found:
            if source != 3 and type(value) is not bytes:
                table = "tiles.hashes" if source == 1 else "nodes.hash"
                raise DamagedLedgerError(
                    f"the {table} column of row {key} holds {_describe(value)}, not hashes; the ledger file was "
                    "edited or damaged (audit it)"
                )
            # A row of the wrong length holds no node: provchain writes a tile whole, and a row of high
            # nodes 32 bytes at a time, so any other length is damage (its nodes are left out, as missing).
            if source == 1:
                tile_nodes(value, tiles.pop(key), out)
            elif source == 2:
                row_nodes(key, value, out)
            else:
                size = _size_of(key)
        for block, spots in tiles.items():  # no tile: the newest block, not yet complete
            computed = self._open_block(block)
            for node, _ in spots:
                h = computed.get(node)
                if h is not None:
                    out[node] = h
        return size, out

    def _open_block(self, block: int) -> dict[NodeKey, bytes]:
        """The leaves and complete inner nodes of a block that has no tile, from its stored bodies. A block
        that holds all 16 entries but no tile is damaged: nothing is computed for it."""
        leaves = self._stored_leaves(block)
        if len(leaves) == BLOCK_LEAVES:
            return {}
        computed = block_nodes(block, leaves)
        if self._depth and self._block is None and leaves:
            # Inside a write (an append after a reopen reads its left siblings here): keep the block's hashes
            # as if this connection had appended its entries, so that the entry completing the block builds
            # its tile from them instead of reading the bodies again. Reset, like every _block, when a rollback
            # undoes rows.
            self._block = entry_nodes(block, leaves, computed)
            self._block_next = (block << BLOCK_SHIFT) + len(leaves)
        return computed

    def _stored_leaves(self, block: int) -> list[bytes]:
        """The leaf hashes of the leading run of a block's stored entries, hashed from their bodies."""
        first = block << BLOCK_SHIFT
        rows = self._query(
            "SELECT idx, body FROM entries WHERE idx BETWEEN ? AND ? ORDER BY idx", (first, first + BLOCK_LEAVES - 1)
        )
        leaves: list[bytes] = []
        for idx, body in rows:
            if idx != first + len(leaves):
                break
            if type(body) is not bytes:
                raise DamagedLedgerError(f"entry {idx}: the entries.body column holds {_describe(body)}; audit it")
            leaves.append(leaf_hash_of(body))
        return leaves

    def checkpoints(self, *, newest_first: bool = False, chunk: int = 256) -> Iterator[tuple[int, bytes]]:
        """Stored checkpoints, smallest size first (largest first with ``newest_first``), read ``chunk`` rows
        at a time: a reader that stops early (the newest cosigned one) reads no more."""
        if not newest_first:
            for size, note in self._query("SELECT size, note FROM checkpoints ORDER BY size"):
                yield _checkpoint_row(size, note)
            return
        below = _SQLITE_MAX
        while True:
            rows = self._query(
                "SELECT size, note FROM checkpoints WHERE size < ? ORDER BY size DESC LIMIT ?", (below, chunk)
            )
            for size, note in rows:
                yield _checkpoint_row(size, note)
            if len(rows) < chunk:
                return
            below = _checkpoint_row(*rows[-1])[0]

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note of ``size`` (one index lookup), or None."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _SQLITE_MAX:
            return None
        rows = self._query("SELECT size, note FROM checkpoints WHERE size = ?", (size,))
        return _checkpoint_row(*rows[0])[1] if rows else None

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size."""
        rows = self._query("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        if not rows:
            return None
        return _checkpoint_row(*rows[0])

    # --- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """``BEGIN`` (a deferred, read transaction) ... ``COMMIT``: in WAL mode every statement inside reads
        the state of the ledger at the first one, whatever other connections commit meanwhile. Inside a
        transaction (a write, or another snapshot) it adds nothing."""
        if self._depth or self._snapshot or self._conn.in_transaction:
            yield
            return
        self._exec("BEGIN", "cannot read the ledger")
        self._snapshot = True
        try:
            yield
        finally:
            self._snapshot = False
            with contextlib.suppress(sqlite3.Error):  # a read transaction: nothing to lose
                self._conn.execute("COMMIT")

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
                self._block = None
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
            self._end_failed()
            self._rollback("ROLLBACK")
            raise
        self._end()
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._block = None
            self._rollback("ROLLBACK")
            raise _translate(exc, "cannot commit") from exc

    def _end(self) -> None:
        self._depth = 0
        self._failed = None
        self._drop_queue()

    def _end_failed(self) -> None:
        self._end()
        self._block = None  # it may hold rows the rollback undoes

    def _drop_queue(self) -> None:
        self._queue = []
        self._queue_tiles = []
        self._queue_nodes = []
        self._queue_heads = {}
        self._queued_items.clear()

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
            except sqlite3.Error as exc:  # such as a closed connection
                raise _translate(exc, "cannot start a write") from exc

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

        Inside a transaction the row is queued and handed to SQLite with others in one statement (every 64
        rows; before any read, and at commit, the rest with ``executemany``): one statement per row cost about
        a microsecond more of a batched append, and ``executemany`` of 64 rows another microsecond. So an
        error such as a full disk may surface from a later append of the batch or from its commit; either way
        the transaction cannot commit any more (see :meth:`transaction`).
        """
        if self._failed is not None:
            raise StorageError(f"an earlier write in this transaction failed ({self._failed}); it will be rolled back")
        e, nodes = stored
        body = e.body
        leaf = e.leaf_hash
        queue = self._queue
        queue.append((index, body, e.signature))
        content = e.__dict__.get("content")  # the ledger hands over parsed entries; others are parsed here
        if content is None:
            content = e.content
        # pc_item may answer from the parsed body only when these very bytes are the ones it encoded itself
        # into (sign_body's entries: the ledger's own) and its class is exactly one of provchain's.
        if type(content) is Event:
            item = content.item
            self._queue_heads[item] = (len(queue) - 1, leaf)
            if content.__dict__.get("_encoded") is body:
                self._queued_items[body] = item
        elif type(content) in _OPERATOR_BODIES and content.__dict__.get("_encoded") is body:
            self._queued_items[body] = None
        low = index & (BLOCK_LEAVES - 1)
        if not low:
            self._block = [(leaf, nodes)]
        else:
            block = self._block
            if block is not None and index == self._block_next:
                block.append((leaf, nodes))
            else:
                self._block = None
        self._block_next = index + 1
        if low == BLOCK_LEAVES - 1:  # the entry completes its block: write the tile
            tile = self._make_tile(index, leaf, nodes)  # first: it may flush the queue, replacing its lists
            self._queue_tiles.append((index >> BLOCK_SHIFT, tile))
            if len(nodes) > HASH_SIZE * TILE_LEVELS:  # and nodes of level 4 or more
                self._queue_nodes += high_rows(index, nodes)
            queue = self._queue
        if len(queue) >= _QUEUE_ROWS or not self._depth:
            self._flush()

    def _make_tile(self, index: int, leaf: bytes, nodes: bytes) -> bytes:
        """The tile of the block that entry ``index`` completes: from the hashes given with its 16 entries,
        or, when this connection did not see them all, from the block's stored bodies."""
        parts = self._block
        tile = None if parts is None else tile_from_entries(parts)
        if tile is not None:
            return tile
        first = index - BLOCK_LEAVES + 1
        leaves = self._stored_leaves(index >> BLOCK_SHIFT)
        if len(leaves) != BLOCK_LEAVES:
            raise StorageError(f"the ledger lacks some of entries {first} to {index}; audit it")
        tile = tile_from_leaves(leaves)
        if tile_edge(tile) != leaf + nodes[: HASH_SIZE * TILE_LEVELS]:
            raise StorageError(
                f"the stored entries {first} to {index} disagree with the ledger's Merkle tree; audit it"
            )
        return tile

    def _flush(self) -> None:
        """Hand the queued rows to SQLite. A failure dooms the open transaction."""
        rows, tiles, nodes = self._queue, self._queue_tiles, self._queue_nodes
        if not (rows or tiles or nodes):
            return
        self._queue = []
        self._queue_tiles = []
        self._queue_nodes = []
        self._queue_heads = {}
        try:
            if rows:
                try:
                    if len(rows) == _QUEUE_ROWS:
                        self._conn.execute(_INSERT_ENTRIES, list(chain.from_iterable(rows)))
                    else:
                        self._conn.executemany(_INSERT_ENTRY, rows)
                finally:
                    self._queued_items.clear()  # pc_item has read them
            if tiles:
                self._conn.executemany(_INSERT_TILE, tiles)
            if nodes:
                # every row is started before it is extended: each row's nodes are queued in order
                self._conn.executemany(_INSERT_NODE, [(row, h) for row, h, offset in nodes if not offset])
                extend = [node for node in nodes if node[2]]
                before = self._conn.total_changes
                self._conn.executemany(_EXTEND_NODE, extend)
                if self._conn.total_changes - before != len(extend):
                    raise sqlite3.IntegrityError("a stored row of tree nodes is not as long as the tree says")
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
