"""The one store factory (provchain.store): paths and postgresql:// URLs, routing, refusals, masked passwords,
and every CLI LEDGER argument given a URL (a real PostgreSQL server from tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import fails, ok
from conftest import ORIGIN, T0
from hypothesis import given
from hypothesis import strategies as st

from provchain import errors as E
from provchain.audit import audit_path
from provchain.entries import FORMAT_VERSION
from provchain.export import export_ledger, import_ledger
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.store import (
    LedgerMeta,
    create_store,
    display_location,
    is_database_url,
    ledger_location,
    open_store,
    open_store_for_audit,
)
from provchain.store.base import AuditableStorage, DisposableStore
from provchain.store.sqlite import SqliteStore

META = LedgerMeta(FORMAT_VERSION, ORIGIN, KeyPair.from_seed(ORIGIN, bytes(range(32))).vkey)


# --- telling locations apart ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("postgresql://u@h/db", True),
        ("postgres://u@h/db", True),
        ("PostgreSQL://u@h/db", True),
        ("ledger.db", False),
        ("./postgresql/ledger.db", False),
        ("postgresql:ledger.db", False),
        ("mysql://u@h/db", False),
        ("", False),
    ],
)
def test_is_database_url(text: str, url: bool) -> None:
    assert is_database_url(text) is url


def test_only_text_can_be_a_url() -> None:
    assert not is_database_url(Path("postgresql://u@h/db"))
    assert not is_database_url(b"postgresql://u@h/db")
    assert not is_database_url(None)


@pytest.mark.parametrize("scheme", ["mysql", "http", "https", "sqlite", "file", "postgresq1"])
def test_other_schemes_are_refused_without_echoing_the_url(scheme: str, tmp_path: Path) -> None:
    url = f"{scheme}://admin:hunter2@db.example/ledger"
    for call in (
        lambda: ledger_location(url),
        lambda: open_store(url),
        lambda: create_store(url, META),
        lambda: Ledger.open(url),
        lambda: Ledger.create(url, origin=ORIGIN, operator=KeyPair.from_seed(ORIGIN, bytes(range(32)))),
    ):
        with pytest.raises(E.InputError, match=f"{scheme}:// URL; a ledger is a file path or a postgresql") as exc:
            call()
        assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@h/",  # no database
        "postgresql://u:hunter2@h",
        "postgresql://u:hunter2@h:99999/db",  # port out of range
        "postgresql://u:hunter2@h:port/db",
        "postgresql://u:hunter2@[::1/db",
        "postgresql://u:hunter2@h/db name",
        "postgresql://u:hunter2@h/db\nx",
        "postgresql://u:hunter2@h/" + "d" * 5000,
    ],
)
def test_malformed_database_urls_are_input_errors_without_the_password(url: str) -> None:
    with pytest.raises(E.InputError) as exc:
        ledger_location(url)
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize(
    "url", ["postgresql://u@h/db", "postgresql:///db", "postgresql://u@h?dbname=db", "postgres://u@[::1]:5433/db"]
)
def test_database_urls_as_libpq_takes_them(url: str) -> None:
    assert ledger_location(url) == url


def test_paths_keep_their_checks(tmp_path: Path) -> None:
    assert ledger_location(tmp_path / "l.db") == tmp_path / "l.db"
    assert ledger_location("l.db") == Path("l.db")
    for bad in (None, 3, b"l.db", "a\x00b"):
        with pytest.raises(E.InputError, match="the ledger"):
            ledger_location(bad)
    with pytest.raises(E.LedgerNotFoundError):
        open_store(tmp_path / "missing.db")
    with pytest.raises(E.InputError, match="meta"):
        create_store(tmp_path / "l.db", ("format", "origin", "vkey"))  # type: ignore[arg-type]
    with pytest.raises(E.InputError, match="readonly"):
        open_store(tmp_path / "l.db", readonly="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "l.db").exists()


def test_a_path_opens_the_sqlite_store_with_its_capabilities(tmp_path: Path) -> None:
    s = create_store(tmp_path / "l.db", META)
    assert isinstance(s, SqliteStore) and isinstance(s, AuditableStorage)
    assert not isinstance(s, DisposableStore)  # a file is removed as a file
    assert s.storage_problems(0) == []
    s.close()
    for opened in (open_store(os.fspath(tmp_path / "l.db"), readonly=True), open_store_for_audit(tmp_path / "l.db")):
        assert isinstance(opened, SqliteStore) and opened.meta() == META
        opened.close()


# --- masking passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:@h/db", "postgresql://u:***@h/db"),
        ("postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"),
        ("postgresql://h/db?password=pw&sslmode=require", "postgresql://h/db?password=***&sslmode=require"),
        ("postgresql://h/db?PassWord=pw", "postgresql://h/db?PassWord=***"),
        ("postgresql://u:pw@[::1/db", "postgresql://***"),
        ("ledger.db", "ledger.db"),
    ],
)
def test_display_location_masks_the_password(url: str, shown: str) -> None:
    assert display_location(url) == shown


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8),
    secret=st.text(st.characters(whitelist_categories=("L", "N")), max_size=12),
    query=st.sampled_from(
        ["", "?sslmode=require", "?password=XPW", "?a=1&password=XPW&b=2", "?password=XPW&Password=XPW"]
    ),
)
def test_display_location_never_shows_a_password(user: str, secret: str, query: str) -> None:
    password = "PWX" + secret  # no part of the rest of the URL holds "PWX"
    url = f"postgresql://{user}:{password}@db.example:5432/acme{query.replace('XPW', password)}"
    assert "PWX" not in display_location(url)


# --- importing stays light -------------------------------------------------------------------------------


def _loaded(statement: str) -> set[str]:
    probe = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_the_factory_imports_no_backend_until_a_ledger_is_opened(tmp_path: Path) -> None:
    loaded = _loaded("import provchain.store, provchain.ledger")
    assert loaded.isdisjoint({"psycopg", "provchain.store.postgres", "sqlite3", "provchain.store.sqlite"})
    path = os.fspath(tmp_path / "l.db")
    Ledger.create(path, origin=ORIGIN, operator=KeyPair.from_seed(ORIGIN, bytes(range(32))), at=T0).close()
    loaded = _loaded(f"from provchain.ledger import Ledger\nLedger.open({path!r}).close()")
    assert "provchain.store.sqlite" in loaded
    assert loaded.isdisjoint({"psycopg", "provchain.store.postgres"})  # a file ledger never loads psycopg


# --- a real server --------------------------------------------------------------------------------------


def _with_password(url: str, password: str) -> str:
    """``url`` with a password in its user part (the tests' server trusts local connections and ignores it)."""
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"


def test_a_url_opens_the_postgres_store(postgres_url: str) -> None:
    from provchain.store.postgres import PostgresStore

    s = create_store(postgres_url, META, durability="normal")
    try:
        assert isinstance(s, PostgresStore) and isinstance(s, AuditableStorage) and isinstance(s, DisposableStore)
        assert s.meta() == META
    finally:
        s.close()
    for opened in (open_store(postgres_url, readonly=True), open_store_for_audit(postgres_url)):
        assert isinstance(opened, PostgresStore) and opened.storage_problems(0) == []
        opened.close()


def test_errors_about_a_url_never_show_its_password(postgres_url: str, operator: KeyPair) -> None:
    url = _with_password(postgres_url, "hunter2-secret")
    for call, error in [
        (lambda: Ledger.open(url), E.LedgerNotFoundError),
        (lambda: audit_path(url, operator.vkey), E.LedgerNotFoundError),
        (lambda: Ledger.open(url.rsplit("/", 1)[0] + "/no_such_database"), E.LedgerNotFoundError),
    ]:
        with pytest.raises(error) as exc:
            call()
        assert "hunter2" not in str(exc.value), exc.value
    Ledger.create(url, origin=ORIGIN, operator=operator, at=T0).close()
    with pytest.raises(E.LedgerExistsError) as exists:
        Ledger.create(url, origin=ORIGIN, operator=operator, at=T0)
    assert "hunter2" not in str(exists.value)
    report = audit_path(url, operator.vkey)
    assert report.clean and "hunter2" not in json.dumps(report.to_json()) and "hunter2" not in report.summary()
    assert report.source == f"{display_location(url)} (PostgreSQL ledger)"


def test_export_and_import_between_sqlite_and_postgres(
    tmp_path: Path, postgres_url: str, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    from conftest import journey

    src = tmp_path / "src.db"
    with Ledger.create(src, origin=ORIGIN, operator=operator, at=T0) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        journey(led, parties, "SERUM-9")
        led.checkpoint()
        root = led.root()
    export_ledger(src, tmp_path / "a.pcl")
    with import_ledger(tmp_path / "a.pcl", postgres_url, operator_vkey=operator.vkey) as moved:
        assert moved.root() == root and len(moved.history("SERUM-9")) == 6
        assert [s for s, _ in moved.store.checkpoints()] == [moved.size]
    with pytest.raises(E.LedgerExistsError):  # never into a database that holds a ledger
        import_ledger(tmp_path / "a.pcl", postgres_url)
    export_ledger(postgres_url, tmp_path / "b.pcl")  # and back out of the database, byte for byte the same
    assert (tmp_path / "a.pcl").read_bytes() == (tmp_path / "b.pcl").read_bytes()


def test_an_import_that_does_not_verify_leaves_no_ledger_in_the_database(
    tmp_path: Path, postgres_url: str, operator: KeyPair
) -> None:
    src = tmp_path / "src.db"
    Ledger.create(src, origin=ORIGIN, operator=operator, at=T0).close()
    export_ledger(src, tmp_path / "a.pcl")
    other = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)  # the same name, another key: not the export's
    with pytest.raises(E.OperatorKeyError):
        import_ledger(tmp_path / "a.pcl", postgres_url, operator_vkey=other.vkey)
    data = bytearray((tmp_path / "a.pcl").read_bytes())
    data[-40] ^= 1  # the trailer's root
    (tmp_path / "bad.pcl").write_bytes(bytes(data))
    with pytest.raises(E.ProvchainError):
        import_ledger(tmp_path / "bad.pcl", postgres_url, operator_vkey=operator.vkey)
    with pytest.raises(E.LedgerNotFoundError):  # the half-made ledger was removed
        Ledger.open(postgres_url)
    with import_ledger(tmp_path / "a.pcl", postgres_url, operator_vkey=operator.vkey) as led:  # the place is free
        assert led.size == 1


# --- the CLI: every LEDGER argument takes a URL ---------------------------------------------------------


def test_the_cli_runs_on_a_postgres_ledger(tmp_path: Path, postgres_url: str) -> None:
    os.chdir(tmp_path)
    url = _with_password(postgres_url, "hunter2-secret")
    vkey = ok("init", url, "--origin", ORIGIN, "--operator-key", "operator.key").stdout.strip()
    maker = ok("keygen", "maker.key", "--name", "grasse-labs").stdout.strip()
    ok("party", "add", url, "--operator-key", "operator.key", "--role", "origin", "--vkey", maker,
       "--valid-from", "2026-01-01T00:00:00Z")  # fmt: skip
    listed = json.loads(ok("party", "list", url, "--json").stdout)
    assert [p["name"] for p in listed["parties"]] == ["grasse-labs"]
    at = "2026-02-01T10:00:00Z"
    out = ok("record", url, "SERUM-1", "origin", "--key", "maker.key", "--country", "FR", "--at", at)
    assert "entry 2" in out.stdout
    assert "origin" in ok("history", url, "SERUM-1").stdout
    ok("checkpoint", url, "--operator-key", "operator.key")
    proof = ok("prove", url, "SERUM-1").stdout
    assert proof.startswith("c2sp.org/tlog-proof@v1")
    ok("code", url, "SERUM-1", "--operator-key", "operator.key", "-o", "code.png")
    ok("export", url, "-o", "ledger.pcl")
    res = ok("audit", url, "--operator", vkey)
    assert "hunter2" not in res.stdout
    ok("publish", url, "tiles")
    assert (tmp_path / "tiles" / "checkpoint").exists()
    with Ledger.open(postgres_url, readonly=True) as led:
        assert led.size == 3 and led.latest_checkpoint() is not None
    # refusals stay one line, and never show the password
    res = fails(2, "already holds", "init", url, "--origin", ORIGIN, "--operator-key", "operator.key")
    assert "hunter2" not in res.stderr
    res = fails(2, "serve --register", "serve", url)
    assert "hunter2" not in res.stderr


def test_the_cli_migrates_a_sqlite_ledger_into_postgres(tmp_path: Path, postgres_url: str) -> None:
    os.chdir(tmp_path)
    vkey = ok("init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key").stdout.strip()
    ok("checkpoint", "ledger.db", "--operator-key", "operator.key")
    ok("export", "ledger.db", "-o", "ledger.pcl")
    url = _with_password(postgres_url, "hunter2-secret")
    res = ok("import", "ledger.pcl", "-o", url, "--operator", vkey)
    assert "imported 1 entries into" in res.stdout and "hunter2" not in res.stdout and "***" in res.stdout
    with Ledger.open("ledger.db", readonly=True) as a, Ledger.open(postgres_url, readonly=True) as b:
        assert a.root() == b.root() and a.latest_checkpoint() == b.latest_checkpoint()
    ok("audit", postgres_url, "--operator", vkey)
    fails(2, "already", "import", "ledger.pcl", "-o", url)


@pytest.mark.parametrize(
    "args",
    [
        ("history", "{L}", "X"),
        ("party", "list", "{L}"),
        ("record", "{L}", "X", "origin", "--key", "k", "--country", "FR"),
        ("checkpoint", "{L}", "--operator-key", "k"),
        ("prove", "{L}", "X"),
        ("export", "{L}", "-o", "out.pcl"),
        ("import", "in.pcl", "-o", "{L}"),
        ("publish", "{L}", "tiles"),
        ("serve", "{L}"),
        ("init", "{L}", "--origin", ORIGIN, "--operator-key", "k"),
    ],
)
def test_a_ledger_of_another_scheme_is_one_line_and_hides_the_url(args: tuple[str, ...], tmp_path: Path) -> None:
    os.chdir(tmp_path)
    argv = [a.replace("{L}", "mysql://root:hunter2@db.example/ledger") for a in args]
    res = fails(2, "mysql:// URL; a ledger is a file path or a postgresql:// URL", *argv)
    assert "hunter2" not in res.stderr


def test_a_directory_as_ledger_stays_one_line(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    fails(2, "is a directory", "history", "d", "X")
    fails(2, "no ledger at", "history", "missing.db", "X")


# --- hostile locations ------------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_any_text_is_a_location_or_an_input_error(text: str) -> None:
    for candidate in (text, "postgresql://" + text, "postgres://u:hunter2@" + text, "x://" + text):
        try:
            where = ledger_location(candidate)
        except E.InputError as exc:
            assert "hunter2" not in str(exc)
        else:
            assert isinstance(where, Path) or is_database_url(where)
        shown = display_location(candidate)
        assert isinstance(shown, str)
        if candidate.startswith("postgres://u:hunter2@"):
            assert "hunter2" not in shown


def test_the_service_takes_a_database_ledger_with_a_register_file(
    tmp_path: Path, postgres_url: str, operator: KeyPair
) -> None:
    from provchain.web.app import create_app  # starlette is in the [test] extra

    Ledger.create(postgres_url, origin=ORIGIN, operator=operator, at=T0).close()
    with pytest.raises(E.InputError, match="no file beside it for the scan register"):
        create_app(postgres_url, operator=operator)
    create_app(postgres_url, operator=operator, register=tmp_path / "scans.db")
    assert (tmp_path / "scans.db").exists()
    create_app(postgres_url, register=False)


def test_without_psycopg_a_url_says_what_to_install() -> None:
    # A fresh interpreter where psycopg cannot be imported (None in sys.modules blocks the import).
    probe = (
        "import sys\nsys.modules['psycopg'] = None\n"
        "from provchain.store import open_store\n"
        "from provchain.errors import ProvchainError\n"
        "try:\n    open_store('postgresql://u:hunter2@127.0.0.1:1/db')\n"
        "except ProvchainError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert "pip install 'provchain-ledger[postgres]'" in out and "psycopg" in out and "hunter2" not in out
