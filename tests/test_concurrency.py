"""Several processes appending to one ledger at once: no fork, no lost entry, no 'database is locked'.

The only errors a concurrent writer may see are the documented, bounded ones:

* ``LedgerBusyError`` when other writers held the ledger for longer than ``busy_timeout`` (10 s by default)
  in all: ``BEGIN IMMEDIATE`` is retried with backoff until then (``test_busy_beyond_the_timeout``);
* ``StaleHeadError`` from ``submit`` when the item moved on between ``prepare_event`` and ``submit``: the
  remote signer prepares and signs again (``test_concurrent_submit_retries_on_stale_head``).

``append`` and ``batch`` read the head inside the write transaction and never see ``StaleHeadError``.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ORIGIN

from provchain import KeyPair, Ledger, merkle
from provchain.audit import audit_path
from provchain.entries import ENTRY_DOMAIN, Entry, Event
from provchain.errors import LedgerBusyError, StaleHeadError
from provchain.store.sqlite import SqliteStore

SEED_OP = bytes(range(32))


def _collect(procs: list[Any], out: Any, timeout: float = 300) -> list[Any]:
    """Every writer's report; fails at once if a writer process dies without one (e.g. at import)."""
    results: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                pytest.fail(f"a writer process died without reporting (exit codes {dead})")
            if time.monotonic() > deadline:
                pytest.fail(f"the writers did not finish within {timeout} s")
    for proc in procs:
        proc.join(timeout=60)
    return results


def _writer(path: str, seed: bytes, items: list[str], rounds: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Append one warehouse event per item per round; report every acknowledged (index, leaf)."""
    key = KeyPair.from_seed("hz-bonded-wh-3", seed)
    acked = []
    try:
        with Ledger.open(path) as led:
            for _ in range(rounds):
                for item in items:
                    e = led.append(item, "warehouse", key, country="CN", place="Hangzhou")
                    acked.append((e.index, e.leaf_hash))
        out.put(("ok", acked))
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("shared_items", [True, False], ids=["same-items", "different-items"])
def test_concurrent_appends(tmp_path: Path, processes: int, shared_items: bool) -> None:
    path = tmp_path / "ledger.db"
    items_all = [f"ITEM-{i}" for i in range(4 * processes)]
    base = _setup(path, items_all)
    acked = _warehouse_writers(str(path), items_all, processes, shared_items, rounds=6)
    # no lost entry, no fork, the stored tree matches the entries, and the ledger audits clean
    _check_no_fork_no_loss(path, base, acked, items_all)


def _warehouse_writers(
    location: str, items_all: list[str], processes: int, shared_items: bool, rounds: int
) -> list[tuple[int, bytes]]:
    """``processes`` writer processes appending ``rounds`` warehouse events to each of four items at once (the
    same four, or four of their own); fails on any error; returns every acknowledged (index, leaf hash)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = []
    for p in range(processes):
        mine = items_all[:4] if shared_items else items_all[4 * p : 4 * p + 4]
        procs.append(ctx.Process(target=_writer, args=(location, WH_SEED, mine, rounds, out)))
    for proc in procs:
        proc.start()
    results = _collect(procs, out)
    errors = [r[1] for r in results if r[0] == "error"]
    assert not errors, errors
    acked = [a for r in results for a in r[1]]
    assert len(acked) == processes * rounds * 4
    return acked


# --- mixed writers, remote signers, the bounded retry ----------------------------------------------

WH_SEED, ORIGIN_SEED, CUSTOMS_SEED = b"w" * 32, b"o" * 32, b"c" * 32


def _setup(path: Path, items: list[str]) -> int:
    """A ledger whose ``items`` are at stage import (warehouse may follow, repeatedly); returns its size."""
    op = KeyPair.from_seed(ORIGIN, SEED_OP)
    keys = {
        "warehouse": KeyPair.from_seed("hz-bonded-wh-3", WH_SEED),
        "origin": KeyPair.from_seed("grasse-labs", ORIGIN_SEED),
        "customs": KeyPair.from_seed("sh-customs", CUSTOMS_SEED),
    }
    with Ledger.create(path, origin=ORIGIN, operator=op) as led:
        for role, kp in keys.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, valid_from=0)
        with led.batch():
            for item in items:
                led.append(item, "origin", keys["origin"], country="FR")
                led.append(item, "import", keys["customs"], country="CN")
        return led.size


