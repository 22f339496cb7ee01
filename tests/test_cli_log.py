"""The CLI's log commands (checkpoint, prove, consistency), driven through CliRunner and checked through the API."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import forge
import pytest
import rawdb
from clirun import fails, ok, run

from provchain import KeyPair, Ledger, merkle
from provchain.checkpoint import open_checkpoint
from provchain.note import new_verifier
from provchain.proof import parse_tlog_proof, verify_tlog_proof

ORIGIN = "example.com/acme-ledger"


def record(item: str, stage: str, key: str, country: str, day: int) -> None:
    at = f"2026-11-{day:02d}T08:00:00Z"
    ok("record", "ledger.db", item, stage, "--key", key, "--country", country, "--at", at)


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A ledger made through the CLI: two parties, two items with two events each."""
    os.chdir(tmp_path)
    ok("init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key")
    for role, name in [("origin", "grasse-labs"), ("customs", "sh-customs")]:
        vkey = ok("keygen", f"{role}.key", "--name", name).stdout.strip()
        ok("party", "add", "ledger.db", "--operator-key", "operator.key", "--role", role, "--vkey", vkey,
           "--valid-from", "2026-01-01T00:00:00Z")  # fmt: skip
    for item in ("SERUM-1", "SERUM-2"):
        record(item, "origin", "origin.key", "FR", 1)
        record(item, "import", "customs.key", "CN", 2)
    return tmp_path / "ledger.db"


def operator_vkey(tmp_path: Path) -> str:
    return KeyPair.load(tmp_path / "operator.key").vkey


# --- checkpoint -----------------------------------------------------------------------------------------


def test_checkpoint_prints_and_stores(setup: Path, tmp_path: Path) -> None:
    out = ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout
    with Ledger.open(setup, readonly=True) as led:
        assert out.encode() == led.latest_checkpoint()
        cp, _ = open_checkpoint(out.encode(), ORIGIN, new_verifier(operator_vkey(tmp_path)))
        assert (cp.size, cp.root) == (led.size, led.root()) == (7, led.root())
    record("SERUM-3", "origin", "origin.key", "FR", 3)
    again = ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout
    with Ledger.open(setup, readonly=True) as led:
        assert again.encode() == led.latest_checkpoint() != out.encode()
        assert led.check_consistency(out.encode()).size == 7


def test_checkpoint_errors(setup: Path, tmp_path: Path) -> None:
    fails(2, "no ledger at missing.db", "checkpoint", "missing.db", "--operator-key", "operator.key")
    fails(2, "does not exist", "checkpoint", "ledger.db", "--operator-key", "nokey.key")
    # a party key is not the operator key: refused, nothing stored
    fails(2, "is not this ledger's operator key", "checkpoint", "ledger.db", "--operator-key", "origin.key")
    KeyPair.generate(ORIGIN).save(tmp_path / "locked.key", "s3cret")
    fails(2, "is encrypted", "checkpoint", "ledger.db", "--operator-key", "locked.key")
    fails(2, "wrong passphrase", "checkpoint", "ledger.db", "--operator-key", "locked.key", "--passphrase", "nope")
    with Ledger.open(setup, readonly=True) as led:
        assert led.latest_checkpoint() is None


