"""The service under load: 200 concurrent clients on loopback, latency p50/p99, next to a raw limit of the same run.

A server process runs uvicorn (provchain's config: header deadline, limit_concurrency) with either

* ``service``: :func:`provchain.web.create_app` on a ledger of 5 parties and ``--items`` three-event items
  (rate limits off: every client is 127.0.0.1); each request is either ``POST /v1/scans`` of a genuine code
  (verify the code, then one register transaction with fsync) or ``GET /v1/items/{item}`` (read the history
  and verify each event's signature), half and half;
* ``raw``: a bare ASGI app that answers the same routes with a fixed JSON body without reading or writing
  anything: the limit of uvicorn, the loopback and this client on this machine.

The client is one asyncio process with ``--clients`` httpx connections, each sending ``--requests`` requests
one after the other (so at most ``--clients`` requests are in flight: bounded). Every answer must be 200 with
the expected JSON; the script exits 1 if any request failed.

    python bench/service.py [--clients 200] [--requests 5] [--items 50]

Prints, for each server, the requests per second, p50 and p99 latency and errors, then the ratio
service / raw of the throughput. The machine's other load moves these figures; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ORIGIN

from provchain import code as item_code
from provchain.keys import KeyPair
from provchain.ledger import Ledger

SERVER = r"""
import json, socket, sys
from provchain.web.server import uvicorn_config, run
kind, ledger, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "service":
    from provchain.web import create_app
    app = create_app(ledger, rate_limit=None)
else:
    BODY = json.dumps({"verdict": "verified", "item": "X", "scans": 1}).encode()
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": BODY})
run(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning"))
"""


def setup(folder: Path, items: int) -> tuple[Path, list[str]]:
    """A ledger with ``items`` three-event journeys; returns its path and one code per item."""
    op = KeyPair.generate(ORIGIN)
    roles = {"maker": "origin", "broker": "customs", "depot": "warehouse"}
    parties = {name: KeyPair.generate(name) for name in roles}
    path = folder / "ledger.db"
    with Ledger.create(path, origin=ORIGIN, operator=op) as led:
        for name, kp in parties.items():
            led.register_party(name, [roles[name]], kp.public_key)
        with led.batch():
            for i in range(items):
                item = f"SKU-{i:05d}"
                led.append(item, "origin", parties["maker"], country="FR")
                led.append(item, "import", parties["broker"], country="CN")
                led.append(item, "warehouse", parties["depot"], country="CN")
        led.checkpoint()
        codes = [item_code.make(led, f"SKU-{i:05d}") for i in range(items)]
    return path, codes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, ledger: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, kind, str(ledger), str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/v1", timeout=2)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {kind} server did not start") from None
            time.sleep(0.05)


async def load(base: str, codes: list[str], clients: int, requests: int) -> tuple[list[float], int, float]:
    """Run the clients; returns every latency (s), the number of failed requests and the wall time."""
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Event()

    async def client(n: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
            await gate.wait()
            for r in range(requests):
                k = (n * requests + r) % len(codes)
                t = time.perf_counter()
                try:
                    if r % 2 == 0:
                        resp = await c.post("/v1/scans", json={"code": codes[k]})
                        ok = resp.status_code == 200 and resp.json().get("verdict") == "verified"
                    else:
                        resp = await c.get(f"/v1/items/SKU-{k:05d}")
                        ok = resp.status_code == 200 and "item" in resp.json()
                except (httpx.HTTPError, json.JSONDecodeError):
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(kind: str, ledger: Path, codes: list[str], clients: int, requests: int) -> tuple[float, int]:
    proc, base = start(kind, ledger)
    try:
        latencies, errors, wall = asyncio.run(load(base, codes, clients, requests))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    rps = len(latencies) / wall
    print(
        f"{kind:<8} {len(latencies):>6} requests from {clients} clients: {rps:8.0f} req/s  "
        f"p50 {percentile(latencies, 0.50) * 1000:7.1f} ms  p99 {percentile(latencies, 0.99) * 1000:7.1f} ms  "
        f"errors {errors}"
    )
    return rps, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger, codes = setup(Path(tmp), args.items)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; server and client on 127.0.0.1")
        raw_rps, raw_errors = run("raw", ledger, codes, args.clients, args.requests)
        rps, errors = run("service", ledger, codes, args.clients, args.requests)
    print(f"service / raw throughput: {rps / raw_rps:.2f}")
    return 1 if errors or raw_errors else 0


if __name__ == "__main__":
    sys.exit(main())
