"""provchain as a service: an ASGI application (Starlette) to run with uvicorn or mount in your own service.

:func:`create_app` serves one ledger file:

* ``GET /v1/items/{item}``: the item's history; ``.../code`` its operator-signed code (``?format=png|svg`` the
  QR image); ``.../proof`` a tlog-proof of its head in the latest checkpoint;
* ``POST /v1/events/prepare`` and ``POST /v1/events``: the remote-signing flow (docs/howto/remote-signing.md).
  The party signs on its own machine; the service never holds a party key;
* ``GET /v1/checkpoint`` (``POST`` with the operator token signs one), ``GET /v1/proofs/consistency``;
* ``POST /v1/scans`` and ``POST /v1/claims``: the scan register (:mod:`provchain.web.register`);
  ``GET /v1/register/{item}`` reads it (operator token);
* ``GET /verify/``: the verifier page, which also reports its scans to this register;
* ``GET /openapi.json``: the OpenAPI 3.1 description.

Every answer is JSON (or the QR image, the note, the page); every error is
``{"error": CODE, "message": TEXT}`` with a stable code. Bodies are bounded in size and in time. The ledger
and the register are used from a pool of worker threads, each with its own SQLite connections.
docs/howto/run-the-service.md covers deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import os
import re
import threading
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import code as item_code
from .. import qr
from .._internal.validate import check_int, check_path
from ..entries import MAX_BODY, MAX_ITEM, Entry, Event, check_country, check_item, ms_to_iso
from ..errors import (
    DamagedLedgerError,
    FormatError,
    InputError,
    ItemError,
    LedgerBusyError,
    LedgerError,
    ProvchainError,
    StaleHeadError,
    StorageError,
    VerificationError,
)
from ..keys import Signer, is_signer
from ..ledger import Ledger, now_ms
from . import LICENSES_NAME, PAGE_NAME, WORKER_NAME, verifier_page
from ._http import HttpError, RateLimit, RateLimiter, error_response, read_json
from ._openapi import openapi_document
from .register import ScanRegister, WarningRules, register_path

__all__ = ["MAX_CODE_CHARS", "RateLimit", "ServiceConfig", "create_app"]

T = TypeVar("T")

MAX_CODE_CHARS = 8192
"""The longest code text the register takes (a URL code is at most 7290 characters)."""

_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_FRAGMENT = re.compile(r"02[0-9]+")


@dataclass(frozen=True)
class ServiceConfig:
    """The settings of one service (see :func:`create_app`, which builds and checks it)."""

    ledger: str
    operator: Signer | None
    token: str | None
    register: str | None
    code_url: str | None
    max_body: int
    body_timeout: float
    rate_limit: RateLimit | None
    threads: int
    country_header: str | None
    cors_origins: tuple[str, ...]
    rules: WarningRules
    clock: Callable[[], int]


class _Service:
    """The ledger and the register behind the routes: one connection of each per worker thread."""

    def __init__(self, config: ServiceConfig, origin: str, vkey: str) -> None:
        self.config = config
        self.origin = origin
        self.vkey = vkey
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="provchain-web")
        self._pages: dict[str, dict[str, bytes]] = {}
        self._pages_lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def close(self) -> None:
        """Stop the worker threads (their connections close with them)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def ledger(self) -> Ledger:
        led: Ledger | None = getattr(self._local, "ledger", None)
        if led is None:
            c = self.config
            led = Ledger.open(c.ledger, c.operator, clock=c.clock)
            self._local.ledger = led
        return led

    def register(self) -> ScanRegister:
        reg: ScanRegister | None = getattr(self._local, "register", None)
        if reg is None:
            c = self.config
            if c.register is None:
                raise HttpError(404, "no_register", "this service keeps no scan register")
            reg = ScanRegister.open(c.register, origin=self.origin, operator=self.vkey, rules=c.rules, clock=c.clock)
            self._local.register = reg
        return reg

    def page(self, root: str) -> dict[str, bytes]:
        """The verifier page for a service mounted at ``root`` (it reports scans to ``root/v1/scans``)."""
        with self._pages_lock:
            files = self._pages.get(root)
            if files is None:
                register = (root.rstrip("/") + "/") if self.config.register is not None else None
                files = verifier_page([self.vkey], register=register)
                self._pages[root] = files
            return files


# --- errors -----------------------------------------------------------------------------------------------


