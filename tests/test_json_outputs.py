"""The --json outputs: one object, "version": 1 first, the shapes docs/spec/json.md gives (pinned here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clirun import ok, run
from conftest import journey

from provchain import code
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey

EVENT_HISTORY = {"index", "stage", "at", "at_ms", "country", "place", "data", "party", "roles", "key_id", "leaf_hash"}
EVENT_SCAN = {"stage", "party", "roles", "country", "place", "data", "at", "at_ms", "key_id", "leaf_hash",
              "key_revoked_later"}


def doc(stdout: str, keys: set[str]) -> dict[str, Any]:
    value = json.loads(stdout)
    assert isinstance(value, dict) and next(iter(value)) == "version" and value["version"] == 1
    assert set(value) == {"version", *keys}, set(value) ^ {"version", *keys}
    return value


def test_every_json_output(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    journey(ledger, parties, "SERUM-1")
    note = ledger.checkpoint()
    text = code.make(ledger, "SERUM-1")
    vkey = ledger.operator_vkey
    ledger.close()
    led = str(ledger_path)

    h = doc(ok("history", led, "SERUM-1", "--json").stdout, {"item", "events"})
    assert all(set(e) == EVENT_HISTORY for e in h["events"]) and len(h["events"]) == 6
    assert len(h["events"][0]["leaf_hash"]) == 64

    p = doc(ok("party", "list", led, "--json").stdout, {"parties"})
    assert all(
        set(r) == {"name", "key_id", "vkey", "roles", "valid_from", "valid_until", "registered", "revoked"}
        for r in p["parties"]
    )

    s = doc(
        ok("scan", text, "--operator", vkey, "--json").stdout,
        {"verified", "item", "origin", "operator", "profile", "events", "checks", "anchor", "clock_skew_ms"},
    )
    assert s["verified"] is True and all(set(e) == EVENT_SCAN for e in s["events"])
    assert set(s["anchor"]) == {"head_index", "tree_size", "root", "head_leaf_hash", "issued", "issued_ms"}
    assert set(s["checks"].values()) == {"ok"}
    refused = run("scan", text[:-3] + "AAA", "--operator", vkey, "--json")
    r = doc(refused.stdout, {"verified", "verdict", "error"})
    assert refused.exit_code == 1 and r["verdict"] == "refused" and set(r["error"]) == {"type", "message"}

    a = doc(
        ok("audit", led, "--operator", vkey, "--json").stdout,
        {"clean", "source", "origin", "operator", "size", "root", "signatures_checked", "checkpoints_checked",
         "since", "finding_count", "findings_by_check", "findings", "findings_truncated", "checkpoint_to_save",
         "signed_checkpoint", "workers", "witness_policy", "cosignatures"},
    )
    assert a["clean"] is True
    report = tmp_path / "report.json"
    summary = ok("audit", led, "--operator", vkey, "--report", str(report)).stdout
    assert summary.startswith("Audit of") and json.loads(report.read_text())["version"] == 1

    kp = KeyPair.generate("grasse-labs")
    kp.save(tmp_path / "k.key")
    k = doc(ok("key", "show", str(tmp_path / "k.key"), "--json").stdout, {"name", "key_id", "vkey", "type"})
    assert k == {"version": 1, "name": kp.name, "key_id": kp.key_id.hex(), "vkey": kp.vkey, "type": "signer"}
    w = WitnessKey.generate("witness.example/w1")
    w.save(tmp_path / "w.key")
    assert json.loads(ok("key", "show", str(tmp_path / "w.key"), "--json").stdout)["type"] == "witness"

    (tmp_path / "old.note").write_bytes(note)
    c = doc(ok("consistency", led, str(tmp_path / "old.note"), "--json").stdout,
            {"consistent", "origin", "old", "ledger", "proof"})
    assert c["consistent"] is True and set(c["old"]) == {"size", "root"} and len(c["old"]["root"]) == 64


def test_errors_print_no_json(ledger: Ledger, ledger_path: Path) -> None:
    ledger.close()
    res = run("history", str(ledger_path), "NOPE", "--json")
    assert res.exit_code == 2 and res.stdout == "" and res.stderr.startswith("provchain: error:")