def _mixed_writer(path: str, mode: str, items: list[str], rounds: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """``single``: one append per call; ``batch``: a batch per round; ``submit``: prepare, sign, submit."""
    key = KeyPair.from_seed("hz-bonded-wh-3", WH_SEED)
    acked: list[tuple[int, bytes]] = []
    stale = 0
    try:
        with Ledger.open(path) as led:
            for _ in range(rounds):
                if mode == "single":
                    for item in items:
                        e = led.append(item, "warehouse", key, country="CN")
                        acked.append((e.index or 0, e.leaf_hash))
                elif mode == "batch":
                    with led.batch():
                        written = [led.append(item, "warehouse", key, country="CN") for item in items]
                    acked.extend((e.index or 0, e.leaf_hash) for e in written)
                else:
                    for item in items:
                        for _attempt in range(STALE_RETRIES):
                            ev = led.prepare_event(item, "warehouse", key.key_id, country="CN")
                            body = ev.encode()
                            try:
                                e = led.submit(Entry(body, key.sign(ENTRY_DOMAIN + body)))
                            except StaleHeadError:
                                stale += 1
                                continue
                            acked.append((e.index or 0, e.leaf_hash))
                            break
                        else:
                            raise AssertionError(f"{item}: still stale after {STALE_RETRIES} attempts")
        out.put(("ok", acked, stale))
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put(("error", f"{type(exc).__name__}: {exc}", stale))


STALE_RETRIES = 200
"""A remote signer's retry bound in these tests: each stale attempt means another writer succeeded."""


def _run_writers(path: Path, jobs: list[tuple[str, list[str], int]]) -> tuple[list[tuple[int, bytes]], int]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_mixed_writer, args=(str(path), mode, items, rounds, out)) for mode, items, rounds in jobs
    ]
    for proc in procs:
        proc.start()
    results = _collect(procs, out)
    errors = [r[1] for r in results if r[0] == "error"]
    assert not errors, errors
    return [a for r in results for a in r[1]], sum(r[2] for r in results)


def _check_no_fork_no_loss(path: Path, base: int, acked: list[tuple[int, bytes]], items: list[str]) -> None:
    with Ledger.open(path) as led:
        assert led.size == base + len(acked)
        assert len({i for i, _ in acked}) == len(acked)
        for index, leaf in acked:
            assert led.entry(index).leaf_hash == leaf
        for item in items:
            hist = led.history(item)
            for prev, cur in itertools.pairwise(hist):
                body = cur.entry.content
                assert isinstance(body, Event) and body.prev == prev.leaf_hash
        assert led.root() == merkle.root([e.leaf_hash for e in led.entries()])
    assert audit_path(path, KeyPair.from_seed(ORIGIN, SEED_OP).vkey, workers=1).clean


def test_concurrent_singles_batches_and_submits(tmp_path: Path) -> None:
    """Four processes on the same items at once: two append singly, one in batches, one submits."""
    path = tmp_path / "ledger.db"
    items = [f"ITEM-{i}" for i in range(3)]
    base = _setup(path, items)
    jobs = [("single", items, 8), ("single", items[::-1], 8), ("batch", items, 8), ("submit", items, 8)]
    acked, _stale = _run_writers(path, jobs)
    assert len(acked) == 4 * 8 * len(items)
    _check_no_fork_no_loss(path, base, acked, items)


def test_concurrent_submit_retries_on_stale_head(tmp_path: Path) -> None:
    """Four remote signers race on one item: StaleHeadError is the only refusal, and a retry succeeds."""
    path = tmp_path / "ledger.db"
    base = _setup(path, ["HOT"])
    acked, stale = _run_writers(path, [("submit", ["HOT"], 10)] * 4)
    assert len(acked) == 40
    _check_no_fork_no_loss(path, base, acked, ["HOT"])
    assert stale <= 40 * 3  # each stale attempt is another writer's success: at most 3 per success here


def test_busy_beyond_the_timeout(tmp_path: Path) -> None:
    """A writer that holds the ledger longer than busy_timeout: LedgerBusyError, never 'database is locked'."""
    path = tmp_path / "ledger.db"
    base = _setup(path, ["ITEM-0"])
    key = KeyPair.from_seed("hz-bonded-wh-3", WH_SEED)
    hog = sqlite3.connect(path, isolation_level=None)
    led = Ledger(SqliteStore.open(str(path), busy_timeout=0.3))
    try:
        hog.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        with pytest.raises(LedgerBusyError, match="stayed locked") as info:
            led.append("ITEM-0", "warehouse", key, country="CN")
        assert time.monotonic() - start >= 0.3  # it did retry (a lower bound, not a timing assertion on speed)
        assert "database is locked" not in str(info.value)
        hog.execute("ROLLBACK")
        assert led.size == base
        e = led.append("ITEM-0", "warehouse", key, country="CN")  # the lock is free: it goes through
        assert e.index == base
    finally:
        led.close()
        hog.close()


@pytest.mark.slow
def test_many_concurrent_writers_slow(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("large budget: run with -m slow")
    path = tmp_path / "ledger.db"
    items = [f"ITEM-{i}" for i in range(8)]
    base = _setup(path, items)
    jobs = [
        ("single", items, 40),
        ("single", items[:4], 40),
        ("batch", items, 40),
        ("batch", items[4:], 40),
        ("submit", items[:2], 40),
        ("submit", items[6:], 40),
    ]
    acked, _ = _run_writers(path, jobs)
    assert len(acked) == 40 * (8 + 4 + 8 + 4 + 2 + 2)
    _check_no_fork_no_loss(path, base, acked, items)