def _http_error(exc: ProvchainError) -> HttpError:
    """A provchain exception as an HTTP answer (the stable codes are listed in the how-to)."""
    kind = type(exc).__name__
    extra = {"type": kind}
    message = str(exc)
    if isinstance(exc, ItemError):
        return HttpError(400, "bad_item", message, extra=extra)
    if isinstance(exc, FormatError):
        return HttpError(400, "malformed", message, extra=extra)
    if isinstance(exc, InputError):
        return HttpError(422, "invalid_request", message, extra=extra)
    if isinstance(exc, VerificationError):
        return HttpError(422, "refused", message, extra=extra)
    if isinstance(exc, StaleHeadError):
        return HttpError(409, "stale_head", message, extra=extra)
    if isinstance(exc, LedgerBusyError | StorageError):
        return HttpError(503, "unavailable", message, extra=extra, headers={"Retry-After": "1"})
    if isinstance(exc, DamagedLedgerError):
        return HttpError(500, "damaged_ledger", message, extra=extra)
    if isinstance(exc, LedgerError):
        return HttpError(409, "conflict", message, extra=extra)
    return HttpError(500, "internal", message, extra=extra)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    messages = {404: "no such endpoint", 405: f"{request.method} is not allowed here"}
    code = codes.get(exc.status_code, "http_error")
    message = messages.get(exc.status_code, str(exc.detail))
    return error_response(HttpError(exc.status_code, code, message, headers=dict(exc.headers or {})))


async def _internal_error(request: Request, exc: Exception) -> Response:
    # A bug: answer JSON without details (uvicorn logs the traceback).
    return error_response(HttpError(500, "internal", "internal error (a bug; the server log has the details)"))


def _endpoint(fn: Callable[[_Service, Request], Any]) -> Callable[[Request], Any]:
    """Wrap a route: the service from the app's state, and every expected error as a JSON answer."""

    @functools.wraps(fn)
    async def route(request: Request) -> Response:
        service: _Service = request.app.state.provchain
        try:
            result: Response = await fn(service, request)
            return result
        except HttpError as exc:
            return error_response(exc)
        except ProvchainError as exc:
            return error_response(_http_error(exc))

    return route


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_JSON_HEADERS)


def _require_operator(service: _Service, request: Request) -> None:
    token = service.config.token
    if token is None:
        raise HttpError(403, "forbidden", "operator actions are off: this service has no operator token configured")
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise HttpError(
            401, "unauthorized", "this needs the operator token: Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="provchain"'},
        )


def _field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise HttpError(422, "invalid_request", f"the field {name!r} is missing")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise HttpError(422, "invalid_request", f"the field {name!r} must be {kind.__name__}")
    return value


def _only(body: dict[str, Any], names: Sequence[str]) -> None:
    extra = sorted(set(body) - set(names))
    if extra:
        raise HttpError(422, "invalid_request", f"unknown field {extra[0]!r} (this endpoint takes: {', '.join(names)})")


def _hex(body: dict[str, Any], name: str, max_bytes: int) -> bytes:
    text = _field(body, name, str)
    if len(text) > 2 * max_bytes or not re.fullmatch(r"(?:[0-9a-f]{2})+", text):
        raise HttpError(422, "invalid_request", f"the field {name!r} must be lower-case hex of 1 to {max_bytes} bytes")
    return bytes.fromhex(text)


def _query_int(request: Request, name: str, default: int | None = None) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HttpError(422, "invalid_request", f"the query parameter {name!r} must be a whole number")
    return int(text)


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

    def read() -> dict[str, Any]:
        reg = service.register()
        summary = reg.summary(item).to_json()
        recent = [{"at": ms_to_iso(s.at), "country": s.country} for s in reg.scans(item, limit=limit)]
        return {**summary, "recent": recent}

    return _json(await service.run(read))


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


# --- the application ------------------------------------------------------------------------------------------


