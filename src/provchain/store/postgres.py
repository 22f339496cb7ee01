"""The PostgreSQL store: one database per ledger, writers on many hosts, psycopg 3 (binary protocol).

Everything lives in one PostgreSQL schema, ``provchain``, of the database a ``postgresql://`` URL names:

* ``entries (idx, body, sig, item, prev, nodes)``: one row per entry. ``body`` and ``sig`` are the signed
  entry. ``item`` and ``prev`` are indexes: the item and the previous event's leaf hash that the signed body
  names, filled by this module from the decoded body at each write (PostgreSQL cannot decode msgpack in a
  generated column without an extension, and an extension would have to be installed on every server), and
  checked against the body by every reader that acts on them (:meth:`PostgresStore.head`,
  :meth:`PostgresStore.item_entries`, :meth:`PostgresStore.operator_entries`) and by the audit
  (:meth:`PostgresStore.storage_problems`). ``nodes`` holds the hashes of the complete subtrees the entry's
  leaf completes (levels 1, 2, ... bottom up, as :class:`~provchain.store.base.StoredEntry` carries them); a
  level-0 node is the leaf hash of the row's body. So node ``(level, i)`` lives in row ``((i + 1) << level) - 1``,
  and any set of nodes is one statement (``WHERE idx = ANY(...)``): a proof is one round trip.
* ``log``: a single row, locked ``FOR UPDATE`` by every write transaction. That lock is the writer section:
  writers on any host queue on it, and a transaction that holds it reads the latest committed size and heads
  (READ COMMITTED: each statement after the lock sees every commit before it). Indexes come from
  ``max(idx) + 1`` under the lock, never from a SEQUENCE (whose numbers a rollback loses: a gap).
* a unique index over ``(item, prev)`` (``NULLS NOT DISTINCT``: one first event per item) is the
  compare-and-swap of an item's head, kept by PostgreSQL itself: two events that name the same previous event
  cannot both be stored, whatever a writer does, so an item's chain cannot fork.
* ``checkpoints (size, note)`` and ``meta (key, value)``.
* the function ``append_event`` (PL/pgSQL, ``SECURITY INVOKER``): the server's half of a single event's append
  (:class:`~provchain.store.base.SequencingStore`). The writer builds, checks and signs the event without the
  lock; the function takes it, checks that the item's head and the registry are still those the writer checked
  against, gives the event the next index, computes its tree nodes from the stored ones, and stores it. A ledger
  created before it has none, and appends through the writer section (:attr:`PostgresStore.sequences`).

Entries written inside a transaction are queued and sent with one binary ``COPY`` when a read needs them, every
:data:`_QUEUE_ROWS` rows, and at commit. Large reads inside a transaction or a snapshot stream through a
server-side cursor.

A commit of entries does not wait for the disk while it holds the lock: it commits with
``synchronous_commit = off`` (the lock is released at once), then runs a one-record transaction of its own that
commits synchronously (:data:`_FLUSH`), which returns once the WAL up to it, and so the entries' commit, is on
disk: only then is the append acknowledged. So concurrent writers' disk flushes overlap (PostgreSQL flushes
every waiting commit's WAL at once) instead of queueing behind the lock. Another session may see entries a
moment before they are durable (as with PostgreSQL's own ``synchronous_commit = off``); nothing provchain signs
depends on that: a transaction that stores a checkpoint commits synchronously, with the lock held, so a stored
(readable) checkpoint is durable, and with it every entry before it. ``durability="full"`` waits for
``synchronous_commit = on``; ``"normal"`` for ``local`` (this server's disk, not a synchronous standby): no
setting acknowledges an append before it is on the primary's disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgpack

from ..entries import FORMAT_VERSION, MAX_BODY, Entry, Event, check_item, leaf_hash_of
from ..errors import (
    DamagedLedgerError,
    EncodingError,
    ForeignLedgerError,
    InputError,
    LedgerBusyError,
    LedgerExistsError,
    LedgerNotFoundError,
    StaleHeadError,
    StorageError,
)
from ..rules import Head
from ._checks import chain_of, event_of, head_of, non_events, queued_heads
from .base import AppendState, LedgerMeta, NodeKey, Sequenced, StorageProblem, StoredEntry

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA", "SCHEMA_VERSION", "PostgresStore"]

SCHEMA = "provchain"
"""The PostgreSQL schema (namespace) that holds a ledger's tables, in the database the URL names."""
SCHEMA_VERSION = 1
_HASH = 32
_MAX_ENTRIES = 1 << 40
_QUEUE_ROWS = 2000  # queued entries are sent with one COPY when this many wait
_CURSOR_ROWS = 2000  # rows per fetch of a server-side cursor
_MAX_KEYS = 20000  # node keys per statement
_APP = "provchain"

# The schema, statement by statement; _EXPECTED (below) is how PostgreSQL's catalog describes it, which
# _schema_objects compares with what a database holds.
_DDL = (
    f"CREATE SCHEMA {SCHEMA}",
    f"CREATE TABLE {SCHEMA}.meta (key text PRIMARY KEY, value text NOT NULL)",
    f"CREATE TABLE {SCHEMA}.log (id smallint PRIMARY KEY CHECK (id = 1))",
    f"CREATE TABLE {SCHEMA}.entries (idx bigint PRIMARY KEY CHECK (idx >= 0 AND idx < {_MAX_ENTRIES}), "
    "body bytea NOT NULL, sig bytea NOT NULL, item text, prev bytea, nodes bytea NOT NULL)",
    f"CREATE INDEX entries_item ON {SCHEMA}.entries (item, idx) WHERE item IS NOT NULL",
    f"CREATE UNIQUE INDEX entries_chain ON {SCHEMA}.entries (item, prev) NULLS NOT DISTINCT WHERE item IS NOT NULL",
    f"CREATE INDEX entries_operator ON {SCHEMA}.entries (idx) WHERE item IS NULL",
    f"CREATE TABLE {SCHEMA}.checkpoints (size bigint PRIMARY KEY CHECK (size >= 0), note bytea NOT NULL)",
    f"INSERT INTO {SCHEMA}.log (id) VALUES (1)",
)

# The server's half of a single event's append (SequencingStore): under the lock, refuse the event if an operator
# entry was stored at or after the size the writer checked it against (SQLSTATE PCR01: the writer applies it and
# checks again), give it the next index, compute the nodes its leaf completes from the stored left siblings (each
# present and 32 bytes, PCN01; equal to the one the writer already holds, PCN02), insert it (the unique chain
# index is the item's compare-and-swap; the previous event must be stored at the index the writer read it at,
# PCH01) and return the index, the nodes and the siblings, which the writer checks. The nodes the writer holds
# come as 40 bytes per level from 0: the node's index (8 bytes, big-endian; -1 for none) and its hash.
# SECURITY INVOKER (the caller's own privileges), a fixed search_path, every table ONLY and schema-qualified.
_SEQUENCER = "append_event"
_SEQUENCER_ARGS = (
    "p_body bytea, p_sig bytea, p_item text, p_prev bytea, p_head bigint, p_seen bigint, p_known bytea, "
    "p_lazy boolean"
)
_SEQUENCER_RESULT = "TABLE(at_index bigint, new_nodes bytea, left_siblings bytea)"
_SEQUENCER_BODY = f"""
DECLARE
  n bigint;
  j integer := 0;
  h bytea;
  s bytea;
  acc bytea := pg_catalog.decode('', 'hex');
  sibs bytea := pg_catalog.decode('', 'hex');
BEGIN
  IF p_lazy THEN
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
  END IF;
  PERFORM 1 FROM ONLY {SCHEMA}.log l WHERE l.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the log table has lost its lock row' USING ERRCODE = 'PCL01';
  END IF;
  IF EXISTS (SELECT 1 FROM ONLY {SCHEMA}.entries e WHERE e.idx >= p_seen AND e.item IS NULL) THEN
    RAISE EXCEPTION 'an operator entry was stored since the event was checked' USING ERRCODE = 'PCR01';
  END IF;
  IF p_prev IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ONLY {SCHEMA}.entries e WHERE e.idx = p_head
      AND e.item = p_item AND pg_catalog.sha256(pg_catalog.decode('00', 'hex') || e.body) = p_prev) THEN
    RAISE EXCEPTION 'the previous event is not stored where the writer read it' USING ERRCODE = 'PCH01';
  END IF;
  SELECT coalesce(pg_catalog.max(e.idx), -1) + 1 INTO n FROM ONLY {SCHEMA}.entries e;
  h := pg_catalog.sha256(pg_catalog.decode('00', 'hex') || p_body);
  WHILE (n >> j) & 1 = 1 LOOP
    s := NULL;
    IF j = 0 THEN
      SELECT pg_catalog.sha256(pg_catalog.decode('00', 'hex') || e.body) INTO s
        FROM ONLY {SCHEMA}.entries e WHERE e.idx = n - 1;
    ELSE
      SELECT pg_catalog.substr(e.nodes, 32 * (j - 1) + 1, 32) INTO s
        FROM ONLY {SCHEMA}.entries e WHERE e.idx = n - (1::bigint << j);
    END IF;
    IF s IS NULL OR pg_catalog.length(s) <> 32 THEN
      RAISE EXCEPTION 'tree node (%, %) is missing or cut short', j, (n >> j) - 1 USING ERRCODE = 'PCN01';
    END IF;
    IF pg_catalog.substr(p_known, 40 * j + 1, 8) = pg_catalog.int8send((n >> j) - 1)
        AND pg_catalog.substr(p_known, 40 * j + 9, 32) <> s THEN
      RAISE EXCEPTION 'tree node (%, %) differs from the one the writer holds', j, (n >> j) - 1
        USING ERRCODE = 'PCN02';
    END IF;
    sibs := sibs || s;
    h := pg_catalog.sha256(pg_catalog.decode('01', 'hex') || s || h);
    acc := acc || h;
    j := j + 1;
  END LOOP;
  INSERT INTO {SCHEMA}.entries (idx, body, sig, item, prev, nodes) VALUES (n, p_body, p_sig, p_item, p_prev, acc);
  at_index := n;
  new_nodes := acc;
  left_siblings := sibs;
  RETURN NEXT;
END
"""
_SEQUENCER_DDL = (
    f"CREATE FUNCTION {SCHEMA}.{_SEQUENCER}({_SEQUENCER_ARGS}) RETURNS {_SEQUENCER_RESULT} "
    "LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp "
    f"AS $provchain${_SEQUENCER_BODY}$provchain$"
)

