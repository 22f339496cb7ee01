"""Storage backends behind one contract (:mod:`provchain.store.base`), and the one factory that opens them.

A ledger lives at a *location*: a file path (an SQLite ledger file, :mod:`provchain.store.sqlite`) or a
``postgresql://`` (or ``postgres://``) URL naming a PostgreSQL database (:mod:`provchain.store.postgres`,
which needs the ``postgres`` extra: ``pip install 'provchain-ledger[postgres]'``). :func:`open_store` and
:func:`create_store` are the only places that tell the two apart; ``Ledger.create``/``Ledger.open``, the
export, the import and the auditor all come through them. The backends are imported when a ledger of their
kind is opened, so importing this package loads neither SQLite nor psycopg.

>>> is_database_url("postgresql://ledger@db.example/acme"), is_database_url("ledger.db")
(True, False)
>>> display_location("postgresql://ledger:s3cret@db.example:5432/acme")
'postgresql://ledger:***@db.example:5432/acme'
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._internal.validate import check_path
from ..errors import InputError
from .base import (
    DURABILITY,
    AuditableStorage,
    DisposableStore,
    LedgerMeta,
    NodeKey,
    StorageProblem,
    Store,
    StoredEntry,
)

__all__ = [
    "DURABILITY",
    "AuditableStorage",
    "DisposableStore",
    "LedgerMeta",
    "NodeKey",
    "StorageProblem",
    "Store",
    "StoredEntry",
    "create_store",
    "display_location",
    "is_database_url",
    "ledger_location",
    "open_store",
    "open_store_for_audit",
]

_DATABASE_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SECRET_PARAMS = frozenset({"password", "sslpassword"})  # libpq query parameters that hold secrets
_MAX_URL = 4096


def is_database_url(location: object) -> bool:
    """Whether ``location`` is a database URL (text starting ``postgresql://`` or ``postgres://``, any
    case); anything else names a file."""
    if not isinstance(location, str):
        return False
    m = _SCHEME.match(location)
    return m is not None and m.group(1).lower() in _DATABASE_SCHEMES


def display_location(location: object) -> str:
    """``location`` as messages and reports show it: a path as it is; a database URL with its password
    (in the user part, or a ``password=`` parameter) replaced by ``***``. A URL that cannot be taken
    apart is shown by its scheme alone."""
    if not isinstance(location, str) or not is_database_url(location):
        return os.fspath(location) if isinstance(location, str | os.PathLike) else repr(location)
    scheme = location.split(":", 1)[0]
    try:
        parts = urlsplit(location)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}:***@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
                query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{scheme}://***"


def ledger_location(location: object) -> str | Path:
    """``location`` checked as a ledger's location: a database URL (returned as text) or a file path
    (returned as a :class:`~pathlib.Path`). :class:`InputError` for anything else, such as a URL of
    another scheme (``mysql://``, ``http://``) or text that is no file name."""
    if isinstance(location, str):
        m = _SCHEME.match(location)
        if m is not None:
            if m.group(1).lower() not in _DATABASE_SCHEMES:
                raise InputError(
                    f"the ledger is a {m.group(1)}:// URL; a ledger is a file path or a postgresql:// URL"
                )
            _check_url(location)
            return location
    return check_path(location, "the ledger", InputError)


def _check_url(url: str) -> None:
    shown = display_location(url)
    if len(url) > _MAX_URL:
        raise InputError(f"the ledger URL is longer than {_MAX_URL} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InputError(f"the ledger URL {shown!r} holds spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise InputError(f"the ledger URL {shown!r} is malformed ({exc})") from None
    named = any(k.lower() == "dbname" and v for k, v in parse_qsl(parts.query, keep_blank_values=True))
    if not parts.path.strip("/") and not named:
        raise InputError(f"the ledger URL {shown!r} names no database (postgresql://USER@HOST/DATABASE)")


def _check_durability(durability: object) -> str:
    if durability not in DURABILITY or not isinstance(durability, str):
        raise InputError("durability must be 'full' or 'normal'")
    return durability


class _Backend(Protocol):
    """What the factory calls on a store class (``SqliteStore``, ``PostgresStore``)."""

    def open(self, location: str, *, readonly: bool, durability: str, foreign_schema: bool = False) -> Store: ...

    def create(self, location: str, meta: LedgerMeta, *, durability: str) -> Store: ...


def _postgres() -> _Backend:
    """The PostgreSQL store class, imported on first use (it imports psycopg)."""
    try:
        module = importlib.import_module(f"{__name__}.postgres")
    except ModuleNotFoundError as exc:
        raise InputError(
            f"a ledger in PostgreSQL needs psycopg ({exc.name} is not installed): "
            "pip install 'provchain-ledger[postgres]'"
        ) from None
    backend: _Backend = module.PostgresStore
    return backend


def open_store(location: str | os.PathLike[str], *, readonly: bool = False, durability: str = "full") -> Store:
    """Open the existing ledger at ``location`` (a file path or a ``postgresql://`` URL).

    Raises :class:`~provchain.errors.LedgerNotFoundError` when there is none,
    :class:`~provchain.errors.ForeignLedgerError` when it is not a provchain ledger, and
    :class:`~provchain.errors.InputError` for a location, ``readonly`` or ``durability`` that is not
    acceptable.
    """
    where = ledger_location(location)
    if not isinstance(readonly, bool):
        raise InputError("readonly must be True or False")
    _check_durability(durability)
    if isinstance(where, str):
        return _postgres().open(where, readonly=readonly, durability=durability)
    from .sqlite import SqliteStore

    return SqliteStore.open(os.fspath(where), readonly=readonly, durability=durability)


def create_store(location: str | os.PathLike[str], meta: LedgerMeta, *, durability: str = "full") -> Store:
    """Create a new, empty ledger at ``location`` (a file path or a ``postgresql://`` URL) holding ``meta``.

    Raises :class:`~provchain.errors.LedgerExistsError` when a ledger (or, for a path, any file) is
    already there, and :class:`~provchain.errors.InputError` for a location, ``meta`` or ``durability``
    that is not acceptable.
    """
    where = ledger_location(location)
    if not isinstance(meta, LedgerMeta):
        raise InputError("meta must be a provchain.store.LedgerMeta")
    _check_durability(durability)
    if isinstance(where, str):
        return _postgres().create(where, meta, durability=durability)
    from .sqlite import SqliteStore

    return SqliteStore.create(os.fspath(where), meta, durability=durability)


def open_store_for_audit(location: str | os.PathLike[str]) -> Store:
    """Open the ledger at ``location`` for the auditor: read-only, and whatever its storage's schema holds
    (objects provchain did not create are the audit's findings, through
    :class:`~provchain.store.base.AuditableStorage`, not a reason to refuse; every other reader refuses them)."""
    where = ledger_location(location)
    if isinstance(where, str):
        return _postgres().open(where, readonly=True, durability="full", foreign_schema=True)
    from .sqlite import SqliteStore

    store = SqliteStore.open(os.fspath(where), readonly=True, foreign_schema=True)
    store.set_cache_size(4096)  # a sequential scan: a large page cache would only add to the audit's RSS
    return store
