"""The ``code`` and ``scan`` commands, through click's CliRunner, on real ledgers and real QR images."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import journey
from witnessing import store_cosigned, witness_keys

from provchain import code, qr
from provchain.cli import cli
from provchain.keys import KeyPair
from provchain.ledger import Ledger

ITEM = "SERUM-0001"
LATER = "2100-01-01T00:00:00Z"  # after the journey and the code's issue time (the command's clock)


@pytest.fixture
def setup(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, tmp_path: Path, ledger_path: Path
) -> tuple[Path, Path, KeyPair]:
    journey(ledger, parties, ITEM)
    ledger.close()
    key = tmp_path / "operator.key"
    operator.save(key)
    return ledger_path, key, operator


def _code(runner: CliRunner, ledger: Path, key: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(cli, ["code", str(ledger), ITEM, "-o", str(out), "--operator-key", str(key), *extra])
    assert result.exit_code == 0, result.output
    assert "QR version" in result.output


@pytest.mark.parametrize("profile", code.PROFILES)
def test_code_png_then_scan(setup: tuple[Path, Path, KeyPair], tmp_path: Path, profile: str) -> None:
    ledger, key, op = setup
    runner = CliRunner()
    png = tmp_path / "item.png"
    if profile.startswith("witnessed"):
        with Ledger.open(ledger, operator=op) as led:
            store_cosigned(led, witness_keys())
    _code(runner, ledger, key, png, "--profile", profile)
    log: list[str] = []
    if profile == "witnessed-published":  # its proof is read from the published log
        assert runner.invoke(cli, ["publish", str(ledger), str(tmp_path / "log")]).exit_code == 0
        log = ["--log", str(tmp_path / "log")]
        offline = runner.invoke(cli, ["scan", str(png), "--operator", op.vkey])
        assert offline.exit_code == 1, offline.output
        assert "REFUSED  ProofUnavailableError" in offline.output and "--log" in offline.output
    text = qr.read_image(png)
    report = code.verify(text, op.vkey, log=tmp_path / "log" if log else None)  # at the clock: issued by it too
    with Ledger.open(ledger, readonly=True) as led:
        assert [e.leaf_hash for e in report.events] == [h.leaf_hash for h in led.history(ITEM)]
        assert led.latest_checkpoint() is not None
    result = runner.invoke(cli, ["scan", str(png), "--operator", op.vkey, *log])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output and "appraisal" in result.output and "cciq-inspection" in result.output
    if log:
        assert "the inclusion proof was built from the log published at" in result.output


def test_code_svg_and_txt(setup: tuple[Path, Path, KeyPair], tmp_path: Path) -> None:
    ledger, key, op = setup
    runner = CliRunner()
    svg, txt = tmp_path / "item.svg", tmp_path / "item.txt"
    _code(runner, ledger, key, svg)
    _code(runner, ledger, key, txt)
    assert svg.read_text().startswith("<svg") and "viewBox" in svg.read_text()
    text = txt.read_text()
    assert text.endswith("\n") and text.startswith(code.PREFIX)
    for source in (str(txt), text.rstrip("\n")):
        result = runner.invoke(cli, ["scan", source, "--operator", op.vkey, "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["item"] == ITEM and out["verified"] is True
        assert [e["stage"] for e in out["events"]][:2] == ["origin", "import"]
        assert set(out["events"][0]) >= {"stage", "party", "roles", "country", "place", "data", "at"}
        assert set(out["checks"].values()) == {"ok"}


def test_code_refuses_bad_output_and_unknown_item(setup: tuple[Path, Path, KeyPair], tmp_path: Path) -> None:
    ledger, key, _op = setup
    runner = CliRunner()
    result = runner.invoke(cli, ["code", str(ledger), ITEM, "-o", str(tmp_path / "x.gif"), "--operator-key", str(key)])
    assert result.exit_code == 2 and "png" in result.output
    result = runner.invoke(
        cli, ["code", str(ledger), "NOPE", "-o", str(tmp_path / "x.png"), "--operator-key", str(key)]
    )
    assert result.exit_code == 2 and "no events" in result.output
    assert not (tmp_path / "x.png").exists()


def test_scan_exit_codes(setup: tuple[Path, Path, KeyPair], tmp_path: Path) -> None:
    ledger, key, op = setup
    runner = CliRunner()
    txt = tmp_path / "item.txt"
    _code(runner, ledger, key, txt)
    text = txt.read_text().rstrip("\n")
    bundle = code.parse(text, op.name)
    forged = replace(bundle.events[4], data={**bundle.events[4].data, "verdict": "fake"})
    bad = replace(bundle, events=(*bundle.events[:4], forged, bundle.events[5]))
    forged_png = tmp_path / "forged.png"
    qr.write(bad.payload(), forged_png)
    result = runner.invoke(cli, ["scan", str(forged_png), "--operator", op.vkey])
    assert result.exit_code == 1 and "REFUSED" in result.output and "ChainError" in result.output
    result = runner.invoke(cli, ["scan", str(forged_png), "--operator", op.vkey, "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["error"]["type"] == "ChainError"
    other = KeyPair.from_seed(op.name, bytes([5]) * 32)
    result = runner.invoke(cli, ["scan", text, "--operator", other.vkey])
    assert result.exit_code == 1 and "OperatorKeyError" in result.output
    result = runner.invoke(cli, ["scan", "PC2:" + text[4:], "--operator", op.vkey])  # not PC1: a path
    assert result.exit_code == 2 and "UNREADABLE" in result.output and "no such file" in result.output
    result = runner.invoke(cli, ["scan", text[:-2], "--operator", op.vkey])  # read, but malformed: refused
    assert result.exit_code == 1 and "REFUSED" in result.output
    blank = tmp_path / "blank.png"
    blank.write_bytes(b"\x89PNG\r\n\x1a\n")  # a PNG signature and nothing else
    result = runner.invoke(cli, ["scan", str(blank), "--operator", op.vkey])
    assert result.exit_code == 2 and "ImageDecodeError" in result.output
    result = runner.invoke(cli, ["scan", str(tmp_path / "missing.png"), "--operator", op.vkey])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["scan", text, "--operator", op.vkey, "--at", "2025-10-09T00:00:00Z"])
    assert result.exit_code == 1 and "TimeError" in result.output
    result = runner.invoke(cli, ["scan", text, "--operator", op.vkey, "--at", LATER])
    assert result.exit_code == 0