_EXPECTED = frozenset(
    {
        ("table", "checkpoints", "size bigint not null, note bytea not null"),
        ("table", "entries", "idx bigint not null, body bytea not null, sig bytea not null, item text, prev bytea, "
         "nodes bytea not null"),
        ("table", "log", "id smallint not null"),
        ("table", "meta", "key text not null, value text not null"),
        ("index", "checkpoints_pkey", "CREATE UNIQUE INDEX checkpoints_pkey ON provchain.checkpoints "
         "USING btree (size)"),
        ("index", "entries_pkey", "CREATE UNIQUE INDEX entries_pkey ON provchain.entries USING btree (idx)"),
        ("index", "entries_item", "CREATE INDEX entries_item ON provchain.entries USING btree (item, idx) "
         "WHERE (item IS NOT NULL)"),
        ("index", "entries_chain", "CREATE UNIQUE INDEX entries_chain ON provchain.entries USING btree (item, prev) "
         "NULLS NOT DISTINCT WHERE (item IS NOT NULL)"),
        ("index", "entries_operator", "CREATE INDEX entries_operator ON provchain.entries USING btree (idx) "
         "WHERE (item IS NULL)"),
        ("index", "log_pkey", "CREATE UNIQUE INDEX log_pkey ON provchain.log USING btree (id)"),
        ("index", "meta_pkey", "CREATE UNIQUE INDEX meta_pkey ON provchain.meta USING btree (key)"),
        ("constraint", "checkpoints.checkpoints_pkey", "PRIMARY KEY (size)"),
        ("constraint", "checkpoints.checkpoints_size_check", "CHECK ((size >= 0))"),
        ("constraint", "entries.entries_pkey", "PRIMARY KEY (idx)"),
        ("constraint", "entries.entries_idx_check", f"CHECK (((idx >= 0) AND (idx < '{_MAX_ENTRIES}'::bigint)))"),
        ("constraint", "log.log_pkey", "PRIMARY KEY (id)"),
        ("constraint", "log.log_id_check", "CHECK ((id = 1))"),
        ("constraint", "meta.meta_pkey", "PRIMARY KEY (key)"),
        ("function", _SEQUENCER, f"{_SEQUENCER_ARGS} returns {_SEQUENCER_RESULT} language plpgsql kind f "
         "volatility v set search_path=pg_catalog, pg_temp body sha256 "
         + hashlib.sha256(_SEQUENCER_BODY.encode()).hexdigest()),
    }
)  # fmt: skip
# Objects a ledger created by an earlier provchain lacks, which it is opened without: its appends then take the
# writer section on the client (PostgresStore.sequences is False).
_OPTIONAL = frozenset({("function", _SEQUENCER)})

# Every object of the schema, and everything attached to its tables from elsewhere (triggers, rules, row
# security policies), described so that a difference from _EXPECTED can be named.
_CATALOG = """
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'p' THEN 'partitioned table' ELSE 'relation' END,
       c.relname,
       CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid)
            WHEN c.relkind = 'r' THEN (
              SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                || CASE WHEN a.attcollation NOT IN (0, 100) THEN ' collate ' || (
                                     SELECT quote_ident(l.collname) FROM pg_collation l WHERE l.oid = a.attcollation)
                                   ELSE '' END
                                || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
                                || CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END
                                || CASE WHEN a.atthasdef THEN ' default' ELSE '' END, ', ' ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
              || CASE WHEN c.relrowsecurity THEN ' (row security)' ELSE '' END
              || CASE WHEN c.relpersistence <> 'p' THEN ' (unlogged: a crash empties it)' ELSE '' END
            ELSE '' END
FROM pg_class c WHERE c.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'inheritance', child.relnamespace::regnamespace::text || '.' || child.relname || ' inherits from '
       || parent.relnamespace::regnamespace::text || '.' || parent.relname, ''
FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent
WHERE child.relnamespace = %(ns)s::regnamespace OR parent.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'constraint', r.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid WHERE r.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'trigger', r.relname || '.' || t.tgname, '' FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
WHERE r.relnamespace = %(ns)s::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'rule', r.relname || '.' || w.rulename, '' FROM pg_rewrite w JOIN pg_class r ON r.oid = w.ev_class
WHERE r.relnamespace = %(ns)s::regnamespace AND r.relkind <> 'v' AND r.relkind <> 'm'
UNION ALL
SELECT 'policy', r.relname || '.' || p.polname, '' FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid
WHERE r.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid) || ' returns ' || pg_get_function_result(p.oid)
       || ' language ' || (SELECT g.lanname FROM pg_language g WHERE g.oid = p.prolang) || ' kind ' || p.prokind::text
       || ' volatility ' || p.provolatile::text || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END
       || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
       || ' set ' || coalesce(array_to_string(p.proconfig, '; '), '')
       || ' body sha256 ' || encode(sha256(convert_to(p.prosrc, 'UTF8')), 'hex')
FROM pg_proc p WHERE p.pronamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'type', t.typname, '' FROM pg_type t WHERE t.typnamespace = %(ns)s::regnamespace AND t.typrelid = 0
  AND t.typelem = 0
"""

_INSERT = f"INSERT INTO {SCHEMA}.entries (idx, body, sig, item, prev, nodes) VALUES (%s, %s, %s, %s, %s, %s)"
_COPY = f"COPY {SCHEMA}.entries (idx, body, sig, item, prev, nodes) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["int8", "bytea", "bytea", "text", "bytea", "bytea"]
_LOCK = f"SELECT 1 FROM ONLY {SCHEMA}.log WHERE id = 1 FOR UPDATE"
_SIZE = f"SELECT max(idx) FROM ONLY {SCHEMA}.entries"
# An item's last event (its head): a batch reads it for every new item, through libpq's own call, as a
# statement prepared once per connection (PostgresStore._head_rows, _prepare).
_HEAD = f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item = $1 ORDER BY idx DESC LIMIT 1"
_TEXT_OID, _INT8_OID, _BYTEA_OID = 25, 20, 17
_STATEMENTS = {  # name -> (statement, parameter types)
    "provchain_head": (_HEAD, [_TEXT_OID]),
}
# A transaction of its own that writes one WAL record (a transactional logical message: no table is touched)
# and commits synchronously: it returns once the WAL up to it, and so every commit before it, is on disk.
_FLUSH = "SELECT pg_logical_emit_message(true, 'provchain-flush', '')"
# The rows holding the frontier of the tree of the current size n (what an append at n may need): node
# (level, (n >> level) - 1), kept in row ((n >> level) << level) - 1, for each bit set in n; the body only
# for the leaf (level 0).
_FRONTIER = (
    f"SELECT e.idx, CASE WHEN s.n & 1 = 1 AND e.idx = s.n - 1 THEN e.body END, e.nodes "
    f"FROM (SELECT coalesce(max(idx), -1) + 1 AS n FROM ONLY {SCHEMA}.entries) s "
    f"CROSS JOIN generate_series(0, 40) AS l JOIN ONLY {SCHEMA}.entries e ON e.idx = ((s.n >> l) << l) - 1 "
    "WHERE (s.n >> l) & 1 = 1"
)
# What an event's append needs, from one statement (one snapshot), without the lock: the operator entries from
# a given index, the item's newest event, and the largest index.
_STATE = (
    f"SELECT 0, e.idx, e.body, e.sig FROM ONLY {SCHEMA}.entries e WHERE e.item IS NULL AND e.idx >= %(since)s "
    f"UNION ALL (SELECT 1, e.idx, e.body, e.sig FROM ONLY {SCHEMA}.entries e WHERE e.item = %(item)s "
    "ORDER BY e.idx DESC LIMIT 1) "
    f"UNION ALL SELECT 2, max(e.idx), NULL, NULL FROM ONLY {SCHEMA}.entries e"
)
_SEQUENCE = f"SELECT * FROM {SCHEMA}.{_SEQUENCER}(%s, %s, %s, %s, %s, %s, %s, %s)"
# SQLSTATEs the sequencing function raises, each before it writes anything.
_MOVED = "PCR01"  # an operator entry was stored since the event was checked
_NOT_HEAD = "PCH01"  # the previous event is not stored at the index the writer read it at
_NO_LOCK_ROW = "PCL01"
_BAD_NODE = "PCN01"  # a stored left sibling is missing or cut short
_OTHER_NODE = "PCN02"  # a stored left sibling differs from the one the writer holds
_AGAIN = object()  # PostgresStore._sequence: the connection was lost before anything was stored
_NO_NODE = b"\xff" * 8 + bytes(_HASH)  # a level of the writer's known nodes that it does not hold
_NODES = (
    f"SELECT idx, CASE WHEN idx = ANY(%(leaves)s) THEN body END, nodes FROM ONLY {SCHEMA}.entries "
    "WHERE idx = ANY(%(rows)s)"
)
_SIZE_AND_NODES = f"SELECT -1::bigint, NULL::bytea, NULL::bytea, max(idx) FROM ONLY {SCHEMA}.entries UNION ALL " + (
    f"SELECT idx, CASE WHEN idx = ANY(%(leaves)s) THEN body END, nodes, NULL FROM ONLY {SCHEMA}.entries "
    "WHERE idx = ANY(%(rows)s)"
)


