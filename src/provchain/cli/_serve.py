"""The ``serve`` command: run the ledger's HTTP service (provchain.web.create_app) with uvicorn."""

from __future__ import annotations

import os
import re

import click

from ..errors import InputError
from . import PASSPHRASE, cli, ledger_argument, load_key

_TOKEN_ENV = "PROVCHAIN_SERVICE_TOKEN"


def _listen(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})", text)
    if not m or int(m.group(2)) > 65535:
        raise InputError(f"--listen {text!r} is not HOST:PORT (such as 127.0.0.1:8000)")
    return m.group(1).strip("[]"), int(m.group(2))


def _token(path: str | None) -> str | None:
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        if not token:
            raise InputError(f"the token file {path} is empty")
        return token
    return os.environ.get(_TOKEN_ENV) or None


@cli.command("serve")
@ledger_argument()
@click.option("--listen", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option(
    "--operator-key",
    "operator_key",
    type=click.Path(dir_okay=False),
    default=None,
    help="The operator's key file, to sign codes and checkpoints (without it, the service makes no code).",
)
@PASSPHRASE
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"A file holding the bearer token of operator actions (or set {_TOKEN_ENV}); none: they are off.",
)
@click.option("--no-register", is_flag=True, help="Keep no scan register (POST /v1/scans and /v1/claims answer 404).")
@click.option(
    "--register",
    "register_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The scan register's file (default: LEDGER.register.db beside a ledger file; needed for a postgresql:// "
    "LEDGER, or --no-register).",
)
@click.option("--code-url", default=None, metavar="BASE", help="Make URL codes on this https base address.")
@click.option("--max-body", default=64 * 1024, show_default=True, help="The largest request body, in bytes.")
@click.option("--body-timeout", default=10.0, show_default=True, help="Seconds a request body may take to arrive.")
@click.option("--rate", default=20.0, show_default=True, help="Requests per second per client (refill rate).")
@click.option("--burst", default=100, show_default=True, help="Requests a client may make at once.")
@click.option("--no-rate-limit", is_flag=True, help="No per-client limit (for a load test behind your own limiter).")
@click.option("--threads", default=8, show_default=True, help="Threads that use the ledger and the register.")
@click.option("--country-header", default=None, help="A header your proxy sets to the client's country (CF-IPCountry).")
@click.option("--cors-origin", "cors_origins", multiple=True, help="An origin of a verifier page published elsewhere.")
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies whose X-Forwarded-For to trust for the client address (rate limits), e.g. 127.0.0.1.",
)
@click.option("--timeout-keep-alive", default=5, show_default=True, help="Seconds an idle connection is kept.")
@click.option("--header-timeout", default=10.0, show_default=True, help="Seconds a request's headers may take.")
def serve(
    ledger: str,
    listen: str,
    operator_key: str | None,
    passphrase: str | None,
    token_file: str | None,
    no_register: bool,
    register_file: str | None,
    code_url: str | None,
    max_body: int,
    body_timeout: float,
    rate: float,
    burst: int,
    no_rate_limit: bool,
    threads: int,
    country_header: str | None,
    cors_origins: tuple[str, ...],
    forwarded_allow_ips: str | None,
    timeout_keep_alive: int,
    header_timeout: float,
) -> None:
    """Serve LEDGER over HTTP: items, codes, checkpoints and proofs, remotely signed events, the scan register
    and the verifier page (/verify/). The OpenAPI description is at /openapi.json.

    It speaks plain HTTP: put it behind a reverse proxy that holds the TLS certificate
    (docs/howto/run-the-service.md). Stop it with Ctrl-C.
    """
    try:
        from ..web.app import RateLimit, create_app
        from ..web.server import run, uvicorn_config
    except ImportError as exc:
        raise InputError(f"the service needs its extra: pip install 'provchain[service]' ({exc})") from None
    if no_register and register_file is not None:
        raise InputError("give --register or --no-register, not both")
    host, port = _listen(listen)
    operator = load_key(operator_key, passphrase) if operator_key is not None else None
    app = create_app(
        ledger,
        operator=operator,
        token=_token(token_file),
        register=False if no_register else register_file or True,
        code_url=code_url,
        max_body=max_body,
        body_timeout=body_timeout,
        rate_limit=None if no_rate_limit else RateLimit(per_second=rate, burst=burst),
        threads=threads,
        country_header=country_header,
        cors_origins=list(cors_origins),
    )
    config = uvicorn_config(
        app,
        host=host,
        port=port,
        header_timeout=header_timeout,
        timeout_keep_alive=timeout_keep_alive,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
    )
    from ..store import display_location

    click.echo(f"provchain: serving {display_location(ledger)} on http://{listen} (Ctrl-C stops)", err=True)
    run(config)
