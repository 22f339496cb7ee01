"""The examples run: each script in a subprocess in a fresh folder, its story checked by its key lines, and the
state it leaves checked through the API. The web service is also driven from here, over HTTP on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provchain import Ledger
from provchain import code as item_code

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, outdir: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(outdir)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{script[:-3]}", EXAMPLES / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested() -> None:
    tested = {"cross_border_journey.py", "web_service.py", "auditor_workflow.py", "remote_party.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_cross_border_journey(tmp_path: Path) -> None:
    out = run("cross_border_journey.py", tmp_path)
    for line in ("entry  6  origin", "entry 12  delivery", "VERIFIED: 7 events of SERUM-FR-0731"):
        assert line in out
    with Ledger.open(tmp_path / "ledger.db", readonly=True) as led:
        stages = [e.stage for e in led.history("SERUM-FR-0731")]
        vkey = led.operator_vkey
    assert stages == ["origin", "export", "import", "warehouse", "warehouse", "appraisal", "delivery"]
    from provchain import qr

    report = item_code.verify(qr.read_image(tmp_path / "SERUM-FR-0731.png"), vkey)
    assert [e.stage for e in report.events] == stages


def test_web_service_script(tmp_path: Path) -> None:
    out = run("web_service.py", tmp_path)
    assert "-> 422 StageOrderError" in out
    assert "GET /scan (genuine) -> 200 verified=True events=4" in out
    assert "GET /scan (copied onto another item) -> 422 ChainError" in out
    assert out.rstrip().endswith("OK: the service recorded, refused, served and verified as expected")


def test_auditor_workflow(tmp_path: Path) -> None:
    out = run("auditor_workflow.py", tmp_path)
    assert out.count("Verdict: CLEAN") == 2
    assert "entry 5 (item SERUM-0001): signature:" in out
    assert "it was truncated or rolled back" in out
    assert (tmp_path / "audited.checkpoint").read_text().startswith("example.com/acme-ledger\n6\n")


def test_remote_party(tmp_path: Path) -> None:
    out = run("remote_party.py", tmp_path)
    assert "(a Signer: True), not a KeyPair" in out
    assert "submit attempt 1: StaleHeadError" in out
    assert "submit attempt 2: stored as entry 5" in out
    with Ledger.open(tmp_path / "ledger.db", readonly=True) as led:
        last = led.history("SERUM-0001")[-1]
    assert (last.stage, last.party, dict(last.data)) == ("import", "shanghai-customs-broker", {"declaration": "3101"})


# --- the web service, driven over HTTP ----------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    web = load("web_service.py")
    svc = web.setup(tmp_path)
    server = web.make_server(svc, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}", svc
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def http(base: str, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_web_service_records_and_scans(service: tuple[str, Any]) -> None:
    base, svc = service
    steps = [("origin", "grasse-labs", "FR"), ("import", "shanghai-customs-broker", "CN"),
             ("warehouse", "hz-bonded-wh-3", "CN")]
    for n, (stage, party, country) in enumerate(steps):
        status, body = http(base, "POST", "/record",
                            {"item": "BAG-1", "stage": stage, "party": party, "country": country, "data": {"n": n}})
        assert status == 201, body
    # the state, through the API
    with Ledger.open(svc.ledger_path, readonly=True) as led:
        history = led.history("BAG-1")
    assert [(e.stage, e.party, e.data["n"]) for e in history] == [(s, p, n) for n, (s, p, _) in enumerate(steps)]

    status, body = http(base, "GET", "/items/BAG-1")
    assert status == 200 and [e["stage"] for e in body["events"]] == ["origin", "import", "warehouse"]
    assert body["events"][-1]["leaf_hash"] == history[-1].leaf_hash.hex()

    status, body = http(base, "GET", "/items/BAG-1/code")
    assert status == 200 and body["code"].startswith("PC1:")
    text = body["code"]
    assert item_code.verify(text, svc.operator.vkey).item == "BAG-1"

    status, body = http(base, "GET", "/scan?" + urllib.parse.urlencode({"code": text}))
    assert status == 200 and body["verified"] is True and body["item"] == "BAG-1"
    status, body = http(base, "GET", "/scan?" + urllib.parse.urlencode({"code": text[:-5] + "AAAAA"}))
    assert status in (400, 422) and body["verified"] is False
    status, body = http(base, "GET", "/scan?code=hello")
    assert (status, body["error"]) == (400, "BadPrefixError")


def test_web_service_refusals_write_nothing(service: tuple[str, Any]) -> None:
    base, svc = service
    status, body = http(base, "POST", "/record", {"item": "X-1", "stage": "delivery", "party": "sf-express",
                                                   "country": "CN"})
    assert (status, body["error"]) == (422, "StageOrderError")
    status, body = http(base, "POST", "/record", {"item": "X-1", "stage": "origin", "party": "grasse-labs",
                                                   "country": "XX"})
    assert status == 400 and body["error"] == "CountryError"
    status, body = http(base, "POST", "/record", {"item": "X-1", "stage": "origin", "party": "nobody"})
    assert status == 400
    status, _ = http(base, "POST", "/record", raw=b"not json")
    assert status == 400
    status, _ = http(base, "GET", "/items/X-1")
    assert status == 404
    status, _ = http(base, "GET", "/nothing/here")
    assert status == 404
    with Ledger.open(svc.ledger_path, readonly=True) as led:
        assert led.size == 6 and led.history("X-1") == []  # the policy and five registrations only
