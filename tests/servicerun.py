"""Helpers of the service tests: a ledger with the five parties of the journey, and a real uvicorn on 127.0.0.1.

:func:`running` starts uvicorn (with provchain's header deadline) in a thread on a free port of the loopback
interface and stops it on exit; tests drive it with httpx or raw sockets. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from provchain import KeyPair, Ledger
from provchain.entries import ENTRY_DOMAIN, Entry
from provchain.web.server import uvicorn_config

ORIGIN = "example.com/acme-ledger"
ROLES = {
    "grasse-labs": "origin",
    "shanghai-customs-broker": "customs",
    "hz-bonded-wh-3": "warehouse",
    "cciq-inspection": "appraiser",
    "sf-express": "courier",
}
TOKEN = "operator-token-0123456789abcdef"


@dataclass
class World:
    """A ledger file, its operator and its parties' keys (the parties' keys stay in the test: 'their machines')."""

    path: Path
    operator: KeyPair
    parties: dict[str, KeyPair]

    def record(self, item: str, *steps: tuple[str, str, str]) -> None:
        """Append (stage, party, country) steps to ``item`` through the Python API."""
        with Ledger.open(self.path) as led:
            for stage, party, country in steps:
                led.append(item, stage, self.parties[party], country=country)

    def sign(self, party: str, body_hex: str) -> dict[str, str]:
        """What a party's machine sends back: the body and its signature, in hex."""
        body = bytes.fromhex(body_hex)
        return {"body": body_hex, "signature": self.parties[party].sign(ENTRY_DOMAIN + body).hex()}

    def entry(self, party: str, body_hex: str) -> Entry:
        signed = self.sign(party, body_hex)
        return Entry(bytes.fromhex(signed["body"]), bytes.fromhex(signed["signature"]))


def make_world(tmp: Path) -> World:
    operator = KeyPair.generate(ORIGIN)
    parties = {name: KeyPair.generate(name) for name in ROLES}
    path = tmp / "ledger.db"
    with Ledger.create(path, origin=ORIGIN, operator=operator) as led:
        for name, kp in parties.items():
            led.register_party(name, [ROLES[name]], kp.public_key)
    return World(path, operator, parties)


JOURNEY = (("origin", "grasse-labs", "FR"), ("import", "shanghai-customs-broker", "CN"),
           ("warehouse", "hz-bonded-wh-3", "CN"))


@contextlib.contextmanager
def running(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port; yield its base URL (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "provchain"):
            state.provchain.close()


def raw(base: str) -> socket.socket:
    """A raw TCP connection to the server (for half-sent and malformed requests)."""
    host, port = base.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=30)
    return conn


def read_response(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails if it keeps it open for 30 s."""
    chunks = []
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open; it sent {b''.join(chunks)[:200]!r}") from None
    return b"".join(chunks)
