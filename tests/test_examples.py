"""The examples run: each script in a subprocess in a fresh folder, its story checked by its key lines, and the
state it leaves checked through the API. The service that web_service.py mounts is tested in tests/test_service*.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "POST /provchain/v1/events (delivery, signed by the courier) -> 201 entry 8" in out
    assert "GET /provchain/v1/items/SERUM-0001 -> origin -> import -> warehouse -> delivery" in out
    assert "POST /provchain/v1/claims (order-9999) -> 409" in out
    assert out.rstrip().endswith("OK: mounted, recorded, scanned and claimed as expected")
    with Ledger.open(tmp_path / "ledger.db", readonly=True) as led:
        assert [e.party for e in led.history("SERUM-0001")][-1] == "sf-express"
    assert (tmp_path / "ledger.db.register.db").exists()


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
