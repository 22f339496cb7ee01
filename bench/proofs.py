"""Merkle proofs from a large ledger, next to pymerkle's SqliteTree over the same leaves in the same run.

Builds a ledger of SIZE entries through the Ledger API (batched appends, signed events, many items with
journeys of one to three events), and a pymerkle SqliteTree over the same entry bodies (pymerkle hashes
them itself with the RFC 9162 prefixes, so both trees must have the same root: the script checks it).
Then times, for both:

* warm: the steady state of a server: both database files read once into the OS page cache, then a
  warm-up pass in this process, then the median over --ops random requests, measured in chunks that
  alternate between the two systems so that both see the same machine;
* cold: the first request after opening the file in a fresh process, with the database files evicted
  from the OS page cache first (posix_fadvise DONTNEED on the files; --drop-all-caches also writes
  /proc/sys/vm/drop_caches, which needs root and disturbs everything else running on the machine).

    python bench/proofs.py [--size 1000000] [--dir DIR] [--ops 2000] [--cold-runs 7]

With --dir the files are kept and reused by the next run of the same size. Goals at 1M entries: inclusion
proof <= 0.3 ms warm and <= 5 ms for the first proof after a cold open, and >= 10x pymerkle.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ORIGIN, T0

from provchain import merkle
from provchain.keys import KeyPair
from provchain.ledger import Ledger

ROLES = {"origin": "grasse-labs", "customs": "sh-customs", "warehouse": "hz-bonded-wh-3"}
STAGES = [("origin", "origin", "FR"), ("import", "customs", "CN"), ("warehouse", "warehouse", "CN")]
GOAL_WARM_MS, GOAL_COLD_MS, GOAL_RATIO = 0.3, 5.0, 10.0
OPS = ("root", "inclusion", "consistency")


def _keys() -> tuple[KeyPair, dict[str, KeyPair]]:
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    return op, {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(ROLES.items())}


def build_ledger(path: Path, size: int, batch: int) -> float:
    """Append events until the ledger holds ``size`` entries; returns the seconds it took."""
    op, parties = _keys()
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**12)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    t = time.perf_counter()
    n = led.size
    item = 0
    report = 100_000
    per_group = max(1, batch // 2)  # journeys average two events: about ``batch`` appends per commit
    while n < size:
        # a group of items with journeys of 1, 2 or 3 events, recorded stage by stage across the group
        group = [(f"SKU-{item + k:08d}", 1 + (item + k) % 3) for k in range(per_group)]
        item += len(group)
        with led.batch():
            for step, (stage, role, country) in enumerate(STAGES):
                for name, length in group:
                    if step < length and n < size:
                        led.append(name, stage, parties[role], country=country, data={"lot": name[-4:]}, at=T0 + n)
                        n += 1
        if n >= report:
            print(f"  ledger: {n:,} entries, {n / (time.perf_counter() - t):,.0f}/s", file=sys.stderr)
            report += 100_000
    led.close()
    return time.perf_counter() - t


def build_pymerkle(ledger_path: Path, path: Path) -> float:
    """A pymerkle SqliteTree over the ledger's entry bodies, in ledger order; returns the seconds it took."""
    from pymerkle import SqliteTree

    t = time.perf_counter()
    with Ledger.open(ledger_path, readonly=True) as led, SqliteTree(str(path)) as tree:
        tree.append_entries(e.body for e in led.entries())
    return time.perf_counter() - t


# --- what is timed ----------------------------------------------------------------------------------


def _requests(size: int, count: int, seed: int) -> list[tuple[int, int]]:
    """``(index, old_size)`` pairs: a leaf to prove and an older tree size to prove consistency from."""
    rnd = random.Random(seed)
    return [(rnd.randrange(size), rnd.randrange(1, size)) for _ in range(count)]


class Provchain:
    """The operations on a provchain ledger, by the public API only."""

    name = "provchain"

    def __init__(self, path: Path) -> None:
        self.led = Ledger.open(path, readonly=True)
        self.size = self.led.size

    def root(self, _req: tuple[int, int]) -> object:
        return self.led.root()

    def inclusion(self, req: tuple[int, int]) -> object:
        return self.led.inclusion_proof(req[0])

    def consistency(self, req: tuple[int, int]) -> object:
        return self.led.consistency_proof(req[1])

    def close(self) -> None:
        self.led.close()