def _hex(value: bytes | str | None) -> str:
    """A value as SQL text that only hexadecimal digits reach: ``bytes.hex`` and ``str.encode`` themselves,
    never a method a subclass may have replaced (one whose ``hex()`` returned a quote would write SQL)."""
    if value is None:
        return "NULL"
    raw = str.encode(value, "utf-8") if isinstance(value, str) else value
    return f"pg_catalog.decode('{bytes.hex(raw)}', 'hex')"


def _sequence_sql(args: tuple[Any, ...], lazy: bool) -> str:
    """The message that sequences one event: ``BEGIN``, the function, ``COMMIT``, and the flush when lazy."""
    body, sig, item, prev, head, seen, known, _ = args
    call = (
        f"SELECT * FROM {SCHEMA}.{_SEQUENCER}({_hex(body)}, {_hex(sig)}, "
        f"pg_catalog.convert_from({_hex(item)}, 'UTF8'), {_hex(prev)}, "
        f"{'NULL' if head is None else int(head)}::bigint, {int(seen)}::bigint, {_hex(known)}, "
        f"{'true' if lazy else 'false'})"
    )
    return f"BEGIN ISOLATION LEVEL READ COMMITTED; {call}; COMMIT" + (f"; {_FLUSH}" if lazy else "")


def _decode(body: object) -> dict[str, Any] | None:
    if type(body) is not bytes:
        return None
    try:
        m = msgpack.unpackb(body, raw=False, strict_map_key=True, max_bin_len=MAX_BODY, max_str_len=MAX_BODY)
    except Exception:
        return None
    return m if type(m) is dict else None


def _indexes_of(body: object) -> tuple[str | None, bytes | None]:
    """The ``item`` and ``prev`` index values of a body as stored: an event's item and previous leaf hash
    (None for its first event), ``(None, None)`` for any other body or bytes that are no body."""
    m = _decode(body)
    if m is None or m.get("kind") != "event" or type(m.get("item")) is not str:
        return None, None
    prev = m.get("prev")
    return m["item"], prev if type(prev) is bytes else None


def _completed(index: int) -> int:
    """How many nodes above the leaf entry ``index`` completes (its trailing one bits)."""
    return ((index ^ (index + 1)).bit_length()) - 1


def where(url: str) -> str:
    """The server and database a URL names, for messages: ``host:port/dbname as user`` (never a password)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        d = conninfo_to_dict(url)
    except Exception:
        return "the PostgreSQL server (its URL cannot be parsed)"
    host = str(d.get("host") or d.get("hostaddr") or "localhost")
    port = str(d.get("port") or "5432")
    db = str(d.get("dbname") or d.get("user") or "")
    user = d.get("user")
    text = f"{host}:{port}/{db}" + (f" as {user}" if user else "")
    return re.sub(r"[^\x20-\x7e]", "?", text)[:300]


def _secrets(url: str) -> list[str]:
    """The secrets a connection URL or string holds (its password, as written and percent-decoded; the values
    of password and sslpassword parameters), longest first."""
    from urllib.parse import unquote

    found: set[str] = set()
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@", url)
    if m and ":" in m.group(1):
        found.add(m.group(1).split(":", 1)[1])
    for m2 in re.finditer(r"(?i)(?:^|[?&\s])(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]*)", url):
        found.add(m2.group(1).strip("'"))
    out = set()
    for secret in found:
        out |= {secret, unquote(secret)}
    return sorted((x for x in out if x), key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) with every secret of ``url`` replaced by ``***``."""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:400] if text else type(exc).__name__


def _translate(exc: Exception, what: str) -> Exception:
    """A psycopg error as the :class:`ProvchainError` the SQLite store raises for its like."""
    from psycopg import errors as e

    msg = _one_line(exc)
    if isinstance(exc, e.LockNotAvailable):  # lock_timeout, which the store sets to its busy bound
        return LedgerBusyError(f"{what}: other writers held the ledger longer than the wait allows; try again")
    if isinstance(exc, e.QueryCanceled):  # statement_timeout, or pg_cancel_backend: not other writers
        return StorageError(f"{what}: PostgreSQL cancelled the statement (a statement_timeout of the database or "
                            f"role, or an administrator) ({msg})")
    if isinstance(exc, e.SerializationFailure | e.DeadlockDetected):
        return LedgerBusyError(f"{what}: PostgreSQL could not serialize this transaction with others; try again")
    if isinstance(exc, e.ReadOnlySqlTransaction):
        return StorageError(f"{what}: the ledger is opened read-only (or the server is a read-only standby); "
                            "nothing was written")
    if isinstance(exc, e.DiskFull | e.InsufficientResources):
        return StorageError(f"{what}: the server's disk is full; nothing was written")
    if isinstance(exc, e.UniqueViolation) and "entries_chain" in msg:
        return StaleHeadError(f"{what}: the item already has an event built on the same previous event; "
                              "nothing was written")
    if isinstance(exc, e.UndefinedTable | e.UndefinedColumn | e.InvalidSchemaName):
        return ForeignLedgerError(f"{what}: the database does not hold a provchain ledger of this version ({msg})")
    if isinstance(exc, e.InsufficientPrivilege):
        return StorageError(f"{what}: the PostgreSQL role may not do this ({msg})")
    if isinstance(exc, e.AdminShutdown | e.CrashShutdown | e.CannotConnectNow | e.InterfaceError) or (
        isinstance(exc, e.OperationalError) and not getattr(exc, "sqlstate", None)
    ):
        return StorageError(f"{what}: the connection to PostgreSQL was lost ({msg})")
    return StorageError(f"{what}: {msg}")


def _entry(idx: object, body: object, sig: object) -> Entry:
    if type(idx) is not int or type(body) is not bytes or type(sig) is not bytes:
        raise DamagedLedgerError(f"entry {idx!r}: a stored value is not of the type provchain writes; audit it")
    return Entry(body, sig, idx)


_DAMAGED = "the database was edited or damaged"


