"""provchain inside your own web service: mount ``create_app`` beside your routes.

    python examples/web_service.py OUTDIR

``shop`` stands for your application (Starlette here; FastAPI's ``app.mount`` works the same way). The ledger's
service is mounted at ``/provchain``: items, codes, remotely signed events, the scan register and the
verifier page. :func:`main` runs the shop with uvicorn on 127.0.0.1 (a free port), plays a courier and a buyer
against it with httpx, prints the exchange and stops. docs/howto/run-the-service.md covers deployment.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from provchain import KeyPair, Ledger
from provchain.entries import ENTRY_DOMAIN
from provchain.web import create_app
from provchain.web.server import uvicorn_config

ORIGIN = "example.com/acme-ledger"


async def orders(request: Request) -> JSONResponse:  # one of the shop's own routes
    return JSONResponse({"orders": ["order-4711"]})


def make_shop(ledger: Path, operator: KeyPair) -> Starlette:
    """Your application, with provchain's service mounted at /provchain."""
    provchain = create_app(ledger, operator=operator)  # the operator key signs codes; parties sign themselves
    return Starlette(routes=[Route("/orders", orders), Mount("/provchain", app=provchain)])


def setup(outdir: Path) -> tuple[Path, KeyPair, dict[str, KeyPair]]:
    """A ledger with four parties and the first three steps of SERUM-0001."""
    operator = KeyPair.generate(ORIGIN)
    roles = {"grasse-labs": "origin", "shanghai-customs-broker": "customs", "hz-bonded-wh-3": "warehouse",
             "sf-express": "courier"}
    parties = {name: KeyPair.generate(name) for name in roles}
    path = outdir / "ledger.db"
    with Ledger.create(path, origin=ORIGIN, operator=operator) as led:
        for name, role in roles.items():
            led.register_party(name, [role], parties[name].public_key)
        led.append("SERUM-0001", "origin", parties["grasse-labs"], country="FR", place="Grasse")
        led.append("SERUM-0001", "import", parties["shanghai-customs-broker"], country="CN")
        led.append("SERUM-0001", "warehouse", parties["hz-bonded-wh-3"], country="CN")
    return path, operator, parties


def main(outdir: str | Path | None = None) -> int:
    out = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="provchain-web-"))
    out.mkdir(parents=True, exist_ok=True)
    ledger, operator, parties = setup(out)
    server = uvicorn.Server(uvicorn_config(make_shop(ledger, operator), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    seen = []
    try:
        print("GET /orders ->", api.get("/orders").json()["orders"])

        # The courier prepares its step on the service, signs it on its own machine, and submits it.
        courier = parties["sf-express"]
        prepared = api.post("/provchain/v1/events/prepare", json={
            "item": "SERUM-0001", "stage": "delivery", "country": "CN", "key_id": courier.key_id.hex()}).json()
        signature = courier.sign(ENTRY_DOMAIN + bytes.fromhex(prepared["body"])).hex()
        resp = api.post("/provchain/v1/events", json={"body": prepared["body"], "signature": signature})
        print(f"POST /provchain/v1/events (delivery, signed by the courier) -> {resp.status_code} "
              f"entry {resp.json()['index']}")
        seen.append(resp.status_code)

        history = api.get("/provchain/v1/items/SERUM-0001").json()
        print("GET /provchain/v1/items/SERUM-0001 ->", " -> ".join(e["stage"] for e in history["events"]))
        print("GET /provchain/v1/items/SERUM-9999 ->", api.get("/provchain/v1/items/SERUM-9999").status_code)

        code = api.get("/provchain/v1/items/SERUM-0001/code").json()["code"]
        for _ in range(2):
            scan = api.post("/provchain/v1/scans", json={"code": code, "country": "CN"}).json()
            print(f"POST /provchain/v1/scans -> {scan['verdict']}, scans={scan['scans']}, claimed={scan['claimed']}")
        for claimant in ("order-4711", "order-9999"):
            resp = api.post("/provchain/v1/claims", json={"code": code, "claimant": claimant})
            print(f"POST /provchain/v1/claims ({claimant}) -> {resp.status_code}")
            seen.append(resp.status_code)
        scan = api.post("/provchain/v1/scans", json={"code": code}).json()
        print("after the claim, a scan warns:", [w["code"] for w in scan["warnings"]])
        seen.append(scan["scans"])
    finally:
        api.close()
        server.should_exit = True
        thread.join()
    ok = seen == [201, 201, 409, 3]
    print("OK: mounted, recorded, scanned and claimed as expected" if ok else f"FAILED: {seen}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
