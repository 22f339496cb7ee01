"""Commands for running a witness (C2SP tlog-witness): ``provchain witness serve``, ``witness status`` and
``witness evidence``."""

from __future__ import annotations

import base64
import contextlib
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from .._internal.text import escape
from ..errors import InputError
from ..witness import WitnessKey
from . import EXIT_FINDINGS, PASSPHRASE, _Group, cli, emit_json


@cli.group(cls=_Group)
def witness() -> None:
    """Run a witness: cosign checkpoints of the logs it follows, never two inconsistent ones."""


@witness.command("serve")
@click.option(
    "--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The witness key file (keygen --witness)."
)
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The witness's state file (SQLite; created when absent): the latest checkpoint cosigned per log.",
)
@click.option("--listen", required=True, help="HOST:PORT to listen on, e.g. 127.0.0.1:7380 (port 0: any free one).")
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    help="A log's verifier key (the operator key printed by 'provchain init'); repeat for several logs.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=3600),
    default=10.0,
    show_default=True,
    help="Seconds a client has to send each request.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1, max=10000),
    default=64,
    show_default=True,
    help="Open connections at most; more are answered 503.",
)
@PASSPHRASE
def witness_serve(
    key_path: str,
    state_path: str,
    listen: str,
    logs: tuple[str, ...],
    timeout: float,
    max_connections: int,
    passphrase: str | None,
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness v1.0.0) until interrupted.

    Prints the witness's verifier key and the URL it listens on, then one line per request on stderr.
    The state file is updated (and synced to disk) before each cosignature is sent.
    """
    from ..witness_server import Witness, WitnessState, serve

    key = WitnessKey.load(key_path, passphrase)
    state = WitnessState.open(state_path, key.vkey)
    try:
        w = Witness(key, state, list(logs))

        def ready(url: str) -> None:
            click.echo(f"witness {key.vkey}")
            click.echo(f"listening on {url}", nl=True)

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # SIGTERM stops the server the way Ctrl-C does: the state file is closed

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                serve(w, listen, timeout=timeout, max_connections=max_connections, ready=ready)
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        state.close()


_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def _state_options(f: _F) -> _F:
    """``--key``, ``--state`` (an existing state file) and the passphrase, for the commands that read a state."""
    f = PASSPHRASE(f)
    f = click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False, exists=True))(f)
    return click.option(
        "--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The witness key file."
    )(f)


def _read_state(key_path: str, state_path: str, passphrase: str | None, read: Callable[[Any], _T]) -> tuple[str, _T]:
    """The witness's verifier key and ``read(state)``, the state file opened for that key and closed again."""
    from ..witness_server import WitnessState

    key = WitnessKey.load(key_path, passphrase)
    state = WitnessState.open(state_path, key.vkey)
    try:
        return key.vkey, read(state)
    finally:
        state.close()


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


@witness.command("status")
@_state_options
@click.option("--json", "as_json", is_flag=True, help='Print {"version": 1, "witness": ..., "logs": [...]}.')
def witness_status(key_path: str, state_path: str, passphrase: str | None, as_json: bool) -> None:
    """List the logs the witness has cosigned: origin, size, root and time of the last cosignature."""
    vkey, (rows, found) = _read_state(
        key_path, state_path, passphrase, lambda state: (state.logs(), state.evidence_counts())
    )
    if as_json:
        logs = [
            {"origin": o, "size": s, "root": r.hex(), "cosigned": _iso(at), "evidence": found.get(o, 0)}
            for o, s, r, at in rows
        ]
        emit_json({"witness": vkey, "logs": logs})
        return
    from ._table import draw

    cells = [
        [
            escape(origin),
            str(size),
            base64.b64encode(root).decode(),
            _utc(at),
            str(found.get(origin, 0)),
        ]
        for origin, size, root, at in rows
    ]
    click.echo(f"witness {escape(vkey)}")
    click.echo(draw(["origin", "size", "root", "cosigned (UTC)", "evidence"], cells, right={1, 4}))
    if found:
        click.echo("EQUIVOCATION: a log signed two histories; 'provchain witness evidence' shows the proof")


@witness.command("evidence")
@_state_options
@click.option(
    "--number",
    type=click.IntRange(min=1),
    default=None,
    help="Print this piece of evidence (its self-contained text) instead of the list.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"version": 1, "witness": ..., "evidence": [...]}.')
def witness_evidence(key_path: str, state_path: str, number: int | None, passphrase: str | None, as_json: bool) -> None:
    """List the evidence of equivocation this witness kept, or print one piece of it.

    The witness keeps evidence when a log it follows sends a validly signed checkpoint that contradicts the
    one it cosigned last: the same size with another root, or a larger tree whose proof leads to another
    root at the old size. Each piece is a self-contained text that anyone checks with
    'provchain compare FILE --operator KEY'. Exit 1 when evidence was kept (listed or printed), 0 when none.
    """
    vkey, kept = _read_state(key_path, state_path, passphrase, lambda state: state.evidence())
    if number is not None:
        for n, _, _, _, text in kept:
            if n == number:
                sys.stdout.flush()
                sys.stdout.buffer.write(text)
                sys.stdout.buffer.flush()
                sys.exit(EXIT_FINDINGS)
        raise InputError(f"the witness state holds no evidence number {number}")
    if as_json:
        items = [{"number": n, "origin": o, "found": _iso(at), "statement": st} for n, o, at, st, _ in kept]
        emit_json({"witness": vkey, "evidence": items})
    elif kept:
        from ._table import draw

        cells = [
            [str(n), escape(o), _utc(at), escape(st)]
            for n, o, at, st, _ in kept
        ]
        click.echo(draw(["number", "origin", "found (UTC)", "statement"], cells, right={0}))
    else:
        click.echo("no evidence of equivocation kept")
    if kept:
        sys.exit(EXIT_FINDINGS)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