def test_checkpoint_with_an_encrypted_operator_key(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    env = {"PROVCHAIN_PASSPHRASE": "correct horse"}
    ok("init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key", env=env)
    out = ok("checkpoint", "ledger.db", "--operator-key", "operator.key", env=env).stdout
    with Ledger.open("ledger.db", readonly=True) as led:
        assert out.encode() == led.latest_checkpoint()


def test_checkpoint_refuses_a_rewritten_ledger(setup: Path) -> None:
    ok("checkpoint", "ledger.db", "--operator-key", "operator.key")
    rewrite_entry(setup, 3)
    fails(1, "history was rewritten", "checkpoint", "ledger.db", "--operator-key", "operator.key")


# --- prove --------------------------------------------------------------------------------------------


def test_prove(setup: Path, tmp_path: Path) -> None:
    fails(2, "sign a checkpoint first", "prove", "ledger.db", "SERUM-1")
    first = ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode()
    text = ok("prove", "ledger.db", "SERUM-1").stdout.encode()
    vkey = operator_vkey(tmp_path)
    with Ledger.open(setup, readonly=True) as led:
        head = led.head("SERUM-1")
        assert head is not None
        assert text == led.prove("SERUM-1")
        assert verify_tlog_proof(text, head.leaf_hash, vkey, ORIGIN).size == led.size
    p = parse_tlog_proof(text)
    assert p.checkpoint == first and p.index == head.index
    # a later event: the proof needs a newer checkpoint; --size still proves the old head
    record("SERUM-9", "origin", "origin.key", "FR", 3)
    ok("checkpoint", "ledger.db", "--operator-key", "operator.key")
    old = ok("prove", "ledger.db", "SERUM-9").stdout.encode()
    assert parse_tlog_proof(old).index == 7
    record("SERUM-9", "import", "customs.key", "CN", 4)
    fails(2, "latest checkpoint covers 8 entries", "prove", "ledger.db", "SERUM-9")
    assert ok("prove", "ledger.db", "SERUM-9", "--size", "8").stdout.encode() == old
    assert parse_tlog_proof(ok("prove", "ledger.db", "SERUM-1", "--size", "7").stdout.encode()) == p
    ok("checkpoint", "ledger.db", "--operator-key", "operator.key")
    new = ok("prove", "ledger.db", "SERUM-9").stdout.encode()
    assert parse_tlog_proof(new).index == 8
    verify_tlog_proof(new, None, vkey, ORIGIN)


def test_prove_errors(setup: Path) -> None:
    ok("checkpoint", "ledger.db", "--operator-key", "operator.key")
    fails(2, "no events for item 'NOPE'", "prove", "ledger.db", "NOPE")
    fails(
        2, "no checkpoint of size 5 is stored (latest stored sizes: 7)", "prove", "ledger.db", "SERUM-1", "--size", "5"
    )
    fails(2, "size must be an integer from 0 to the ledger size 7", "prove", "ledger.db", "SERUM-1", "--size", "8")
    fails(2, "no ledger at other.db", "prove", "other.db", "SERUM-1")
    res = run("prove", "ledger.db", "SERUM-1", "--size", "-1")
    assert res.exit_code == 2 and "Traceback" not in res.output  # click's own usage error
    rewrite_entry(setup, 5)
    fails(1, "no longer matches its signed checkpoint", "prove", "ledger.db", "SERUM-2")


# --- consistency --------------------------------------------------------------------------------------


def test_consistency(setup: Path, tmp_path: Path) -> None:
    Path("old.cp").write_bytes(ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode())
    same = ok("consistency", "ledger.db", "old.cp").stdout
    assert "consistency proof from 7 to 7 (0 hashes)" in same and "consistent:" in same
    for day, item in enumerate(("SERUM-3", "SERUM-4", "SERUM-5"), 3):
        record(item, "origin", "origin.key", "FR", day)
    out = ok("consistency", "ledger.db", "old.cp", "--operator", operator_vkey(tmp_path)).stdout
    lines = out.splitlines()
    assert lines[-1] == "consistent: the ledger's 10 entries extend the checkpoint of 7"
    start = lines.index(next(x for x in lines if x.startswith("consistency proof from 7 to 10")))
    proof = [base64.b64decode(x) for x in lines[start + 1 : -1]]
    with Ledger.open(setup, readonly=True) as led:
        assert proof == led.consistency_proof(7, 10)
        merkle.verify_consistency(7, 10, proof, led.root(7), led.root())
        assert f"root {base64.b64encode(led.root()).decode()}" in out


def test_consistency_detects_a_rewritten_ledger(setup: Path) -> None:
    Path("old.cp").write_bytes(ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode())
    record("SERUM-3", "origin", "origin.key", "FR", 3)
    rewrite_entry(setup, 4)  # an attacker rewrites entry 4 and rebuilds a self-consistent tree over it
    res = fails(1, "does not lead to the root of the 7-leaf tree", "consistency", "ledger.db", "old.cp")
    assert "consistency proof from 7 to 8" in res.stdout and "consistent:" not in res.stdout
    with Ledger.open(setup, readonly=True) as led:  # the API agrees
        from provchain.errors import ConsistencyError

        with pytest.raises(ConsistencyError):
            led.check_consistency(Path("old.cp").read_bytes())


def test_consistency_detects_truncation(setup: Path) -> None:
    Path("old.cp").write_bytes(ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode())
    conn = rawdb.connect(setup)
    conn.execute("DELETE FROM entries WHERE idx >= 5")
    conn.commit()
    conn.close()
    res = fails(1, "truncated or rolled back", "consistency", "ledger.db", "old.cp")
    assert "consistent:" not in res.stdout


def test_consistency_errors(setup: Path, tmp_path: Path) -> None:
    Path("old.cp").write_bytes(ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode())
    fails(2, "No such file or directory", "consistency", "ledger.db", "missing.cp")
    Path("garbage.cp").write_bytes(b"not a checkpoint\n")
    fails(2, "blank line", "consistency", "ledger.db", "garbage.cp")
    Path("binary.cp").write_bytes(b"\xff\xfe\x00")
    fails(2, "UTF-8", "consistency", "ledger.db", "binary.cp")
    # a checkpoint of another ledger with the same origin: signed by another key
    os.mkdir("other")
    os.chdir("other")
    ok("init", "ledger.db", "--origin", ORIGIN, "--operator-key", "operator.key")
    other = ok("checkpoint", "ledger.db", "--operator-key", "operator.key").stdout.encode()
    os.chdir(tmp_path)
    Path("other.cp").write_bytes(other)
    fails(1, "no verifiable signatures", "consistency", "ledger.db", "other.cp")
    # pinning a key other than the ledger's operator key
    pinned = KeyPair.load(tmp_path / "other" / "operator.key").vkey
    fails(1, "not by the pinned key", "consistency", "ledger.db", "old.cp", "--operator", pinned)
    fails(2, "--operator", "consistency", "ledger.db", "old.cp", "--operator", "garbage")


# --- helpers ------------------------------------------------------------------------------------------


def rewrite_entry(path: Path, index: int) -> None:
    """Rewrite event ``index`` and rebuild every stored node over the forged entries."""
    conn = rawdb.connect(path)
    forge.rewrite_event(conn, index)
    conn.commit()
    conn.close()