class PostgresStore:
    """A ledger stored in a PostgreSQL database (see the module docstring for the layout and the locking)."""

    def __init__(
        self, conn: psycopg.Connection[Any], url: str, *, readonly: bool, durability: str, busy_timeout: float
    ) -> None:
        self._conn = conn
        self.reconnections = 0  # how many times the connection was opened again after it broke (_alive)
        self.durability = durability
        self.url = url
        self.location = where(url)
        self._readonly = readonly
        self._busy_timeout = busy_timeout
        self._meta: LedgerMeta | None = None
        self._created = False
        self._closed = False
        self._depth = 0  # write transaction nesting
        self._snapshot = False
        self._size: int | None = None  # the size inside the write transaction, queued rows included
        self._queue: list[tuple[int, bytes, bytes, str | None, bytes | None, bytes]] = []
        self._queue_heads: dict[str, tuple[int, bytes]] = {}  # item -> (position in the queue, leaf hash)
        self._failed: StorageError | None = None
        self._seen = 0  # a size this store has seen: operator entries from there are read with the lock
        self._prefetched: tuple[int, list[Any]] | None = None  # (from index, rows) read with the lock
        # expect(): the item whose head the next write transaction reads with the lock, and its rows; and
        # whether it reads the tree's frontier nodes too (when other writers moved the log since this store
        # last wrote, the ledger's frontier lacks some of them), and the rows read (idx -> row).
        self._expected: str | None = None
        self._pre_head: tuple[str, list[Any]] | None = None
        self._pre_tree = True
        self._pre_rows: dict[int, Any] | None = None
        self._wrote = False  # entries were written in the open transaction
        self._wrote_checkpoint = False  # and a checkpoint
        self._first: tuple[int, bytes] | None = None  # the first and last entry written in it (index, body)
        self._last: tuple[int, bytes] | None = None
        self._checkpoints: dict[int, bytes] = {}  # the checkpoints written in it
        self._lazy = True  # commit entries lazily, then flush (False once the server refused the flush)
        # Whether this ledger's schema holds the sequencing function as provchain defines it (SequencingStore):
        # set by create() and by the schema check of open(); False after the server refused to run it.
        self.sequences = False
        self._session: tuple[Any, Any] | None = None  # (connection, (pid, backend_start)) of its server session
        self._cursors = itertools.count()
        self._prepared_on: psycopg.Connection[Any] | None = None  # the connection _STATEMENTS are prepared on

    # --- connecting -----------------------------------------------------------------------------

    @staticmethod
    def _connect(url: str, *, readonly: bool, durability: str, busy_timeout: float) -> psycopg.Connection[Any]:
        if durability not in ("full", "normal"):
            raise InputError("durability must be 'full' or 'normal'")
        if not isinstance(busy_timeout, int | float) or not 0 < busy_timeout <= 3600:
            raise InputError("busy_timeout must be a number of seconds between 0 and 3600")
        try:
            import psycopg
        except ImportError:
            raise StorageError(
                "a postgresql:// ledger needs psycopg 3: pip install 'provchain-ledger[postgres]'"
            ) from None
        from psycopg.conninfo import conninfo_to_dict

        try:  # libpq's own parse first: its messages quote the part it cannot read, a password included
            conninfo_to_dict(url)
        except Exception:
            raise InputError(
                "the ledger URL cannot be read as a PostgreSQL connection URL (a bad %-escape, an unknown or "
                "malformed parameter); see libpq's connection URIs"
            ) from None
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(busy_timeout)),
                                   application_name=_APP)  # fmt: skip
        except psycopg.Error as exc:
            msg = _scrub(_one_line(exc), url)
            sqlstate = getattr(exc, "sqlstate", None)
            if sqlstate == "3D000" or ("does not exist" in msg and "database" in msg):
                raise LedgerNotFoundError(f"no database {where(url)}: create it first (see the PostgreSQL how-to)")\
                    from None
            if sqlstate in ("28P01", "28000") or "authentication failed" in msg or "no password" in msg:
                raise StorageError(
                    f"PostgreSQL at {where(url)} refused the login (a wrong or missing password, or a role that may "
                    f"not connect): {msg}"
                ) from None
            raise StorageError(f"cannot connect to PostgreSQL at {where(url)}: {msg}") from None
        except Exception as exc:  # anything else libpq refuses in the URL
            raise InputError(f"not a usable PostgreSQL URL ({_scrub(_one_line(exc), url)})") from None
        try:
            # pg_catalog. in full: until this statement has run, the search_path is the one the database or
            # the role set (ALTER DATABASE ... SET search_path), which may name a schema with a set_config.
            conn.execute(
                "SELECT pg_catalog.set_config('synchronous_commit', %s, false),"
                " pg_catalog.set_config('lock_timeout', %s, false),"
                " pg_catalog.set_config('default_transaction_read_only', %s, false),"
                " pg_catalog.set_config('search_path', %s, false)",
                ("on" if durability == "full" else "local", f"{int(busy_timeout * 1000)}ms",
                 "on" if readonly else "off", "pg_catalog"),
            )  # fmt: skip
        except psycopg.Error as exc:
            conn.close()
            raise _translate(exc, f"cannot set up the session with {where(url)}") from None
        return conn

    @classmethod
    def create(cls, url: str, meta: LedgerMeta, *, durability: str = "full", busy_timeout: float = 10.0
               ) -> PostgresStore:  # fmt: skip
        """Create a ledger in the (existing) database ``url`` names: the ``provchain`` schema, its tables and
        ``meta``, in one transaction. :class:`LedgerExistsError` when the database already holds one."""
        import psycopg

        conn = cls._connect(url, readonly=False, durability=durability, busy_timeout=busy_timeout)
        store = cls(conn, url, readonly=False, durability=durability, busy_timeout=busy_timeout)
        try:
            with conn.transaction():
                found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
                if found is not None:
                    raise LedgerExistsError(
                        f"the database {store.location} already holds a provchain ledger (schema {SCHEMA!r}); "
                        "open it instead of creating it"
                    )
                for sql in (*_DDL, _SEQUENCER_DDL):
                    conn.execute(sql)
                conn.cursor().executemany(
                    f"INSERT INTO {SCHEMA}.meta (key, value) VALUES (%s, %s)",
                    [("format", str(meta.format)), ("schema", str(SCHEMA_VERSION)), ("origin", meta.origin),
                     ("operator", meta.operator_vkey)],
                )  # fmt: skip
        except psycopg.errors.DuplicateSchema:
            conn.close()
            raise LedgerExistsError(
                f"the database {store.location} already holds a provchain ledger; open it instead"
            ) from None
        except psycopg.Error as exc:
            conn.close()
            raise _translate(exc, f"cannot create the ledger in {store.location}") from None
        except BaseException:
            conn.close()
            raise
        store._created = True
        store._meta = meta
        store.sequences = True
        return store

    @classmethod
    def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        durability: str = "full",
        busy_timeout: float = 10.0,
        foreign_schema: bool = False,
    ) -> PostgresStore:
        """Open the ledger in the database ``url`` names.

        :class:`LedgerNotFoundError` when it holds none; :class:`ForeignLedgerError` when it holds another
        schema version or format, or objects in the ``provchain`` schema (or on its tables: triggers, rules,
        policies) that provchain did not create, which could change what is read or written. With
        ``foreign_schema=True`` (read-only; the auditor, which reports them) it is opened all the same.
        """
        if foreign_schema and not readonly:
            raise InputError("a ledger with a foreign schema can only be opened read-only")
        conn = cls._connect(url, readonly=readonly, durability=durability, busy_timeout=busy_timeout)
        store = cls(conn, url, readonly=readonly, durability=durability, busy_timeout=busy_timeout)
        try:
            store.meta()
            if not foreign_schema:
                odd = store.foreign_schema()
                if odd:
                    more = f" (and {len(odd) - 3} more)" if len(odd) > 3 else ""
                    raise ForeignLedgerError(
                        f"the ledger in {store.location} holds schema objects that provchain did not create: "
                        f"{'; '.join(odd[:3])}{more}; they could change what the ledger reads or writes, so it is "
                        "not opened (audit it to see them)"
                    )
        except BaseException:
            conn.close()
            raise
        return store

    def _alive(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StorageError(f"the ledger store of {self.location} is closed")
        if self._conn.broken and not self._depth and not self._snapshot:
            # The server restarted or the network dropped the connection: between transactions nothing is
            # lost by connecting again (with the same settings).
            conn = self._connect(self.url, readonly=self._readonly, durability=self.durability,
                                 busy_timeout=self._busy_timeout)  # fmt: skip
            self._conn.close()
            self._conn = conn
            # A crash may have taken back rows read on the old connection (a commit is lazy until its flush):
            # whoever kept state read before this must read it again (SequencingStore.reconnections).
            self.reconnections += 1
        return self._conn


    # --- schema and metadata --------------------------------------------------------------------

    def foreign_schema(self) -> list[str]:
        """The objects of the ``provchain`` schema (and those attached to its tables) that provchain did
        not create, or defines otherwise, each described in words (empty for an intact schema)."""
        rows = self._read(_CATALOG, {"ns": SCHEMA})
        have = {(str(k), str(n), str(d)) for k, n, d in rows}
        out = []
        names = {(k, n) for k, n, _ in _EXPECTED}
        for kind, name, definition in sorted(have - _EXPECTED):
            if (kind, name) in names:
                out.append(f"{kind} {name!r} is not defined as provchain defines it ({definition[:300]})")
            else:
                out.append(f"{kind} {name!r} was not created by provchain" + (f" ({definition[:200]})"
                                                                              if definition else ""))
        present = {(k, n) for k, n, _ in have}
        out += [f"{kind} {name!r} is missing" for kind, name in sorted(names - present - _OPTIONAL)]
        self.sequences = not out and any(k == "function" and n == _SEQUENCER for k, n, _ in have & _EXPECTED)
        return out

    def meta(self) -> LedgerMeta:
        """The ledger's metadata (read once, then cached)."""
        if self._meta is not None:
            return self._meta
        import psycopg

        conn = self._alive()
        try:
            found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
            if found is None:
                raise LedgerNotFoundError(f"no provchain ledger in the database {self.location}")
            rows = dict(conn.execute(f"SELECT key, value FROM ONLY {SCHEMA}.meta").fetchall())
        except psycopg.Error as exc:
            raise ForeignLedgerError(
                f"the database {self.location} has a schema {SCHEMA!r} that is not a provchain ledger "
                f"({_one_line(exc)})"
            ) from None
        for key in ("format", "origin", "operator", "schema"):
            value = rows.get(key)
            if type(value) is not str or not value.isprintable() or len(value) > 1024:
                raise ForeignLedgerError(
                    f"the database {self.location}: the meta table's {key!r} value is missing or not text of the "
                    "expected form; it is not a provchain ledger, or it was edited"
                )
        if rows["schema"] != str(SCHEMA_VERSION):
            raise ForeignLedgerError(
                f"the ledger in {self.location} uses PostgreSQL ledger schema {rows['schema']!r}; this provchain "
                f"reads {SCHEMA_VERSION}"
            )
        if not rows["format"].isascii() or not rows["format"].isdigit() or len(rows["format"]) > 6:
            raise ForeignLedgerError(f"the ledger in {self.location}: its format {rows['format']!r} is not a number")
        if int(rows["format"]) != FORMAT_VERSION:
            raise ForeignLedgerError(
                f"the ledger in {self.location} holds entries of format {rows['format']}; this provchain reads "
                f"{FORMAT_VERSION}"
            )
        self._meta = LedgerMeta(int(rows["format"]), rows["origin"], rows["operator"])
        return self._meta

    # --- reading --------------------------------------------------------------------------------

    def _read(self, sql: str, args: Any = None, *, flush: bool = True) -> list[Any]:
        if flush and self._queue:  # every read sees every write of the transaction
            self._flush()
        import psycopg

        conn = self._alive()
        try:
            return conn.execute(sql, args, binary=True).fetchall()
        except psycopg.Error as exc:
            raise _translate(exc, "cannot read the ledger") from None

    def size(self) -> int:
        """The number of entries: ``max(idx) + 1``, a lookup of the primary key's last entry (inside a write
        transaction: read once under the lock, then counted)."""
        if self._depth and self._size is not None:
            return self._size
        top = self._read(_SIZE, flush=False)[0][0]
        size = self._size_of(top) + len(self._queue)
        if self._depth:
            self._size = size
        return size

    @staticmethod
    def _size_of(top: object) -> int:
        if top is None:
            return 0
        if type(top) is not int or not 0 <= top < _MAX_ENTRIES:
            raise DamagedLedgerError(f"the entries table's largest index is {top!r}; the database was edited")
        return top + 1

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        if type(index) is not int or not 0 <= index < _MAX_ENTRIES:
            raise IndexError(f"the ledger has no entry {index!r}")
        for idx, body, sig, *_ in self._queue:
            if idx == index:
                return _entry(idx, body, sig)
        rows = self._read(f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE idx = %s", (index,), flush=False)
        if not rows:
            raise IndexError(f"the ledger has no entry {index}")
        return _entry(*rows[0])

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[Entry]:
        """Entries ``[start, end)`` in order. Inside a transaction or a snapshot, through a server-side cursor
        (one statement, fetched :data:`_CURSOR_ROWS` rows at a time); outside, in pages of as many rows
        (each page one consistent read)."""
        stop = _MAX_ENTRIES if end is None else min(end, _MAX_ENTRIES)
        pos = max(0, start)
        if self._queue:
            self._flush()
        if not (self._depth or self._snapshot):
            while pos < stop:
                rows = self._read(
                    f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE idx >= %s AND idx < %s "
                    "ORDER BY idx LIMIT %s",
                    (pos, stop, _CURSOR_ROWS),
                )
                for idx, body, sig in rows:
                    yield _entry(idx, body, sig)
                if len(rows) < _CURSOR_ROWS:
                    return
                pos = int(rows[-1][0]) + 1
            return
        yield from self._stream(
            f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE idx >= %s AND idx < %s ORDER BY idx", (pos, stop)
        )

    def _stream(self, sql: str, args: tuple[object, ...]) -> Iterator[Entry]:
        for idx, body, sig in self._cursor_rows(sql, args):
            yield _entry(idx, body, sig)

    def _cursor_rows(self, sql: str, args: tuple[object, ...] = ()) -> Generator[tuple[Any, ...], None, None]:
        """The rows of ``sql`` through a server-side cursor, :data:`_CURSOR_ROWS` at a time (memory stays flat;
        the cursor is closed when the caller stops early)."""
        import psycopg

        conn = self._alive()
        cur = conn.cursor(name=f"provchain_{next(self._cursors)}", binary=True)
        try:
            cur.itersize = _CURSOR_ROWS
            cur.execute(sql, args)
            while True:
                rows = cur.fetchmany(_CURSOR_ROWS)
                yield from rows
                if len(rows) < _CURSOR_ROWS:
                    return
        except psycopg.Error as exc:
            raise _translate(exc, "cannot read the ledger") from None
        finally:
            with contextlib.suppress(psycopg.Error):
                cur.close()

    def item_entries(self, item: str) -> list[Entry]:
        """The events of ``item`` in order, each checked by its signed body to be an event of ``item`` and to
        name the one before it as its ``prev``."""
        rows = self._read(f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item = %s ORDER BY idx", (item,))
        return chain_of([_entry(i, b, s) for i, b, s in rows], item, _DAMAGED)

    def head(self, item: str) -> Head | None:
        """The last event of ``item``, its stage and time read from its signed body."""
        queued = self._queue_heads.get(item)
        if queued is not None:
            pos, leaf = queued
            idx, body, sig, *_ = self._queue[pos]
            ev = event_of(_entry(idx, body, sig), item, _DAMAGED)
            return Head(idx, leaf, ev.stage, ev.at)
        pre = self._pre_head
        if pre is not None and pre[0] == item and self._depth and not self._wrote:
            rows = pre[1]  # read with the lock (expect()): nobody else wrote since, nor did this transaction
            return head_of(_entry(*rows[0]), item, _DAMAGED) if rows else None
        # Queued rows all come after the stored ones and none is the item's: no need to send them first.
        if type(item) is str and item.isascii():
            rows = self._head_rows(item)
        else:
            rows = self._read(_HEAD.replace("$1", "%s"), (item,), flush=False)
        return head_of(_entry(*rows[0]), item, _DAMAGED) if rows else None

    def _head_rows(self, item: str) -> list[tuple[object, object, object]]:
        """The item's last row (``[]`` or one ``(idx, body, sig)``), read with libpq's own prepared-statement
        call (:data:`_HEAD`): a batch reads the head of every new item, and psycopg's cursor machinery around
        the same round trip costs about a third of it. The answer is checked as psycopg would check it (the
        status, the number and types of the columns), and an error is the psycopg error the same statement
        would raise. ASCII ids only (the text is sent as is, which every server encoding reads alike)."""
        import psycopg
        from psycopg import pq

        for attempt in (1, 2):
            conn = self._alive()
            pg = conn.pgconn
            try:
                if self._prepared_on is not conn:
                    self._prepare(conn)
                with conn.lock:  # what psycopg's own execute holds: one statement at a time on the connection
                    res = pg.exec_prepared(b"provchain_head", [item.encode("ascii")], result_format=pq.Format.BINARY)
                if res.status != pq.ExecStatus.TUPLES_OK:
                    raise psycopg.errors.error_from_result(res, encoding=conn.info.encoding)
                break
            except psycopg.Error as exc:
                self._prepared_on = None
                if (attempt == 1 and isinstance(exc, psycopg.errors.InvalidSqlStatementName)
                        and pg.transaction_status == pq.TransactionStatus.IDLE):  # fmt: skip
                    continue  # deallocated behind our back, outside a transaction: nothing lost, prepare it
                raise _translate(exc, "cannot read the ledger") from None
        if res.nfields != 3 or [res.ftype(k) for k in range(3)] != [_INT8_OID, _BYTEA_OID, _BYTEA_OID]:
            raise DamagedLedgerError(f"the entries table does not have the columns provchain reads; {_DAMAGED}")
        rows: list[tuple[object, object, object]] = []
        for r in range(res.ntuples):
            idx = res.get_value(r, 0)
            rows.append((
                int.from_bytes(idx, "big", signed=True) if idx is not None and len(idx) == 8 else None,
                None if (body := res.get_value(r, 1)) is None else bytes(body),
                None if (sig := res.get_value(r, 2)) is None else bytes(sig),
            ))  # fmt: skip
        return rows

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Make sure the session holds every statement of :data:`_STATEMENTS` under its name. Preparing a name
        that exists is an error, which would doom an open transaction; and psycopg deallocates every prepared
        statement of the session after a ``ROLLBACK`` or ``DROP`` it runs (so :meth:`_rollback` and
        :meth:`_exec` forget they were prepared): the session's prepared statements are asked first, and one of
        a name provchain uses but another text is replaced."""
        import psycopg
        from psycopg import pq

        found = dict(conn.execute(
            "SELECT name, statement FROM pg_catalog.pg_prepared_statements WHERE name = ANY(%s)", (list(_STATEMENTS),)
        ).fetchall())  # fmt: skip
        for name, (sql, types) in _STATEMENTS.items():
            if found.get(name) == sql:
                continue
            if name in found:
                conn.execute(f"DEALLOCATE {name}")
            with conn.lock:
                done = conn.pgconn.prepare(name.encode(), sql.encode(), types)
            if done.status != pq.ExecStatus.COMMAND_OK:
                raise psycopg.errors.error_from_result(done, encoding=conn.info.encoding)
        self._prepared_on = conn

    def heads(self, items: Iterable[str]) -> dict[str, Head]:
        """The heads of many items (the :class:`~provchain.store.base.MultiHeadStore` capability): those of
        items whose last row is still queued from the queue, the others in one statement per 5,000 items,
        each item's newest row by the item index (the query of :meth:`head`, once per item, on the server),
        its body checked to be an event of that item."""
        out, ask = queued_heads(items, self._queue_heads, self.head)
        for k in range(0, len(ask), 5000):
            chunk = ask[k : k + 5000]
            # Queued rows all come after the stored ones and none is one of these items': no need to send them.
            rows = self._read(
                f"SELECT i.item, e.idx, e.body, e.sig FROM unnest(%s::text[]) AS i(item) CROSS JOIN LATERAL "
                f"(SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item = i.item ORDER BY idx DESC LIMIT 1) "
                "AS e", (chunk,), flush=False,
            )  # fmt: skip
            for item, idx, body, sig in rows:
                if type(item) is not str or item in out:
                    raise DamagedLedgerError(f"the heads read answered for an item twice; {_DAMAGED} (audit it)")
                out[item] = head_of(_entry(idx, body, sig), item, _DAMAGED)
        return out

    def operator_entries(self, start: int = 0) -> Iterator[Entry]:
        """Registrations, revocations and policies at index >= ``start``, each checked by its body to be no
        event."""
        pre = self._prefetched
        if pre is not None and self._depth and not self._wrote and start >= pre[0]:
            rows = [r for r in pre[1] if r[0] >= start]  # read with the lock: nobody else wrote since
        else:
            rows = self._read(
                f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item IS NULL AND idx >= %s ORDER BY idx",
                (max(0, start),),
            )
        yield from non_events((_entry(i, b, s) for i, b, s in rows), _DAMAGED)

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Complete-subtree hashes: node ``(level, i)`` from row ``((i + 1) << level) - 1`` (a leaf hash from
        the row's body), all in one statement."""
        return self._nodes(keys, False)[1]

    def size_and_nodes(self, keys: Iterable[NodeKey]) -> tuple[int, dict[NodeKey, bytes]]:
        """The size and :meth:`nodes`, from one statement."""
        return self._nodes(keys, True)

    def _nodes(self, keys: Iterable[NodeKey], with_size: bool) -> tuple[int, dict[NodeKey, bytes]]:
        wanted: dict[int, list[int]] = {}  # row -> levels asked of it
        for level, index in keys:
            if type(level) is not int or type(index) is not int or not 0 <= level <= 40 or index < 0:
                continue
            row = ((index + 1) << level) - 1
            if row < _MAX_ENTRIES:
                wanted.setdefault(row, []).append(level)
        rows_ids = list(wanted)
        found: list[Any] = []
        size = -1
        pre = self._pre_rows
        if (
            pre is not None and not with_size and self._depth
            and all(r in pre and (pre[r][1] is not None or 0 not in wanted[r]) for r in rows_ids)
        ):  # fmt: skip
            # Read with the lock (expect()): committed rows below the size, which nobody else can change now.
            found = [pre[r] for r in rows_ids]
        elif with_size and len(rows_ids) <= _MAX_KEYS:
            leaves = [r for r in rows_ids if 0 in wanted[r]]
            got = self._read(_SIZE_AND_NODES, {"rows": rows_ids, "leaves": leaves})
            for idx, body, nodes, top in got:
                if idx == -1:
                    size = self._size_of(top)
                else:
                    found.append((idx, body, nodes))
        else:
            if with_size:
                size = self.size()
            for k in range(0, len(rows_ids), _MAX_KEYS):
                chunk = rows_ids[k : k + _MAX_KEYS]
                leaves = [r for r in chunk if 0 in wanted[r]]
                found += self._read(_NODES, {"rows": chunk, "leaves": leaves})
        out: dict[NodeKey, bytes] = {}
        for idx, body, nodes in found:
            if type(nodes) is not bytes:
                raise DamagedLedgerError(f"entry {idx}: the entries.nodes column does not hold hashes; audit it")
            for level in wanted.get(idx, ()):
                if level == 0:
                    if type(body) is bytes:
                        out[(0, idx)] = leaf_hash_of(body)
                    continue
                h = nodes[_HASH * (level - 1) : _HASH * level]
                if len(h) == _HASH:  # a row cut short holds no node: it is missing (the audit reports it)
                    out[(level, idx >> level)] = h
        return size, out

    def checkpoints(self, *, newest_first: bool = False, chunk: int = 256) -> Iterator[tuple[int, bytes]]:
        """Stored checkpoints by size (largest first with ``newest_first``), ``chunk`` rows at a time."""
        order, cmp = ("DESC", "<") if newest_first else ("ASC", ">")
        bound = (1 << 63) - 1 if newest_first else -1
        while True:
            rows = self._read(
                f"SELECT size, note FROM ONLY {SCHEMA}.checkpoints WHERE size {cmp} %s ORDER BY size {order} LIMIT %s",
                (bound, chunk),
            )
            for size, note in rows:
                yield self._checkpoint_row(size, note)
            if len(rows) < chunk:
                return
            bound = int(rows[-1][0])

    @staticmethod
    def _checkpoint_row(size: object, note: object) -> tuple[int, bytes]:
        if type(size) is not int or type(note) is not bytes:
            raise DamagedLedgerError("the checkpoints table holds a value provchain does not write; audit it")
        return size, note

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note of ``size``, or None."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < (1 << 63):
            return None
        rows = self._read(f"SELECT size, note FROM ONLY {SCHEMA}.checkpoints WHERE size = %s", (size,))
        return self._checkpoint_row(*rows[0])[1] if rows else None

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint with the largest size."""
        rows = self._read(f"SELECT size, note FROM ONLY {SCHEMA}.checkpoints ORDER BY size DESC LIMIT 1")
        return self._checkpoint_row(*rows[0]) if rows else None

    # --- transactions ---------------------------------------------------------------------------

    def _exec(self, sql: str, what: str) -> None:
        import psycopg

        if sql.split(None, 1)[0].upper() in ("DROP", "ALTER", "ROLLBACK", "DISCARD", "DEALLOCATE"):
            self._prepared_on = None  # after these psycopg deallocates the session's prepared statements

        try:
            self._alive().execute(sql)
        except psycopg.Error as exc:
            raise _translate(exc, what) from None

    def _rollback(self, sql: str) -> None:
        import psycopg

        self._prepared_on = None  # psycopg deallocates the session's prepared statements after a rollback
        with contextlib.suppress(psycopg.Error):
            self._conn.execute(sql)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` ... ``COMMIT``: every statement inside reads one
        committed state. Inside a transaction or another snapshot it adds nothing."""
        if self._depth or self._snapshot:
            yield
            return
        self._exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot read the ledger")
        self._snapshot = True
        try:
            yield
        finally:
            self._snapshot = False
            self._rollback("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN`` (READ COMMITTED), the ``log`` row locked ``FOR UPDATE`` (other writers wait for it, for
        at most ``busy_timeout`` seconds: :class:`LedgerBusyError`), ... ``COMMIT``; inside an open
        transaction, a savepoint. A write that failed dooms the transaction (leaving the block rolls back)."""
        if self._snapshot:
            raise StorageError("cannot write inside a read snapshot of the ledger")
        if self._depth:
            self._flush()
            name = f"sp{self._depth}"
            self._exec(f"SAVEPOINT {name}", "cannot write")
            failed, size, marks = self._failed, self._size, self._written()
            self._depth += 1
            try:
                yield
                self._flush()
            except BaseException:
                self._depth -= 1
                self._queue, self._queue_heads = [], {}
                self._rollback(f"ROLLBACK TO SAVEPOINT {name}")
                self._failed, self._size = failed, size
                self._first, self._last, self._checkpoints = marks
                self._rollback(f"RELEASE SAVEPOINT {name}")
                raise
            self._depth -= 1
            self._exec(f"RELEASE SAVEPOINT {name}", "cannot write")
            return
        # One round trip: the simple query protocol runs the three statements in order, so the lock is held
        # before the size is read (READ COMMITTED: that statement sees every commit before it).
        import psycopg

        item, self._expected = self._expected, None
        tree = item is not None and self._pre_tree
        for attempt in (1, 2):
            conn = self._alive()
            try:
                results = self._begin(conn, item, tree)
                break
            except psycopg.Error as exc:
                self._rollback("ROLLBACK")
                if attempt == 1 and self._conn.broken and not self._closed:
                    continue  # the connection was gone (a server restart): nothing was written; connect again
                raise _translate(exc, "cannot start a write") from None
        if len(results) < 3 + (item is not None) + tree or len(results[0]) != 1:
            self._rollback("ROLLBACK")
            raise DamagedLedgerError(
                f"the ledger in {self.location} has lost the lock row of its log table, which keeps writers one at "
                f"a time; {_DAMAGED} (audit it); nothing was written"
            )
        top = results[1][0] if results[1] else None
        self._prefetched = (self._seen, results[2])
        if item is not None:
            self._pre_head = (item, results[3])
        if tree:
            self._pre_rows = {row[0]: row for row in results[-1]}
        self._depth = 1
        self._size = None
        try:
            self._size = self._size_of(top[0] if top else None)
            if item is not None:  # the frontier nodes next time when another writer moved the log meanwhile
                self._pre_tree = self._size != self._seen
            yield
            last = self._queue if len(self._queue) == 1 else []  # one row: sent with the commit, below
            if last:
                self._queue, self._queue_heads = [], {}
            else:
                self._flush()
            if self._failed is not None:
                raise StorageError(f"the transaction was rolled back because a write in it failed: {self._failed}")
        except BaseException:
            self._end()
            self._rollback("ROLLBACK")
            raise
        # Entries only: commit without waiting for the disk (the lock is released at once), then wait for
        # the disk outside the lock (_FLUSH), so that the flushes of concurrent writers overlap (PostgreSQL
        # flushes the WAL of every waiting commit at once). The append is acknowledged after both. A
        # checkpoint commits synchronously: nobody may read a stored checkpoint that a crash could lose.
        lazy = self._wrote and not self._wrote_checkpoint and self._lazy
        written = self._written()
        self._end()
        try:
            with conn.pipeline():
                if last:
                    conn.execute(_INSERT, last[0], binary=True)
                if lazy:
                    conn.execute("SET LOCAL synchronous_commit TO off")
                conn.execute("COMMIT")
                if lazy:
                    conn.execute(_FLUSH)
        except psycopg.Error as exc:
            # Which statement failed is not known here: the COMMIT may have been carried out (the FLUSH
            # refused, the answer lost with the connection). Saying "failed" then would make the caller
            # write the same entries again; so the outcome is found out from the rows, under the lock.
            self._rollback("ROLLBACK")
            self._settle(written, exc)

    def expect(self, item: str) -> None:
        """The next write transaction will append an event of ``item``: it reads the item's head with the lock,
        in the round trip that takes it, and the tree's frontier nodes when another writer moved the log since
        this store last wrote (a hint: every answer is checked as when read on its own; an item that is no
        valid id is not read ahead, the append refuses it)."""
        if type(item) is str and 0 < len(item) <= 128 and item.isascii() and item.isprintable():
            self._expected = item

    def _begin(self, conn: psycopg.Connection[Any], item: str | None = None, tree: bool = False) -> list[list[Any]]:
        """``BEGIN``, the lock, the size, and the operator entries written since this store last looked (the
        ledger asks for them, to apply new registrations, whenever other writers moved the log on, as they do
        all the time): one round trip, the simple query protocol running the statements in order, so the lock
        is held before the size is read (READ COMMITTED: that statement sees every commit before it). Returns
        the rows of the lock, the size and the operator entries."""
        from psycopg import sql

        cur = conn.execute(
            f"BEGIN ISOLATION LEVEL READ COMMITTED; {_LOCK}; {_SIZE}; "
            f"SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item IS NULL AND idx >= {int(self._seen)} "
            "ORDER BY idx"
            + (
                f"; SELECT idx, body, sig FROM ONLY {SCHEMA}.entries WHERE item = {sql.Literal(item).as_string(conn)} "
                "ORDER BY idx DESC LIMIT 1"
                if item is not None
                else ""
            )
            + (f"; {_FRONTIER}" if tree else "")
        )
        results = []
        while True:
            if cur.description is not None:
                results.append(cur.fetchall())
            if not cur.nextset():
                break
        return results

    def _written(self) -> tuple[tuple[int, bytes] | None, tuple[int, bytes] | None, dict[int, bytes]]:
        """What the open transaction wrote, enough to recognise it in the rows: its first and last entry (index,
        body) and its checkpoints (size -> note)."""
        return self._first, self._last, dict(self._checkpoints)

    def _settle(
        self, written: tuple[tuple[int, bytes] | None, tuple[int, bytes] | None, dict[int, bytes]], exc: Exception
    ) -> None:
        """The outcome of a commit that did not answer, found under the writer lock (which waits for the
        transaction, if the server still runs it): returns when it was committed (and is durable now: this
        transaction commits synchronously, so the WAL up to it is on disk), raises :class:`StorageError`
        saying nothing was written when it was not, or that the outcome is unknown when it cannot be told."""
        import psycopg

        first, last, checkpoints = written
        if first is None and not checkpoints:
            return  # it wrote nothing: whatever became of it, nothing is lost or doubled
        cause = _translate(exc, "the commit did not answer")
        unknown = (
            f"cannot tell whether the write was committed ({cause}); look at the item's history before writing "
            "it again"
        )
        deadline = time.monotonic() + self._busy_timeout
        while True:  # a server that crashed is back after its recovery: wait for it, within the busy bound
            try:
                conn = self._alive()
                break
            except StorageError as down:
                if time.monotonic() >= deadline:
                    raise StorageError(f"{unknown} (the server did not come back: {down})") from None
                time.sleep(0.2)
        try:
            rows = self._begin(conn)
            if len(rows) < 3 or len(rows[0]) != 1:
                raise StorageError("the log table has lost its lock row")
            found = {}
            for index, _ in (first, last) if first is not None and last is not None else ():
                got = conn.execute(f"SELECT body FROM ONLY {SCHEMA}.entries WHERE idx = %s", (index,), binary=True)
                found[index] = got.fetchone()
            notes = {}
            for size in checkpoints:
                got = conn.execute(f"SELECT note FROM ONLY {SCHEMA}.checkpoints WHERE size = %s", (size,), binary=True)
                notes[size] = got.fetchone()
            conn.execute("COMMIT")  # synchronous: every commit before it is on disk once it returns
        except (psycopg.Error, StorageError) as again:
            self._rollback("ROLLBACK")
            raise StorageError(f"{unknown} (asking again failed: {_one_line(again)})") from None
        if first is not None and last is not None:
            # Entries never change once stored: the first index holds another body (or none) exactly when
            # this transaction was not committed, and then the last must not hold its body either.
            committed = found[first[0]] == (first[1],)
            if committed != (found[last[0]] == (last[1],)):
                raise StorageError(unknown)
        else:
            stored = [notes[size] for size in checkpoints]
            if stored and all(got == (note,) for got, note in zip(stored, checkpoints.values(), strict=True)):
                committed = True
            elif all(got is None for got in stored):
                committed = False
            else:
                raise StorageError(unknown)
        if not committed:
            if isinstance(cause, StaleHeadError):  # the server refused a statement: its own words
                raise cause from None
            raise StorageError(f"{cause}; the commit did not take place: nothing was written") from None
        if isinstance(exc, psycopg.errors.InsufficientPrivilege | psycopg.errors.UndefinedFunction):
            self._lazy = False  # the flush is refused on this server: commit synchronously from now on

    # --- one event, sequenced by the server (SequencingStore) -----------------------------------

    def append_state(self, item: str, since: int) -> AppendState:
        """The size, the operator entries at index >= ``since`` (each checked by its body to be no event) and
        the head of ``item`` (checked by its body), from one statement: one snapshot, no lock. A connection
        found broken (a server restart) is opened again once: nothing is written here."""
        if self._snapshot:
            raise StorageError("cannot write inside a read snapshot of the ledger")
        if self._depth:
            raise StorageError("an event is sequenced outside any transaction of the store")
        if type(since) is not int or since < 0:
            raise InputError("since must be a non-negative entry index")
        check_item(item)  # an id the ledger refuses (not text, a NUL, a lone surrogate) is never sent
        args = {"since": since, "item": item}
        try:
            rows = self._read(_STATE, args)
        except StorageError:
            if not self._conn.broken or self._closed:
                raise
            rows = self._read(_STATE, args)  # the server restarted since the last statement: connect again
        ops, heads, top = [], [], None
        for kind, idx, body, sig in rows:
            if kind == 0:
                ops.append((idx, body, sig))
            elif kind == 1:
                heads.append((idx, body, sig))
            else:
                top = idx
        size = self._size_of(top)
        ops.sort(key=lambda r: r[0] if type(r[0]) is int else -1)
        operator = [e for e in non_events((_entry(*r) for r in ops), _DAMAGED) if (e.index or 0) < size]
        head = head_of(_entry(*heads[0]), item, _DAMAGED) if heads else None
        return AppendState(size, operator, head)

    def sequence_event(
        self, entry: Entry, head: int | None, seen: int, known: Mapping[int, tuple[int, bytes]]
    ) -> Sequenced | None:
        """Store the signed event ``entry`` at the next index: one message (``BEGIN``, the sequencing
        function under the writer lock, ``COMMIT`` without waiting for the disk, then the flush outside the
        lock), one round trip. The answer is checked: the nodes the server computed must be the entry's leaf
        folded with the left siblings it returned. See :class:`~provchain.store.base.SequencingStore`."""

        if self._readonly:
            raise StorageError("cannot write the entry: the ledger is opened read-only; nothing was written")
        if self._snapshot:
            raise StorageError("cannot write inside a read snapshot of the ledger")
        if self._depth:
            raise StorageError("an event is sequenced outside any transaction of the store")
        if not self.sequences:
            raise StorageError(f"the ledger in {self.location} has no sequencing function; nothing was written")
        if type(seen) is not int or seen < 0:
            raise InputError("seen must be a non-negative entry index")
        if not isinstance(entry, Entry) or not isinstance(entry.body, bytes) or not isinstance(entry.signature, bytes):
            raise InputError("the entry must be an Entry whose body and signature are bytes; nothing was written")
        try:
            content = entry.content
        except EncodingError as exc:
            raise InputError(f"the entry is not well formed ({exc}); nothing was written") from None
        if type(content) is not Event:
            raise InputError("only an event is sequenced by the server; nothing was written")
        if (head is None) != (content.prev is None) or (head is not None and (type(head) is not int or head < 0)):
            raise InputError("head must be the index of the event the entry's prev names (None for a first event)")
        if not isinstance(known, Mapping):
            raise InputError("known must map tree levels to (index, hash) pairs")
        slots = [_NO_NODE] * (max((lv for lv in known if type(lv) is int and 0 <= lv < 41), default=-1) + 1)
        for lv in range(len(slots)):
            node = known.get(lv)
            if node is None:
                continue
            if (type(node) is not tuple or len(node) != 2 or type(node[0]) is not int
                    or not 0 <= node[0] < _MAX_ENTRIES or type(node[1]) is not bytes or len(node[1]) != _HASH):
                raise InputError(f"known node of level {lv} is not an (index, 32-byte hash) pair")
            slots[lv] = node[0].to_bytes(8, "big") + node[1]
        args = (entry.body, entry.signature, content.item, content.prev, head, seen, b"".join(slots), self._lazy)
        row = self._sequence(entry, content, args)
        if row is None or row is _AGAIN:
            # _AGAIN: the connection was lost before anything was stored, and opened again. Not sent again as
            # it is: the state the event was checked against may have been taken back by a crash (rows that
            # were committed but not yet flushed when the writer read them), and an operator entry stored in
            # their place is below ``seen``, where the function does not look. The caller reads it again.
            return None
        done = self._sequenced(entry, row)
        if done.log_index < seen or (head is not None and done.log_index <= head):
            # Entries below the size the writer read are stored already, the head among them: a function that
            # answers so did not store this event there (it is not provchain's, or the rows were edited).
            raise DamagedLedgerError(
                f"the ledger's sequencing function placed the event at entry {done.log_index}, which was taken "
                f"before it was sent (the writer read {seen} entries); {_DAMAGED} (audit it)"
            )
        return done

    def _sequence(self, entry: Entry, content: Event, args: tuple[Any, ...]) -> Any:
        """One try of :meth:`sequence_event`: the function's row; None when the registry moved on (or the role
        may not run the function); :data:`_AGAIN` when the connection was lost before anything was stored (found
        out under the lock, on a new connection: the caller reads the state again)."""
        import psycopg

        conn = self._alive()
        session = self._session if self._session is not None and self._session[0] is conn.pgconn else None
        if session is None:  # this connection's server session, which the settling waits to see gone
            try:
                found = conn.execute(
                    "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                ).fetchone()
            except psycopg.Error as exc:
                raise _translate(exc, "cannot append the event") from None
            session = self._session = (conn.pgconn, found)
        try:
            # One simple-protocol message: the statements run in order, each of its own after the COMMIT (so the
            # flush is a transaction of its own); its values are hexadecimal digits and numbers, which no
            # setting of the session reads otherwise.
            cur = conn.execute(_sequence_sql(args, self._lazy))
            row = cur.fetchone() if cur.nextset() else None
        except psycopg.Error as exc:
            self._rollback("ROLLBACK")
            state = getattr(exc, "sqlstate", None)
            if state == _MOVED:
                return None
            if state == _NOT_HEAD:  # the writer's head is not (or no longer) stored there: read it again
                raise StaleHeadError(
                    "cannot append the event: the item's previous event is not where the writer read it; nothing "
                    "was written"
                ) from None
            if state == _NO_LOCK_ROW:
                raise DamagedLedgerError(
                    f"the ledger in {self.location} has lost the lock row of its log table, which keeps writers "
                    f"one at a time; {_DAMAGED} (audit it); nothing was written"
                ) from None
            if state in (_BAD_NODE, _OTHER_NODE):
                raise DamagedLedgerError(
                    f"cannot append: {_one_line(exc).split(' CONTEXT:')[0]}; {_DAMAGED} (audit it); nothing was "
                    "written"
                ) from None
            if state in ("42501", "42883") and _SEQUENCER in str(exc):
                self.sequences = False  # the role may not run it: appends take the writer section here instead
                return None
            if state in ("23505", "55P03"):  # the chain index (the item moved on), the lock not obtained in time
                raise _translate(exc, "cannot append the event") from None
            # Which statement failed is not known here: the COMMIT may have been carried out (the flush refused,
            # the answer lost with the connection). The outcome is found out from the rows, under the lock, once
            # the session that ran them has ended.
            settled = self._settle_event(entry, content.item, content.prev, exc, session[1])
            if settled is None and not (state is None and self._conn is not conn):
                raise StorageError(
                    f"{_translate(exc, 'the commit did not answer')}; the commit did not take place: nothing was "
                    "written"
                ) from None
            return _AGAIN if settled is None else settled  # lost before it was stored: connected again, send it
        return row

    def _sequenced(self, entry: Entry, row: Any) -> Sequenced:
        """The sequencing function's answer, checked: an index, and as many nodes as the entry's leaf completes
        there, each the leaf folded with the stored left siblings returned (None: found again after a lost
        answer, only the length of the nodes is checked)."""
        idx, nodes, siblings = row if row is not None and len(row) == 3 else (None, None, None)
        if type(idx) is not int or not 0 <= idx < _MAX_ENTRIES or type(nodes) is not bytes:
            raise DamagedLedgerError(
                f"the ledger's sequencing function gave no index for the event ({row!r:.80}); {_DAMAGED} (audit it)"
            )
        want = _HASH * _completed(idx)
        damaged = (
            f"the event was stored as entry {idx}, but the tree nodes the server computed for it do not match its "
            f"leaf; {_DAMAGED} (audit it)"
        )
        if len(nodes) != want or (siblings is not None and (type(siblings) is not bytes or len(siblings) != want)):
            raise DamagedLedgerError(damaged)
        if siblings is not None:
            h = entry.leaf_hash
            for k in range(0, want, _HASH):
                h = hashlib.sha256(b"\x01" + siblings[k : k + _HASH] + h).digest()
                if h != nodes[k : k + _HASH]:
                    raise DamagedLedgerError(damaged)
        return Sequenced(idx, nodes, siblings)

    def _wait_alive(self, unknown: str) -> psycopg.Connection[Any]:
        """The connection, opened again if it broke, waiting (within the busy bound) for a crashed server's
        recovery; :class:`StorageError` with ``unknown`` when it does not come back."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return self._alive()
            except StorageError as down:
                if time.monotonic() >= deadline:
                    raise StorageError(f"{unknown} (the server did not come back: {down})") from None
                time.sleep(0.2)

    def _settle_event(
        self, entry: Entry, item: str, prev: bytes | None, exc: Exception, session: Any
    ) -> tuple[int, bytes, None] | None:
        """The outcome of a sequenced event whose message did not answer. The server session that was sent it
        (``session``: its pid and start time) may still be running it, or not even have started it (its lock is
        taken inside the message): so first that session must be gone (within the busy bound), then the row the
        item's chain index holds on ``prev`` is read under the writer lock. Returns ``(index, nodes, None)``
        when it is this event (committed, and durable now: this read commits synchronously), None when nothing
        was stored; raises :class:`StorageError` saying the outcome is unknown when it cannot be told."""
        import psycopg

        cause = _translate(exc, "the commit did not answer")
        unknown = (
            f"cannot tell whether the event was stored ({cause}); look at the item's history before writing it again"
        )
        deadline = time.monotonic() + self._busy_timeout
        conn = self._wait_alive(unknown)
        where_prev = "e.prev IS NULL" if prev is None else "e.prev = %(prev)s"
        try:
            while session is not None and conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND backend_start = %s", tuple(session)
            ).fetchone():
                if conn is self._conn and conn.info.backend_pid == session[0]:
                    break  # the same session, alive: it ran the message to its end (the answer was refused)
                if time.monotonic() >= deadline:
                    raise StorageError(f"{unknown} (its server session did not end in time)")
                time.sleep(0.05)
            conn.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; {_LOCK}")
            rows = conn.execute(
                f"SELECT e.idx, e.body, e.nodes FROM ONLY {SCHEMA}.entries e WHERE e.item = %(item)s AND {where_prev}",
                {"item": item, "prev": prev},
                binary=True,
            ).fetchall()
            conn.execute("COMMIT")  # synchronous: every commit before it is on disk once it returns
        except psycopg.Error as again:
            self._rollback("ROLLBACK")
            raise StorageError(f"{unknown} (asking again failed: {_one_line(again)})") from None
        for idx, body, nodes in rows:
            if body == entry.body:
                if isinstance(exc, psycopg.errors.InsufficientPrivilege | psycopg.errors.UndefinedFunction):
                    self._lazy = False  # the flush is refused on this server: commit synchronously from now on
                return idx, nodes, None
        return None

    def _end(self) -> None:
        if self._size is not None:
            self._seen = self._size
        self._prefetched = self._pre_head = self._pre_rows = None
        self._first = self._last = None
        self._checkpoints = {}
        self._wrote = self._wrote_checkpoint = False
        self._depth = 0
        self._failed = None
        self._size = None
        self._queue, self._queue_heads = [], {}

    def add_entry(self, index: int, stored: StoredEntry) -> None:
        """Queue one entry row (sent by :meth:`_flush`). Outside a transaction it is one of its own."""
        if not self._depth:
            with self.transaction():
                self.add_entry(index, stored)
            return
        if self._failed is not None:
            raise StorageError(f"an earlier write in this transaction failed ({self._failed}); it will be rolled back")
        if self._readonly:
            raise StorageError("cannot write the entry: the ledger is opened read-only; nothing was written")
        e = stored.entry
        content = e.__dict__.get("content")  # the ledger hands over parsed entries; others are parsed here
        if content is None:
            try:
                content = e.content
            except EncodingError:
                content = None
        if type(content) is Event:
            item: str | None = content.item
            prev = content.prev
        else:
            item, prev = None, None
        self._queue.append((index, e.body, e.signature, item, prev, stored.nodes))
        if self._first is None:
            self._first = (index, e.body)
        self._last = (index, e.body)
        self._wrote = True
        if item is not None:
            self._queue_heads[item] = (len(self._queue) - 1, e.leaf_hash)
        if self._size is not None:
            self._size = max(self._size, index + 1)
        if len(self._queue) >= _QUEUE_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Send the queued rows: one INSERT, or one binary COPY. A failure dooms the transaction."""
        rows = self._queue
        if not rows:
            return
        self._queue, self._queue_heads = [], {}
        import psycopg

        try:
            conn = self._alive()
            if len(rows) == 1:
                conn.execute(_INSERT, rows[0], binary=True)
            else:
                with conn.cursor(binary=True) as cur:
                    # psycopg's dumper for the bytea oid is its DB-API ``Binary`` one, a Python method around
                    # the C dumper of bytes (four calls a row); this cursor dumps bytea with the C one itself.
                    from psycopg.types.string import BytesBinaryDumper

                    cur.adapters.register_dumper(None, BytesBinaryDumper)
                    with cur.copy(_COPY) as copy:
                        copy.set_types(_COPY_TYPES)
                        for row in rows:
                            copy.write_row(row)
        except psycopg.Error as exc:
            err = _translate(exc, "cannot write the entry")
            if self._depth:
                self._failed = err if isinstance(err, StorageError) else StorageError(str(err))
            raise err from None

    def add_checkpoint(self, size: int, note: bytes) -> None:
        """Insert a signed checkpoint, replacing one of the same size."""
        if self._readonly:
            raise StorageError("cannot write the checkpoint: the ledger is opened read-only")
        sql = (
            f"INSERT INTO {SCHEMA}.checkpoints (size, note) VALUES (%s, %s) "
            "ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note"
        )
        if not self._depth:
            with self.transaction():
                self.add_checkpoint(size, note)
            return
        self._flush()
        self._wrote_checkpoint = True
        self._checkpoints[size] = note
        import psycopg

        try:
            self._alive().execute(sql, (size, note), binary=True)
        except psycopg.Error as exc:
            err = _translate(exc, "cannot write the checkpoint")
            self._failed = err if isinstance(err, StorageError) else StorageError(str(err))
            raise err from None

    # --- the audit's view of the storage ----------------------------------------------------------

    def storage_problems(self, size: int) -> list[StorageProblem]:
        """What the database holds beside the signed entries that disagrees with them: schema objects
        provchain did not create, ``item``/``prev`` index values that differ from what the bodies name, a
        ``nodes`` value of another length than the nodes its entry completes, and a ``log`` table that is not
        the one lock row. The stored node hashes themselves are compared with the recomputed tree by the
        auditor. Read in one snapshot (the caller's, if it holds one)."""
        with self.snapshot():
            return self._storage_problems(size)

    def _storage_problems(self, size: int) -> list[StorageProblem]:
        out = [
            StorageProblem("schema", None, what, f"the ledger's PostgreSQL schema: {what}; it could change what is "
                           "read or written")
            for what in self.foreign_schema()
        ][:1000]  # fmt: skip
        index: list[StorageProblem] = []
        node: list[StorageProblem] = []
        locks = self._read(f"SELECT count(*) FROM ONLY {SCHEMA}.log")[0][0] if not any(
            "log" in p.found for p in out) else 1  # fmt: skip
        if locks != 1:
            index.append(StorageProblem("index", None, f"{locks} rows in the log table",
                                        f"the log table holds {locks} rows, not the one row writers lock"))
        rows = self._cursor_rows(f"SELECT idx, body, item, prev, nodes FROM ONLY {SCHEMA}.entries ORDER BY idx")
        with contextlib.closing(rows):  # a stop at 1,000 findings of each kind closes the cursor at once
            for idx, body, item, prev, nodes in rows:
                if len(index) >= 1000 and len(node) >= 1000:
                    break
                want_item, want_prev = _indexes_of(body)
                if (item, prev) != (want_item, want_prev) and len(index) < 1000:
                    if item != want_item:
                        found = "no item" if item is None else f"an item of {len(item)} characters"
                        msg = (f"the item index lists entry {idx} under {found}, not what its signed body "
                               f"names ({'no item' if want_item is None else 'another item'})")
                    else:
                        msg = f"the chain index of entry {idx} names another previous event than its body"
                    index.append(StorageProblem("index", idx, "index value differs from the body", msg))
                want = _HASH * _completed(idx) if type(idx) is int and idx < size else 0
                if (type(nodes) is not bytes or len(nodes) != want) and len(node) < 1000:
                    length = len(nodes) if type(nodes) is bytes else 0
                    node.append(StorageProblem(
                        "node", idx, f"{length} bytes of nodes",
                        f"entry {idx} stores {length} bytes of tree nodes where a ledger of {size} entries has "
                        f"{want}",
                    ))  # fmt: skip
        return out + index + node

    # --- closing --------------------------------------------------------------------------------

    def discard(self) -> None:
        """Drop the ledger this store created (its schema and everything in it) and close the store."""
        if not self._created:
            raise InputError("only a ledger this store object created can be discarded")
        self._end()
        self._rollback("ROLLBACK")
        self._exec(f"DROP SCHEMA {SCHEMA} CASCADE", "cannot remove the unfinished ledger")
        self.close()

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        import psycopg

        self._closed = True
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
