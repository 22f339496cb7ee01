"""The scan register's Python API: counts, claims, warnings, retention, binding to one ledger, hostile input and
concurrent writers (threads, each with its own connection, as the service runs them)."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provchain import KeyPair, Ledger
from provchain.errors import (
    CountryError,
    ForeignLedgerError,
    InputError,
    ItemError,
    KeyFormatError,
    LedgerNotFoundError,
)
from provchain.web.register import ScanRegister, WarningRules, register_path

ORIGIN = "example.com/acme-ledger"
OP = KeyPair.from_seed(ORIGIN, bytes(32))
HOUR = 3_600_000


def open_reg(path: Path, **kwargs: object) -> ScanRegister:
    return ScanRegister.open(path, origin=ORIGIN, operator=OP.vkey, **kwargs)  # type: ignore[arg-type]


def test_scans_count_and_remember_the_first(tmp_path: Path) -> None:
    with open_reg(tmp_path / "r.db") as reg:
        a = reg.record_scan("BAG-1", "FR", at=5 * HOUR)
        b = reg.record_scan("BAG-1", None, at=6 * HOUR)
        c = reg.record_scan("BAG-1", "FR", at=4 * HOUR)  # a late report of an earlier scan
        assert (a.scans, b.scans, c.scans) == (1, 2, 3)
        assert (c.first_at, c.last_at) == (5 * HOUR, 6 * HOUR)  # first = first recorded; last = latest time
        assert reg.record_scan("BAG-2", at=HOUR).scans == 1
        assert [(s.at, s.country) for s in reg.scans("BAG-1")] == [(6 * HOUR, None), (5 * HOUR, "FR"), (4 * HOUR, "FR")]
        assert reg.summary("NEVER").to_json() == {
            "item": "NEVER", "scans": 0, "first_scan": None, "last_scan": None, "claimed": False,
            "claimed_at": None, "warnings": [],
        }
    with open_reg(tmp_path / "r.db") as reg:  # durable
        assert reg.summary("BAG-1").scans == 3


def test_the_first_claim_wins(tmp_path: Path) -> None:
    with open_reg(tmp_path / "r.db") as reg:
        first = reg.claim("BAG-1", "order-1", at=10)
        retry = reg.claim("BAG-1", "order-1", at=20)
        other = reg.claim("BAG-1", "order-2", at=30)
        assert (first.won, first.same_claimant, first.claimed_at) == (True, False, 10)
        assert (retry.won, retry.same_claimant, retry.claimed_at) == (False, True, 10)
        assert (other.won, other.same_claimant, other.claimed_at) == (False, False, 10)
        assert reg.summary("BAG-1").claimed_at == 10 and reg.summary("BAG-1").scans == 0
        scan = reg.record_scan("BAG-1", at=40)
        assert scan.claimed_at == 10 and [w.code for w in scan.warnings] == ["scanned_after_claim"]
    stored = sqlite3.connect(tmp_path / "r.db").execute("SELECT claimant FROM register_items").fetchone()[0]
    assert b"order-1" not in stored and len(stored) == 32  # a keyed hash, not the reference


def test_warnings_follow_the_rules(tmp_path: Path) -> None:
    rules = WarningRules(window_ms=HOUR, countries=2, scans=3)
    with open_reg(tmp_path / "r.db", rules=rules) as reg:
        assert reg.record_scan("A", "FR", at=HOUR).warnings == ()
        two = reg.record_scan("A", "DE", at=HOUR + 10)
        assert [w.code for w in two.warnings] == ["many_countries"] and "1 hour" in two.warnings[0].message
        three = reg.record_scan("A", "DE", at=HOUR + 20)
        assert [w.code for w in three.warnings] == ["many_countries", "many_scans"]
        later = reg.record_scan("A", "FR", at=3 * HOUR)  # the window moved on
        assert later.warnings == () and later.scans == 4


def test_prune_keeps_counts_and_claims(tmp_path: Path) -> None:
    with open_reg(tmp_path / "r.db") as reg:
        for t in range(1, 6):
            reg.record_scan("A", "FR", at=t * HOUR)
        reg.claim("A", "x", at=2 * HOUR)
        assert reg.prune(4 * HOUR) == 3
        assert [s.at for s in reg.scans("A")] == [5 * HOUR, 4 * HOUR]
        summary = reg.summary("A")
        assert (summary.scans, summary.first_at, summary.claimed_at) == (5, HOUR, 2 * HOUR)


def test_a_register_belongs_to_one_ledger(tmp_path: Path) -> None:
    open_reg(tmp_path / "r.db").close()
    with pytest.raises(ForeignLedgerError, match=r"not of 'other\.example/ledger'"):
        ScanRegister.open(tmp_path / "r.db", origin="other.example/ledger", operator=OP.vkey)
    other_op = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)
    with pytest.raises(ForeignLedgerError):  # same origin, another operator key
        ScanRegister.open(tmp_path / "r.db", origin=ORIGIN, operator=other_op.vkey)
    with pytest.raises(LedgerNotFoundError):
        ScanRegister.open(tmp_path / "none.db", origin=ORIGIN, operator=OP.vkey, create=False)
    (tmp_path / "junk.db").write_bytes(b"this is not a database at all, not even close" * 100)
    with pytest.raises(ForeignLedgerError):
        open_reg(tmp_path / "junk.db")
    led_path = tmp_path / "ledger.db"
    Ledger.create(led_path, origin=ORIGIN, operator=OP).close()
    with pytest.raises(ForeignLedgerError, match="other tables"):  # never writes into a ledger file
        open_reg(led_path)
    with Ledger.open(led_path) as led:
        assert led.size == 1
    assert register_path(led_path) == str(led_path) + ".register.db"


def test_hostile_input_is_refused(tmp_path: Path) -> None:
    with open_reg(tmp_path / "r.db") as reg:
        for item in ("", "a b", "x" * 129, 5, "\u202eevil", "\ud800"):
            with pytest.raises(ItemError):
                reg.record_scan(item)  # type: ignore[arg-type]
        for country in ("fr", "XX", "FRA", "", 1):
            with pytest.raises(CountryError):
                reg.record_scan("A", country)  # type: ignore[arg-type]
        for claimant in ("", "x" * 257, None, b"bytes", "\udc80"):
            with pytest.raises(InputError):
                reg.claim("A", claimant)  # type: ignore[arg-type]
        for at in (-1, True, 1.5, 2**70):
            with pytest.raises(InputError):
                reg.record_scan("A", at=at)  # type: ignore[arg-type]
        with pytest.raises(InputError):
            reg.scans("A", limit=0)
        assert reg.summary("A").scans == 0
    with pytest.raises(KeyFormatError):
        ScanRegister.open(tmp_path / "r.db", origin=ORIGIN, operator="not a key")
    for bad in ({"window_ms": 0}, {"countries": 1}, {"scans": True}):
        with pytest.raises(InputError):
            WarningRules(**bad)  # type: ignore[arg-type]


def test_concurrent_threads_count_exactly_and_one_claim_wins(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    open_reg(path).close()
    n = 16
    start = threading.Barrier(n)

    def work(i: int) -> tuple[list[int], bool]:
        with open_reg(path) as reg:
            start.wait()
            counts = [reg.record_scan("A", at=HOUR + i).scans for _ in range(10)]
            return counts, reg.claim("A", f"buyer-{i}", at=HOUR + i).won

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(work, range(n)))
    counts = sorted(c for cs, _ in results for c in cs)
    assert counts == list(range(1, 10 * n + 1))
    assert sum(won for _, won in results) == 1
