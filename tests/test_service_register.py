"""The scan register over HTTP: scans and claims against a real uvicorn, with real concurrent clients.

Counts and claims are checked in the answers and then in the register file itself; the ledger file is
audited afterwards to show the register stays out of it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from servicerun import JOURNEY, ORIGIN, TOKEN, World, make_world, running

from provchain import Ledger
from provchain import code as item_code
from provchain.audit import audit_path
from provchain.web import ScanRegister, create_app
from provchain.web.register import WarningRules, register_path


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.record("BAG-1", *JOURNEY)
    w.record("BAG-2", ("origin", "grasse-labs", "FR"))
    return w


@pytest.fixture
def base(world: World) -> Iterator[str]:
    app = create_app(world.path, operator=world.operator, token=TOKEN, rate_limit=None,
                     country_header="CF-IPCountry", rules=WarningRules(countries=3, scans=1000))
    with running(app) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=60) as c:
        yield c


def code_of(world: World, item: str, url: str | None = None) -> str:
    with Ledger.open(world.path, operator=world.operator) as led:
        return item_code.make(led, item, url=url)


def scans(world: World, item: str = "BAG-1") -> int:
    with ScanRegister.open(register_path(world.path), origin=ORIGIN, operator=world.operator.vkey) as reg:
        return reg.summary(item).scans


def test_a_genuine_code_is_counted_and_a_forged_one_is_not(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    first = client.post("/v1/scans", json={"code": text, "country": "FR"}).json()
    assert first["verdict"] == "verified" and first["item"] == "BAG-1"
    assert (first["scans"], first["claimed"], first["claimed_at"], first["warnings"]) == (1, False, None, [])
    assert first["first_scan"] == first["last_scan"]
    second = client.post("/v1/scans", json={"code": code_of(world, "BAG-1")}).json()  # another code, same item
    assert second["scans"] == 2 and second["first_scan"] == first["first_scan"]

    forged = replace(item_code.parse(text, ORIGIN), item="BAG-2").payload()  # genuine bytes, another item
    for bad in (forged, text[:-4] + "AAAA", "PC1:", "hello", "02" + "1" * 40):
        body = client.post("/v1/scans", json={"code": bad}).json()
        assert body["verdict"] == "refused" and body["reason"].endswith("Error") and "item" not in body, bad
    with ScanRegister.open(register_path(world.path), origin=ORIGIN, operator=world.operator.vkey) as reg:
        assert reg.summary("BAG-1").scans == 2 and reg.summary("BAG-2").scans == 0
        assert [s.country for s in reg.scans("BAG-1")] == [None, "FR"]


def test_url_codes_and_their_fragments_count_for_one_item(client: httpx.Client, world: World) -> None:
    url_code = code_of(world, "BAG-1", url="https://verify.example/")
    assert client.post("/v1/scans", json={"code": url_code}).json()["scans"] == 1
    fragment = url_code.split("#", 1)[1]  # what the verifier page reads from its address
    assert client.post("/v1/scans", json={"code": fragment}).json()["scans"] == 2


def test_the_first_claim_wins_and_later_scans_warn(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    won = client.post("/v1/claims", json={"code": text, "claimant": "order-4711"})
    assert won.status_code == 201 and won.json()["claimed"] is True
    again = client.post("/v1/claims", json={"code": text, "claimant": "order-4711"})  # a retry
    assert again.status_code == 200 and again.json() == {**won.json(), "repeated": True}
    lost = client.post("/v1/claims", json={"code": text, "claimant": "order-9999"})
    assert lost.status_code == 409 and lost.json()["error"] == "already_claimed"
    assert lost.json()["claimed_at"] == won.json()["claimed_at"] and won.json()["claimed_at"] in lost.json()["message"]
    scan = client.post("/v1/scans", json={"code": text}).json()
    assert scan["claimed"] is True and scan["claimed_at"] == won.json()["claimed_at"]
    assert [w["code"] for w in scan["warnings"]] == ["scanned_after_claim"]

    forged = replace(item_code.parse(text, ORIGIN), item="BAG-2").payload()
    resp = client.post("/v1/claims", json={"code": forged, "claimant": "order-1"})
    assert resp.status_code == 422 and resp.json()["error"] == "refused"
    for bad in ({"code": text}, {"code": text, "claimant": ""}, {"code": text, "claimant": "x" * 257},
                {"code": text, "claimant": 7}, {"claimant": "a"}):
        resp = client.post("/v1/claims", json=bad)
        assert resp.status_code == 422 and resp.json()["error"] == "invalid_request", bad


def test_many_countries_in_a_short_time_warn(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    answers = [client.post("/v1/scans", json={"code": text, "country": c}).json() for c in ("FR", "DE", "FR", "BR")]
    assert [[w["code"] for w in a["warnings"]] for a in answers] == [[], [], [], ["many_countries"]]
    assert "3 countries" in answers[-1]["warnings"][0]["message"]


def test_the_country_comes_from_the_body_or_the_proxys_header(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    client.post("/v1/scans", json={"code": text}, headers={"CF-IPCountry": "de"})
    client.post("/v1/scans", json={"code": text}, headers={"CF-IPCountry": "XX"})  # unknown to the proxy
    client.post("/v1/scans", json={"code": text, "country": "JP"}, headers={"CF-IPCountry": "DE"})
    resp = client.post("/v1/scans", json={"code": text, "country": "Japan"})
    assert resp.status_code == 422 and resp.json()["type"] == "CountryError"
    with ScanRegister.open(register_path(world.path), origin=ORIGIN, operator=world.operator.vkey) as reg:
        assert [s.country for s in reg.scans("BAG-1")] == ["JP", None, "DE"]


def test_the_register_keeps_no_address(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    client.post("/v1/scans", json={"code": text, "country": "FR"}, headers={"X-Forwarded-For": "203.0.113.9"})
    client.post("/v1/claims", json={"code": text, "claimant": "order-4711"})
    dump = "\n".join(sqlite3.connect(register_path(world.path)).iterdump())
    for secret in ("127.0.0.1", "203.0.113.9", "order-4711", "python-httpx"):
        assert secret not in dump


def test_the_operator_reads_the_register(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    for country in ("FR", "CN"):
        client.post("/v1/scans", json={"code": text, "country": country})
    assert client.get("/v1/register/BAG-1").status_code == 401
    body = client.get("/v1/register/BAG-1", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert body["scans"] == 2 and [r["country"] for r in body["recent"]] == ["CN", "FR"]
    body = client.get("/v1/register/BAG-2", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert (body["scans"], body["recent"], body["claimed"]) == (0, [], False)  # in the ledger, never scanned
    resp = client.get("/v1/register/NEVER-SEEN", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 404 and resp.json()["error"] == "unknown_item"


def test_a_service_without_register_says_so(world: World) -> None:
    with running(create_app(world.path, operator=world.operator, register=False)) as url:
        resp = httpx.post(url + "/v1/scans", json={"code": code_of(world, "BAG-1")}, timeout=30)
        assert resp.status_code == 404 and resp.json()["error"] == "no_register"
        assert httpx.get(url + "/v1", timeout=30).json()["register"] is False
        assert "connect-src" not in httpx.get(url + "/verify/", timeout=30).text  # the page asks no register
    assert not Path(register_path(world.path)).exists()


# --- concurrency: real clients at once --------------------------------------------------------------------


def test_concurrent_scans_of_one_code_count_exactly(base: str, world: World) -> None:
    text = code_of(world, "BAG-1")
    n = 48
    start = threading.Barrier(n)

    def scan(_: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as c:
            start.wait()
            resp = c.post("/v1/scans", json={"code": text})
            assert resp.status_code == 200, resp.text
            return int(resp.json()["scans"])

    with ThreadPoolExecutor(n) as pool:
        counts = list(pool.map(scan, range(n)))
    assert sorted(counts) == list(range(1, n + 1))  # every scan saw its own count: none lost, none doubled
    with ScanRegister.open(register_path(world.path), origin=ORIGIN, operator=world.operator.vkey) as reg:
        assert reg.summary("BAG-1").scans == n and len(reg.scans("BAG-1", limit=1000)) == n


def test_concurrent_claims_exactly_one_wins(base: str, world: World) -> None:
    text = code_of(world, "BAG-1")
    n = 24
    start = threading.Barrier(n)

    def claim(i: int) -> tuple[int, str]:
        with httpx.Client(base_url=base, timeout=60) as c:
            start.wait()
            resp = c.post("/v1/claims", json={"code": text, "claimant": f"buyer-{i}"})
            return resp.status_code, str(resp.json()["claimed_at"])

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(claim, range(n)))
    statuses = sorted(s for s, _ in results)
    assert statuses == [201] + [409] * (n - 1)
    assert len({at for _, at in results}) == 1  # every loser is told the winner's time


def test_concurrent_submissions_on_one_item_never_fork_it(base: str, world: World) -> None:
    """Two parties prepare the next event of one item at once: one is stored, the other is told it is stale."""
    with httpx.Client(base_url=base, timeout=60) as c:
        bodies = {}
        for party, stage in (("cciq-inspection", "appraisal"), ("sf-express", "delivery")):
            resp = c.post("/v1/events/prepare", json={"item": "BAG-1", "stage": stage, "country": "CN",
                                                      "key_id": world.parties[party].key_id.hex()})
            bodies[party] = world.sign(party, resp.json()["body"])
    start = threading.Barrier(2)

    def submit(party: str) -> int:
        with httpx.Client(base_url=base, timeout=60) as c:
            start.wait()
            return c.post("/v1/events", json=bodies[party]).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(submit, bodies))
    assert statuses == [201, 409]
    with Ledger.open(world.path, readonly=True) as led:
        assert len(led.history("BAG-1")) == 4


def test_the_ledger_audits_clean_with_a_register_beside_it(client: httpx.Client, world: World) -> None:
    text = code_of(world, "BAG-1")
    client.post("/v1/scans", json={"code": text, "country": "FR"})
    client.post("/v1/claims", json={"code": text, "claimant": "order-1"})
    assert Path(register_path(world.path)).exists()
    report = audit_path(world.path, world.operator.vkey, workers=1)
    assert report.clean, report
    with Ledger.open(world.path, readonly=True) as led:  # the store's strict schema still opens it
        assert led.size == 10


def test_200_concurrent_clients_are_all_answered(base: str, world: World) -> None:
    """The load test's shape in the suite: 200 clients at once (half scans, half reads), 0 errors, exact counts."""
    import asyncio

    text = code_of(world, "BAG-1")

    async def one(n: int, gate: asyncio.Event) -> bool:
        async with httpx.AsyncClient(base_url=base, timeout=120) as c:
            await gate.wait()
            if n % 2:
                resp = await c.post("/v1/scans", json={"code": text})
                return resp.status_code == 200 and resp.json()["verdict"] == "verified"
            resp = await c.get("/v1/items/BAG-1")
            return resp.status_code == 200 and len(resp.json()["events"]) == 3

    async def main() -> list[bool]:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(one(n, gate)) for n in range(200)]
        await asyncio.sleep(0.1)
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == [True] * 200
    assert scans(world) == 100


def test_concurrent_code_requests_sign_consistent_checkpoints(base: str, world: World) -> None:
    world.record("BAG-2", ("import", "shanghai-customs-broker", "CN"))  # a head no checkpoint covers yet
    start = threading.Barrier(8)

    def fetch(_: int) -> str:
        with httpx.Client(base_url=base, timeout=60) as c:
            start.wait()
            resp = c.get("/v1/items/BAG-2/code")
            assert resp.status_code == 200, resp.text
            return str(resp.json()["code"])

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(fetch, range(8)))
    for text in codes:
        assert [e.stage for e in item_code.verify(text, world.operator.vkey).events] == ["origin", "import"]
    report = audit_path(world.path, world.operator.vkey, workers=1)
    assert report.clean, report  # every checkpoint signed meanwhile is consistent with the others
