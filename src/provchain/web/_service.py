"""The service's state and plumbing: its configuration, the worker threads that hold the SQLite connections,
and the mapping of provchain's exceptions onto JSON errors with stable codes (docs/howto/run-the-service.md)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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
from ..keys import Signer
from ..ledger import Ledger
from . import verifier_page
from ._http import HttpError, RateLimit, error_response
from .register import ScanRegister, WarningRules

__all__ = ["MAX_CODE_CHARS", "ServiceConfig"]

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
