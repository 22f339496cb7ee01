"""Latency of a witnessed checkpoint on loopback: 0 witnesses vs 3, next to the raw limit of the same run.

Starts three ``provchain witness serve`` processes on 127.0.0.1 (free ports, fresh state files), makes a
ledger, and then, for each round, appends one event and signs a checkpoint:

* ``0 witnesses``: ``Ledger.checkpoint()`` alone (check the new entries, sign, store);
* ``3 witnesses``: ``witness_client.collect()`` with the three (sign as above, then ask all three in
  parallel with the consistency proof from the size each cosigned last, verify the three cosignatures and
  store them with the checkpoint);
* ``raw round trip``: one bare ``add-checkpoint`` POST of a ready body to one witness, on a fresh connection
  (verify the log signature, check and update the state durably, cosign): the floor the 3-witness figure
  cannot go under.

    python bench/witness.py [--rounds N]

Prints the median latency of each, and the ratios 3 witnesses / 0 witnesses and 3 witnesses / raw round trip.
"""

from __future__ import annotations

import argparse
import http.client
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ORIGIN, STEPS, T0

from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey
from provchain.witness_client import collect
from provchain.witness_server import format_add_checkpoint


def start_witness(tmp: Path, n: int, log_vkey: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """A witness process; returns it, its URL and its verifier key."""
    key = WitnessKey.generate(f"bench.example/w{n}")
    key.save(tmp / f"w{n}.key")
    args = [
        sys.executable, "-c", "from provchain.cli import main; main()", "witness", "serve",
        "--key", str(tmp / f"w{n}.key"), "--state", str(tmp / f"w{n}.state"), "--listen", "127.0.0.1:0",
        "--log", log_vkey,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
    lines.get(timeout=60)
    url = lines.get(timeout=60).decode().split()[-1]
    return proc, url, key.vkey


def post(url: str, body: bytes) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/add-checkpoint", body=body)
    status = conn.getresponse().status
    conn.close()
    return status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        op = KeyPair.generate(ORIGIN)
        maker = KeyPair.generate("party-origin")
        led = Ledger.create(tmp / "ledger.db", origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10)
        led.register_party(maker.name, roles=["origin"], public_key=maker.public_key, at=T0)
        witnesses = [start_witness(tmp, n, op.vkey) for n in range(3)]
        pairs = [(url, vkey) for _, url, vkey in witnesses]
        try:
            zero, three, raw = [], [], []
            stage, _, country, data = STEPS[0]
            first = collect(led, pairs)
            assert first.satisfied, first.failed
            for k in range(args.rounds):
                led.append(f"SKU-{k:06d}", stage, maker, country=country, data=data, at=T0 + k)
                t = time.perf_counter()
                led.checkpoint()
                zero.append(time.perf_counter() - t)
                led.append(f"SKU-{k:06d}-b", stage, maker, country=country, data=data, at=T0 + k)
                t = time.perf_counter()
                res = collect(led, pairs, timeout=30)
                three.append(time.perf_counter() - t)
                assert res.satisfied, res.failed
                # the raw round trip: the same checkpoint again, from its own size (cosigned again, same root)
                body = format_add_checkpoint(res.size, [], led.store.latest_checkpoint()[1])  # type: ignore[index]
                t = time.perf_counter()
                status = post(pairs[0][0], body)
                raw.append(time.perf_counter() - t)
                assert status == 200, status
        finally:
            for proc, _, _ in witnesses:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
            led.close()
    z, w, r = (statistics.median(x) * 1000 for x in (zero, three, raw))
    print(f"rounds: {args.rounds} (median latency, ms)")
    print(f"checkpoint, 0 witnesses:       {z:8.2f} ms")
    print(f"checkpoint, 3 witnesses:       {w:8.2f} ms")
    print(f"raw add-checkpoint round trip: {r:8.2f} ms  (one witness, ready body, fresh connection)")
    print(f"ratio 3 witnesses / 0 witnesses:    {w / z:6.2f}")
    print(f"ratio 3 witnesses / raw round trip: {w / r:6.2f}")


if __name__ == "__main__":
    main()
