"""The service's REST contract, against a real uvicorn on 127.0.0.1 driven by httpx (tests/servicerun.py).

Every answer is checked for its status, its JSON error code, and the state it leaves, read back through the
Python API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicerun import JOURNEY, ORIGIN, TOKEN, World, make_world, running
from starlette.routing import Route

from provchain import KeyPair, Ledger, qr
from provchain import code as item_code
from provchain.checkpoint import open_checkpoint
from provchain.note import new_verifier
from provchain.proof import parse_tlog_proof, verify_tlog_proof
from provchain.web import create_app


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.record("BAG-1", *JOURNEY)
    return w


@pytest.fixture
def base(world: World) -> Iterator[str]:
    with running(create_app(world.path, operator=world.operator, token=TOKEN)) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c


def error(resp: httpx.Response) -> str:
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    body = resp.json()
    assert isinstance(body["message"], str) and body["message"]
    return str(body["error"])


# --- reading ---------------------------------------------------------------------------------------------


def test_info_names_the_ledger(client: httpx.Client, world: World) -> None:
    body = client.get("/v1").json()
    assert body == {"origin": ORIGIN, "operator": world.operator.vkey, "size": 9, "register": True, "codes": True}


def test_history_is_the_ledgers(client: httpx.Client, world: World) -> None:
    resp = client.get("/v1/items/BAG-1")
    assert resp.status_code == 200
    with Ledger.open(world.path, readonly=True) as led:
        want = [e.to_json() for e in led.history("BAG-1")]
    assert resp.json() == {"item": "BAG-1", "origin": ORIGIN, "events": want}
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("suffix", ["", "/code", "/code?format=png", "/code?format=svg", "/proof"])
def test_an_unknown_item_is_404_on_every_route(client: httpx.Client, suffix: str) -> None:
    resp = client.get("/v1/items/BAG-404" + suffix)
    assert resp.status_code == 404 and error(resp) == "unknown_item"


@pytest.mark.parametrize("item", ["bad%20id", "x%00y", "%ff%fe", "A" * 129, "%E2%80%AEevil"])
def test_a_malformed_item_id_is_400(client: httpx.Client, item: str) -> None:
    resp = client.get("/v1/items/" + item)
    assert resp.status_code == 400 and error(resp) == "bad_item"


def test_an_item_id_with_a_slash_is_one_item(client: httpx.Client, world: World) -> None:
    world.record("LOT/7", ("origin", "grasse-labs", "FR"))
    resp = client.get("/v1/items/LOT%2F7")
    assert resp.status_code == 200 and resp.json()["item"] == "LOT/7"
    assert client.get("/v1/items/LOT%2F7/code").json()["code"].startswith("PC1:")
    assert client.get("/v1/items/LOT/7").status_code == 404  # item LOT, then an unknown suffix


def test_the_code_verifies_and_its_images_decode_to_a_code(client: httpx.Client, world: World) -> None:
    body = client.get("/v1/items/BAG-1/code").json()
    assert body["version"] == 1
    report = item_code.verify(body["code"], world.operator.vkey)
    assert (report.item, [e.stage for e in report.events]) == ("BAG-1", ["origin", "import", "warehouse"])
    png = client.get("/v1/items/BAG-1/code", params={"format": "png"})
    assert png.headers["content-type"] == "image/png"
    assert item_code.verify(qr.read_image(png.content), world.operator.vkey).item == "BAG-1"
    svg = client.get("/v1/items/BAG-1/code", params={"format": "svg", "profile": "full"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
    resp = client.get("/v1/items/BAG-1/code", params={"format": "gif"})
    assert resp.status_code == 422 and error(resp) == "invalid_request"


def test_url_codes_when_a_base_is_configured(world: World) -> None:
    app = create_app(world.path, operator=world.operator, code_url="https://verify.example/v/")
    with running(app) as url:
        body = httpx.get(url + "/v1/items/BAG-1/code", timeout=30).json()
    assert body["version"] == 2 and body["code"].startswith("HTTPS://VERIFY.EXAMPLE/v/#02")
    assert item_code.verify(body["code"], world.operator.vkey).item == "BAG-1"


def test_without_the_operator_key_no_code_is_made(world: World) -> None:
    with running(create_app(world.path)) as url:
        resp = httpx.get(url + "/v1/items/BAG-1/code", timeout=30)
        assert resp.status_code == 503 and error(resp) == "no_operator_key"
        assert httpx.get(url + "/v1/items/BAG-1", timeout=30).status_code == 200  # reading needs no key
        resp = httpx.post(url + "/v1/checkpoint", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert resp.status_code == 403 and error(resp) == "forbidden"  # and no token either


# --- checkpoints and proofs ---------------------------------------------------------------------------------


def test_checkpoints_need_the_operator_token(client: httpx.Client, world: World) -> None:
    resp = client.get("/v1/checkpoint")
    assert resp.status_code == 404 and error(resp) == "no_checkpoint"
    resp = client.get("/v1/items/BAG-1/proof")
    assert resp.status_code == 409 and error(resp) == "conflict"  # no checkpoint covers the head yet
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        resp = client.post("/v1/checkpoint", headers=headers)
        assert resp.status_code == 401 and error(resp) == "unauthorized"
        assert resp.headers["www-authenticate"].startswith("Bearer")
    with Ledger.open(world.path, readonly=True) as led:
        assert led.latest_checkpoint() is None
    resp = client.post("/v1/checkpoint", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 201
    cp, _ = open_checkpoint(resp.content, ORIGIN, new_verifier(world.operator.vkey))
    assert cp.size == 9
    assert client.get("/v1/checkpoint").content == resp.content

    proof = client.get("/v1/items/BAG-1/proof")
    assert proof.status_code == 200
    parsed = parse_tlog_proof(proof.content)
    with Ledger.open(world.path, readonly=True) as led:
        head = led.history("BAG-1")[-1]
    verify_tlog_proof(parsed, head.leaf_hash, world.operator.vkey, ORIGIN)

    world.record("BAG-2", ("origin", "grasse-labs", "FR"))
    body = client.get("/v1/proofs/consistency", params={"from": 9}).json()
    assert (body["from"], body["to"]) == (9, 10)
    with Ledger.open(world.path, readonly=True) as led:
        assert body["proof"] == [h.hex() for h in led.consistency_proof(9, 10)]
    for params in ({}, {"from": "-1"}, {"from": "x"}, {"from": "11"}, {"from": "2", "to": "99"}):
        resp = client.get("/v1/proofs/consistency", params=params)
        assert resp.status_code == 422 and error(resp) == "invalid_request", params


# --- remote signing ------------------------------------------------------------------------------------------


def prepare(client: httpx.Client, world: World, party: str, **fields: Any) -> dict[str, Any]:
    body = {"key_id": world.parties[party].key_id.hex(), **fields}
    resp = client.post("/v1/events/prepare", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_a_party_signs_on_its_machine_and_submits(client: httpx.Client, world: World) -> None:
    prepared = prepare(client, world, "cciq-inspection", item="BAG-1", stage="appraisal", country="CN",
                       data={"grade": "A"})
    resp = client.post("/v1/events", json=world.sign("cciq-inspection", prepared["body"]))
    assert resp.status_code == 201
    with Ledger.open(world.path, readonly=True) as led:
        last = led.history("BAG-1")[-1]
    assert resp.json() == {"index": last.index, "leaf_hash": last.leaf_hash.hex(), "item": "BAG-1"}
    assert (last.stage, last.party, dict(last.data)) == ("appraisal", "cciq-inspection", {"grade": "A"})


def test_a_stale_or_forged_event_is_refused_and_nothing_is_written(client: httpx.Client, world: World) -> None:
    prepared = prepare(client, world, "sf-express", item="BAG-1", stage="delivery", country="CN")
    signed = world.sign("sf-express", prepared["body"])
    world.record("BAG-1", ("appraisal", "cciq-inspection", "CN"))  # the item moved on
    resp = client.post("/v1/events", json=signed)
    assert resp.status_code == 409 and error(resp) == "stale_head"

    prepared = prepare(client, world, "sf-express", item="BAG-1", stage="delivery", country="CN")
    forged = world.sign("grasse-labs", prepared["body"])  # signed by another party's key
    resp = client.post("/v1/events", json=forged)
    assert resp.status_code == 422 and error(resp) == "refused" and resp.json()["type"] == "SignatureError"

    resp = client.post("/v1/events", json={"body": "00ff", "signature": "00" * 64})
    assert resp.status_code == 400 and error(resp) == "malformed"
    for bad in ({"body": prepared["body"]}, {"body": "XYZ", "signature": "00"}, {"body": prepared["body"],
                "signature": "00" * 63}, {"body": 5, "signature": "00" * 64}, {**forged, "extra": 1}):
        resp = client.post("/v1/events", json=bad)
        assert resp.status_code == 422 and error(resp) == "invalid_request", bad
    with Ledger.open(world.path, readonly=True) as led:
        assert [e.stage for e in led.history("BAG-1")] == ["origin", "import", "warehouse", "appraisal"]


def test_refusals_of_prepare_name_the_rule(client: httpx.Client, world: World) -> None:
    key = world.parties["sf-express"].key_id.hex()
    resp = client.post("/v1/events/prepare", json={"item": "NEW-1", "stage": "delivery", "key_id": key,
                                                    "country": "CN"})
    assert resp.status_code == 422 and error(resp) == "refused" and resp.json()["type"] == "StageOrderError"
    resp = client.post("/v1/events/prepare", json={"item": "NEW-1", "stage": "origin", "key_id": key,
                                                    "country": "ZZ"})
    assert resp.status_code == 422 and resp.json()["type"] == "CountryError"
    resp = client.post("/v1/events/prepare", json={"item": "NEW-1", "stage": "origin", "key_id": "0011",
                                                    "country": "FR"})
    assert resp.status_code == 422 and error(resp) == "invalid_request"


def test_operator_entries_are_not_taken_as_events(client: httpx.Client, world: World) -> None:
    with Ledger.open(world.path, readonly=True) as led:
        registration = led.entry(1)
    resp = client.post("/v1/events", json={"body": registration.body.hex(), "signature": registration.signature.hex()})
    assert resp.status_code == 422 and error(resp) == "not_an_event"


# --- errors are JSON everywhere -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_other_methods_get_json_405(client: httpx.Client, method: str) -> None:
    for path in ("/v1/items/BAG-1", "/v1/scans", "/v1/checkpoint"):
        resp = client.request(method, path)
        assert resp.status_code == 405 and error(resp) == "method_not_allowed"


def test_unknown_paths_get_json_404(client: httpx.Client) -> None:
    for path in ("/", "/nothing", "/v1/items", "/v1/items/BAG-1/history", "/v2/items/BAG-1"):
        resp = client.get(path)
        assert resp.status_code == 404 and error(resp) == "not_found", path


def test_the_openapi_document_names_every_route(client: httpx.Client, base: str, world: World) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0" and ORIGIN in doc["info"]["title"]
    app = create_app(world.path)
    routes = set()
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{rest:path\}", "{item}", route.path)
        for method in route.methods or ():
            if method != "HEAD":
                routes.add((path, method.lower()))
    routes.discard(("/verify", "get"))  # a redirect to /verify/
    routes.discard(("/verify/{name}", "get"))  # the page's files
    routes |= {("/v1/items/{item}/code", "get"), ("/v1/items/{item}/proof", "get")}  # in /v1/items/{rest:path}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == routes
    app.state.provchain.close()


def test_the_verifier_page_is_served(client: httpx.Client, world: World) -> None:
    resp = client.get("/verify", follow_redirects=False)
    assert resp.status_code == 308 and resp.headers["location"] == "/verify/"
    page = client.get("/verify/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert world.operator.vkey in page.text and "connect-src 'self'" in page.text
    assert client.get("/verify/sw.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/verify/THIRD_PARTY_LICENSES.txt").status_code == 200
    assert client.get("/verify/other.js").status_code == 404


def test_create_app_refuses_bad_configuration(world: World, tmp_path: Path) -> None:
    from provchain.errors import ForeignLedgerError, InputError, LedgerNotFoundError, WrongKeyError

    with pytest.raises(LedgerNotFoundError):
        create_app(tmp_path / "missing.db")
    with pytest.raises(WrongKeyError):
        create_app(world.path, operator=KeyPair.generate(ORIGIN))
    for kwargs in ({"token": "short"}, {"max_body": 10}, {"body_timeout": 0}, {"threads": 0},
                   {"code_url": "http://x/"}, {"country_header": "a b"}, {"cors_origins": "https://x"},
                   {"rate_limit": 5}, {"operator": "key"}):
        with pytest.raises(InputError):
            create_app(world.path, **kwargs)
    (tmp_path / "other").mkdir()
    other = make_world(tmp_path / "other")
    create_app(other.path).state.provchain.close()  # creates the other ledger's register
    with pytest.raises(ForeignLedgerError):
        create_app(world.path, register=str(other.path) + ".register.db")
    with pytest.raises(ForeignLedgerError):  # the ledger file itself is no register
        create_app(world.path, register=world.path)


def test_mounted_in_another_app(world: World) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount

    inner = create_app(world.path, operator=world.operator)
    outer = Starlette(routes=[Route("/", lambda r: PlainTextResponse("shop")), Mount("/provchain", app=inner)])
    with running(outer) as url:
        assert httpx.get(url + "/", timeout=30).text == "shop"
        assert httpx.get(url + "/provchain/v1/items/BAG-1", timeout=30).json()["item"] == "BAG-1"
        assert httpx.get(url + "/provchain/v1/items/A%2FB", timeout=30).status_code == 404
        page = httpx.get(url + "/provchain/verify/", timeout=30)
        assert page.status_code == 200 and '"/provchain/"' in page.text  # the page reports to its own service
    inner.state.provchain.close()


def test_a_page_published_elsewhere_may_post_scans_when_its_origin_is_allowed(world: World) -> None:
    from provchain.web._http import RateLimit

    app = create_app(world.path, cors_origins=["https://verify.example"], rate_limit=RateLimit(0.01, burst=2))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        ok = c.options("/v1/scans", headers={"Origin": "https://verify.example", **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://verify.example"
        other = c.options("/v1/scans", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in other.headers
        assert c.get("/v1", headers={"Origin": "https://verify.example"}).status_code == 200
        assert c.get("/v1").status_code == 200
        limited = c.get("/v1", headers={"Origin": "https://verify.example"})  # over the limit (preflights are free)
        assert limited.status_code == 429
        assert limited.headers["access-control-allow-origin"] == "https://verify.example"  # the page can read it
