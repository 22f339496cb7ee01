"""In CI every real component the tests drive must be present: a missing one would turn its tests into skips.

Outside CI (a developer's machine without Chromium, say) those tests skip with the reason. ``bash .ci/deps``,
the first step of the README's test command, installs everything; with ``CI=true`` this module fails instead
of letting them skip. And CI runs the README's test command word for word.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

in_ci = pytest.mark.skipif(os.environ.get("CI") != "true", reason="only CI must have every component")


@in_ci
def test_chromium_is_installed() -> None:
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium: .ci/deps installs it"


@in_ci
def test_node_and_the_pinned_packages_are_installed() -> None:
    assert shutil.which("node"), "Node.js runs the JavaScript verifier's tests"
    assert (ROOT / "web" / "node_modules" / "@noble" / "curves").is_dir(), ".ci/deps runs npm ci in web/"


@in_ci
def test_playwright_is_installed() -> None:
    assert importlib.util.find_spec("playwright") is not None, "playwright is in the test extra"


@in_ci
def test_postgresql_is_installed() -> None:
    from pgserver import ENV_URL, binaries_present

    assert binaries_present() or os.environ.get(ENV_URL), "PostgreSQL 15 server binaries: .ci/deps installs them"
    assert importlib.util.find_spec("psycopg") is not None, "psycopg is in the test extra"


@in_ci
def test_postgresql_tests_run(postgres_server: object) -> None:
    """The PostgreSQL fixtures start (or reach) a server: in CI they fail rather than skip."""
    import psycopg

    with psycopg.connect(postgres_server.admin_url) as conn:  # type: ignore[attr-defined]
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"  # type: ignore[index]


@in_ci
def test_ci_started_the_postgresql_server() -> None:
    """.ci/run starts the throwaway PostgreSQL 15 for the run (and stops it after), and the crash tests may
    restart it: the test command must find both its URL and its directory."""
    from pgserver import ENV_DIR, ENV_URL

    assert os.environ.get(ENV_URL) and os.environ.get(ENV_DIR), ".ci/run exports the server it started"
    assert Path(os.environ[ENV_DIR], "data", "PG_VERSION").read_text().strip() == "15"


@in_ci
def test_the_page_script_is_built() -> None:
    assert (ROOT / "src" / "provchain" / "web" / "verifier.js").exists()


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    command = readme.split("Run the tests", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0]
    assert command.startswith("bash .ci/deps && ") and command.endswith("pytest -q")
    assert command in (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