def _check_config(
    ledger: object,
    operator: object,
    token: object,
    register: object,
    code_url: object,
    max_body: object,
    body_timeout: object,
    rate_limit: object,
    threads: object,
    country_header: object,
    cors_origins: object,
    rules: object,
    clock: object,
) -> ServiceConfig:
    path = os.fspath(check_path(ledger, "the ledger", InputError))
    if operator is not None and not is_signer(operator):
        raise InputError("operator must be a Signer such as a KeyPair")
    if token is not None and (
        not isinstance(token, str) or len(token) < 16 or not token.isascii() or not token.isprintable()
    ):
        raise InputError("the operator token must be at least 16 printable ASCII characters")
    if register is True:
        reg: str | None = register_path(path)
    elif register is False or register is None:
        reg = None
    else:
        reg = os.fspath(check_path(register, "the register", InputError))
    if code_url is not None:
        from .._internal.codeurl import check_base

        code_url = check_base(code_url)
    check_int(max_body, "max_body", InputError, 1024, 16 * 1024 * 1024)
    if isinstance(body_timeout, bool) or not isinstance(body_timeout, int | float) or not 0 < body_timeout <= 3600:
        raise InputError("body_timeout must be a number of seconds above 0 (at most 3600)")
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise InputError("rate_limit must be a RateLimit or None")
    check_int(threads, "threads", InputError, 1, 256)
    if country_header is not None and (not isinstance(country_header, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}",
                                                                                               country_header)):
        raise InputError("country_header must be an HTTP header name such as CF-IPCountry")
    if isinstance(cors_origins, str) or not isinstance(cors_origins, Sequence) or not all(
        isinstance(o, str) and re.fullmatch(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|null", o) for o in cors_origins
    ):
        raise InputError("cors_origins must be a list of origins such as https://verify.example")
    if not isinstance(rules, WarningRules):
        raise InputError("rules must be a WarningRules")
    if not callable(clock):
        raise InputError("clock must be a function returning integer milliseconds")
    return ServiceConfig(
        ledger=path, operator=operator, token=token, register=reg, code_url=code_url,  # type: ignore[arg-type]
        max_body=max_body, body_timeout=float(body_timeout), rate_limit=rate_limit,  # type: ignore[arg-type]
        threads=threads, country_header=country_header, cors_origins=tuple(cors_origins),  # type: ignore[arg-type]
        rules=rules, clock=clock,
    )


def create_app(
    ledger: str | os.PathLike[str],
    *,
    operator: Signer | None = None,
    token: str | None = None,
    register: bool | str | os.PathLike[str] = True,
    code_url: str | None = None,
    max_body: int = 64 * 1024,
    body_timeout: float = 10.0,
    rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - a frozen dataclass
    threads: int = 8,
    country_header: str | None = None,
    cors_origins: Sequence[str] = (),
    rules: WarningRules = WarningRules(),  # noqa: B008 - a frozen dataclass
    clock: Callable[[], int] = now_ms,
) -> Starlette:
    """The ASGI application that serves the ledger file at ``ledger`` (see the module's documentation).

    ``operator``: the operator's :class:`~provchain.keys.Signer`, to sign codes and checkpoints (without it the
    service reads, takes party events and keeps the register, but makes no code). ``token``: the bearer token of
    operator actions (signing a checkpoint, reading the register); none, and they are off. ``register``: the
    scan register's file (True: ``LEDGER.register.db``; False: no register). ``code_url``: codes are URL codes
    on this base address (default: ``PC1:`` text). ``max_body`` (bytes) and ``body_timeout`` (seconds) bound
    every request body; ``rate_limit`` bounds each client's requests (None: no limit). ``threads``: the
    threads that use the ledger. ``country_header``: a header that your reverse proxy sets to the client's
    country (such as ``CF-IPCountry``), used when a scan gives none. ``cors_origins``: the origins of verifier
    pages published elsewhere that may post scans. ``rules``: when a scan is worth a warning.

    The ledger must exist (:class:`~provchain.errors.LedgerNotFoundError`) and the operator key must be its
    own (:class:`~provchain.errors.OperatorKeyError`); the register is created if missing and must belong to
    the ledger (:class:`~provchain.errors.ForeignLedgerError`). Any other bad argument raises
    :class:`~provchain.errors.InputError`. Run the application with uvicorn, or mount it:
    ``Mount("/provchain", app=create_app(...))``. Call ``app.state.provchain.close()`` to stop its worker
    threads when your own application shuts down (a standalone app does it in its lifespan).
    """
    config = _check_config(
        ledger, operator, token, register, code_url, max_body, body_timeout, rate_limit, threads,
        country_header, cors_origins, rules, clock,
    )
    with Ledger.open(config.ledger, config.operator, readonly=True) as led:
        origin, vkey = led.origin, led.operator_vkey
    if config.register is not None:
        ScanRegister.open(config.register, origin=origin, operator=vkey).close()
    service = _Service(config, origin, vkey)
    try:
        service.page("")  # the page builds (VerifierBundleError on a damaged installation)
    except ProvchainError:
        service.close()
        raise

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    routes = [
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
    middleware = []  # the first is the outermost: CORS headers go on every answer, a 429 included
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"], max_age=600,
        ))
    if config.rate_limit is not None:
        middleware.append(Middleware(RateLimiter, limit=config.rate_limit))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_exception, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a path is what it says: no redirect that turns a POST into a GET
    app.state.provchain = service
    return app
