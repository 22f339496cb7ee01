"""The audit, export and import commands, through CliRunner; state checked through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import forge
import pytest
import rawdb
from click.testing import CliRunner, Result
from conftest import HOUR, T0, journey

from provchain import KeyPair, Ledger, encoding
from provchain.audit import audit_path
from provchain.checkpoint import Checkpoint
from provchain.cli import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


@pytest.fixture
def filled(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Path:
    journey(ledger, parties, "BAG-1")
    ledger.checkpoint()
    journey(ledger, parties, "BAG-2", start=T0 + 20 * HOUR)
    ledger.close()
    return ledger_path


def tamper(path: Path) -> None:
    with rawdb.connect(path) as conn:
        (body,) = conn.execute("SELECT body FROM entries WHERE idx = 8").fetchone()
        m = encoding.decode(bytes(body))
        m["data"] = {"bin": "Z-99"}
        conn.execute("UPDATE entries SET body = ? WHERE idx = 8", (encoding.encode(m),))


def test_audit_clean_exit_0(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    res = run("audit", str(filled), "--operator", operator.vkey, "--report", str(report), "--workers", "1")
    assert res.exit_code == 0, res.output + res.stderr
    assert "CLEAN" in res.stdout and "18 (signatures checked: 18)" in res.stdout
    assert res.stderr == ""  # no progress display when stderr is not a terminal
    js = json.loads(report.read_text())
    with Ledger.open(filled, readonly=True) as led:
        assert js["clean"] is True and js["size"] == led.size and js["root"] == led.root().hex()


def test_audit_findings_exit_1(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    tamper(filled)
    res = run("audit", str(filled), "--operator", operator.vkey, "--json", "--workers", "2")
    assert res.exit_code == 1, res.output + res.stderr
    js = json.loads(res.stdout)
    assert js["clean"] is False and js["finding_count"] >= 1
    sig = [f for f in js["findings"] if f["check"] == "signature"]
    assert sig == [
        {
            "index": 8,
            "item": "BAG-1",
            "check": "signature",
            "expected": sig[0]["expected"],
            "found": sig[0]["found"],
            "message": sig[0]["message"],
        }
    ]
    summary = run("audit", str(filled), "--operator", operator.vkey, "--workers", "1")
    assert summary.exit_code == 1 and "FINDING" in summary.stdout
    assert "entry 8 (item BAG-1): signature" in summary.stdout


@pytest.mark.parametrize("content", [None, b"garbage bytes", b"PCLEDGER1\n\x00\x00"])
def test_audit_cannot_run_exit_2(tmp_path: Path, operator: KeyPair, content: bytes | None) -> None:
    path = tmp_path / "thing"
    if content is not None:
        path.write_bytes(content)
    res = run("audit", str(path), "--operator", operator.vkey)
    assert res.exit_code == 2, res.output + res.stderr
    assert res.stderr.startswith("provchain: error:") and len(res.stderr.strip().splitlines()) == 1


def test_audit_bad_operator_key_exit_2(filled: Path) -> None:
    res = run("audit", str(filled), "--operator", "nope")
    assert res.exit_code == 2 and "operator key is malformed" in res.stderr


def test_since_and_save_checkpoint(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    saved = tmp_path / "saved.checkpoint"
    res = run("audit", str(filled), "--operator", operator.vkey, "--save-checkpoint", str(saved), "--workers", "1")
    assert res.exit_code == 0
    cp = Checkpoint.parse(saved.read_bytes())
    with Ledger.open(filled, readonly=True) as led:
        assert (cp.size, cp.root) == (led.size, led.root())
    # the same ledger extends it
    assert run("audit", str(filled), "--operator", operator.vkey, "--since", str(saved)).exit_code == 0
    # roll back the tail: only the saved checkpoint betrays it
    with rawdb.connect(filled) as conn:
        conn.execute("DELETE FROM entries WHERE idx >= 15")
        forge.rebuild_tree(conn, from_bodies=True)  # a careful attacker: no tree rows left beyond entry 14
    res = run("audit", str(filled), "--operator", operator.vkey, "--since", str(saved), "--json")
    assert res.exit_code == 1
    js = json.loads(res.stdout)
    assert js["since"]["size"] == 18 and any(f["check"] == "since" for f in js["findings"])
    # a signed checkpoint note works as --since too
    with Ledger.open(filled, readonly=True) as led:
        note = led.latest_checkpoint()
    assert note is not None
    (tmp_path / "note").write_bytes(note)
    assert run("audit", str(filled), "--operator", operator.vkey, "--since", str(tmp_path / "note")).exit_code == 0
    # unreadable saved checkpoint: cannot run
    (tmp_path / "bad").write_bytes(b"junk")
    assert run("audit", str(filled), "--operator", operator.vkey, "--since", str(tmp_path / "bad")).exit_code == 2


def test_export_import_then_audit(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    exp = tmp_path / "ledger.export"
    res = run("export", str(filled), "-o", str(exp))
    assert res.exit_code == 0 and "exported 18 entries and 1 checkpoint to" in res.stdout
    assert run("audit", str(exp), "--operator", operator.vkey).exit_code == 0
    copy = tmp_path / "copy.db"
    res = run("import", str(exp), "-o", str(copy))
    assert res.exit_code == 0 and "imported 18 entries" in res.stdout
    with Ledger.open(filled, readonly=True) as a, Ledger.open(copy, readonly=True) as b:
        assert a.root() == b.root() and a.size == b.size
        assert [e.stage for e in a.history("BAG-2")] == [e.stage for e in b.history("BAG-2")]
    assert audit_path(copy, operator.vkey, workers=1).clean
    # importing over an existing file, or a broken export: exit 2, nothing changed
    assert run("import", str(exp), "-o", str(copy)).exit_code == 2
    exp.write_bytes(exp.read_bytes()[:-1])
    res = run("import", str(exp), "-o", str(tmp_path / "other.db"))
    assert res.exit_code == 2 and "truncated" in res.stderr
    assert not (tmp_path / "other.db").exists()


def test_export_of_a_missing_ledger(tmp_path: Path) -> None:
    res = run("export", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x"))
    assert res.exit_code == 2 and not (tmp_path / "x").exists()


# --- import verifies everything before a ledger appears ------------------------------------------------


def _import_refused(exp: Path, tmp_path: Path, code: int, words: str, *extra: str) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run("import", str(exp), "-o", str(tmp_path / "copy.db"), *extra)
    assert res.exit_code == code, res.output + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provchain: error:") and words in lines[0], res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no ledger, no temporary file


def test_import_refuses_an_edited_entry(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    exp = tmp_path / "ledger.export"
    assert run("export", str(filled), "-o", str(exp)).exit_code == 0
    data = exp.read_bytes()
    assert data.count(b"Grasse") == 2  # one origin event per item; the body stays canonical msgpack
    exp.write_bytes(data.replace(b"Grasse", b"Grassf", 1))
    _import_refused(exp, tmp_path, 1, "does not verify")
    _import_refused(exp, tmp_path, 1, "signature")


def test_import_refuses_a_changed_trailer_root(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    exp = tmp_path / "ledger.export"
    assert run("export", str(filled), "-o", str(exp)).exit_code == 0
    data = bytearray(exp.read_bytes())
    data[-1] ^= 0x01  # the trailer ends with the 32-byte root
    exp.write_bytes(bytes(data))
    _import_refused(exp, tmp_path, 1, "trailer")
    # the audit says the same
    assert run("audit", str(exp), "--operator", operator.vkey).exit_code == 1


def test_import_refuses_another_operator_and_a_bad_file(filled: Path, tmp_path: Path) -> None:
    exp = tmp_path / "ledger.export"
    assert run("export", str(filled), "-o", str(exp)).exit_code == 0
    stranger = KeyPair.from_seed("example.com/acme-ledger", bytes([9]) * 32)
    _import_refused(exp, tmp_path, 1, "not the pinned key", "--operator", stranger.vkey)
    _import_refused(exp, tmp_path, 2, "malformed", "--operator", "nope")
    (tmp_path / "junk.export").write_bytes(b"PCLEDGER1\n" + bytes(40))
    _import_refused(tmp_path / "junk.export", tmp_path, 2, "junk.export")


def test_import_with_the_pinned_operator(filled: Path, operator: KeyPair, tmp_path: Path) -> None:
    exp = tmp_path / "ledger.export"
    assert run("export", str(filled), "-o", str(exp)).exit_code == 0
    copy = tmp_path / "copy.db"
    res = run("import", str(exp), "-o", str(copy), "--operator", operator.vkey, "--workers", "2")
    assert res.exit_code == 0, res.output + res.stderr
    with Ledger.open(filled, readonly=True) as a, Ledger.open(copy, readonly=True) as b:
        assert (a.size, a.root(), a.latest_checkpoint()) == (b.size, b.root(), b.latest_checkpoint())
    assert audit_path(copy, operator.vkey, workers=1).clean
    # the export is not a place to import into, nor is the ledger
    for target in (exp, filled):
        res = run("import", str(exp), "-o", str(target))
        assert res.exit_code == 2 and "already exists" in res.stderr
    assert audit_path(filled, operator.vkey, workers=1).clean
