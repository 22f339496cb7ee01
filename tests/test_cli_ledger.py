"""The CLI's ledger commands, driven through CliRunner and checked through the Python API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clirun import fails, ok

from provchain import KeyPair, Ledger

ORIGIN = "example.com/acme-ledger"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, str]:
    os.chdir(tmp_path)
    vkey = ok("init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key").stdout.strip()
    keys = {}
    for role, name in [("origin", "grasse-labs"), ("customs", "sh-customs"), ("warehouse", "hz-bonded-wh-3")]:
        keys[role] = ok("keygen", f"{role}.key", "--name", name).stdout.strip()
        ok(
            "party",
            "add",
            "ledger.db",
            "--operator-key",
            "operator.key",
            "--role",
            role,
            "--vkey",
            keys[role],
            "--valid-from",
            "2026-01-01T00:00:00Z",
        )
    return {"operator": vkey, **keys}


def test_init_prints_operator_vkey(setup: dict[str, str], tmp_path: Path) -> None:
    op = KeyPair.load(tmp_path / "operator.key")
    assert setup["operator"] == op.vkey
    assert (tmp_path / "operator.key").stat().st_mode & 0o777 == 0o600
    with Ledger.open(tmp_path / "ledger.db") as led:
        assert led.origin == ORIGIN and led.operator_vkey == op.vkey
        assert sorted(p.name for p in led.parties()) == ["grasse-labs", "hz-bonded-wh-3", "sh-customs"]


def test_record_and_history(setup: dict[str, str], tmp_path: Path) -> None:
    ok(
        "record",
        "ledger.db",
        "SERUM-1",
        "origin",
        "--key",
        "origin.key",
        "--country",
        "FR",
        "--place",
        "Grasse",
        "--at",
        "2026-11-01T08:00:00Z",
        "--data",
        "batch=B-17",
        "--data",
        "volume_ml=30",
    )
    ok(
        "record",
        "ledger.db",
        "SERUM-1",
        "import",
        "--key",
        "customs.key",
        "--country",
        "CN",
        "--at",
        "2026-11-03T08:00:00+08:00",
    )
    out = ok("history", "ledger.db", "SERUM-1", "--json").stdout
    doc = json.loads(out)
    assert doc["item"] == "SERUM-1"
    assert [e["stage"] for e in doc["events"]] == ["origin", "import"]
    assert doc["events"][0]["data"] == {"batch": "B-17", "volume_ml": "30"}
    assert doc["events"][0]["at"] == "2026-11-01T08:00:00.000Z"
    assert doc["events"][1]["at"] == "2026-11-03T00:00:00.000Z"
    table = ok("history", "ledger.db", "SERUM-1").stdout
    assert "grasse-labs" in table and "Grasse" in table
    with Ledger.open(tmp_path / "ledger.db") as led:
        assert [e.party for e in led.history("SERUM-1")] == ["grasse-labs", "sh-customs"]


def test_refusals_one_line_and_unchanged(setup: dict[str, str], tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as led:
        size = led.size
    fails(
        1,
        "may not record stage 'import'",
        "record",
        "ledger.db",
        "I",
        "import",
        "--key",
        "origin.key",
        "--country",
        "FR",
    )
    fails(2, "ISO 3166-1", "record", "ledger.db", "I", "origin", "--key", "origin.key", "--country", "ZZ")
    fails(1, "unknown stage", "record", "ledger.db", "I", "shipping", "--key", "origin.key", "--country", "FR")
    # A name that is not even well formed is a bad argument (exit 2), not a refusal by the policy (exit 1).
    fails(2, "valid stage name", "record", "ledger.db", "I", "Bad Stage!", "--key", "origin.key", "--country", "FR")
    fails(1, "cannot start a journey", "record", "ledger.db", "I", "import", "--key", "customs.key", "--country", "CN")
    fails(
        2,
        "KEY=VALUE",
        "record",
        "ledger.db",
        "I",
        "origin",
        "--key",
        "origin.key",
        "--country",
        "FR",
        "--data",
        "novalue",
    )
    fails(
        2,
        "ISO 8601",
        "record",
        "ledger.db",
        "I",
        "origin",
        "--key",
        "origin.key",
        "--country",
        "FR",
        "--at",
        "yesterday",
    )
    fails(2, "does not exist", "record", "ledger.db", "I", "origin", "--key", "missing.key", "--country", "FR")
    fails(2, "no ledger", "record", "nope.db", "I", "origin", "--key", "origin.key", "--country", "FR")
    Path("junk.db").write_bytes(b"junk" * 100)
    fails(2, "not a provchain ledger", "history", "junk.db", "I")
    ok("keygen", "stranger.key", "--name", "stranger")
    fails(1, "not registered", "record", "ledger.db", "I", "origin", "--key", "stranger.key", "--country", "FR")
    fails(2, "already exists", "init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key")
    fails(2, "no events", "history", "ledger.db", "NOTHING")
    with Ledger.open(tmp_path / "ledger.db") as led:
        assert led.size == size


def test_passphrase_env(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    env = {"PROVCHAIN_PASSPHRASE": "s3cret"}
    vkey = ok("keygen", "p.key", "--name", "p", env=env).stdout.strip()
    assert KeyPair.load(tmp_path / "p.key", passphrase="s3cret").vkey == vkey
    ok("init", "l.db", "--origin", ORIGIN, "--operator-key", "op.key", env=env)
    ok("party", "add", "l.db", "--operator-key", "op.key", "--role", "origin", "--vkey", vkey, env=env)
    fails(2, "encrypted", "party", "add", "l.db", "--operator-key", "op.key", "--role", "origin", "--vkey", vkey)
    fails(
        2,
        "wrong passphrase",
        "record",
        "l.db",
        "I",
        "origin",
        "--key",
        "p.key",
        "--country",
        "FR",
        env={"PROVCHAIN_PASSPHRASE": "nope"},
    )
    ok("record", "l.db", "I", "origin", "--key", "p.key", "--country", "FR", env=env)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    """--passphrase "" or PROVCHAIN_PASSPHRASE="" once wrote an unencrypted key; now every command refuses."""
    os.chdir(tmp_path)
    empty_env = {"PROVCHAIN_PASSPHRASE": ""}
    fails(2, "empty passphrase", "keygen", "p.key", "--name", "p", "--passphrase", "")
    fails(2, "PROVCHAIN_PASSPHRASE is set but empty", "keygen", "p.key", "--name", "p", env=empty_env)
    fails(2, "empty passphrase", "init", "l.db", "--origin", ORIGIN, "--operator-key", "op.key", "--passphrase", "")
    fails(2, "empty passphrase", "init", "l.db", "--origin", ORIGIN, "--operator-key", "op.key", env=empty_env)
    assert sorted(os.listdir(tmp_path)) == []
    # a ledger with an unencrypted operator key and a party key encrypted with "pw"
    ok("init", "l.db", "--origin", ORIGIN, "--operator-key", "op.key")
    vkey = ok("keygen", "p.key", "--name", "p", "--passphrase", "pw").stdout.strip()
    assert b"ENCRYPTED" in Path("p.key").read_bytes()
    add = ["party", "add", "l.db", "--operator-key", "op.key", "--role", "origin", "--vkey", vkey]
    fails(2, "empty passphrase", *add, "--passphrase", "")
    fails(2, "empty passphrase", *add, env=empty_env)
    ok(*add)
    record = ["record", "l.db", "I", "origin", "--key", "p.key", "--country", "FR"]
    fails(2, "empty passphrase", *record, "--passphrase", "")
    fails(2, "empty passphrase", *record, env=empty_env)
    fails(2, "empty passphrase", "checkpoint", "l.db", "--operator-key", "op.key", "--passphrase", "")
    fails(2, "empty passphrase", "checkpoint", "l.db", "--operator-key", "op.key", env=empty_env)
    fails(2, "empty passphrase", "party", "revoke", "l.db", "p", "--operator-key", "op.key", env=empty_env)
    with Ledger.open(tmp_path / "l.db", readonly=True) as led:
        assert led.size == 2 and led.latest_checkpoint() is None
    ok(*record, "--passphrase", "pw")
    with Ledger.open(tmp_path / "l.db", readonly=True) as led:
        assert led.size == 3


def test_party_list_and_revoke(setup: dict[str, str], tmp_path: Path) -> None:
    doc = json.loads(ok("party", "list", "ledger.db", "--json").stdout)["parties"]
    assert {p["name"] for p in doc} == {"grasse-labs", "sh-customs", "hz-bonded-wh-3"}
    ok("party", "revoke", "ledger.db", "sh-customs", "--operator-key", "operator.key", "--reason", "rotated")
    fails(2, "no active registered key", "party", "revoke", "ledger.db", "sh-customs", "--operator-key", "operator.key")
    with Ledger.open(tmp_path / "ledger.db") as led:
        revoked = [p for p in led.parties() if p.revoked_index is not None]
        assert [p.name for p in revoked] == ["sh-customs"]
    fails(
        2,
        "does not match",
        "party",
        "add",
        "ledger.db",
        "--operator-key",
        "operator.key",
        "--role",
        "origin",
        "--name",
        "other",
        "--vkey",
        setup["origin"],
    )
    fails(
        2,
        "verifier key",
        "party",
        "add",
        "ledger.db",
        "--operator-key",
        "operator.key",
        "--role",
        "origin",
        "--vkey",
        "garbage",
    )


def test_help_and_version() -> None:
    assert "record" in ok("--help").stdout
    assert "0.1.0" in ok("--version").stdout
