"""Opening a ledger: applying its operator entries (what every CLI call does before its first write or read of
the parties), with the latest checkpoint vouching for the entries below it, against verifying every one of
their signatures (the way before), measured in the same run, interleaved.

    python bench/open.py [--parties 2000] [--events 20000] [--runs 7]

The ledger holds the policy, ``--parties`` registrations, ``--events`` events, and a checkpoint over all of
them. The figure is the median time of ``Ledger.open(path)`` + ``parties()``, for each way, and its ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import ORIGIN, T0


def build(path: Path, parties: int, events: int) -> None:
    from provchain import ledger as ledger_mod
    from provchain.keys import KeyPair

    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    led = ledger_mod.Ledger.create(path, origin=ORIGIN, operator=op, at=T0, durability="normal")
    keys = [KeyPair.from_seed(f"party-{n:05d}", n.to_bytes(4, "big") * 8) for n in range(parties)]
    with led.batch():
        for kp in keys:
            led.register_party(kp.name, roles=["origin"], public_key=kp.public_key, at=T0)
        for n in range(events):
            led.append(f"SKU-{n:08d}", "origin", keys[n % parties], country="FR", at=T0 + 1000 + n)
    led.checkpoint()
    led.close()


def open_once(path: Path) -> float:
    from provchain.ledger import Ledger

    t = time.perf_counter()
    with Ledger.open(path, readonly=True) as led:
        led.parties()
    return time.perf_counter() - t


def main() -> None:
    from provchain import ledger as ledger_mod

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parties", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    vouch_min = ledger_mod._VOUCH_MIN
    times: dict[str, list[float]] = {"vouched": [], "every signature": []}
    with tempfile.TemporaryDirectory(prefix="pc-bench-open-") as folder:
        path = Path(folder) / "open.db"
        build(path, args.parties, args.events)
        for _ in range(args.runs):
            ledger_mod._VOUCH_MIN = vouch_min
            times["vouched"].append(open_once(path))
            ledger_mod._VOUCH_MIN = 1 << 62  # never vouch: verify every signature
            times["every signature"].append(open_once(path))
        ledger_mod._VOUCH_MIN = vouch_min
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"{args.parties + 1} operator entries, {args.events} events, checkpoint over all; medians of {args.runs}:")
    print(f"  open + parties, every signature verified: {med['every signature']:8.1f} ms")
    print(f"  open + parties, vouched by the checkpoint: {med['vouched']:8.1f} ms  "
          f"({med['every signature'] / med['vouched']:.1f}x faster)")


if __name__ == "__main__":
    main()
