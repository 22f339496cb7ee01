"""Signed appends per second, next to the raw limit measured in the same run.

The raw limit does the irreducible work of an append and nothing else: canonical msgpack encode of an
event of the same shape, SHA-256 leaf hash, Ed25519 sign, and one SQLite INSERT into a table of the same
columns, with the same commit pattern (WAL; one commit per event with synchronous=FULL for "single
durable", one commit per BATCH events for "batched"). The ledger additionally reads the item's head,
checks the policy, key and chain, and writes the Merkle tree's new nodes.

    python bench/append.py [--single N] [--batched N] [--batch-size B]
    python bench/append.py --store postgresql[://USER@HOST:PORT/DB] [--writers P] [--only batched]

Prints events/s for each mode and the ratio ledger / raw. Goals: batched >= 0.85 (issue #20), single >= 0.70.
The row "batched (append_many)" loads the same events with one ``Ledger.append_many`` call per batch, signing
on the calling thread as the raw loop does, against the same raw limit (the batched one), in the same
interleaved rounds; the row "append_many, all cores" is the same call signing on one thread per CPU (its ratio
to the single-threaded raw loop is what a bulk load gains from the other cores, not a measure of overhead).

With ``--store postgresql://...`` the same runs go to PostgreSQL (each in a new database on that server; its
user must be allowed to create databases), and ``--store postgresql`` starts a throwaway PostgreSQL 15 server
(tests/pgserver.py). The raw limit is then the same encoding and signing plus the same rows (the ledger's
entries table, its indexes included) sent with one binary COPY per batch, or one INSERT per durable commit.
A third figure: P writer processes (each its own connection, its own items, one durable append per commit)
against one. Goals: batched >= 0.6, P=4 writers >= 1.5x one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
from common import ORIGIN, STEPS, T0

from provchain.entries import ENTRY_DOMAIN
from provchain.keys import KeyPair
from provchain.ledger import EventSpec, Ledger


def _keys() -> tuple[KeyPair, dict[str, KeyPair]]:
    op = KeyPair.generate(ORIGIN)
    parties = {role: KeyPair.generate(f"party-{role}") for _, role, _, _ in STEPS}
    return op, parties


def run_ledger(path: Path | str, n: int, batch: int | None) -> float:
    """Append ``n`` events; one commit per event (batch None) or per ``batch`` events. Returns events/s."""
    op, parties = _keys()
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
    t = time.perf_counter()

    def one(k: int) -> None:
        stage, role, country, data = STEPS[k % 6]
        led.append(f"SKU-{k // 6:08d}", stage, parties[role], country=country, place="Hangzhou", data=data, at=T0 + k)

    if batch is None:
        for k in range(n):
            one(k)
    else:
        for start in range(0, n, batch):
            with led.batch():
                for k in range(start, min(n, start + batch)):
                    one(k)
    elapsed = time.perf_counter() - t
    led.close()
    return n / elapsed


def run_ledger_many(path: Path | str, n: int, batch: int, threads: int | None = 1) -> float:
    """Append ``n`` events with one ``Ledger.append_many`` call per ``batch`` events (the records built inside
    the timed loop, as the other loops build their arguments), signing on ``threads`` threads (1: the calling
    thread only, as the raw loop; None: one per CPU). Returns events/s."""
    op, parties = _keys()
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
    t = time.perf_counter()
    for start in range(0, n, batch):
        specs = []
        for k in range(start, min(n, start + batch)):
            stage, role, country, data = STEPS[k % 6]
            specs.append(EventSpec(f"SKU-{k // 6:08d}", stage, parties[role], country, "Hangzhou", data, T0 + k))
        led.append_many(specs, threads=threads)
    elapsed = time.perf_counter() - t
    led.close()
    return n / elapsed


def run_raw(path: Path, n: int, batch: int | None) -> float:
    """The raw limit: encode + hash + sign + insert, with the same commit pattern."""
    signer = KeyPair.generate("raw")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE entries (idx INTEGER PRIMARY KEY, kind TEXT, item TEXT, stage TEXT, at INTEGER,"
        " leaf BLOB, body BLOB, sig BLOB)"
    )
    prev = b"\x00" * 32
    t = time.perf_counter()
    in_tx = 0
    for k in range(n):
        stage, _role, country, data = STEPS[k % 6]
        if in_tx == 0:
            conn.execute("BEGIN IMMEDIATE")
        # bare msgpack of a map already in canonical key order: the cheapest possible encoding
        body = msgpack.packb(
            {
                "at": T0 + k,
                "country": country,
                "data": data,
                "item": f"SKU-{k // 6:08d}",
                "kind": "event",
                "origin": ORIGIN,
                "place": "Hangzhou",
                "prev": prev,
                "signer": signer.key_id,
                "stage": stage,
                "v": 1,
            },
            use_bin_type=True,
        )
        leaf = hashlib.sha256(b"\x00" + body).digest()
        sig = signer.sign(ENTRY_DOMAIN + body)
        conn.execute(
            "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?)",
            (k, "event", f"SKU-{k // 6:08d}", stage, T0 + k, leaf, body, sig),
        )
        prev = leaf
        in_tx += 1
        if batch is None or in_tx == batch:
            conn.execute("COMMIT")
            in_tx = 0
    if in_tx:
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return n / elapsed


# --- PostgreSQL ------------------------------------------------------------------------------------


def _pg_server(store: str) -> Any:
    """A server to make databases on: the one ``store`` names, or a throwaway one (tests/pgserver.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import pgserver

    return pgserver.PgServer.start() if store == "postgresql" else pgserver.PgServer.external(store)


def _event(k: int, prev: bytes, key_id: bytes) -> bytes:
    stage, _role, country, data = STEPS[k % 6]
    return msgpack.packb(
        {"at": T0 + k, "country": country, "data": data, "item": f"SKU-{k // 6:08d}", "kind": "event",
         "origin": ORIGIN, "place": "Hangzhou", "prev": prev, "signer": key_id, "stage": stage, "v": 1},
        use_bin_type=True,
    )  # fmt: skip


def pg_run_raw(url: str, n: int, batch: int | None) -> float:
    """The raw limit in PostgreSQL: encode + hash + sign, and the same rows into a table of the same shape
    and indexes as the ledger's, with one COPY per batch (or one INSERT per durable commit)."""
    import psycopg

    from provchain.store import postgres as pgstore

    signer = KeyPair.generate("raw")
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in pgstore._DDL[:-1]:
            conn.execute(sql)
        conn.execute("SET synchronous_commit = on")
        prev: bytes | None = None
        last: dict[str, bytes] = {}
        rows: list[tuple[Any, ...]] = []
        t = time.perf_counter()
        for k in range(n):
            item = f"SKU-{k // 6:08d}"
            prev = last.get(item)
            body = _event(k, prev or b"", signer.key_id)
            leaf = hashlib.sha256(b"\x00" + body).digest()
            sig = signer.sign(ENTRY_DOMAIN + body)
            last[item] = leaf
            rows.append((k, body, sig, item, prev, b""))
            if batch is None:
                conn.execute(pgstore._INSERT, rows.pop(), binary=True)
            elif len(rows) == batch or k == n - 1:
                with conn.transaction(), conn.cursor(binary=True) as cur, cur.copy(pgstore._COPY) as copy:
                    copy.set_types(pgstore._COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
                rows = []
        return n / (time.perf_counter() - t)


def _pg_writer(url: str, w: int, n: int, start: Any, out: Any) -> None:
    _op, parties = _keys_from_seed()
    with Ledger.open(url, clock=lambda: T0 + 10**10) as led:
        start.wait()
        t = time.perf_counter()
        for k in range(n):
            stage, role, country, data = STEPS[k % 6]
            led.append(f"W{w}-{k // 6:06d}", stage, parties[role], country=country, place="Hangzhou", data=data,
                       at=T0 + k)  # fmt: skip
        out.put((t, time.perf_counter()))


def _keys_from_seed() -> tuple[KeyPair, dict[str, KeyPair]]:
    op = KeyPair.from_seed(ORIGIN, b"o" * 32)
    return op, {role: KeyPair.from_seed(f"party-{role}", role.encode().ljust(32, b".")) for _, role, _, _ in STEPS}


def pg_run_writers(url: str, processes: int, n: int) -> float:
    """Events/s of ``processes`` writer processes appending ``n`` durable single appends each, at once."""
    import multiprocessing as mp

    op, parties = _keys_from_seed()
    with Ledger.create(url, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_pg_writer, args=(url, w, n, start, out)) for w in range(processes)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every writer has connected and waits
    start.set()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return processes * n / (max(e for _, e in spans) - min(s for s, _ in spans))


def pg_main(args: argparse.Namespace) -> None:
    server = _pg_server(args.store)
    made: list[str] = []

    def db() -> str:
        made.append(server.create_database("bench"))
        return made[-1]

    try:
        results: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for mode, name, run in (
                ("single", "single raw", lambda: pg_run_raw(db(), args.single, None)),
                ("single", "single ledger", lambda: run_ledger(db(), args.single, None)),  # type: ignore[arg-type]
                ("batched", "batched raw", lambda: pg_run_raw(db(), args.batched, args.batch_size)),
                ("batched", "batched ledger",
                 lambda: run_ledger(db(), args.batched, args.batch_size)),  # type: ignore[arg-type]
                ("batched", "many ledger", lambda: run_ledger_many(db(), args.batched, args.batch_size)),
                ("batched", "cores ledger", lambda: run_ledger_many(db(), args.batched, args.batch_size, None)),
                ("writers", "writers 1", lambda: pg_run_writers(db(), 1, args.writer_appends)),
                ("writers", f"writers {args.writers}", lambda: pg_run_writers(db(), args.writers, args.writer_appends)),
            ):  # fmt: skip
                if mode in args.only:
                    results.setdefault(name, []).append(run())
    finally:
        for url in made:
            server.drop_database(url)
        server.stop()
    best = {k: max(v) for k, v in results.items()}
    print(f"PostgreSQL appends, best of {args.rounds} alternating rounds (events/s)")
    print(f"{'mode':<40}{'ledger':>10}{'raw':>10}{'ratio':>8}{'goal':>7}")
    for mode, label, goal in (
        ("batched", f"batched ({args.batch_size}/commit, COPY)", 0.6),
        ("many", f"batched (append_many, {args.batch_size}/call)", 0.6),
        ("cores", "append_many, all cores", None),
        ("single", "single durable (1/commit)", None),
    ):
        if ("batched" if mode in ("many", "cores") else mode) not in args.only:
            continue
        led, raw = best[f"{mode} ledger"], best["batched raw" if mode in ("many", "cores") else f"{mode} raw"]
        verdict = "" if goal is None else f"{goal:>7.2f}  {'ok' if led / raw >= goal else 'BELOW'}"
        print(f"{label:<40}{led:>10.0f}{raw:>10.0f}{led / raw:>8.2f}{verdict}")
    if "writers" not in args.only:
        return
    one, many = best["writers 1"], best[f"writers {args.writers}"]
    print(f"{f'{args.writers} writer processes vs 1 (durable singles)':<40}{many:>10.0f}{one:>10.0f}{many / one:>8.2f}"
          f"{1.5:>7.2f}  {'ok' if many / one >= 1.5 else 'BELOW'}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=3000, help="events appended one commit each")
    ap.add_argument("--batched", type=int, default=30000, help="events appended in batches")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    ap.add_argument("--store", default="sqlite", help="sqlite (default), postgresql (a throwaway server) or a URL")
    ap.add_argument("--writers", type=int, default=4, help="PostgreSQL: writer processes against one")
    ap.add_argument("--writer-appends", type=int, default=300, help="PostgreSQL: durable appends per writer")
    ap.add_argument("--only", default="single,batched,writers",
                    help="PostgreSQL: the comparisons to run, comma-separated (single, batched, writers)")
    args = ap.parse_args()
    args.only = set(args.only.split(","))
    if not args.only or not args.only <= {"single", "batched", "writers"}:
        ap.error("--only takes single, batched and/or writers, comma-separated")
    if args.store != "sqlite":
        if not args.store.startswith("postgresql"):
            ap.error("--store is sqlite, postgresql or a postgresql:// URL")
        if "--single" not in sys.argv:
            args.single = 500
        if "--batched" not in sys.argv:
            args.batched = 10000
        pg_main(args)
        return
    with tempfile.TemporaryDirectory() as d:
        results: dict[str, list[float]] = {
            "single ledger": [],
            "single raw": [],
            "batched ledger": [],
            "batched raw": [],
            "many ledger": [],
            "cores ledger": [],
        }
        for r in range(args.rounds):
            results["single raw"].append(run_raw(Path(d) / f"sr{r}.db", args.single, None))
            results["single ledger"].append(run_ledger(Path(d) / f"sl{r}.db", args.single, None))
            results["batched raw"].append(run_raw(Path(d) / f"br{r}.db", args.batched, args.batch_size))
            results["batched ledger"].append(run_ledger(Path(d) / f"bl{r}.db", args.batched, args.batch_size))
            results["many ledger"].append(run_ledger_many(Path(d) / f"bm{r}.db", args.batched, args.batch_size))
            results["cores ledger"].append(
                run_ledger_many(Path(d) / f"bc{r}.db", args.batched, args.batch_size, None)
            )
    best = {k: max(v) for k, v in results.items()}
    print(f"appends, best of {args.rounds} alternating rounds (events/s)")
    print(f"{'mode':<34}{'ledger':>10}{'raw':>10}{'ratio':>8}{'goal':>7}")
    for mode, label, goal in (
        ("single", "single durable (WAL, FULL, 1/commit)", 0.70),
        ("batched", f"batched ({args.batch_size}/commit)", 0.85),
        ("many", f"batched (append_many, {args.batch_size}/call)", 0.85),
        ("cores", f"append_many, all {os.cpu_count()} cores", None),
    ):
        led, raw = best[f"{mode} ledger"], best["batched raw" if mode in ("many", "cores") else f"{mode} raw"]
        ratio = led / raw
        verdict = "" if goal is None else f"{goal:>7.2f}  {'ok' if ratio >= goal else 'BELOW'}"
        print(f"{label:<34}{led:>10.0f}{raw:>10.0f}{ratio:>8.2f}{verdict}")


if __name__ == "__main__":
    main()
