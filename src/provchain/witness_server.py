"""A witness: cosigns checkpoints of the logs it follows (C2SP tlog-witness v1.0.0, ``add-checkpoint``).

The protocol, in three layers:

* :func:`parse_add_checkpoint` / :func:`format_add_checkpoint`: the request body, parsed strictly (an
  ``old N`` line, at most 63 base64 lines of exactly 32 bytes, an empty line, a signed checkpoint note).
* :class:`Witness`: the decision. :meth:`Witness.add_checkpoint` takes a request body and returns the
  :class:`Reply` the spec prescribes: ``404`` unknown origin, ``403`` no valid signature by a trusted key,
  ``400`` malformed or ``old`` above the size, ``409`` with ``Content-Type: text/x.tlog.size`` and the
  witness's size when ``old`` is not that size, ``409`` for an equal size with another root, ``422`` for a
  consistency proof that fails, ``200`` with the cosignature line. The check and the update of the stored
  checkpoint are one ``BEGIN IMMEDIATE`` transaction on a SQLite file with ``synchronous=FULL``
  (:class:`WitnessState`), committed before the reply is written: the witness never cosigns two
  inconsistent checkpoints of one log, across concurrent requests, several processes, restarts and
  ``kill -9``.
* :func:`serve`: the HTTP server (stdlib :class:`~http.server.ThreadingHTTPServer`, see
  :class:`WitnessHTTPServer` for the limits that make it safe to expose).

>>> import tempfile, os
>>> from provchain.keys import KeyPair
>>> from provchain.checkpoint import Checkpoint, sign_checkpoint
>>> from provchain.witness import WitnessKey
>>> d = tempfile.mkdtemp()
>>> log = KeyPair.from_seed("example.com/log", bytes(32))
>>> key = WitnessKey(KeyPair.from_seed("witness.example/w1", bytes([1]) * 32))
>>> w = Witness(key, WitnessState.open(os.path.join(d, "state.db"), key.vkey), [log.vkey], clock=lambda: 1700000000)
>>> note = sign_checkpoint(Checkpoint("example.com/log", 3, bytes(32)), log)
>>> w.add_checkpoint(format_add_checkpoint(0, [], note)).status
200
>>> r = w.add_checkpoint(format_add_checkpoint(0, [], note))
>>> r.status, r.content_type, r.body
(409, 'text/x.tlog.size', b'3\\n')
>>> w.state.close()
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import socketserver
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

from . import merkle
from ._internal.text import escape
from ._internal.validate import canonical_b64decode
from .checkpoint import SIZE_MAX, Checkpoint
from .equivocation import check_evidence, compare, evidence_operator
from .errors import (
    ConsistencyError,
    FormatError,
    InputError,
    KeyFormatError,
    ProvchainError,
    VerificationError,
    WitnessRequestError,
    WitnessStateError,
)
from .note import Ed25519Verifier, VerifierList, new_verifier
from .note import open as open_note
from .witness import WitnessKey, split_note

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "MAX_EVIDENCE",
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Reply",
    "Witness",
    "WitnessHTTPServer",
    "WitnessState",
    "format_add_checkpoint",
    "parse_add_checkpoint",
    "parse_listen",
    "serve",
]

ADD_CHECKPOINT_PATH = "/add-checkpoint"
"""The path of the ``add-checkpoint`` call under the witness's submission prefix."""

MAX_PROOF_LINES = 63
"""The most consistency proof lines a request may carry (tlog-witness)."""

MAX_REQUEST_BYTES = 65536 + 64 * 46
"""The largest request body accepted: a signed note of the largest size provchain reads, plus the old-size
line and 63 proof lines. A larger declared ``Content-Length`` is answered ``413`` without being read."""

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""The content type of a ``409 Conflict`` reply that names the witness's latest cosigned size."""

_TEXT = "text/plain; charset=utf-8"
_OLD_LINE = re.compile(rb"old (0|[1-9][0-9]{0,19})\n")


