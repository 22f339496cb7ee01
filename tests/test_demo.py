"""``provchain demo``: the whole story runs in a fresh folder and behaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from provchain import code, errors, qr
from provchain.cli import cli
from provchain.demo import ITEM, ORIGIN, run_demo
from provchain.keys import KeyPair
from provchain.ledger import Ledger


def test_run_demo(tmp_path: Path) -> None:
    folder = tmp_path / "story"
    lines: list[str] = []
    assert run_demo(str(folder), lines.append) is True
    out = "\n".join(lines)
    for expected in ("VERIFIED", "REFUSED", "ChainError", "appraisal", "cciq-inspection", "QR version"):
        assert expected in out
    assert {"ledger.db", "item.png", "item.txt", "forged.png", "keys"} <= {p.name for p in folder.iterdir()}
    op = KeyPair.load(folder / "keys" / "operator.key")
    text = qr.read_image(folder / "item.png")
    assert text == (folder / "item.txt").read_text().rstrip("\n")
    report = code.verify(text, op.vkey)
    assert report.item == ITEM and len(report.events) == 6 and qr.qr_version(text) <= 20
    with Ledger.open(folder / "ledger.db", readonly=True) as led:
        assert led.origin == ORIGIN and [e.stage for e in led.history(ITEM)][-1] == "delivery"
    with pytest.raises(errors.VerificationError):
        code.verify(qr.read_image(folder / "forged.png"), op.vkey)


def test_demo_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(errors.InputError, match="empty"):
        run_demo(str(tmp_path), lambda _line: None)
    result = CliRunner().invoke(cli, ["demo", str(tmp_path)])
    assert result.exit_code == 2


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "Result: the genuine code verified and the forgery was refused." in result.output
