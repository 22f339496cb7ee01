"""Audit speed: entries per second at 100k and 1M entries, 1 worker and all cores, next to the raw verify loop.

The raw verify loop is the bottleneck the audit cannot beat: one Ed25519 verification per entry with
libsodium (PyNaCl's ``crypto_sign_open``, the backend of ``keys.verify_signature``) and nothing else
(no parsing, no rules, no Merkle tree, no I/O),
measured in the same run on signatures of the same shape. Each audit runs in a fresh process, so its
peak RSS (main process, and the largest worker) is its own. Each line also gives the CPU time per entry of
the main process (the serial part: reading, the rules, the tree; start-up included) and of the workers
(hashing, parsing, signatures), which on a loaded machine say more than the wall time: on ``c`` idle cores
the audit takes about ``max(main, (main + workers) / c)`` per entry.

    python bench/audit.py [--sizes 100000,1000000] [--workers 1,0] [--dir DIR]

``--workers 0`` means every core. ``--dir`` keeps the built ledgers there and reuses them next time
(building 1M entries takes a minute or two). Goals (issue #5): >= 0.8 of the raw single-core verify
rate per worker, x1.8 with 2 workers, <= 150 MB peak RSS at 1M entries; issue #20: the audit on all
cores >= 1.2 of libsodium's raw single-core loop. The ratios printed are against libsodium.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ORIGIN, STEPS, T0


def _operator():  # type: ignore[no-untyped-def]
    from provchain.keys import KeyPair

    return KeyPair.from_seed(ORIGIN, bytes(range(32)))


def build(path: Path, n: int) -> None:
    """A ledger of about ``n`` entries: six-event journeys, a checkpoint every 100k entries."""
    from provchain.keys import KeyPair
    from provchain.ledger import Ledger

    op = _operator()
    parties = {role: KeyPair.from_seed(f"party-{role}", bytes([i + 1]) * 32) for i, (_, role, _, _) in enumerate(STEPS)}
    t = time.perf_counter()
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, durability="normal", clock=lambda: T0 + 10**10)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
    k = 0
    while led.size < n:
        with led.batch():
            for _ in range(min(20000, n - led.size)):
                stage, role, country, data = STEPS[k % 6]
                led.append(f"SKU-{k // 6:08d}", stage, parties[role], country=country, data=data, at=T0 + 1000 + k)
                k += 1
        if led.size % 100_000 < 20000:
            led.checkpoint()
    led.checkpoint()
    led.close()
    print(f"  built {n:,} entries in {time.perf_counter() - t:.0f} s", flush=True)


def raw_verify_rate(n: int = 4000) -> dict[str, float]:
    """Verifies per second of the raw loop (key object cached), and through keys.verify_signature."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from provchain.entries import ENTRY_DOMAIN, Event, sign_body
    from provchain.keys import KeyPair, verify_signature

    kp = KeyPair.from_seed("party-appraiser", bytes([5]) * 32)
    work = []
    for i in range(n):
        ev = Event(
            origin=ORIGIN,
            at=T0 + i,
            signer=kp.key_id,
            item=f"SKU-{i:08d}",
            stage="appraisal",
            country="CN",
            prev=bytes(32),
            data={"certificate": "CCIQ-2025-0042", "verdict": "genuine"},
        )
        e = sign_body(ev, kp)
        work.append((ENTRY_DOMAIN + e.body, e.signature))
    pk = Ed25519PublicKey.from_public_bytes(kp.public_key)
    out: dict[str, float] = {}
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for msg, sig in work:
            pk.verify(sig, msg)
        best = max(best, n / (time.perf_counter() - t))
    out["raw_cryptography"] = best
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for msg, sig in work:
            verify_signature(kp.public_key, msg, sig)
        best = max(best, n / (time.perf_counter() - t))
    out["keys.verify_signature"] = best
    import nacl.bindings

    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for msg, sig in work:
            nacl.bindings.crypto_sign_open(sig + msg, kp.public_key)
        best = max(best, n / (time.perf_counter() - t))
    out["raw_pynacl"] = best
    return out


def child(path: str, workers: int) -> None:
    """Run one audit in this process and print its figures as JSON."""
    from provchain.audit import audit_path

    op = _operator()
    t = time.perf_counter()
    report = audit_path(path, op.vkey, workers=workers)
    dt = time.perf_counter() - t
    assert report.clean, report.summary()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    self_rss, kids_rss = me.ru_maxrss / 1024, kids.ru_maxrss / 1024
    print(
        json.dumps(
            {
                "size": report.size,
                "seconds": dt,
                "rate": report.size / dt,
                "workers": report.workers,
                "rss_main_mb": self_rss,
                "rss_worker_mb": kids_rss,
                # CPU time per entry (whole process, start-up included): the serial share and the workers'
                "cpu_main_us": (me.ru_utime + me.ru_stime) / report.size * 1e6,
                "cpu_workers_us": (kids.ru_utime + kids.ru_stime) / report.size * 1e6,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", default="1,0", help="comma-separated; 0 = every core")
    ap.add_argument("--dir", default=None, help="keep (and reuse) the built ledgers here")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "WORKERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    cores = os.cpu_count() or 1
    workers = [cores if int(w) == 0 else int(w) for w in args.workers.split(",")]
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pc-bench-audit-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"cores: {cores}; python {sys.version.split()[0]}; ledgers in {folder}")
    for n in (int(s) for s in args.sizes.split(",")):
        path = folder / f"audit-{n}.db"
        if not path.exists():
            build(path, n)
        raw = raw_verify_rate()
        print(
            f"\n{n:,} entries. raw verify loop (same run): cryptography {raw['raw_cryptography']:,.0f}/s"
            + f", PyNaCl (libsodium) {raw['raw_pynacl']:,.0f}/s"
            + f", keys.verify_signature {raw['keys.verify_signature']:,.0f}/s"
        )
        rates: dict[int, float] = {}
        for w in workers:
            # The host's speed drifts on shared machines: measure the raw loop right before and right after
            # each audit, and compare with their mean.
            before = raw_verify_rate()["raw_pynacl"]
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(w)], check=True, capture_output=True, text=True
            ).stdout
            after = raw_verify_rate()["raw_pynacl"]
            base = (before + after) / 2
            r = json.loads(out.strip().splitlines()[-1])
            rates[w] = r["rate"]
            line = (
                f"  workers={w}: {r['rate']:>8,.0f} entries/s  ({r['seconds']:.1f} s)  "
                f"{r['rate'] / base:.2f} of raw single-core libsodium, {r['rate'] / base / w:.2f} per worker "
                f"(raw {before:,.0f}/s before, {after:,.0f}/s after)  "
                f"peak RSS main {r['rss_main_mb']:.0f} MB, worker {r['rss_worker_mb']:.0f} MB; "
                f"CPU per entry: main {r['cpu_main_us']:.1f} us, workers {r['cpu_workers_us']:.1f} us "
                f"(raw verify {1e6 / base:.1f} us)"
            )
            if 1 in rates and w != 1:
                line += f"  speed-up x{r['rate'] / rates[1]:.2f} over 1 worker"
            print(line, flush=True)


if __name__ == "__main__":
    main()
