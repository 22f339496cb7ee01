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
docs/howto/run-the-service.md covers deployment."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from .._internal.validate import check_int, check_path
from ..errors import (
    InputError,
    ProvchainError,
)
from ..keys import Signer, is_signer
from ..ledger import Ledger, now_ms
from ..store import ledger_location
from ._http import RateLimit, RateLimiter
from ._routes import service_routes
from ._service import MAX_CODE_CHARS, ServiceConfig, _http_exception, _internal_error, _Service
from .register import ScanRegister, WarningRules, register_path

__all__ = ["MAX_CODE_CHARS", "RateLimit", "ServiceConfig", "create_app"]


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
    where = ledger_location(ledger)
    path = where if isinstance(where, str) else os.fspath(where)
    if operator is not None and not is_signer(operator):
        raise InputError("operator must be a Signer such as a KeyPair")
    if token is not None and (
        not isinstance(token, str) or len(token) < 16 or not token.isascii() or not token.isprintable()
    ):
        raise InputError("the operator token must be at least 16 printable ASCII characters")
    if register is True:
        if isinstance(where, str):
            raise InputError(
                "a ledger in a database has no file beside it for the scan register: name the register's file "
                "(register=PATH, serve --register FILE), or keep none (register=False, serve --no-register)"
            )
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
    scan register's file (True: ``LEDGER.register.db``, for a ledger file; False: no register). ``ledger`` is a
    file path or a ``postgresql://`` URL. ``code_url``: codes are URL codes
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

    routes = service_routes()
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
