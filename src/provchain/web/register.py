"""The scan register: how often, when and where the codes of an item were scanned, and whether it was claimed.

An offline check proves that a code is genuine, not that it is the only copy: a genuine code photocopied onto
a fake verifies too. The register is the online answer. Each verified scan is recorded with its time and,
when known, a coarse country (ISO 3166-1 alpha-2), and never anything else about the scanner (no IP
address, no device). The buyer's **claim** at delivery (or the seller's decommissioning at sale) marks the
item as sold: the first claim wins, and any scan after it is a warning.

The register is kept in its own SQLite file beside the ledger (``LEDGER.register.db``), outside the signed
log: scans are evidence about copies, not about the item's journey, nobody signs them, and they are kept,
pruned and deleted on their own terms (docs/howto/run-the-service.md, *Why the register is a separate file*).
The file is bound to one ledger (its origin and operator key) and refuses to open for another.

A :class:`ScanRegister` object belongs to the thread that opened it (one SQLite connection); open one per
thread. Writes are serialized by SQLite (``BEGIN IMMEDIATE``), so concurrent scans count exactly and of
two concurrent claims exactly one wins.

>>> import os, tempfile
>>> from provchain import KeyPair
>>> op = KeyPair.from_seed("example.com/acme-ledger", bytes(32))
>>> reg = ScanRegister.open(os.path.join(tempfile.mkdtemp(), "l.register.db"), origin=op.name, operator=op.vkey)
>>> reg.record_scan("SERUM-1", "FR", at=1_000).scans
1
>>> reg.claim("SERUM-1", "order-4711", at=2_000).won
True
>>> later = reg.record_scan("SERUM-1", "CN", at=3_000)
>>> later.scans, later.claimed_at, [w.code for w in later.warnings]
(2, 2000, ['scanned_after_claim'])
>>> reg.close()
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._internal.validate import check_int, check_path, check_time
from ..entries import check_country, check_item, ms_to_iso
from ..errors import ForeignLedgerError, InputError, LedgerBusyError, LedgerNotFoundError, StorageError
from ..keys import parse_vkey

__all__ = [
    "MAX_CLAIMANT",
    "REGISTER_SUFFIX",
    "ClaimResult",
    "ItemScans",
    "ScanRecord",
    "ScanRegister",
    "ScanWarning",
    "WarningRules",
    "register_path",
]

REGISTER_SUFFIX = ".register.db"
"""The register of ledger ``L`` is the file ``L`` + this suffix."""

MAX_CLAIMANT = 256
"""The longest claimant text (an opaque order or customer reference), in characters."""

_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS register_meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS register_items (
    item TEXT PRIMARY KEY,
    scans INTEGER NOT NULL,
    first_at INTEGER,
    last_at INTEGER,
    claimed_at INTEGER,
    claimant BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS register_scans (
    id INTEGER PRIMARY KEY,
    item TEXT NOT NULL,
    at INTEGER NOT NULL,
    country TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS register_scans_item_at ON register_scans (item, at);
"""


def register_path(ledger_path: str | os.PathLike[str]) -> str:
    """The register file of the ledger at ``ledger_path``: the same name plus :data:`REGISTER_SUFFIX`."""
    return os.fspath(check_path(ledger_path, "the ledger", InputError)) + REGISTER_SUFFIX


@dataclass(frozen=True)
class WarningRules:
    """When a scan is worth a warning. Times are in milliseconds.

    ``countries``: scans from at least this many countries within ``window_ms`` (a code copied and
    scanned far apart; a parcel rarely crosses three borders in a day). ``scans``: at least this many
    scans within ``window_ms`` (a code printed on many fakes).
    """

    window_ms: int = 24 * 3600 * 1000
    countries: int = 3
    scans: int = 20

    def __post_init__(self) -> None:
        check_int(self.window_ms, "window_ms", InputError, 1, 10 * 365 * 24 * 3600 * 1000)
        check_int(self.countries, "countries", InputError, 2, 300)
        check_int(self.scans, "scans", InputError, 2, 10**9)


@dataclass(frozen=True)
class ScanWarning:
    """A reason to doubt a scan: a stable ``code`` and a sentence for people."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ItemScans:
    """What the register knows of one item: verified scans, first and last, and the claim."""

    item: str
    scans: int
    first_at: int | None
    last_at: int | None
    claimed_at: int | None
    warnings: tuple[ScanWarning, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; times as ISO 8601 UTC text (``None`` when there is none)."""
        return {
            "item": self.item,
            "scans": self.scans,
            "first_scan": None if self.first_at is None else ms_to_iso(self.first_at),
            "last_scan": None if self.last_at is None else ms_to_iso(self.last_at),
            "claimed": self.claimed_at is not None,
            "claimed_at": None if self.claimed_at is None else ms_to_iso(self.claimed_at),
            "warnings": [w.to_json() for w in self.warnings],
        }


