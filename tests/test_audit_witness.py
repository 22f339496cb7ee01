"""provchain audit with witnesses: the checkpoint that anchors the audit must carry the required cosignatures."""

from __future__ import annotations

import json
from pathlib import Path

from clirun import fails, run
from conftest import journey
from witnessing import store_cosigned

from provchain.audit import audit_path
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey, WitnessPolicy

NOW = 1_760_000_000 + 200 * 3600  # seconds, after the fixture's journey


def keys(n: int) -> list[WitnessKey]:
    return [WitnessKey(KeyPair.from_seed(f"witness.example/w{i}", bytes([40 + i]) * 32)) for i in range(n)]


def test_audit_requires_the_quorum(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    ws = keys(3)
    op = ledger.operator_vkey
    policy2 = WitnessPolicy.from_witnesses([w.vkey for w in ws], 2)
    # not cosigned yet: a witness finding, nothing else
    report = audit_path(ledger_path, op, witnesses=policy2, workers=1)
    assert [f.check for f in report.findings] == ["witness"]
    assert "requires 2 of 3" in report.findings[0].message
    store_cosigned(ledger, ws[:2], NOW)
    report = audit_path(ledger_path, op, witnesses=policy2, workers=1)
    assert report.clean and [c.name for c in report.cosignatures] == [ws[0].name, ws[1].name]
    assert "cosigned    by witness.example/w0" in report.summary()
    assert report.to_json()["cosignatures"][0]["timestamp"] == NOW
    # all three required: 2 are not enough
    report = audit_path(ledger_path, op, witnesses=WitnessPolicy.from_witnesses([w.vkey for w in ws]), workers=1)
    assert not report.clean and report.findings_by_check == {"witness": 1}
    # without witnesses nothing changes, and the cosigned note does not disturb the plain audit
    assert audit_path(ledger_path, op, workers=1).clean


def test_forged_cosignature_is_a_finding(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair]) -> None:
    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    ws = keys(2)
    note = store_cosigned(ledger, ws, NOW)
    size = int(note.split(b"\n")[1])
    forged = note.replace(note.split(b"\n")[-2][-20:], b"A" * 18 + b"==")  # the last cosignature altered
    with ledger._store.transaction():
        ledger._store.add_checkpoint(size, forged)
    report = audit_path(ledger_path, ledger.operator_vkey, witnesses=WitnessPolicy.from_witnesses([ws[0].vkey]))
    assert report.clean  # the altered line is not by a trusted witness: ignored
    report = audit_path(ledger_path, ledger.operator_vkey, witnesses=WitnessPolicy.from_witnesses([ws[1].vkey]))
    assert report.findings_by_check == {"witness": 1}
    assert "does not verify" in report.findings[0].message


def test_cli(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    ws = keys(2)
    store_cosigned(ledger, ws[:1], NOW)
    ledger.close()
    op = ("--operator", KeyPair.from_seed("example.com/acme-ledger", bytes(range(32))).vkey)
    res = run("audit", str(ledger_path), *op, "--witness", ws[0].vkey, "--witness", ws[1].vkey, "--quorum", "1")
    assert res.exit_code == 0, res.output
    assert "witnesses   required: 1 of 2" in res.stdout and "cosigned    by witness.example/w0" in res.stdout
    res = run("audit", str(ledger_path), *op, "--witness", ws[0].vkey, "--witness", ws[1].vkey, "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["findings"][0]["check"] == "witness"
    policy = tmp_path / "policy"
    policy.write_text(f"witness a {ws[0].vkey}\nwitness b {ws[1].vkey}\ngroup g any a b\nquorum g\n")
    assert run("audit", str(ledger_path), *op, "--policy", str(policy)).exit_code == 0
    fails(2, "not both", "audit", str(ledger_path), *op, "--policy", str(policy), "--witness", ws[0].vkey)
    fails(2, "give at least one", "audit", str(ledger_path), *op, "--quorum", "1")
    fails(2, "witness verifier key", "audit", str(ledger_path), *op, "--witness", "junk")
    policy.write_text("quorum nobody\n")
    fails(2, "policy line 1", "audit", str(ledger_path), *op, "--policy", str(policy))


def test_audit_of_published_tiles_requires_witnesses(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    from provchain.tlog import publish

    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    ws = keys(2)
    site = tmp_path / "site"
    publish(ledger, site)
    policy = WitnessPolicy.from_witnesses([w.vkey for w in ws], 1)
    report = audit_path(site, ledger.operator_vkey, witnesses=policy, workers=1)
    assert report.findings_by_check == {"witness": 1}  # the published checkpoint is not cosigned yet
    journey(ledger, parties, "SERUM-2")
    ledger.checkpoint()
    store_cosigned(ledger, ws[1:], NOW)
    publish(ledger, site)  # the cosigned checkpoint is published verbatim
    report = audit_path(site, ledger.operator_vkey, witnesses=policy, workers=1)
    assert report.clean and [c.name for c in report.cosignatures] == [ws[1].name]


def test_cosignatures_added_later_are_published(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    from provchain.tlog import publish

    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    site = tmp_path / "site"
    publish(ledger, site)
    ws = keys(1)
    cosigned = store_cosigned(ledger, ws, NOW)  # the same tree, now witnessed
    publish(ledger, site)
    assert (site / "checkpoint").read_bytes() == cosigned
    assert audit_path(site, ledger.operator_vkey, witnesses=WitnessPolicy.from_witnesses([ws[0].vkey])).clean
