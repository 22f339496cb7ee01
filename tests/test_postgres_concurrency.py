"""Four writer processes, each with its own connection, appending to one PostgreSQL ledger at once.

The writers, the set-up and the checks are tests/test_concurrency.py's (they take a ledger location, a file
or a URL); here they run against a real PostgreSQL server. Every writer process opens its own connection, as
writers on different hosts would; the lock row sequences them. After each run: every acknowledged append is
at the index it was acknowledged with, the indexes have no gap (as many rows as the size), every item's
chain links each event to the one before (no fork), the stored tree is the entries' tree, and
``provchain audit postgresql://...`` is clean.
"""

from __future__ import annotations

import psycopg
import pytest
from clirun import ok
from conftest import ORIGIN
from test_concurrency import SEED_OP, _check_no_fork_no_loss, _run_writers, _setup, _warehouse_writers

from provchain import KeyPair
from provchain.store.postgres import SCHEMA


def _check_no_gap(url: str) -> None:
    with psycopg.connect(url) as conn:
        count, top = conn.execute(f"SELECT count(*), max(idx) FROM {SCHEMA}.entries").fetchone()  # type: ignore[misc]
        forks = conn.execute(
            f"SELECT count(*) FROM (SELECT item, prev FROM {SCHEMA}.entries WHERE item IS NOT NULL "
            "GROUP BY item, prev HAVING count(*) > 1) AS f"
        ).fetchone()
    assert count == top + 1, f"{count} rows for indexes 0 to {top}: a gap"
    assert forks == (0,)


def _audit_cli(url: str) -> None:
    res = ok("audit", url, "--operator", KeyPair.from_seed(ORIGIN, SEED_OP).vkey, "--workers", "1")
    assert "clean" in res.output.lower() or "no findings" in res.output.lower(), res.output


@pytest.mark.parametrize("shared_items", [True, False], ids=["same-items", "different-items"])
def test_four_writer_processes(postgres_url: str, shared_items: bool) -> None:
    processes, rounds = 4, 15
    items_all = [f"ITEM-{i}" for i in range(4 * processes)]
    base = _setup(postgres_url, items_all)  # type: ignore[arg-type]
    acked = _warehouse_writers(postgres_url, items_all, processes, shared_items, rounds)
    _check_no_fork_no_loss(postgres_url, base, acked, items_all)  # type: ignore[arg-type]
    _check_no_gap(postgres_url)
    _audit_cli(postgres_url)


def test_singles_batches_and_remote_signers_on_the_same_items(postgres_url: str) -> None:
    """Two writers append singly, one in batches, one prepares, signs and submits: the submitter may see
    StaleHeadError (the item moved on) and signs again; nothing forks."""
    items = [f"ITEM-{i}" for i in range(3)]
    base = _setup(postgres_url, items)  # type: ignore[arg-type]
    jobs = [("single", items, 10), ("single", items[::-1], 10), ("batch", items, 10), ("submit", items, 10)]
    acked, _stale = _run_writers(postgres_url, jobs)  # type: ignore[arg-type]
    assert len(acked) == 4 * 10 * len(items)
    _check_no_fork_no_loss(postgres_url, base, acked, items)  # type: ignore[arg-type]
    _check_no_gap(postgres_url)
    _audit_cli(postgres_url)