class Pymerkle:
    """The same operations on a pymerkle SqliteTree (whose indices count from one)."""

    name = "pymerkle"

    def __init__(self, path: Path) -> None:
        from pymerkle import SqliteTree

        self.tree = SqliteTree(str(path))
        self.size = self.tree.get_size()

    def root(self, _req: tuple[int, int]) -> object:
        return self.tree.get_root()

    def inclusion(self, req: tuple[int, int]) -> object:
        return self.tree.prove_inclusion(req[0] + 1)

    def consistency(self, req: tuple[int, int]) -> object:
        return self.tree.prove_consistency(req[1])

    def close(self) -> None:
        self.tree.close()


SYSTEMS: dict[str, Callable[[Path], Provchain | Pymerkle]] = {"provchain": Provchain, "pymerkle": Pymerkle}


def warm(systems: dict[str, Provchain | Pymerkle], ops: int, seed: int, chunks: int = 8) -> dict[str, dict[str, float]]:
    """Median milliseconds per request of each operation and system, after a warm-up pass over other
    requests. The measured requests are split into chunks that alternate between the systems (who goes
    first alternates too), so that both see the same machine: on a shared host the speed drifts by tens
    of percent within a minute, which measuring one system after the other turned into the ratio."""
    out: dict[str, dict[str, float]] = {kind: {} for kind in systems}
    for op in OPS:
        for system in systems.values():
            fn = getattr(system, op)
            for req in _requests(system.size, ops, seed):  # warm-up: other random requests
                fn(req)
        some = next(iter(systems.values()))
        reqs = list(_requests(some.size, ops, seed + 1))
        step = -(-len(reqs) // chunks)
        times: dict[str, list[int]] = {kind: [] for kind in systems}
        for c in range(chunks):
            order = list(systems) if c % 2 == 0 else list(reversed(systems))
            for kind in order:
                fn = getattr(systems[kind], op)
                for req in reqs[c * step : (c + 1) * step]:
                    t = time.perf_counter_ns()
                    fn(req)
                    times[kind].append(time.perf_counter_ns() - t)
        for kind in systems:
            out[kind][op] = statistics.median(times[kind]) / 1e6
    return out


def preload(path: Path) -> None:
    """Read a database file once, so that the warm measurements start from the OS page cache (as a server's
    would) whatever an earlier cold run evicted."""
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass


def evict(paths: list[Path], drop_all: bool) -> None:
    """Push the files out of the OS page cache, as far as we are allowed to."""
    os.sync()
    for p in paths:
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    if drop_all:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def child(kind: str, path: Path, op: str, index: int, old: int, drop_all: bool) -> None:
    """In a fresh process: evict the files, open, time the first and the second request, print JSON."""
    evict([path, Path(f"{path}-wal"), Path(f"{path}-shm")], drop_all)
    t0 = time.perf_counter_ns()
    system = SYSTEMS[kind](path)
    t1 = time.perf_counter_ns()
    fn = getattr(system, op)
    fn((index, old))
    t2 = time.perf_counter_ns()
    fn((index ^ 1 if index ^ 1 < system.size else index, old))
    t3 = time.perf_counter_ns()
    system.close()
    print(json.dumps({"open": (t1 - t0) / 1e6, "first": (t2 - t1) / 1e6, "second": (t3 - t2) / 1e6}))


def cold(kind: str, path: Path, size: int, runs: int, drop_all: bool) -> dict[str, dict[str, float]]:
    """Median of ``runs`` fresh processes per operation: open time, first and second request."""
    out: dict[str, dict[str, float]] = {}
    for op in OPS:
        rows = []
        for index, old in _requests(size, runs, seed=99):
            cmd = [sys.executable, __file__, "--child", kind, "--db", str(path), "--op", op]
            cmd += ["--index", str(index), "--old", str(old)] + (["--drop-all-caches"] if drop_all else [])
            res = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows.append(json.loads(res.stdout))
        out[op] = {k: statistics.median(r[k] for r in rows) for k in ("open", "first", "second")}
    return out


# --- checks and report --------------------------------------------------------------------------------


def check_same_tree(ledger_path: Path, tree_path: Path, samples: int) -> str:
    """Both trees have the same size and root, and provchain's proofs verify; returns a summary line."""
    p, q = Provchain(ledger_path), Pymerkle(tree_path)
    try:
        if p.size != q.size:
            raise SystemExit(f"size mismatch: provchain {p.size}, pymerkle {q.size}")
        root = p.led.root()
        same = "same root" if q.tree.get_root() == root else "DIFFERENT ROOTS"
        for index, old in _requests(p.size, samples, seed=7):
            leaf = p.led.entry(index).leaf_hash
            merkle.verify_inclusion(leaf, index, p.size, p.led.inclusion_proof(index), root)
            merkle.verify_consistency(old, p.size, p.led.consistency_proof(old), p.led.root(old), root)
        return f"{p.size:,} leaves in both trees, {same}; {samples} provchain proofs verified"
    finally:
        p.close()
        q.close()


def _fmt(ms: float) -> str:
    return f"{ms * 1000:,.0f} us" if ms < 1 else f"{ms:,.2f} ms"


def report(size: int, warm_t: dict[str, dict[str, float]], cold_t: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"\nMerkle proofs at {size:,} entries (median; ratio = pymerkle / provchain)")
    print(f"{'operation':<38}{'provchain':>12}{'pymerkle':>12}{'ratio':>9}  goal")
    rows: list[tuple[str, float, float, str]] = []
    for op in OPS:
        goal = f"<= {GOAL_WARM_MS} ms, >= {GOAL_RATIO:.0f}x" if op == "inclusion" else ""
        rows.append((f"{op} (warm)", warm_t["provchain"][op], warm_t["pymerkle"][op], goal))
    for op in OPS:
        goal = f"<= {GOAL_COLD_MS:.0f} ms, >= {GOAL_RATIO:.0f}x" if op == "inclusion" else ""
        rows.append(
            (f"{op} (first after cold open)", cold_t["provchain"][op]["first"], cold_t["pymerkle"][op]["first"], goal)
        )
    for op in OPS:
        rows.append(
            (f"{op} (second after cold open)", cold_t["provchain"][op]["second"], cold_t["pymerkle"][op]["second"], "")
        )
    rows.append(("open (cold)", cold_t["provchain"]["inclusion"]["open"], cold_t["pymerkle"]["inclusion"]["open"], ""))
    for label, a, b, goal in rows:
        verdict = ""
        if goal:
            limit = GOAL_WARM_MS if "warm" in label else GOAL_COLD_MS
            time_ok, ratio_ok = a <= limit, b / a >= GOAL_RATIO
            verdict = (
                "ok"
                if time_ok and ratio_ok
                else f"time {'ok' if time_ok else 'MISSED'}, ratio {'ok' if ratio_ok else 'MISSED'}"
            )
        print(f"{label:<38}{_fmt(a):>12}{_fmt(b):>12}{b / a:>8.1f}x  {goal} {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000, help="entries in the ledger (default 1,000,000)")
    ap.add_argument("--batch", type=int, default=1000, help="appends per commit while building")
    ap.add_argument("--ops", type=int, default=2000, help="warm requests per operation")
    ap.add_argument("--cold-runs", type=int, default=7, help="fresh processes per operation and system")
    ap.add_argument("--dir", type=Path, default=None, help="keep (and reuse) the database files here")
    ap.add_argument("--drop-all-caches", action="store_true", help="also write /proc/sys/vm/drop_caches (root)")
    ap.add_argument("--child", choices=sorted(SYSTEMS), help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--op", choices=OPS, help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--old", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.db, args.op, args.index, args.old, args.drop_all_caches)
        return
    with _workdir(args.dir) as d:
        run(args, d)


def _workdir(keep: Path | None) -> Any:
    import contextlib

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(keep)
    return tempfile.TemporaryDirectory(prefix="provchain-bench-")


def run(args: argparse.Namespace, d: str | Path) -> None:
    ledger_path = Path(d) / f"ledger-{args.size}.db"
    tree_path = Path(d) / f"pymerkle-{args.size}.db"
    if not ledger_path.exists():
        secs = build_ledger(ledger_path, args.size, args.batch)
        print(f"built the ledger: {args.size:,} signed entries in {secs:,.1f} s ({args.size / secs:,.0f}/s)")
    if not tree_path.exists():
        secs = build_pymerkle(ledger_path, tree_path)
        print(f"built the pymerkle SqliteTree over the same bodies in {secs:,.1f} s")
    mib = {p.name: p.stat().st_size / 2**20 for p in (ledger_path, tree_path)}
    print("files: " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in mib.items()))
    print(check_same_tree(ledger_path, tree_path, samples=200))
    paths = {"provchain": ledger_path, "pymerkle": tree_path}
    systems: dict[str, Provchain | Pymerkle] = {}
    try:
        for kind, make in SYSTEMS.items():
            preload(paths[kind])
            systems[kind] = make(paths[kind])
        warm_t = warm(systems, args.ops, seed=1)
    finally:
        for system in systems.values():
            system.close()
    cold_t = {kind: cold(kind, paths[kind], args.size, args.cold_runs, args.drop_all_caches) for kind in SYSTEMS}
    report(args.size, warm_t, cold_t)
    evicted = "posix_fadvise(DONTNEED) on the files" + (" + drop_caches" if args.drop_all_caches else "")
    print(f"cold: a fresh process per request, {args.cold_runs} runs per operation; evicted: {evicted}")


if __name__ == "__main__":
    main()