# --- the request body -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` request body."""

    old: int
    """The size of the checkpoint the client believes the witness cosigned last (0 if none)."""
    proof: tuple[bytes, ...]
    """The RFC 6962 consistency proof from ``old`` to the checkpoint's size."""
    note: bytes
    """The signed checkpoint note."""


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` request body strictly; raise :class:`WitnessRequestError` naming the fault.

    The note's form (text, signature lines) and its checkpoint text are checked here; its signatures are
    checked by :class:`Witness` against the keys it trusts.
    """
    if not isinstance(body, bytes):
        raise WitnessRequestError("a request body is bytes")
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessRequestError(f"a request body is at most {MAX_REQUEST_BYTES} bytes, not {len(body)}")
    m = _OLD_LINE.match(body)
    if m is None:
        raise WitnessRequestError("the body must start with the line 'old N' (N a decimal without leading zeros)")
    old = int(m.group(1))
    if old > SIZE_MAX:
        raise WitnessRequestError(f"the old size is at most {SIZE_MAX}")
    pos = m.end()
    proof: list[bytes] = []
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise WitnessRequestError("the proof lines must be followed by an empty line and the checkpoint")
        line = body[pos:end]
        pos = end + 1
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise WitnessRequestError(f"a request carries at most {MAX_PROOF_LINES} consistency proof lines")
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise WitnessRequestError(f"consistency proof line {len(proof) + 1} is not base64") from None
        proof.append(
            canonical_b64decode(
                text,
                f"consistency proof line {len(proof) + 1}",
                WitnessRequestError,
                length=32,
                message=f"consistency proof line {len(proof) + 1} is not canonical base64 of exactly 32 bytes",
            )
        )
    note = body[pos:]
    try:
        text_part, _ = split_note(note)
        Checkpoint.parse(text_part)
    except FormatError as exc:
        raise WitnessRequestError(f"the checkpoint is malformed: {exc}") from None
    return AddCheckpointRequest(old, tuple(proof), note)


def format_add_checkpoint(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The ``add-checkpoint`` request body for ``note`` with the consistency proof from ``old``.

    :func:`parse_add_checkpoint` of the result gives back the same values.
    """
    if isinstance(old, bool) or not isinstance(old, int) or not 0 <= old <= SIZE_MAX:
        raise InputError(f"the old size is an integer from 0 to {SIZE_MAX}")
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence) or len(proof) > MAX_PROOF_LINES:
        raise InputError(f"a consistency proof is a list of at most {MAX_PROOF_LINES} 32-byte hashes")
    if any(not isinstance(h, bytes) or len(h) != 32 for h in proof):
        raise InputError("every consistency proof hash is 32 bytes")
    if not isinstance(note, bytes):
        raise InputError("a checkpoint note is bytes")
    lines = b"".join(base64.b64encode(h) + b"\n" for h in proof)
    body = b"old %d\n" % old + lines + b"\n" + note
    parse_add_checkpoint(body)  # what we send is what a witness will accept as well formed
    return body


# --- durable state --------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    n INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    found INTEGER NOT NULL,
    evidence BLOB NOT NULL UNIQUE
);
"""
MAX_EVIDENCE = 16
"""The most pieces of equivocation evidence a witness keeps per log: the first ones found (one is enough to
prove the operator signed two histories; the cap keeps a hostile operator from filling the disk)."""

_STATE_FORMAT = "provchain-witness-state/1"


class WitnessState:
    """The latest checkpoint a witness cosigned, per log origin, in a SQLite file.

    WAL journal, ``synchronous=FULL`` (every commit is on disk before it returns), ``BEGIN IMMEDIATE``
    for each check-and-update (:meth:`transaction`). Several threads share one object (a lock serializes
    them) and several processes may share one file (SQLite's lock serializes them). The file records the
    witness key it belongs to; opening it for another key raises :class:`WitnessStateError`.
    """

    __slots__ = ("_conn", "_lock", "path")

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str], witness_vkey: str) -> WitnessState:
        """Open (creating it if absent) the state file at ``path`` for the witness key ``witness_vkey``."""
        if not isinstance(path, str | os.PathLike):
            raise InputError("the state file path must be a path")
        p = os.fspath(path)
        if not isinstance(witness_vkey, str):
            raise InputError("the witness verifier key must be a string")
        if Path(p).is_dir():
            raise WitnessStateError(f"the witness state {p} is a directory")
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as exc:
            raise WitnessStateError(f"cannot open the witness state {p}: {exc}") from None
        state = cls(conn, p)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            with state.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if not meta:
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("format", _STATE_FORMAT), ("witness", witness_vkey)],
                    )
                elif meta.get("format") != _STATE_FORMAT:
                    raise WitnessStateError(f"{p} is not a provchain witness state file")
                elif meta.get("witness") != witness_vkey:
                    raise WitnessStateError(
                        f"the witness state {p} belongs to witness key {escape(str(meta.get('witness')))}, "
                        f"not {witness_vkey}"
                    )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise WitnessStateError(f"cannot use the witness state {p}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return state

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction, committed (durably) when the block ends without error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise WitnessStateError(f"cannot lock the witness state {self.path}: {exc}") from None
            try:
                yield
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise WitnessStateError(f"cannot use the witness state {self.path}: {exc}") from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise WitnessStateError(f"cannot write the witness state {self.path}: {exc}") from None

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The size and root of the latest checkpoint cosigned for ``origin``, or None."""
        with self._lock:
            row = self._conn.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            return None
        size, root = row
        if type(size) is not int or not 0 <= size <= SIZE_MAX or type(root) is not bytes or len(root) != 32:
            raise WitnessStateError(f"the witness state {self.path} holds a damaged row for {escape(origin)}")
        return size, root

    def record(self, origin: str, size: int, root: bytes, note: bytes, at: int) -> None:
        """Store ``note`` as the latest cosigned checkpoint of ``origin`` (call inside :meth:`transaction`)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO logs (origin, size, root, note, updated) VALUES (?, ?, ?, ?, ?)",
                (origin, size, root, note, at),
            )

    def logs(self) -> list[tuple[str, int, bytes, int]]:
        """Every log this witness cosigned: ``(origin, size, root, time of the last cosignature)``."""
        with self._lock:
            rows = self._conn.execute("SELECT origin, size, root, updated FROM logs ORDER BY origin").fetchall()
        return [(str(o), int(s), bytes(r), int(u)) for o, s, r, u in rows]

    def note(self, origin: str) -> bytes | None:
        """The latest checkpoint note cosigned for ``origin`` (as the log sent it), or None."""
        with self._lock:
            row = self._conn.execute("SELECT note FROM logs WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else bytes(row[0])

    def keep_evidence(self, origin: str, evidence: bytes, at: int) -> bool:
        """Keep a piece of equivocation evidence about ``origin`` (call inside :meth:`transaction`); True when
        it is new and there was room for it (at most :data:`MAX_EVIDENCE` per log)."""
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM evidence WHERE origin = ?", (origin,)).fetchone()
            if count >= MAX_EVIDENCE:
                return False
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO evidence (origin, found, evidence) VALUES (?, ?, ?)",
                (origin, at, evidence),
            )
            return cur.rowcount == 1

    def evidence(self) -> list[tuple[int, str, int, str, bytes]]:
        """The equivocation evidence kept: ``(number, origin, time found, statement, evidence text)``, in the
        order found. Each text is self-contained: ``provchain compare FILE --operator KEY`` checks it. The
        statement is what the text proves, checked anew from its signed notes (a damaged state file shows as
        "not valid evidence"), never a stored copy."""
        with self._lock:
            rows = self._conn.execute("SELECT n, origin, found, evidence FROM evidence ORDER BY n").fetchall()
        return [(int(n), str(o), int(f), _proves(bytes(e)), bytes(e)) for n, o, f, e in rows]

    def evidence_counts(self) -> dict[str, int]:
        """How many pieces of evidence are kept per log origin."""
        with self._lock:
            rows = self._conn.execute("SELECT origin, COUNT(*) FROM evidence GROUP BY origin").fetchall()
        return {str(o): int(c) for o, c in rows}


def _proves(evidence: bytes) -> str:
    """What an evidence text proves, checked against the operator key it names (its notes' signatures, and the
    proof when the sizes differ)."""
    try:
        return check_evidence(evidence, evidence_operator(evidence))
    except ProvchainError as exc:
        return f"not valid evidence: {exc}"


# --- the decision ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP reply: status, content type and body."""

    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str) -> Reply:
    return Reply(status, _TEXT, message.encode("utf-8") + b"\n")


class Witness:
    """The ``add-checkpoint`` logic of one witness key over one :class:`WitnessState`.

    ``logs`` are the C2SP verifier keys (``name+hex8+base64(0x01||pub)``) of the logs it follows; a key's
    name is the origin of the log's checkpoints (several keys may share one origin). ``clock`` gives the
    cosignature time in POSIX seconds.
    """

    def __init__(
        self,
        key: WitnessKey,
        state: WitnessState,
        logs: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key, WitnessKey):
            raise InputError("key must be a WitnessKey")
        if not isinstance(state, WitnessState):
            raise InputError("state must be a WitnessState")
        if isinstance(logs, str) or not isinstance(logs, Sequence) or not logs:
            raise InputError("a witness follows at least one log: give a list of log verifier keys")
        self.key = key
        self.state = state
        self._clock = clock
        self._logs: dict[str, list[Ed25519Verifier]] = {}
        self._vkeys: dict[str, list[str]] = {}
        for vkey in logs:
            try:
                v = new_verifier(vkey)
            except KeyFormatError as exc:
                raise KeyFormatError(f"log key {vkey!r}: {exc}") from None
            if v not in self._logs.setdefault(v.name, []):
                self._logs[v.name].append(v)
                self._vkeys.setdefault(v.name, []).append(vkey)

    @property
    def origins(self) -> list[str]:
        """The origins of the logs this witness follows."""
        return sorted(self._logs)

    def add_checkpoint(self, body: bytes) -> Reply:
        """Handle one ``add-checkpoint`` request body; return the reply the spec prescribes.

        (1) parse; (2) the origin must be known (404); (3) a trusted key's signature must verify (403);
        (4) ``old`` may not exceed the size (400); then, atomically and durably: (5) ``old`` must be the
        size last cosigned (409, naming it); (6) an equal size must have the same root (409), a larger one
        a consistency proof that verifies (422); (7) record the checkpoint, commit, and only then cosign.
        """
        # (1) the body
        try:
            req = parse_add_checkpoint(body)
            text, _ = split_note(req.note)
            cp = Checkpoint.parse(text)
        except FormatError as exc:
            return _text(400, str(exc))
        # (2) the origin
        verifiers = self._logs.get(cp.origin)
        if verifiers is None:
            return _text(404, f"unknown log origin {escape(cp.origin[:200])}")
        # (3) the log's signature
        try:
            open_note(req.note, VerifierList(verifiers))
        except VerificationError as exc:
            return _text(403, f"the checkpoint carries no valid signature by a trusted key of its log: {exc}")
        except FormatError as exc:
            return _text(400, str(exc))
        # (4) sizes
        if req.old > cp.size:
            return _text(400, f"the old size {req.old} is larger than the checkpoint size {cp.size}")
        now = max(0, int(self._clock()))
        with self.state.transaction():
            # (5) what this witness cosigned last
            latest = self.state.latest(cp.origin)
            size, root = latest if latest is not None else (0, None)
            if req.old != size:
                return Reply(409, SIZE_CONTENT_TYPE, b"%d\n" % size)
            # (6) consistency
            if req.old == cp.size and root is not None and cp.root != root:
                kept = self._keep_evidence(cp.origin, req, now)
                return _text(409, f"a checkpoint of size {cp.size} with another root was cosigned before{kept}")
            try:
                if root is None or req.old == 0:
                    if req.proof:
                        raise ConsistencyError("the consistency proof from size 0 must be empty")
                    if cp.size == 0 and cp.root != merkle.EMPTY_ROOT:
                        raise ConsistencyError("the root of the empty tree must be SHA-256 of the empty string")
                else:
                    merkle.verify_consistency(req.old, cp.size, list(req.proof), root, cp.root)
            except ConsistencyError as exc:
                kept = self._keep_evidence(cp.origin, req, now)
                return _text(422, f"the consistency proof does not verify: {exc}{kept}")
            # (7) record durably, then cosign
            self.state.record(cp.origin, cp.size, cp.root, req.note, now)
        cosig = self.key.cosign(text, now)
        return Reply(200, _TEXT, cosig.line().encode("utf-8"))


    def _keep_evidence(self, origin: str, req: AddCheckpointRequest, now: int) -> str:
        """When the refused checkpoint and the one cosigned last prove that the operator signed two histories
        (equal sizes with two roots, or a proof that leads to the new root from another old root), keep the
        evidence (inside the caller's transaction) and say so in the reply. A proof that leads nowhere proves
        nothing, and nothing is kept."""
        stored = self.state.note(origin)
        if stored is None:
            return ""
        for vkey in self._vkeys[origin]:
            try:
                result = compare(stored, req.note, vkey, proof=list(req.proof))
            except ProvchainError:
                continue  # signed by another of the origin's keys, or a proof that proves nothing
            if result.consistent or result.evidence is None:
                return ""
            self.state.keep_evidence(origin, result.evidence, now)
            return "; the witness keeps the evidence that the log signed both"
        return ""


# --- HTTP -----------------------------------------------------------------------------------------


class _RequestTooLarge(Exception):
    """A request line or header block went over its budget."""


class _DeadlineReader:
    """Wraps a connection's read file: counts the bytes of the request head against a budget and lets
    the server's watchdog close the connection when the request's deadline passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.head_budget = 0

    def readline(self, limit: int = -1) -> bytes:
        cap = self.head_budget + 1 if limit < 0 else min(limit, self.head_budget + 1)
        line = self._raw.readline(cap)
        self.head_budget -= len(line)
        if self.head_budget < 0:
            raise _RequestTooLarge
        return line

    def read(self, n: int = -1) -> bytes:
        return self._raw.read(n)

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "provchain-witness"
    sys_version = ""
    server: WitnessHTTPServer

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.rfile)  # type: ignore[arg-type]
        self.rfile = self._reader  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        """Read one request within the server's deadline and head budget, answer it."""
        self.close_connection = True
        self.request_version, self.command, self.requestline = "HTTP/1.1", "", ""
        self._reader.head_budget = self.server.max_head_bytes
        self.server.watch(self.connection)
        try:
            try:
                self.raw_requestline = self.rfile.readline(self.server.max_head_bytes + 1)
            except _RequestTooLarge:
                self._reply(_text(414, "the request line is too long"))
                return
            if not self.raw_requestline:
                return
            try:
                if not self.parse_request():  # answers malformed requests itself
                    return
            except _RequestTooLarge:
                self._reply(_text(431, "the request headers are too large"))
                return
            self.close_connection = self.close_connection or self.server.closing
            if self.path != ADD_CHECKPOINT_PATH:
                self._reply(_text(404, "not found: this witness serves POST /add-checkpoint only"))
            elif self.command != "POST":
                self._reply(_text(405, "method not allowed: use POST"), allow=True)
            else:
                body = self._read_body()
                if body is None:
                    return
                self.server.unwatch(self.connection)
                try:
                    reply = self.server.witness.add_checkpoint(body)
                except ProvchainError as exc:  # the state file failed: nothing was cosigned
                    self.server.log(f"error: {exc}")
                    reply = _text(500, "the witness cannot use its state; nothing was cosigned")
                self.server.log_reply(self.client_address, reply.status, body)
                self._reply(reply)
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True
        finally:
            self.server.unwatch(self.connection)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding") is not None:
            self._reply(_text(411, "send the body with a Content-Length (no transfer encoding)"))
            return None
        length = self.headers.get("Content-Length")
        if length is None:
            self._reply(_text(411, "a Content-Length is required"))
            return None
        if not re.fullmatch(r"[0-9]{1,10}", length):
            self._reply(_text(400, "the Content-Length is not a decimal number"))
            return None
        n = int(length)
        if n > self.server.max_body_bytes:
            self.close_connection = True
            self._reply(_text(413, f"the request body is at most {self.server.max_body_bytes} bytes"))
            return None
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            return None
        return body

    def _reply(self, reply: Reply, *, allow: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if allow:
            self.send_header("Allow", "POST")
        if self.close_connection or (reply.status >= 400 and reply.status not in (403, 404, 405, 409, 422)):
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if self.close_connection and reply.status >= 400:
            self._linger()

    def _linger(self) -> None:
        """Before closing after an error, read (and drop) what the client is still sending, briefly: closing
        a socket with unread data resets the connection, and the client could lose the reply."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            drained = 0
            while drained < self.server.max_body_bytes and (chunk := self.connection.recv(16384)):
                drained += len(chunk)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Replies to requests the stdlib parser refuses (bad request line, bad version, bad headers)."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # answer with a status line and headers, even to a one-word request
        self._reply(_text(code, "the request is malformed" if code == 400 else "the request cannot be served"))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # replies to add-checkpoint are logged by log_reply; the rest is noise


class WitnessHTTPServer(ThreadingHTTPServer):
    """The witness's HTTP server: one thread per connection, bounded and timed.

    Why the stdlib server: the protocol is one POST with a small body, and a thread per connection with a
    hard deadline is enough to keep one slow client from holding up others; it adds no dependency. The
    limits: at most ``max_connections`` open connections (more are answered ``503`` and closed at once),
    each request (its line, headers and body, and the idle wait before it on a kept-alive connection)
    must arrive within ``timeout`` seconds or the connection is shut down by a watchdog thread, the
    request head is at most ``max_head_bytes`` (``414``/``431``) and the body at most
    ``max_body_bytes`` (``413``). It binds only the address given.
    """

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        witness: Witness,
        *,
        timeout: float = 10.0,
        max_connections: int = 64,
        max_head_bytes: int = 8192,
        max_body_bytes: int = MAX_REQUEST_BYTES,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not isinstance(witness, Witness):
            raise InputError("witness must be a Witness")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
            raise InputError("the timeout is a number of seconds from 0 to 3600")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or not max_connections >= 1:
            raise InputError("max_connections is a positive integer")
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.witness = witness
        self.request_timeout = float(timeout)
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        self.max_body_bytes = max_body_bytes
        self.closing = False
        self._log = log
        self._active = 0
        self._deadlines: dict[socket.socket, float] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        super().__init__(address, _Handler)
        self._watchdog = threading.Thread(target=self._watch_loop, name="witness-watchdog", daemon=True)
        self._watchdog.start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (DNS); a witness needs no name.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    # --- connection accounting ---

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            full = self._active >= self.max_connections
            if not full:
                self._active += 1
        if full:
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                body = b"too many connections; try again\n"
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._guard:
                self._active -= 1

    # --- deadlines ---

    def watch(self, conn: socket.socket) -> None:
        """Give ``conn`` until now + timeout to deliver its next request."""
        conn.settimeout(self.request_timeout)
        with self._guard:
            self._deadlines[conn] = time.monotonic() + self.request_timeout

    def unwatch(self, conn: socket.socket) -> None:
        """The request on ``conn`` has arrived (or the connection is done)."""
        with self._guard:
            self._deadlines.pop(conn, None)

    def _watch_loop(self) -> None:
        while not self._stop.wait(0.25):
            now = time.monotonic()
            with self._guard:
                late = [c for c, d in self._deadlines.items() if d <= now]
                for c in late:
                    del self._deadlines[c]
            for c in late:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._stop.set()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A handler failed (a bug): one line in the log instead of a traceback; the connection is closed."""
        exc = sys.exc_info()[1]
        self.log(f"error: internal error while serving {client_address[0]}: {type(exc).__name__}: {exc}")

    # --- logging ---

    def log(self, line: str) -> None:
        """Write one line to the log (stderr by default)."""
        if self._log is not None:
            self._log(line)

    def log_reply(self, client: Any, status: int, body: bytes) -> None:
        """Log one add-checkpoint reply: client, origin and size (escaped), status."""
        what = ""
        with contextlib.suppress(FormatError):
            text, _ = split_note(parse_add_checkpoint(body).note)
            cp = Checkpoint.parse(text)
            what = f" {escape(cp.origin[:100])} size {cp.size}"
        self.log(f"{client[0]} add-checkpoint{what}: {status}")


def parse_listen(listen: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6) into a host and a port (0 picks a free port)."""
    if not isinstance(listen, str):
        raise InputError("the listen address is HOST:PORT")
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        raise InputError(f"the listen address is HOST:PORT (such as 127.0.0.1:8080), not {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise InputError(f"the listen address names no host: {listen!r}")
    return host, int(port)


def serve(
    witness: Witness,
    listen: str,
    *,
    timeout: float = 10.0,
    max_connections: int = 64,
    ready: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve ``POST /add-checkpoint`` on ``listen`` (``HOST:PORT``) until interrupted.

    ``ready`` is called with the URL the server listens on (the real port when ``listen`` asked for 0).
    """
    host, port = parse_listen(listen)
    if log is None:

        def log(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

    try:
        server = WitnessHTTPServer(
            (host, port), witness, timeout=timeout, max_connections=max_connections, log=log
        )
    except OSError as exc:
        raise InputError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    try:
        bound_host, bound_port = str(server.server_name), int(server.server_port)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        if ready is not None:
            ready(f"http://{shown}:{bound_port}")
        server.serve_forever(poll_interval=0.25)
    finally:
        server.closing = True
        server.server_close()