@dataclass(frozen=True)
class ScanRecord:
    """One recorded scan: its time and country (None when unknown). Nothing else is kept."""

    at: int
    country: str | None


@dataclass(frozen=True)
class ClaimResult:
    """The answer to a claim. ``won``: this claim is the item's first. ``same_claimant``: the item was
    already claimed by the same claimant (a retried request). ``claimed_at``: the time of the winning claim."""

    item: str
    won: bool
    same_claimant: bool
    claimed_at: int


def _check_claimant(claimant: object) -> str:
    if not isinstance(claimant, str) or not claimant or len(claimant) > MAX_CLAIMANT:
        raise InputError(f"a claimant is a text of 1 to {MAX_CLAIMANT} characters (an order or customer reference)")
    try:
        claimant.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("a claimant must be valid Unicode text (it holds a lone surrogate)") from None
    return claimant


class ScanRegister:
    """The scan register of one ledger (see the module's documentation). Open it with :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, origin: str, key: bytes, rules: WarningRules,
                 clock: Callable[[], int]) -> None:
        self._conn = conn
        self._origin = origin
        self._key = key
        self._rules = rules
        self._clock = clock

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        origin: str,
        operator: str,
        create: bool = True,
        rules: WarningRules | None = None,
        clock: Callable[[], int] | None = None,
        busy_timeout: float = 10.0,
    ) -> ScanRegister:
        """Open the register file at ``path`` for the ledger named ``origin`` whose operator's verifier key is
        ``operator`` (:attr:`provchain.Ledger.operator_vkey`); the file is created if missing and ``create``.

        Raises :class:`~provchain.errors.LedgerNotFoundError` when it is missing and ``create`` is false,
        :class:`~provchain.errors.ForeignLedgerError` when the file is another ledger's register or not a
        register, :class:`~provchain.errors.InputError` for a bad argument.
        """
        from ..ledger import now_ms

        name = os.fspath(check_path(path, "the register", InputError))
        if not isinstance(origin, str) or not origin:
            raise InputError("origin must be the ledger's origin (non-empty text)")
        parse_vkey(operator)  # KeyFormatError when it is no verifier key
        if rules is not None and not isinstance(rules, WarningRules):
            raise InputError("rules must be a WarningRules")
        if not create and not os.path.exists(name):
            raise LedgerNotFoundError(f"no scan register at {name}")
        try:
            conn = sqlite3.connect(name, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the scan register {name}: {exc}") from None
        try:
            key = cls._prepare(conn, name, origin, operator)
        except BaseException:
            conn.close()
            raise
        return cls(conn, origin, key, rules or WarningRules(), clock or now_ms)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, name: str, origin: str, operator: str) -> bytes:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a claim, once answered, survives a power cut
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and "register_meta" not in tables:
                    raise ForeignLedgerError(f"{name} is not a provchain scan register (it holds other tables)")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                meta = dict(conn.execute("SELECT key, value FROM register_meta").fetchall())
                if not meta:
                    meta = {"format": _FORMAT, "origin": origin, "operator": operator,
                            "claimant_key": secrets.token_bytes(32)}
                    conn.executemany("INSERT INTO register_meta VALUES (?, ?)", list(meta.items()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise _storage_error(exc, name) from None
        if meta.get("format") != _FORMAT:
            raise ForeignLedgerError(f"{name} is a scan register of format {meta.get('format')!r}, not {_FORMAT}")
        if meta.get("origin") != origin or meta.get("operator") != operator:
            raise ForeignLedgerError(
                f"{name} is the scan register of ledger {meta.get('origin')!r} (operator key "
                f"{meta.get('operator')}), not of {origin!r} (operator key {operator})"
            )
        key = meta.get("claimant_key")
        if not isinstance(key, bytes) or len(key) != 32:
            raise ForeignLedgerError(f"{name} is damaged: its claimant key is missing")
        return key

    def close(self) -> None:
        """Close the register's connection."""
        self._conn.close()

    def __enter__(self) -> ScanRegister:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def origin(self) -> str:
        """The origin of the ledger this register belongs to."""
        return self._origin

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _storage_error(exc, "the scan register") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _storage_error(exc, "the scan register") from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _time(self, at: int | None) -> int:
        return self._clock() if at is None else check_time(at, "at", InputError)

    def record_scan(self, item: str, country: str | None = None, *, at: int | None = None) -> ItemScans:
        """Record one verified scan of ``item`` (from ``country``, if known) and return the item's counts
        with this scan included, and the warnings it raises.

        Only call it for a code that verified: the register trusts its caller on that. ``at`` is the scan
        time in ms (default: the clock).
        """
        item = check_item(item)
        if country is not None:
            check_country(country)
        when = self._time(at)
        rules = self._rules
        with self._write() as conn:
            conn.execute("INSERT INTO register_scans (item, at, country) VALUES (?, ?, ?)", (item, when, country))
            conn.execute(
                "INSERT INTO register_items (item, scans, first_at, last_at) VALUES (?, 1, ?, ?) "
                "ON CONFLICT (item) DO UPDATE SET scans = scans + 1, first_at = COALESCE(first_at, excluded.first_at), "
                "last_at = MAX(COALESCE(last_at, excluded.last_at), excluded.last_at)",
                (item, when, when),
            )
            scans, first_at, last_at, claimed_at = conn.execute(
                "SELECT scans, first_at, last_at, claimed_at FROM register_items WHERE item = ?", (item,)
            ).fetchone()
            since = when - rules.window_ms
            recent, countries = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT country) FROM register_scans WHERE item = ? AND at > ? AND at <= ?",
                (item, since, when),
            ).fetchone()
        warnings = []
        hours = rules.window_ms / 3_600_000
        span = f"{hours:g} hours" if hours != 1 else "1 hour"
        if claimed_at is not None and claimed_at <= when:
            warnings.append(ScanWarning(
                "scanned_after_claim",
                f"this item was claimed on {ms_to_iso(claimed_at)}; a code scanned after that may be a copy",
            ))
        if countries >= rules.countries:
            warnings.append(ScanWarning(
                "many_countries",
                f"this item's codes were scanned in {countries} countries within {span}; a copied code is likely",
            ))
        if recent >= rules.scans:
            warnings.append(ScanWarning(
                "many_scans", f"this item's codes were scanned {recent} times within {span}; a copied code is likely"
            ))
        return ItemScans(item, scans, first_at, last_at, claimed_at, tuple(warnings))

    def claim(self, item: str, claimant: str, *, at: int | None = None) -> ClaimResult:
        """Claim ``item`` for ``claimant`` (an opaque order or customer reference). The first claim wins;
        a later one gets ``won=False`` and the time of the winning claim. The claimant is kept only as a keyed
        hash (HMAC-SHA-256 with a random key of this register), so that a retried claim is recognized
        (``same_claimant``) without the register holding the reference itself."""
        item = check_item(item)
        tag = hmac.new(self._key, _check_claimant(claimant).encode("utf-8"), hashlib.sha256).digest()
        when = self._time(at)
        with self._write() as conn:
            row = conn.execute("SELECT claimed_at, claimant FROM register_items WHERE item = ?", (item,)).fetchone()
            if row is not None and row[0] is not None:
                return ClaimResult(item, False, hmac.compare_digest(row[1], tag), row[0])
            conn.execute(
                "INSERT INTO register_items (item, scans, claimed_at, claimant) VALUES (?, 0, ?, ?) "
                "ON CONFLICT (item) DO UPDATE SET claimed_at = excluded.claimed_at, claimant = excluded.claimant",
                (item, when, tag),
            )
        return ClaimResult(item, True, False, when)

    def summary(self, item: str) -> ItemScans:
        """What the register knows of ``item`` (zero scans and no claim for an item it never saw)."""
        item = check_item(item)
        try:
            row = self._conn.execute(
                "SELECT scans, first_at, last_at, claimed_at FROM register_items WHERE item = ?", (item,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise _storage_error(exc, "the scan register") from None
        if row is None:
            return ItemScans(item, 0, None, None, None)
        return ItemScans(item, *row)

    def scans(self, item: str, *, limit: int = 100) -> list[ScanRecord]:
        """The latest ``limit`` scans of ``item`` still kept (see :meth:`prune`), newest first."""
        item = check_item(item)
        check_int(limit, "limit", InputError, 1, 10_000)
        try:
            rows = self._conn.execute(
                "SELECT at, country FROM register_scans WHERE item = ? ORDER BY at DESC, id DESC LIMIT ?",
                (item, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(exc, "the scan register") from None
        return [ScanRecord(at, country) for at, country in rows]

    def prune(self, before: int) -> int:
        """Delete the scan rows older than ``before`` (ms); the per-item counts, first scan and claim stay.
        Returns how many rows were deleted. Run it on the retention schedule your privacy policy states."""
        check_time(before, "before", InputError)
        with self._write() as conn:
            return conn.execute("DELETE FROM register_scans WHERE at < ?", (before,)).rowcount


def _storage_error(exc: sqlite3.Error, name: str) -> Exception:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return LedgerBusyError(f"{name} is busy: other writers held it too long ({text})")
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in low or "malformed" in low):
        return ForeignLedgerError(f"{name} is not a provchain scan register ({text})")
    return StorageError(f"{name}: {text}")
