"""Run the provchain CLI in-process (CliRunner) and assert on its contract: exit status, one error line."""

from __future__ import annotations

from click.testing import CliRunner, Result

from provchain.cli import cli


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke ``provchain ARGS...``; never raises."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke and require exit 0 with nothing on stderr."""
    res = run(*args, env=env)
    assert res.exit_code == 0, (res.output, res.stderr, res.exception)
    assert res.stderr == "", res.stderr
    return res


def fails(code: int, words: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke and require exit ``code`` with exactly one 'provchain: error:' line naming ``words``, and no
    traceback."""
    res = run(*args, env=env)
    assert res.exit_code == code, (res.output, res.stderr)
    assert isinstance(res.exception, SystemExit), res.exception  # never a traceback
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provchain: error:"), res.stderr
    assert words in lines[0], lines[0]
    return res
