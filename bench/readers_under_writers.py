"""Readers while writers append: how many audits, proofs and codes, and how many false findings.

Writer processes append small batches (one transaction each, so blocks of 16 leaves complete between any
two statements of a reader), while this process audits the file, proves an item, makes and verifies its
code, and reads its history, over and over. Every finding of an audit of an untouched ledger is false.

    python bench/readers_under_writers.py [--seconds 60] [--writers 2] [--pause 0.002]

Prints the counts and the false-finding rate (findings per audit); it must be 0.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ORIGIN, STEPS, T0

from provchain import KeyPair, Ledger, code
from provchain.audit import audit_path

HOUR = 3_600_000


def _writer(path: str, name: str, seed: bytes, prefix: str, seconds: float, pause: float, out: Any) -> None:
    key = KeyPair.from_seed(name, seed)
    n = 0
    try:
        with Ledger.open(path, clock=lambda: T0 + 10**10) as led:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                with led.batch():
                    for _ in range(3):
                        led.append(f"{prefix}-{n}", "origin", key, country="FR", at=T0 + HOUR)
                        n += 1
                time.sleep(pause)
        out.put(("ok", n))
    except Exception as exc:  # reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.002, help="seconds each writer sleeps between batches")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pc-bench-readers-") as d:
        path = Path(d) / "ledger.db"
        op = KeyPair.generate(ORIGIN)
        seeds = [bytes([k + 1]) * 32 for k in range(args.writers)]
        with Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10) as led:
            roles = {role for _, role, _, _ in STEPS}
            parties = {role: KeyPair.from_seed(f"party-{role}", bytes([40 + i]) * 32) for i, role in enumerate(roles)}
            for role, kp in parties.items():
                led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
            for n, (stage, role, country, data) in enumerate(STEPS):
                led.append("WATCHED", stage, parties[role], country=country, data=data, at=T0 + (n + 1) * HOUR)
            for k, seed in enumerate(seeds):
                kp = KeyPair.from_seed(f"writer-{k}", seed)
                led.register_party(kp.name, roles=["origin"], public_key=kp.public_key, at=T0)
            led.checkpoint()
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(str(path), f"writer-{k}", seed, f"W{k}", args.seconds, args.pause, out))
            for k, seed in enumerate(seeds)
        ]
        for p in procs:
            p.start()
        audits = proofs = codes = histories = findings = 0
        sizes: list[int] = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            report = audit_path(path, op.vkey, workers=1)
            audits += 1
            findings += report.finding_count
            sizes.append(report.size)
            with Ledger.open(path, operator=op, clock=lambda: T0 + 10**10) as led:
                led.prove("WATCHED")
                proofs += 1
                histories += len(led.history("WATCHED")) == len(STEPS)
                text = code.make(led, "WATCHED", at=T0 + 10 * HOUR)
            code.verify(text, op.vkey, at=T0 + 10 * HOUR)
            codes += 1
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    appended = sum(n for kind, n in results if kind == "ok")
    errors = [r for kind, r in results if kind != "ok"]
    print(f"{args.seconds:.0f} s, {args.writers} writers appending in batches of 3: {appended:,} events appended")
    print(f"  {audits} audits (ledger sizes {min(sizes):,} to {max(sizes):,}), {proofs} proofs, {codes} codes, "
          f"{histories} histories")  # fmt: skip
    rate = findings / max(audits, 1)
    print(f"  false findings: {findings} ({rate:.3f} per audit); writer errors: {errors or 'none'}")




if __name__ == "__main__":
    main()
