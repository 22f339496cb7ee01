"""In CI every real component the tests drive must be present: a missing one would turn its tests into skips.

Outside CI (a developer's machine without Chromium, say) those tests skip with the reason; ``bash .ci/run``
installs everything, and with ``CI=true`` this module fails instead of letting them skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.environ.get("CI") != "true", reason="only CI must have every component")


def test_chromium_is_installed() -> None:
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium: .ci/run installs it"


def test_node_and_the_pinned_packages_are_installed() -> None:
    assert shutil.which("node"), "Node.js runs the JavaScript verifier's tests"
    assert (ROOT / "web" / "node_modules" / "@noble" / "curves").is_dir(), ".ci/run runs npm ci in web/"


def test_playwright_is_installed() -> None:
    assert importlib.util.find_spec("playwright") is not None, "playwright is in the test extra"


def test_the_page_script_is_built() -> None:
    assert (ROOT / "src" / "provchain" / "web" / "verifier.js").exists()
