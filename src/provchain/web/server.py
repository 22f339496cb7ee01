"""Running the service with uvicorn, with a deadline for request headers.

uvicorn closes a keep-alive connection that stays idle after a response (``timeout_keep_alive``), but not a
connection that never sends a request, or sends half of its headers and stalls: it waits for the rest
forever. Each such connection costs little (uvicorn is asynchronous: other clients are served meanwhile), but
enough of them exhaust the process's file descriptors. :func:`uvicorn_config` gives uvicorn's h11 protocol a
deadline: a connection whose request headers are not complete ``header_timeout`` seconds after it opened (or
after its previous response) is closed. Request bodies have their own deadline in the app
(``body_timeout`` of :func:`provchain.web.create_app`).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .._internal.validate import check_int
from ..errors import InputError

__all__ = ["HEADER_TIMEOUT", "run", "uvicorn_config"]

HEADER_TIMEOUT = 10.0
"""Seconds a connection may take to send a request's headers (default)."""


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive in time."""

    header_timeout: float = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # still waiting for a request's headers
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers have the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)


def uvicorn_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    header_timeout: float = HEADER_TIMEOUT,
    timeout_keep_alive: int = 5,
    limit_concurrency: int | None = 1000,
    **options: Any,
) -> uvicorn.Config:
    """A :class:`uvicorn.Config` for ``app`` with the header deadline (see the module's documentation).

    ``limit_concurrency``: beyond this many connections and tasks, uvicorn answers 503 at once. Other
    ``options`` go to :class:`uvicorn.Config` as they are. Access logs are off unless asked for: they would
    record clients' IP addresses, which provchain never keeps.
    """
    number = isinstance(header_timeout, int | float) and not isinstance(header_timeout, bool)
    if not number or not 0 < header_timeout <= 3600:
        raise InputError("header_timeout must be a number of seconds above 0 (at most 3600)")
    check_int(timeout_keep_alive, "timeout_keep_alive", InputError, 1, 3600)
    if limit_concurrency is not None:
        check_int(limit_concurrency, "limit_concurrency", InputError, 1, 10**6)
    protocol = type("DeadlineProtocol", (_DeadlineProtocol,), {"header_timeout": float(header_timeout)})
    options.setdefault("access_log", False)
    options.setdefault("server_header", False)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=timeout_keep_alive,
        limit_concurrency=limit_concurrency,
        **options,
    )


def run(config: uvicorn.Config, sock: socket.socket | None = None) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, then shut down gracefully and return.

    uvicorn handles both signals while it runs and, once stopped, raises the signal again for the handler it
    found: here a handler that does nothing, so that a stop asked for is a normal return (exit status 0 for
    the ``serve`` command), not a KeyboardInterrupt or death by signal. Outside the main thread, set
    ``should_exit`` on a :class:`uvicorn.Server` instead.
    """
    server = uvicorn.Server(config)
    if threading.current_thread() is not threading.main_thread():
        server.run(sockets=[sock] if sock is not None else None)
        return
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: object) -> None:
    """The signal handler uvicorn re-raises to after a graceful stop: nothing more to do."""
