"""Signed appends per second, next to the raw limit measured in the same run.

The raw limit does the irreducible work of an append and nothing else: canonical msgpack encode of an
event of the same shape, SHA-256 leaf hash, Ed25519 sign, and one SQLite INSERT into a table of the same
columns, with the same commit pattern (WAL; one commit per event with synchronous=FULL for "single
durable", one commit per BATCH events for "batched"). The ledger additionally reads the item's head,
checks the policy, key and chain, and writes the Merkle tree's new nodes.

    python bench/append.py [--single N] [--batched N] [--batch-size B]

Prints events/s for each mode and the ratio ledger / raw. Goals: batched >= 0.75, single >= 0.70.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import tempfile
import time
from pathlib import Path

import msgpack
from common import ORIGIN, STEPS, T0

from provchain.entries import ENTRY_DOMAIN
from provchain.keys import KeyPair
from provchain.ledger import Ledger


def _keys() -> tuple[KeyPair, dict[str, KeyPair]]:
    op = KeyPair.generate(ORIGIN)
    parties = {role: KeyPair.generate(f"party-{role}") for _, role, _, _ in STEPS}
    return op, parties


def run_ledger(path: Path, n: int, batch: int | None) -> float:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=3000, help="events appended one commit each")
    ap.add_argument("--batched", type=int, default=30000, help="events appended in batches")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        results: dict[str, list[float]] = {
            "single ledger": [],
            "single raw": [],
            "batched ledger": [],
            "batched raw": [],
        }
        for r in range(args.rounds):
            results["single raw"].append(run_raw(Path(d) / f"sr{r}.db", args.single, None))
            results["single ledger"].append(run_ledger(Path(d) / f"sl{r}.db", args.single, None))
            results["batched raw"].append(run_raw(Path(d) / f"br{r}.db", args.batched, args.batch_size))
            results["batched ledger"].append(run_ledger(Path(d) / f"bl{r}.db", args.batched, args.batch_size))
    best = {k: max(v) for k, v in results.items()}
    print(f"appends, best of {args.rounds} alternating rounds (events/s)")
    print(f"{'mode':<34}{'ledger':>10}{'raw':>10}{'ratio':>8}{'goal':>7}")
    for mode, label, goal in (
        ("single", "single durable (WAL, FULL, 1/commit)", 0.70),
        ("batched", f"batched ({args.batch_size}/commit)", 0.75),
    ):
        led, raw = best[f"{mode} ledger"], best[f"{mode} raw"]
        ratio = led / raw
        print(f"{label:<34}{led:>10.0f}{raw:>10.0f}{ratio:>8.2f}{goal:>7.2f}  {'ok' if ratio >= goal else 'BELOW'}")


if __name__ == "__main__":
    main()
