"""A newcomer's path: packaging, one-line usage errors, keys found again, the pinned key from a file or the
environment, a passphrase asked on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from clirun import fails, ok
from conftest import journey

from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey

ROOT = Path(__file__).resolve().parents[1]


def test_packaging_names_and_licence() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "provchain-ledger"  # "provchain" on PyPI is an unrelated project
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    pattern = re.compile(r"pip install (-U |--upgrade )?provchain(?![-\w])")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        assert not pattern.search(path.read_text(encoding="utf-8")), f"{path} tells readers to install provchain"


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "provchain", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("provchain, version ")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["audit"], "Missing argument 'LEDGER'. (see '"),
        (["nosuch"], "No such command 'nosuch'"),
        (["audit", "x.db", "--bogus"], "No such option '--bogus'"),
        (["party", "list"], "Missing argument"),
        (["prove", "l.db", "ITEM", "--size", "seven"], "'seven' is not a valid integer"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], words: str) -> None:
    fails(2, words, *args)


def test_no_command_shows_help() -> None:
    res = ok()
    assert res.stdout.startswith("Usage: ") and "Commands:" in res.stdout


def test_key_show(tmp_path: Path) -> None:
    kp = KeyPair.generate("grasse-labs")
    kp.save(tmp_path / "a.key")
    assert ok("key", "show", str(tmp_path / "a.key")).stdout == kp.vkey + "\n"
    w = WitnessKey.generate("witness.example/w1")
    w.save(tmp_path / "w.key")
    assert ok("key", "show", str(tmp_path / "w.key")).stdout == w.vkey + "\n"
    kp.save(tmp_path / "enc.key", "s3cret pass")
    env = {"PROVCHAIN_PASSPHRASE": "s3cret pass"}
    assert ok("key", "show", str(tmp_path / "enc.key"), env=env).stdout == kp.vkey + "\n"
    fails(2, "give its passphrase", "key", "show", str(tmp_path / "enc.key"))
    fails(2, "does not exist", "key", "show", str(tmp_path / "none.key"))


def on_terminal(args: list[str], answer: tuple[bytes, bytes] | None = None) -> tuple[int, bytes]:
    """Run ``provchain ARGS`` on a pseudo-terminal; when ``answer`` = (prompt, reply), type the reply once
    the prompt shows. Returns the exit status and everything the terminal showed."""
    script = Path(sys.executable).with_name("provchain")
    prog = [str(script)] if script.exists() else [sys.executable, "-m", "provchain"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHAIN_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: provchain on a terminal
        os.execve(prog[0], [*prog, *args], env)
    seen = b""
    deadline = time.monotonic() + 120
    sent = answer is None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not sent and answer is not None and answer[0] in seen:
            os.write(fd, answer[1])
            sent = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen


def test_passphrase_is_asked_on_a_terminal(tmp_path: Path) -> None:
    kp = KeyPair.generate("grasse-labs")
    kp.save(tmp_path / "enc.key", "s3cret pass")
    code, seen = on_terminal(["key", "show", str(tmp_path / "enc.key")], (b"Passphrase of", b"s3cret pass\n"))
    assert code == 0, seen
    assert b"Passphrase of" in seen and kp.vkey.encode() in seen
    assert b"s3cret pass" not in seen  # not echoed


def test_long_work_shows_progress_on_a_terminal_only(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    for n in range(5):
        journey(ledger, parties, f"SERUM-{n}")
    ledger.checkpoint()
    vkey = ledger.operator_vkey
    ledger.close()
    code, seen = on_terminal(["export", str(ledger_path), "-o", str(tmp_path / "x.export")])
    assert code == 0 and b"exporting" in seen and b"36/36" in seen and b"exported 36 entries" in seen, seen
    code, seen = on_terminal(["import", str(tmp_path / "x.export"), "-o", str(tmp_path / "y.db")])
    assert code == 0 and b"importing" in seen, seen
    code, seen = on_terminal(["audit", str(ledger_path), "--operator", vkey])
    assert code == 0 and b"auditing" in seen, seen
    code, seen = on_terminal(["publish", str(ledger_path), str(tmp_path / "site")])
    assert code == 0 and b"publishing" in seen and b"36/36" in seen, seen
    piped = subprocess.run(
        [sys.executable, "-m", "provchain", "export", str(ledger_path), "-o", str(tmp_path / "z.export")],
        capture_output=True, text=True, check=True,
    )
    assert piped.stderr == "" and piped.stdout.startswith("exported")


def test_operator_from_a_file_or_the_environment(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    journey(ledger, parties, "SERUM-1")
    ledger.checkpoint()
    vkey = ledger.operator_vkey
    ledger.close()
    (tmp_path / "op.vkey").write_text(vkey + "\n")
    assert ok("audit", str(ledger_path), "--operator", f"@{tmp_path / 'op.vkey'}").stdout
    assert ok("audit", str(ledger_path), env={"PROVCHAIN_OPERATOR": vkey}).stdout
    fails(2, "cannot read the operator's verifier key", "audit", str(ledger_path), "--operator", "@/nonexistent/x")
    (tmp_path / "two.vkey").write_text(vkey + "\n" + vkey + "\n")
    fails(2, "one verifier key on one line", "audit", str(ledger_path), "--operator", f"@{tmp_path / 'two.vkey'}")


def test_party_list_json_has_verifier_keys(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair]) -> None:
    ledger.close()
    rows = json.loads(ok("party", "list", str(ledger_path), "--json").stdout)["parties"]
    assert {r["vkey"] for r in rows} == {kp.vkey for kp in parties.values()}



def test_readme_blocks_run_in_a_fresh_shell_after_the_setup(tmp_path: Path) -> None:
    """The README's blocks after its set-up lines, verbatim, in order, in ONE fresh bash whose PATH does not
    hold provchain: its own activation line must be enough (the venv the tests run in stands for the
    `.venv` the set-up lines make)."""
    from test_docs import _EXIT, CONSOLE, PYTHON, SH, output_matches, parse_blocks

    blocks = parse_blocks(ROOT / "README.md")
    start = next(i for i, b in enumerate(blocks) if b.text == ". .venv/bin/activate\n")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(ROOT / "docs" / "img", tmp_path / "docs" / "img")
    script = ["set -uo pipefail", blocks[start].text]
    checks: list[tuple[str, int, str]] = []  # (output file, expected exit, expected output)
    later = blocks[start + 1 :]
    for n, block in enumerate(later):
        out = f"out{n}"
        if block.kind == SH:
            script.append(f"( set -e\n{block.text}) > {out}.txt 2>&1; echo $? > {out}.rc")
            checks.append((out, 0, "..."))
        elif block.kind == PYTHON:
            script.append(f"python - > {out}.txt 2>&1 <<'PROVCHAIN_EOF'\n{block.text}PROVCHAIN_EOF\necho $? > {out}.rc")
            following = later[n + 1] if n + 1 < len(later) else None
            expected = following.text if following is not None and following.is_output else "..."
            checks.append((out, 0, expected))
        elif block.kind == CONSOLE:
            for k, (command, expected) in enumerate(_console_steps(block.text)):
                m = _EXIT.search(command)
                want = int(m["code"]) if m else 0
                command = command[: m.start()] if m else command
                script.append(f"{command} > {out}_{k}.txt 2>/dev/null; echo $? > {out}_{k}.rc")
                checks.append((f"{out}_{k}", want, expected))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVCHAIN_", "VIRTUAL_ENV"))}
    venv_bin = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != venv_bin)
    assert subprocess.run(["bash", "-c", "command -v provchain"], env=env, capture_output=True, check=False).returncode
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, timeout=600, check=True)
    assert len(checks) >= 3, checks
    assert any(c[1] == 0 and "VERIFIED" in c[2] for c in checks), checks  # the scan of the README picture
    for name, want, expected in checks:
        got = (tmp_path / f"{name}.txt").read_text()
        code = int((tmp_path / f"{name}.rc").read_text())
        assert code == want, (name, code, got)
        assert output_matches(expected, got), (name, expected, got)


def _console_steps(text: str) -> list[tuple[str, str]]:
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(c, "\n".join(lines)) for c, lines in steps]
