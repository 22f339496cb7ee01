"""HTTP plumbing of the service: JSON errors with stable codes, bounded JSON bodies, per-client rate limits.

Nothing here knows the ledger: :mod:`provchain.web.app` maps provchain's exceptions onto :class:`HttpError`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .._internal.validate import check_int
from ..errors import InputError

__all__ = ["HttpError", "RateLimit", "RateLimiter", "error_response", "read_json"]

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class HttpError(Exception):
    """An answer that is an error: the HTTP status, a stable code (``unknown_item``, ``too_large``, ...) and a
    sentence. ``extra`` adds fields to the JSON body; ``headers`` to the response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


def error_response(exc: HttpError) -> JSONResponse:
    """The JSON answer of ``exc``: ``{"error": CODE, "message": TEXT, ...extra}``."""
    body = {"error": exc.code, "message": exc.message, **exc.extra}
    return JSONResponse(body, status_code=exc.status, headers={**_HEADERS, **exc.headers})


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request, limit: int, timeout: float) -> dict[str, Any]:
    """The request's body as a JSON object, read with bounds.

    Refused before a byte is read: a Content-Type other than ``application/json`` (415), no Content-Length and
    no chunked transfer (411), a Content-Length that is not a decimal count (400) or exceeds ``limit`` (413).
    While reading: a streamed body that grows beyond ``limit`` (413), or that does not arrive whole within
    ``timeout`` seconds (408). After: text that is not UTF-8 JSON (400; duplicate keys, NaN and nesting too
    deep included), or JSON that is not an object (422).
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise HttpError(415, "unsupported_media_type", "send the body as JSON, with Content-Type: application/json")
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if length is None and not chunked:
        raise HttpError(411, "length_required", "give the body's length (Content-Length)")
    if length is not None:
        if not (length.isascii() and length.isdigit()) or len(length) > 18:
            raise HttpError(400, "bad_length", "Content-Length must be a decimal count of bytes")
        if int(length) > limit:
            raise HttpError(413, "too_large", f"the body is {int(length)} bytes; this service takes at most {limit}")
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise HttpError(413, "too_large", f"the body is more than {limit} bytes")
    except TimeoutError:
        raise HttpError(408, "timeout", f"the body did not arrive within {timeout:g} seconds") from None
    try:
        value = json.loads(bytes(body).decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
        raise HttpError(400, "bad_json", f"the body is not valid JSON ({reason})") from None
    if not isinstance(value, dict):
        raise HttpError(422, "invalid_request", "the body must be a JSON object")
    return value


@dataclass(frozen=True)
class RateLimit:
    """A per-client limit: ``burst`` requests at once, refilled at ``per_second``. Kept in memory, per process,
    for at most ``clients`` clients (the least recently seen are forgotten first)."""

    per_second: float = 20.0
    burst: int = 100
    clients: int = 65536

    def __post_init__(self) -> None:
        if (
            isinstance(self.per_second, bool)
            or not isinstance(self.per_second, int | float)
            or not math.isfinite(self.per_second)
            or not 0 < self.per_second <= 1e6
        ):
            raise InputError("per_second must be a number of requests per second above 0 (at most 1e6)")
        check_int(self.burst, "burst", InputError, 1, 10**6)
        check_int(self.clients, "clients", InputError, 1, 10**7)


class RateLimiter:
    """Token buckets per client address, in front of an ASGI app: a client over its limit gets 429 with
    ``Retry-After``. The address is the ASGI ``client`` (behind a reverse proxy, run uvicorn with
    ``--proxy-headers --forwarded-allow-ips`` so that it is the real client); it is held in memory only,
    to count, and never written anywhere."""

    def __init__(self, app: ASGIApp, limit: RateLimit, clock: Any = time.monotonic) -> None:
        self.app = app
        self.limit = limit
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until a token is free."""
        limit = self.limit
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - then) * limit.per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / limit.per_second
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > limit.clients:
                self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            wait = self.take(str(client[0]) if client else "unknown")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                response = error_response(
                    HttpError(
                        429, "rate_limited", f"too many requests from this client; try again in {seconds} s",
                        headers={"Retry-After": str(seconds)},
                    )
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
