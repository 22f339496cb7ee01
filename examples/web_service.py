"""provchain inside a small web service: record events and scan codes over HTTP (standard library only).

    python examples/web_service.py OUTDIR

Endpoints (JSON in, JSON out):

* ``POST /record`` ``{"item", "stage", "party", "country", "place"?, "data"?}``: the service signs the event with
  the key it holds for ``party`` (a custodial setup; see examples/remote_party.py for parties that sign
  themselves) and appends it. 201 with the entry's index and leaf hash; 422 when the ledger refuses it
  (wrong role, wrong order, ...); 400 for a malformed request.
* ``GET /items/<id>``: the item's history as the ledger holds it. 404 for an unknown item.
* ``GET /items/<id>/code``: the item's code (``PC1:...``), signed by the operator.
* ``GET /scan?code=PC1:...``: verify a code offline against the operator key; 200 with the report, 422 when refused,
  400 when unreadable.

:func:`make_server` binds 127.0.0.1 on the port given (0: any free port) and nothing else. :func:`main` starts
it in a thread, plays a client against it with urllib, prints the exchange and stops it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from provchain import FormatError, InputError, KeyPair, Ledger, ProvchainError, VerificationError
from provchain import code as item_code

ORIGIN = "example.com/acme-ledger"


class Service:
    """The application: a ledger file, the operator's key and the keys the service holds for its parties."""

    def __init__(self, ledger_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
        self.ledger_path = ledger_path
        self.operator = operator
        self.parties = parties
        self.lock = threading.Lock()  # one request at a time touches the ledger from this process

    def record(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            signer = self.parties[request["party"]]
            item, stage, country = request["item"], request["stage"], request["country"]
        except (KeyError, TypeError):
            return HTTPStatus.BAD_REQUEST, {"error": "need item, stage, a known party and country"}
        with self.lock, Ledger.open(self.ledger_path) as led:
            entry = led.append(item, stage, signer, country=country, place=request.get("place"),
                               data=request.get("data"))
        return HTTPStatus.CREATED, {"index": entry.index, "leaf_hash": entry.leaf_hash.hex()}

    def history(self, item: str) -> tuple[int, dict[str, Any]]:
        with self.lock, Ledger.open(self.ledger_path, readonly=True) as led:
            events = [e.to_json() for e in led.history(item)]
        if not events:
            return HTTPStatus.NOT_FOUND, {"error": f"no events for item {item!r}"}
        return HTTPStatus.OK, {"item": item, "events": events}

    def code(self, item: str) -> tuple[int, dict[str, Any]]:
        with self.lock, Ledger.open(self.ledger_path, operator=self.operator) as led:
            return HTTPStatus.OK, {"item": item, "code": item_code.make(led, item)}

    def scan(self, text: str) -> tuple[int, dict[str, Any]]:
        try:
            report = item_code.verify(text, self.operator.vkey)
        except VerificationError as exc:
            refused = {"verified": False, "error": type(exc).__name__, "message": str(exc)}
            return HTTPStatus.UNPROCESSABLE_ENTITY, refused
        except FormatError as exc:
            return HTTPStatus.BAD_REQUEST, {"verified": False, "error": type(exc).__name__, "message": str(exc)}
        return HTTPStatus.OK, report.to_json()


def make_server(service: Service, port: int = 0) -> HTTPServer:
    """An HTTP server for ``service`` on 127.0.0.1:``port`` (0 picks a free port; see ``server_address``)."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, call: Any, *args: Any) -> None:
            try:
                status, body = call(*args)
            except VerificationError as exc:  # refused by the ledger's rules
                status, body = HTTPStatus.UNPROCESSABLE_ENTITY, {"error": type(exc).__name__, "message": str(exc)}
            except (InputError, FormatError) as exc:  # a bad argument
                status, body = HTTPStatus.BAD_REQUEST, {"error": type(exc).__name__, "message": str(exc)}
            except ProvchainError as exc:  # the ledger cannot do it right now (busy, ...)
                status, body = HTTPStatus.SERVICE_UNAVAILABLE, {"error": type(exc).__name__, "message": str(exc)}
            except Exception as exc:  # a bug: answer 500 rather than drop the connection
                status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(exc).__name__, "message": str(exc)}
            self._reply(status, body)

        def do_POST(self) -> None:
            if self.path != "/record":
                return self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
            try:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(min(length, 65536)))
            except ValueError:
                return self._reply(HTTPStatus.BAD_REQUEST, {"error": "the body must be JSON"})
            if not isinstance(request, dict):
                return self._reply(HTTPStatus.BAD_REQUEST, {"error": "the body must be a JSON object"})
            self._handle(service.record, request)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
            if parts == ["scan"]:
                codes = urllib.parse.parse_qs(url.query).get("code", [])
                if len(codes) != 1:
                    return self._reply(HTTPStatus.BAD_REQUEST, {"error": "give one code: /scan?code=PC1:..."})
                return self._handle(service.scan, codes[0])
            if len(parts) == 2 and parts[0] == "items":
                return self._handle(service.history, parts[1])
            if len(parts) == 3 and parts[0] == "items" and parts[2] == "code":
                return self._handle(service.code, parts[1])
            self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the example's output readable

    return HTTPServer(("127.0.0.1", port), Handler)


def setup(outdir: Path) -> Service:
    """A fresh ledger with the five parties of the cross-border journey, and the service around it."""
    operator = KeyPair.generate(ORIGIN)
    roles = {"grasse-labs": "origin", "shanghai-customs-broker": "customs", "hz-bonded-wh-3": "warehouse",
             "cciq-inspection": "appraiser", "sf-express": "courier"}
    parties = {name: KeyPair.generate(name) for name in roles}
    path = outdir / "ledger.db"
    with Ledger.create(path, origin=ORIGIN, operator=operator) as led:
        for name, kp in parties.items():
            led.register_party(name, [roles[name]], kp.public_key)
    return Service(path, operator, parties)


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """One JSON request to the service; returns the status and the decoded body (errors included)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def main(outdir: str | Path | None = None) -> int:
    out = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="provchain-web-"))
    out.mkdir(parents=True, exist_ok=True)
    service = setup(out)
    server = make_server(service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    base = f"http://127.0.0.1:{port}"
    print(f"provchain web service on {base} (ledger {service.ledger_path})")
    ok = True
    try:
        steps: list[dict[str, Any]] = [
            {"item": "SERUM-0001", "stage": "origin", "party": "grasse-labs", "country": "FR", "place": "Grasse"},
            {"item": "SERUM-0001", "stage": "import", "party": "shanghai-customs-broker", "country": "CN"},
            {"item": "SERUM-0001", "stage": "delivery", "party": "sf-express", "country": "CN"},  # too early
            {"item": "SERUM-0001", "stage": "warehouse", "party": "hz-bonded-wh-3", "country": "CN",
             "data": {"bin": "A-07"}},
            {"item": "SERUM-0001", "stage": "delivery", "party": "sf-express", "country": "CN", "place": "Beijing"},
        ]
        for step in steps:
            status, body = call(base, "POST", "/record", step)
            detail = f"entry {body['index']}" if status == HTTPStatus.CREATED else f"{body['error']}: {body['message']}"
            print(f"POST /record {step['stage']:<10} -> {status} {detail}")

        status, body = call(base, "GET", "/items/SERUM-0001")
        print(f"GET /items/SERUM-0001 -> {status} {' -> '.join(e['stage'] for e in body['events'])}")
        ok &= status == HTTPStatus.OK and len(body["events"]) == 4

        status, body = call(base, "GET", "/items/SERUM-0001/code")
        text = body["code"]
        print(f"GET /items/SERUM-0001/code -> {status} {text[:24]}... ({len(text)} characters)")

        status, body = call(base, "GET", "/scan?" + urllib.parse.urlencode({"code": text}))
        print(f"GET /scan (genuine) -> {status} verified={body['verified']} events={len(body['events'])}")
        ok &= status == HTTPStatus.OK

        forged_text = replace(item_code.parse(text, ORIGIN), item="SERUM-0002").payload()
        status, body = call(base, "GET", "/scan?" + urllib.parse.urlencode({"code": forged_text}))
        print(f"GET /scan (copied onto another item) -> {status} {body['error']}")
        ok &= status == HTTPStatus.UNPROCESSABLE_ENTITY

        status, body = call(base, "GET", "/items/SERUM-9999")
        print(f"GET /items/SERUM-9999 -> {status} {body['error']}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    print("OK: the service recorded, refused, served and verified as expected" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
