"""The service's routes: items, the log, remotely signed events, the scan register, the page and the OpenAPI
document. Each handler reads and checks its request, runs the ledger's or the register's work on a worker thread,
and answers JSON (or the note, the image, the page)."""

from __future__ import annotations

import contextlib
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import code as item_code
from .. import qr
from .._internal.validate import check_int
from ..entries import MAX_BODY, MAX_ITEM, Entry, Event, check_country, check_item, ms_to_iso
from ..errors import (
    FormatError,
    InputError,
    ProvchainError,
    VerificationError,
)
from . import LICENSES_NAME, PAGE_NAME, WORKER_NAME
from ._http import HttpError, read_json
from ._openapi import openapi_document
from ._service import (
    _FRAGMENT,
    _JSON_HEADERS,
    MAX_CODE_CHARS,
    _endpoint,
    _field,
    _hex,
    _json,
    _only,
    _query_int,
    _require_operator,
    _Service,
)

__all__ = ["service_routes"]


# --- items --------------------------------------------------------------------------------------------------


def _item_path(request: Request) -> tuple[str, str]:
    """The item id and what follows it (``""``, ``code`` or ``proof``), from the raw path: an item id may hold
    ``/``, sent as ``%2F``, which the decoded path no longer tells apart."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    root = request.scope.get("root_path", "").encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    prefix = root.decode("latin-1") + "/v1/items/"
    if not path.startswith(prefix):  # a raw path the proxy rewrote: fall back on the decoded one
        path = request.scope["path"]
        prefix = "/v1/items/"
    parts = path[len(prefix):].split("/")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("code", "proof")):
        raise HttpError(404, "not_found", "no such endpoint")
    if len(parts[0]) > 3 * MAX_ITEM:
        raise HttpError(400, "bad_item", f"item id is longer than {MAX_ITEM} bytes")
    try:
        item = urllib.parse.unquote(parts[0], errors="strict")
    except UnicodeDecodeError:
        raise HttpError(400, "bad_item", "the item id is not UTF-8 text") from None
    return check_item(item), parts[1] if len(parts) == 2 else ""


def _unknown(item: str) -> HttpError:
    return HttpError(404, "unknown_item", f"the ledger has no events for item {item!r}")


async def _items(service: _Service, request: Request) -> Response:
    item, part = _item_path(request)
    if part == "code":
        return await _code(service, request, item)
    if part == "proof":
        return await _proof(service, item)

    def history() -> dict[str, Any] | None:
        events = service.ledger().history(item)
        if not events:
            return None
        return {"item": item, "origin": service.origin, "events": [e.to_json() for e in events]}

    body = await service.run(history)
    if body is None:
        raise _unknown(item)
    return _json(body)


async def _code(service: _Service, request: Request, item: str) -> Response:
    fmt = request.query_params.get("format", "json")
    profile = request.query_params.get("profile", "compact")
    if fmt not in ("json", "png", "svg"):
        raise HttpError(422, "invalid_request", "format must be json, png or svg")
    if profile not in item_code.PROFILES:
        raise HttpError(422, "invalid_request", f"profile must be one of: {', '.join(item_code.PROFILES)}")
    if service.config.operator is None:
        raise HttpError(503, "no_operator_key", "this service was started without the operator key: it signs no codes")

    def make() -> str | None:
        led = service.ledger()
        if led.head(item) is None:
            return None
        return item_code.make(led, item, profile, url=service.config.code_url)

    text = await service.run(make)
    if text is None:
        raise _unknown(item)
    if fmt == "png":
        return Response(await service.run(qr.render_png, text), media_type="image/png", headers=_JSON_HEADERS)
    if fmt == "svg":
        return Response(await service.run(qr.render_svg, text), media_type="image/svg+xml", headers=_JSON_HEADERS)
    return _json({"item": item, "code": text, "version": 2 if service.config.code_url else 1})


async def _proof(service: _Service, item: str) -> Response:
    def prove() -> bytes | None:
        led = service.ledger()
        if led.head(item) is None:
            return None
        return led.prove(item)

    proof = await service.run(prove)
    if proof is None:
        raise _unknown(item)
    return Response(proof, media_type="text/plain; charset=utf-8", headers=_JSON_HEADERS)


# --- the log --------------------------------------------------------------------------------------------------


async def _info(service: _Service, request: Request) -> Response:
    size = await service.run(lambda: service.ledger().size)
    return _json({
        "origin": service.origin,
        "operator": service.vkey,
        "size": size,
        "register": service.config.register is not None,
        "codes": service.config.operator is not None,
    })


async def _checkpoint(service: _Service, request: Request) -> Response:
    if request.method == "POST":
        _require_operator(service, request)
        if service.config.operator is None:
            raise HttpError(503, "no_operator_key", "this service was started without the operator key")
        note = await service.run(lambda: service.ledger().checkpoint())
        return Response(note, status_code=201, media_type="text/plain; charset=utf-8", headers=_JSON_HEADERS)
    latest = await service.run(lambda: service.ledger().latest_checkpoint())
    if latest is None:
        raise HttpError(404, "no_checkpoint", "the ledger has no signed checkpoint yet")
    return Response(latest, media_type="text/plain; charset=utf-8", headers=_JSON_HEADERS)


async def _consistency(service: _Service, request: Request) -> Response:
    first = _query_int(request, "from")
    if first is None:
        raise HttpError(422, "invalid_request", "give the older tree size: ?from=N (and ?to=M, default: the size)")
    second = _query_int(request, "to")

    def prove() -> dict[str, Any]:
        led = service.ledger()
        with led.snapshot():
            size = led.size if second is None else second
            proof = led.consistency_proof(first, size)
        return {"from": first, "to": size, "proof": [h.hex() for h in proof]}

    return _json(await service.run(prove))


# --- events -----------------------------------------------------------------------------------------------


async def _prepare(service: _Service, request: Request) -> Response:
    c = service.config
    body = await read_json(request, c.max_body, c.body_timeout)
    _only(body, ("item", "stage", "key_id", "country", "place", "data", "at"))
    item = _field(body, "item", str)
    stage = _field(body, "stage", str)
    key_id = _hex(body, "key_id", 4)
    if len(key_id) != 4:
        raise HttpError(422, "invalid_request", "key_id is the signer's 4-byte key id, as 8 hex digits")
    country = _field(body, "country", str)
    place = _field(body, "place", str, required=False)
    data = _field(body, "data", dict, required=False)
    at = _field(body, "at", int, required=False)

    def prepare() -> Event:
        return service.ledger().prepare_event(item, stage, key_id, country=country, place=place, data=data, at=at)

    event = await service.run(prepare)
    encoded = event.encode()
    return _json({"body": encoded.hex(), "item": event.item, "prev": event.prev.hex() if event.prev else None})


async def _events(service: _Service, request: Request) -> Response:
    c = service.config
    body = await read_json(request, c.max_body, c.body_timeout)
    _only(body, ("body", "signature"))
    entry = Entry(_hex(body, "body", MAX_BODY), _hex(body, "signature", 64))
    if len(entry.signature) != 64:
        raise HttpError(422, "invalid_request", "signature is a 64-byte Ed25519 signature, as 128 hex digits")
    if not isinstance(entry.content, Event):  # EncodingError (400) when the body does not parse
        raise HttpError(422, "not_an_event", "this endpoint takes party events only, not operator entries")

    stored = await service.run(lambda: service.ledger().submit(entry))
    event = entry.content
    return _json({"index": stored.index, "leaf_hash": stored.leaf_hash.hex(), "item": event.item}, 201)


# --- the scan register ------------------------------------------------------------------------------------------


def _code_text(body: dict[str, Any]) -> str:
    text: str = _field(body, "code", str)
    if len(text) > MAX_CODE_CHARS:
        raise HttpError(422, "invalid_request", f"a code has at most {MAX_CODE_CHARS} characters")
    if _FRAGMENT.fullmatch(text):  # the fragment of a URL code, as the verifier page reads it
        text = "HTTPS://REGISTER.INVALID/#" + text
    return text


def _country(service: _Service, request: Request, body: dict[str, Any]) -> str | None:
    country = _field(body, "country", str, required=False)
    if country is not None:
        return check_country(country)
    header = service.config.country_header
    if header is not None:
        value = request.headers.get(header, "").strip().upper()
        with contextlib.suppress(InputError):
            return check_country(value)  # a proxy's "XX" or "T1" (unknown, Tor) is no country
    return None


def _verify(service: _Service, text: str) -> item_code.CodeReport | ProvchainError:
    try:
        return item_code.verify(text, service.vkey, at=service.config.clock())
    except (FormatError, VerificationError) as exc:  # a scanner treats both as a refusal
        return exc


async def _scans(service: _Service, request: Request) -> Response:
    c = service.config
    if c.register is None:
        raise HttpError(404, "no_register", "this service keeps no scan register")
    body = await read_json(request, c.max_body, c.body_timeout)
    _only(body, ("code", "country"))
    text = _code_text(body)
    country = _country(service, request, body)

    def scan() -> dict[str, Any]:
        report = _verify(service, text)
        if isinstance(report, ProvchainError):
            return {"verdict": "refused", "reason": type(report).__name__, "message": str(report)}
        return {"verdict": "verified", **service.register().record_scan(report.item, country).to_json()}

    return _json(await service.run(scan))


async def _claims(service: _Service, request: Request) -> Response:
    c = service.config
    if c.register is None:
        raise HttpError(404, "no_register", "this service keeps no scan register")
    body = await read_json(request, c.max_body, c.body_timeout)
    _only(body, ("code", "claimant"))
    text = _code_text(body)
    claimant = _field(body, "claimant", str)

    def claim() -> Response:
        report = _verify(service, text)
        if isinstance(report, ProvchainError):
            raise HttpError(422, "refused", str(report), extra={"type": type(report).__name__})
        result = service.register().claim(report.item, claimant)
        answer = {"item": result.item, "claimed_at": ms_to_iso(result.claimed_at)}
        if result.won:
            return _json({**answer, "claimed": True}, 201)
        if result.same_claimant:
            return _json({**answer, "claimed": True, "repeated": True}, 200)
        raise HttpError(409, "already_claimed", f"this item was claimed on {answer['claimed_at']}", extra=answer)

    return await service.run(claim)


async def _register(service: _Service, request: Request) -> Response:
    _require_operator(service, request)
    if service.config.register is None:
        raise HttpError(404, "no_register", "this service keeps no scan register")
    item = _item_path_register(request)
    limit = _query_int(request, "limit", 100)
    assert limit is not None
    check_int(limit, "limit", InputError, 1, 10_000)

    def read() -> dict[str, Any] | None:
        if service.ledger().head(item) is None:
            return None
        reg = service.register()
        summary = reg.summary(item).to_json()
        recent = [{"at": ms_to_iso(s.at), "country": s.country} for s in reg.scans(item, limit=limit)]
        return {**summary, "recent": recent}

    body = await service.run(read)
    if body is None:
        raise _unknown(item)
    return _json(body)


def _item_path_register(request: Request) -> str:
    raw = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    tail = raw.rsplit("/v1/register/", 1)[-1]
    if "/" in tail:
        raise HttpError(404, "not_found", "no such endpoint")
    try:
        return check_item(urllib.parse.unquote(tail, errors="strict"))
    except UnicodeDecodeError:
        raise HttpError(400, "bad_item", "the item id is not UTF-8 text") from None


# --- the page and the description -----------------------------------------------------------------------------


async def _page(service: _Service, request: Request) -> Response:
    name = request.path_params.get("name", "") or PAGE_NAME
    types = {PAGE_NAME: "text/html; charset=utf-8", WORKER_NAME: "text/javascript; charset=utf-8",
             LICENSES_NAME: "text/plain; charset=utf-8"}
    if name not in types:
        raise HttpError(404, "not_found", "no such file")
    files = service.page(request.scope.get("root_path", ""))
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}
    return Response(files[name], media_type=types[name], headers=headers)


async def _to_page(request: Request) -> Response:
    return RedirectResponse(request.scope.get("root_path", "") + "/verify/", status_code=308)


async def _openapi(service: _Service, request: Request) -> Response:
    return _json(openapi_document(service.origin))


def service_routes() -> list[Route]:
    """The service's routes (create_app adds the middleware and the error handlers)."""
    return [
        Route("/v1", _endpoint(_info), methods=["GET"]),
        Route("/v1/items/{rest:path}", _endpoint(_items), methods=["GET"]),
        Route("/v1/checkpoint", _endpoint(_checkpoint), methods=["GET", "POST"]),
        Route("/v1/proofs/consistency", _endpoint(_consistency), methods=["GET"]),
        Route("/v1/events/prepare", _endpoint(_prepare), methods=["POST"]),
        Route("/v1/events", _endpoint(_events), methods=["POST"]),
        Route("/v1/scans", _endpoint(_scans), methods=["POST"]),
        Route("/v1/claims", _endpoint(_claims), methods=["POST"]),
        Route("/v1/register/{rest:path}", _endpoint(_register), methods=["GET"]),
        Route("/openapi.json", _endpoint(_openapi), methods=["GET"]),
        Route("/verify", _to_page, methods=["GET"]),
        Route("/verify/", _endpoint(_page), methods=["GET"]),
        Route("/verify/{name}", _endpoint(_page), methods=["GET"]),
    ]
