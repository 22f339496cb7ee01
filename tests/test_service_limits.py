"""Bounds of the service against a real uvicorn: body size and time, slow and idle clients, rate limits, hostile
bodies. Raw sockets send what httpx would refuse to send.

No assertion is about time: a stalled client is shown not to block others by serving others *while* it stalls,
and the deadlines by the server closing the connection (read with a generous socket timeout)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servicerun import JOURNEY, World, make_world, raw, read_response, running

from provchain import Ledger
from provchain import code as item_code
from provchain.web import create_app
from provchain.web._http import RateLimit, RateLimiter


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("limits"))
    w.record("BAG-1", *JOURNEY)
    return w


@pytest.fixture(scope="module")
def base(world: World) -> Iterator[str]:
    app = create_app(world.path, operator=world.operator, max_body=4096, body_timeout=1.0, rate_limit=None)
    with running(app, header_timeout=1.0, timeout_keep_alive=1) as url:
        yield url


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:80]
    return int(response[9:12])


def json_of(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


def others_are_served(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        for _ in range(3):
            assert c.get("/v1/items/BAG-1").status_code == 200


def send(base: str, data: bytes) -> bytes:
    conn = raw(base)
    with conn:
        conn.sendall(data)
        return read_response(conn)


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- sizes -----------------------------------------------------------------------------------------------


def test_a_declared_huge_body_is_413_before_it_is_sent(base: str) -> None:
    resp = send(base, post("/v1/scans", b"", "Content-Type: application/json", "Content-Length: 1000000000"))
    assert status_of(resp) == 413 and json_of(resp)["error"] == "too_large"


def test_a_streamed_body_that_grows_too_large_is_413(base: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"code": "'
        for _ in range(100):
            yield b"A" * 1024

    resp = httpx.post(base + "/v1/scans", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"


@pytest.mark.parametrize("length", ["-1", "+5", "0x10", "1e3", " ", "99999999999999999999"])
def test_a_malformed_content_length_is_4xx_and_blocks_no_one(base: str, length: str) -> None:
    conn = raw(base)
    with conn:
        conn.sendall(post("/v1/scans", b"{}", "Content-Type: application/json", f"Content-Length: {length}"))
        others_are_served(base)
        resp = read_response(conn)
    assert 400 <= status_of(resp) < 500
    others_are_served(base)


def test_no_length_is_411(base: str) -> None:
    resp = send(base, post("/v1/scans", b"", "Content-Type: application/json", "Connection: close"))
    assert status_of(resp) == 411 and json_of(resp)["error"] == "length_required"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", b'{"code": "x"}', 415, "unsupported_media_type"),
        (None, b'{"code": "x"}', 415, "unsupported_media_type"),
        ("application/json", b"not json", 400, "bad_json"),
        ("application/json", b'{"code": "a", "code": "b"}', 400, "bad_json"),
        ("application/json", b'{"code": NaN}', 400, "bad_json"),
        ("application/json", b"\xff\xfe{}", 400, "bad_json"),
        ("application/json", b"[" * 2000 + b"]" * 2000, 400, "bad_json"),
        ("application/json", b'["code"]', 422, "invalid_request"),
        ("application/json", b'{"code": ["x"]}', 422, "invalid_request"),
        ("application/json", b'{"code": "x", "ip": "1.2.3.4"}', 422, "invalid_request"),
        ("application/json; charset=utf-8", b'{"code": "' + b"1" * 8200 + b'"}', 413, "too_large"),
    ],
)
def test_malformed_bodies_get_a_json_4xx(base: str, content_type: str | None, body: bytes, status: int,
                                         code: str) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = httpx.post(base + "/v1/scans", content=body, headers=headers, timeout=30)
    assert (resp.status_code, resp.json()["error"]) == (status, code)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["code", "country", "claimant", "body", "signature", "item", "stage",
                                     "key_id", "data", "at", "place"]),
                    st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
                    max_size=5).map(lambda v: json.dumps(v).encode()),
))
def test_hostile_bodies_always_get_a_json_answer(base: str, body: bytes) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        for path in ("/v1/scans", "/v1/claims", "/v1/events", "/v1/events/prepare"):
            resp = c.post(path, content=body, headers={"Content-Type": "application/json"})
            assert resp.status_code in (200, 400, 404, 409, 413, 422), (path, resp.status_code, resp.text)
            answer = resp.json()
            assert isinstance(answer, dict) and ("error" in answer or "verdict" in answer or "body" in answer)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40))
def test_hostile_item_paths_get_a_json_answer(base: str, path: str) -> None:
    from urllib.parse import quote

    with httpx.Client(base_url=base, timeout=30) as c:
        for suffix in ("", "/code", "/proof"):
            resp = c.get("/v1/items/" + quote(path, safe="/%") + suffix)
            assert resp.status_code in (200, 400, 404, 409), resp.text
            assert resp.headers["content-type"].startswith(("application/json", "text/plain"))


# --- slow and idle clients -----------------------------------------------------------------------------------


def test_a_half_sent_body_blocks_no_one_and_gets_408(base: str) -> None:
    conn = raw(base)
    with conn:
        conn.sendall(post("/v1/scans", b'{"code": "PC1:', "Content-Type: application/json", "Content-Length: 200"))
        others_are_served(base)
        resp = read_response(conn)
    assert status_of(resp) == 408 and json_of(resp)["error"] == "timeout"


def test_half_sent_headers_block_no_one_and_the_connection_is_closed(base: str) -> None:
    conn = raw(base)
    with conn:
        conn.sendall(b"POST /v1/scans HTTP/1.1\r\nHost: test\r\nContent-Type: appl")
        others_are_served(base)
        assert read_response(conn) == b""  # closed by the header deadline, without an answer


def test_an_idle_connection_blocks_no_one_and_is_closed(base: str) -> None:
    idle = [raw(base) for _ in range(20)]
    try:
        others_are_served(base)
        for conn in idle:
            assert read_response(conn) == b""
    finally:
        for conn in idle:
            conn.close()


def test_an_idle_keep_alive_connection_is_closed_after_its_response(base: str) -> None:
    conn = raw(base)
    with conn:
        conn.sendall(b"GET /v1/items/BAG-1 HTTP/1.1\r\nHost: test\r\n\r\n")
        resp = read_response(conn)  # the answer, then the close once the keep-alive time ran out
    assert status_of(resp) == 200 and resp.count(b"HTTP/1.1 ") == 1


def test_a_client_that_vanishes_mid_request_harms_nothing(base: str, world: World) -> None:
    for _ in range(5):
        conn = raw(base)
        conn.sendall(post("/v1/scans", b'{"co', "Content-Type: application/json", "Content-Length: 50"))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # a reset
    others_are_served(base)
    with Ledger.open(world.path, operator=world.operator) as led:
        text = item_code.make(led, "BAG-1")
    assert httpx.post(base + "/v1/scans", json={"code": text}, timeout=30).json()["verdict"] == "verified"


# --- rate limits ---------------------------------------------------------------------------------------------------


def test_a_client_over_its_limit_gets_429(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.record("BAG-1", *JOURNEY)
    app = create_app(w.path, rate_limit=RateLimit(per_second=0.01, burst=3))
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert [c.get("/v1/items/BAG-1").status_code for _ in range(3)] == [200, 200, 200]
        resp = c.get("/v1/items/BAG-1")
        assert resp.status_code == 429 and resp.json()["error"] == "rate_limited"
        assert int(resp.headers["retry-after"]) >= 1


def test_the_limiter_refills_and_forgets_old_clients() -> None:
    now = [0.0]
    limiter = RateLimiter(app=None, limit=RateLimit(per_second=2.0, burst=2, clients=3),  # type: ignore[arg-type]
                          clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5  # one token back
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    for client in ("b", "c", "d"):
        limiter.take(client)
    assert "a" not in limiter._buckets and len(limiter._buckets) == 3  # at most `clients` kept
    for bad in ({"per_second": 0}, {"per_second": float("nan")}, {"burst": 0}, {"clients": True}):
        with pytest.raises(ValueError):
            RateLimit(**bad)  # type: ignore[arg-type]
