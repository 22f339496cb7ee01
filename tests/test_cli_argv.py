"""Hostile arguments: bytes that are not UTF-8 on the command line or in a PROVCHAIN_* variable, and the
CLI's last-resort boundary.

On Linux Python decodes argv with ``surrogateescape``: an argument that is not UTF-8 becomes text with
lone surrogates, which fails deep inside a command (UnicodeEncodeError) unless refused first. These tests
run the real ``provchain`` program with real argv bytes: every command refuses such an argument with one
line on stderr naming it by position (escaped, never raw) and exit 2, before doing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from clirun import fails

from provchain.cli import _Group, cli

SCRIPT = Path(sys.executable).with_name("provchain")  # the console script pip installed
PROGRAM = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c", "from provchain.cli import main; main()"]

# For each command, an invocation with one argument that is not UTF-8 (its position counted from 1)
BAD: dict[str, tuple[list[str | bytes], int]] = {
    "init": (["init", b"led\xff.db", "--origin", "example.com/x", "--operator-key", "op.key"], 2),
    "keygen": (["keygen", "k.key", "--name", b"n\xe9"], 4),
    "party add": (["party", "add", "l.db", "--operator-key", "op.key", "--role", b"\xffrole", "--vkey", "v"], 7),
    "party list": (["party", "list", b"l\xc3.db"], 3),
    "party revoke": (["party", "revoke", "l.db", b"k\xff", "--operator-key", "op.key"], 4),
    "record": (["record", "l.db", b"BAG-\xed\xb2\x80", "origin", "--key", "k", "--country", "FR"], 3),
    "history": (["history", "l.db", b"BAG-\xfe"], 3),
    "checkpoint": (["checkpoint", "l.db", "--operator-key", b"op\xff.key"], 4),
    "prove": (["prove", "l.db", b"\xc3"], 3),
    "consistency": (["consistency", "l.db", b"old\x80.cp"], 3),
    "code": (["code", "l.db", "BAG-1", "-o", b"c\xff.png", "--operator-key", "op.key"], 5),
    "scan": (["scan", b"PC1:\xff", "--operator", "v"], 2),
    "demo": (["demo", b"dir\xff"], 2),
    "audit": (["audit", "l.db", "--operator", b"v\xff"], 4),
    "export": (["export", "l.db", "-o", b"out\xff"], 4),
    "import": (["import", b"in\xff", "-o", "out.db"], 2),
    "verifier-page": (["verifier-page", b"site\xff", "--operator", "v"], 2),
    "compare": (["compare", "a.note", b"b\xff.note", "--operator", "v"], 3),
    "key show": (["key", "show", b"k\xff.key"], 3),
    "witness serve": (["witness", "serve", "--key", "k", "--state", b"s\xff", "--listen", "x:1", "--log", "v"], 6),
    "witness status": (["witness", "status", "--key", b"w\xff.key", "--state", "s.db"], 4),
    "witness evidence": (["witness", "evidence", "--key", b"w\xff.key", "--state", "s.db"], 4),
    "serve": (["serve", "l.db", "--listen", b"127.0.0.1:80\xff"], 4),
    "publish": (["publish", "l.db", b"site\xff"], 3),
    "check-published": (["check-published", "PC1:X", "--log", b"site\xff", "--operator", "v"], 4),
    "epcis export": (["epcis", "export", "l.db", b"BAG-\xff", "-o", "out.json"], 4),
    "epcis import": (["epcis", "import", "in.json", "l.db", "--key", "k", "--stage", b"shipping=\xff"], 8),
    "epcis validate": (["epcis", "validate", b"in\xff.json"], 3),
    "epcis check": (["epcis", "check", "in.json", "--operator", b"v\xff"], 5),
}


def commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += commands(command, f"{prefix}{name} ")
        else:
            out.append(prefix + name)
    return out


def provchain(
    args: list[str | bytes], cwd: Path, env: dict[bytes, bytes] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*PROGRAM, *args], cwd=cwd, capture_output=True, env=env, timeout=60, check=False)


def refused(res: subprocess.CompletedProcess[bytes]) -> str:
    """The one error line of a refused run (exit 2, nothing on stdout, no traceback)."""
    err = res.stderr.decode("utf-8")  # escaped: the line itself is UTF-8
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err and res.stdout == b"", err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("provchain: error: "), err
    assert "internal error" not in err
    return lines[0]


def test_every_command_is_covered() -> None:
    assert sorted(commands(cli)) == sorted(BAD)


@pytest.mark.parametrize("command", list(BAD))
def test_an_argument_that_is_not_utf8_is_refused(command: str, tmp_path: Path) -> None:
    args, position = BAD[command]
    line = refused(provchain(args, tmp_path))
    bad = args[position - 1]
    assert isinstance(bad, bytes)
    assert line == f"provchain: error: argument {position} is not valid UTF-8 text: {bad!r}"
    assert list(tmp_path.iterdir()) == []  # nothing was done: no key, no ledger, no demo folder


def test_the_value_of_a_passphrase_is_never_shown(tmp_path: Path) -> None:
    for args in (
        ["keygen", "k.key", "--name", "n", "--passphrase", b"s\xffcret"],
        ["keygen", b"--passphrase=s\xffcret"],
    ):
        line = refused(provchain(args, tmp_path))
        assert "is not valid UTF-8 text: (not shown: a passphrase)" in line and "cret" not in line


@pytest.mark.parametrize("name", ["PROVCHAIN_PASSPHRASE", "PROVCHAIN_OPERATOR_KEY"])
def test_an_environment_variable_that_is_not_utf8_is_refused(name: str, tmp_path: Path) -> None:
    env = dict(os.environb)
    env[name.encode()] = b"op\xff.key"
    line = refused(provchain(["party", "list", "l.db"], tmp_path, env))
    assert f"the environment variable {name} is not valid UTF-8 text" in line
    assert ("op\\xff.key" in line) == (name == "PROVCHAIN_OPERATOR_KEY")


def test_a_long_argument_is_cut_short(tmp_path: Path) -> None:
    line = refused(provchain(["history", "l.db", b"\xff" * 5000], tmp_path))
    assert line.endswith("...") and len(line) < 400


def test_utf8_arguments_are_not_refused(tmp_path: Path) -> None:
    res = provchain(["history", "caf\u00e9.db", "SÉRUM-\u4e00"], tmp_path)
    assert res.returncode == 2 and "no ledger at caf\u00e9.db" in res.stderr.decode("utf-8")


def test_an_error_line_stays_one_line() -> None:
    """A message that quotes hostile text (here a path with a line break and a terminal escape) is escaped."""
    res = fails(2, "no ledger at", "history", "a\nb\x1b[2J\u2028.db", "X")
    assert "a\\nb\\x1b[2J\\u2028.db" in res.stderr


def test_a_bug_is_one_line_that_says_so() -> None:
    """The last-resort boundary: an exception that is no ProvchainError is a bug, reported in one line."""
    group = _Group("g")

    @group.command()
    def broken() -> None:
        {}["missing"]  # the bug

    res = CliRunner().invoke(group, ["broken"])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert res.stderr == "provchain: error: internal error (a bug; please report it): KeyError: 'missing'\n"
    assert CliRunner().invoke(group, ["nothing"]).exit_code == 2  # click's own usage errors pass through
    assert CliRunner().invoke(group, ["--help"]).exit_code == 0
