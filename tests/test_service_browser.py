"""The verifier page and the scan register, in real headless Chromium (Playwright) against a real uvicorn.

Served by the service at /verify/, the page verifies a code on the device, reports it to the register and shows
the count, the first day and the claim. When the register cannot be reached (a page whose register is down, or
a network that drops the request), the page still shows VERIFIED, with a line saying the register was not
reached. The register's count is read back through the Python API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from servicerun import JOURNEY, ORIGIN, World, make_world, running

from provchain import Ledger
from provchain import code as item_code
from provchain.cli import cli
from provchain.web import ScanRegister, create_app
from provchain.web.register import register_path

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is missing (apt-get install -y chromium; .ci/deps does)", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 412, "height": 915})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.record("BAG-1", *JOURNEY)
    return w


def fragment(world: World) -> str:
    with Ledger.open(world.path, operator=world.operator) as led:
        return item_code.make(led, "BAG-1", url="https://verify.example/").split("#", 1)[1]


def verified_with_register(page: Any, url: str) -> tuple[str, str]:
    page.goto(url)
    page.wait_for_selector("body[data-verdict]", timeout=30_000)
    verdict = str(page.get_attribute("body", "data-verdict"))
    page.wait_for_selector("body[data-register]", timeout=30_000)
    return verdict, str(page.text_content("#register-status"))


def scans(world: World) -> int:
    with ScanRegister.open(register_path(world.path), origin=ORIGIN, operator=world.operator.vkey) as reg:
        return reg.summary("BAG-1").scans


def test_the_served_page_shows_the_scan_count(page: Any, world: World) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    with running(create_app(world.path, operator=world.operator, rate_limit=None)) as base:
        url = f"{base}/verify/#{fragment(world)}"
        assert verified_with_register(page, url) == ("VERIFIED", "First scan of this item.")
        assert page.get_attribute("body", "data-register") == "shown"
        page.goto("about:blank")
        verdict, line = verified_with_register(page, url)
        assert (verdict, line) == ("VERIFIED", f"Scanned 2 times, first on {today}.")
        assert scans(world) == 2

        with Ledger.open(world.path, operator=world.operator) as led:
            text = item_code.make(led, "BAG-1")
        httpx.post(base + "/v1/claims", json={"code": text, "claimant": "order-1"}, timeout=30).raise_for_status()
        page.goto("about:blank")
        verdict, line = verified_with_register(page, url)
        assert verdict == "VERIFIED" and line.startswith(f"Scanned 3 times, first on {today}. Claimed on {today}.")
        assert "Warning: this item was claimed on" in line
        assert page.get_attribute("body", "data-register") == "warning"
    assert scans(world) == 3


def test_the_page_still_verifies_when_the_register_is_unreachable(page: Any, world: World) -> None:
    with running(create_app(world.path, operator=world.operator, rate_limit=None)) as base:
        page.route("**/v1/scans", lambda route: route.abort())  # the network drops the report
        verdict, line = verified_with_register(page, f"{base}/verify/#{fragment(world)}")
    assert verdict == "VERIFIED" and "could not be reached" in line
    assert page.get_attribute("body", "data-register") == "unavailable"
    assert page.locator("#events li.event").count() == 3
    assert scans(world) == 0


def test_a_published_page_whose_register_is_down_still_verifies(page: Any, world: World, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["verifier-page", str(out), "--operator", world.operator.vkey,
                                      "--register", f"http://127.0.0.1:{port}/"])
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text()
    assert f"connect-src http://127.0.0.1:{port}" in html
    verdict, line = verified_with_register(page, (out / "index.html").as_uri() + "#" + fragment(world))
    assert verdict == "VERIFIED" and "could not be reached" in line


def test_a_refused_code_is_not_reported(page: Any, world: World) -> None:
    with running(create_app(world.path, operator=world.operator, rate_limit=None)) as base:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        digits = fragment(world)
        page.goto(f"{base}/verify/#{digits[:-3]}{(int(digits[-3:]) + 1) % 1000:03d}")
        page.wait_for_selector("body[data-verdict]", timeout=30_000)
        assert page.get_attribute("body", "data-verdict") in ("REFUSED", "UNREADABLE")
        page.wait_for_timeout(300)  # give a (wrong) report the chance to leave
    assert not [r for r in requests if "/v1/scans" in r]
    assert page.get_attribute("body", "data-register") is None
    assert scans(world) == 0


def test_verifier_page_refuses_a_bad_register(tmp_path: Path) -> None:
    from provchain import KeyPair

    vkey = KeyPair.generate(ORIGIN).vkey
    for bad in ("http://example.com/", "https://x.example", "ftp://x/", "https://x.example/a b/", "//x/"):
        result = CliRunner().invoke(cli, ["verifier-page", str(tmp_path / "p"), "--operator", vkey, "--register", bad])
        assert result.exit_code == 2 and "register must" in result.stderr, (bad, result.output)
