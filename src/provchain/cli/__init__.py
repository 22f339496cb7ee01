"""The ``provchain`` command line: a thin skin over the Python API.

Each command parses its flags, calls one public function and renders the result. One boundary
(:class:`_Group`) turns every :class:`~provchain.errors.ProvchainError` into one line on stderr and an
exit status: 1 when something was checked and found wrong (a :class:`VerificationError`), 2 when the
command could not run (unreadable input, missing ledger, bad argument).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import click

from .. import __version__
from .._internal.text import escape, quote
from ..errors import InputError, KeyFileError, PassphraseError, ProvchainError, VerificationError
from ..keys import KeyPair

__all__ = ["EXIT_CANNOT_RUN", "EXIT_FINDINGS", "PASSPHRASE", "cli", "load_key", "main", "parse_time", "render_journey"]

EXIT_FINDINGS = 1
EXIT_CANNOT_RUN = 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"provchain: error: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns provchain errors into one line on stderr and an exit status; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VerificationError as exc:
            _fail(str(exc), EXIT_FINDINGS)
        except ProvchainError as exc:
            _fail(str(exc), EXIT_CANNOT_RUN)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            _fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", EXIT_CANNOT_RUN)


def parse_time(text: str | None) -> int | None:
    """Parse ISO 8601 text (a time without offset is taken as UTC) into milliseconds."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not an ISO 8601 time such as 2026-11-23T10:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def load_key(path: str, passphrase: str | None) -> KeyPair:
    """Load the key file at ``path`` (``passphrase`` as the :data:`PASSPHRASE` option gives it)."""
    return KeyPair.load(path, passphrase)


_PASSPHRASE_ENV = "PROVCHAIN_PASSPHRASE"


def _check_passphrase(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an empty passphrase, from the flag or the environment (click takes an empty variable for
    an unset one, which would silently mean "no passphrase": an unencrypted key)."""
    if value == "":
        raise PassphraseError("--passphrase is empty; an empty passphrase is not allowed")
    if value is None and os.environ.get(_PASSPHRASE_ENV) == "":
        raise PassphraseError(f"{_PASSPHRASE_ENV} is set but empty; an empty passphrase is not allowed (unset it)")
    return value


PASSPHRASE = click.option(
    "--passphrase",
    envvar=_PASSPHRASE_ENV,
    default=None,
    callback=_check_passphrase,
    help="Passphrase of the key file (or set PROVCHAIN_PASSPHRASE); never empty.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provchain")
def cli() -> None:
    """Tamper-evident journeys of physical items: record, prove, scan and audit."""


def render_journey(item: str, events: Sequence[dict[str, Any]]) -> str:
    """A readable table of a journey (shared by ``history`` and ``scan``).

    Every party is shown with its key id, ``name (3fa1b2c4)``, so two keys never pass for one party.
    Untrusted text goes through :func:`provchain._internal.text.escape` (names, the item id) or
    :func:`~provchain._internal.text.quote` (place and data values): no character can hide, reorder the
    line or imitate a separator, and a value that holds ``;``, ``=``, ``,`` or quotes is shown quoted.
    """
    parties = [f"{escape(e['party'])} ({e['key_id']})" if e.get("key_id") else escape(e["party"]) for e in events]
    width = max([len("party"), *map(len, parties)])
    lines = [f"Item {escape(item)}"]
    header = f"  {'#':>2}  {'stage':<10} {'party':<{width}}  {'role':<10} {'ctry':<4} {'time (UTC)':<20} place / data"
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    for n, (e, party) in enumerate(zip(events, parties, strict=True), 1):
        when = e["at"].replace("T", " ")[:19]
        role = ",".join(e.get("roles") or ()) or "-"
        detail = quote(e["place"]) if e.get("place") is not None else ""
        if e.get("data"):
            kv = ", ".join(f"{escape(k)}={v if isinstance(v, int) else quote(v)}" for k, v in sorted(e["data"].items()))
            detail = f"{detail}; {kv}" if detail else kv
        lines.append(
            f"  {n:>2}  {e['stage']:<10} {party:<{width}}  {role:<10} {e['country']:<4} {when:<20} {detail}".rstrip()
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``provchain`` command."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="provchain")
    except KeyFileError as exc:  # pragma: no cover - raised before a command runs
        _fail(str(exc), EXIT_CANNOT_RUN)


# The command modules register themselves on ``cli`` when imported.
from . import _audit, _code, _ledger, _log  # noqa: E402, F401
