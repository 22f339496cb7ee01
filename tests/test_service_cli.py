"""``provchain serve``: a real process on a free loopback port, driven over HTTP, stopped with SIGINT; and its
refusals, one line on stderr and exit status 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from servicerun import JOURNEY, TOKEN, make_world

from provchain import Ledger
from provchain import code as item_code
from provchain.cli import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_service_until_interrupted(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.record("BAG-1", *JOURNEY)
    world.operator.save(tmp_path / "operator.key", "a passphrase of some length")
    (tmp_path / "token").write_text(TOKEN + "\n")
    port = free_port()
    env = {**os.environ, "PROVCHAIN_PASSPHRASE": "a passphrase of some length"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from provchain.cli import main; main(sys.argv[1:])",
         "serve", str(world.path), "--listen", f"127.0.0.1:{port}",
         "--operator-key", str(tmp_path / "operator.key"), "--token-file", str(tmp_path / "token"),
         "--code-url", "https://verify.example/"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                info = httpx.get(base + "/v1", timeout=5).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "provchain serve did not start"
                time.sleep(0.1)
        assert info["codes"] is True and info["register"] is True
        text = httpx.get(base + "/v1/items/BAG-1/code", timeout=30).json()["code"]
        assert text.startswith("HTTPS://VERIFY.EXAMPLE/#02")
        assert httpx.post(base + "/v1/scans", json={"code": text}, timeout=30).json()["scans"] == 1
        resp = httpx.post(base + "/v1/checkpoint", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert resp.status_code == 201
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "127.0.0.1:" not in err.replace(f"127.0.0.1:{port} (", "")
    with Ledger.open(world.path, readonly=True) as led:
        assert led.latest_checkpoint() is not None
        assert item_code.verify(text, led.operator_vkey).item == "BAG-1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "localhost"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "is not HOST:PORT"),
        (["--token-file", "/nonexistent/token"], "cannot read the token file"),
        (["--code-url", "http://plain.example/"], "https://"),
        (["--burst", "0"], "burst"),
        (["--header-timeout", "0"], "header_timeout"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    world = make_world(tmp_path)
    result = CliRunner().invoke(cli, ["serve", str(world.path), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provchain: error: ") and message in lines[0], result.stderr


def test_serve_refuses_a_missing_ledger(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "provchain: error:" in result.stderr and "Traceback" not in result.output
