"""The ``provchain`` command line: a thin skin over the Python API.

Each command parses its flags, calls one public function and renders the result. One boundary
(:class:`_Group`) turns every :class:`~provchain.errors.ProvchainError` into one line on stderr and an
exit status: 1 when something was checked and found wrong (a :class:`VerificationError`), 2 when the
command could not run (unreadable input, missing ledger, bad argument).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from .. import __version__
from .._internal.text import escape, quote
from ..errors import InputError, KeyFileError, PassphraseError, ProvchainError, VerificationError
from ..keys import KeyPair

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_FINDINGS",
    "JSON_VERSION",
    "LEDGER",
    "OPERATOR_ENV",
    "PASSPHRASE",
    "check_ledger",
    "cli",
    "emit_json",
    "ledger_argument",
    "load_key",
    "main",
    "operator_option",
    "parse_time",
    "progress_bar",
    "render_journey",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FINDINGS = 1
EXIT_CANNOT_RUN = 2


def _fail(message: str, code: int) -> NoReturn:
    # A message may quote hostile input: every character that is not printable (a line break of any kind,
    # a terminal escape, a lone surrogate) is written as its Python escape, so the message stays one line.
    line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)
    click.echo(f"provchain: error: {line}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns provchain errors into one line on stderr and an exit status; never a traceback. Any other
    exception (a bug) becomes one line too, saying it is an internal error. Click's own usage errors
    (a missing argument, an unknown option) are one line too, exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # a group with no command: its help, not an error
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
            sys.exit(0)
        except click.exceptions.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "provchain"
            _fail(f"{exc.format_message()} (see '{where} --help')", EXIT_CANNOT_RUN)
        except click.exceptions.Abort:
            _fail("aborted", EXIT_CANNOT_RUN)
        except click.exceptions.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

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
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: a usage error, --help, --version
        except Exception as exc:
            # The last resort: any other exception is a bug in provchain. One line saying so, not a traceback
            # (tests run every command on hostile input and fail if this line ever shows).
            _fail(f"internal error (a bug; please report it): {type(exc).__name__}: {exc}", EXIT_CANNOT_RUN)


_COMMANDS = {
    "audit": "_audit",
    "check-published": "_tiles",
    "checkpoint": "_log",
    "code": "_code",
    "compare": "_evidence",
    "consistency": "_log",
    "demo": "_code",
    "epcis": "_epcis",
    "export": "_audit",
    "history": "_ledger",
    "import": "_audit",
    "init": "_ledger",
    "key": "_keys",
    "keygen": "_ledger",
    "party": "_ledger",
    "prove": "_log",
    "publish": "_tiles",
    "record": "_ledger",
    "scan": "_code",
    "serve": "_serve",
    "verifier-page": "_web",
    "witness": "_witness",
}
"""The module of this package that defines each command (a test checks it against the commands)."""


class _Root(_Group):
    """The ``provchain`` group, whose commands are imported when they are looked up: running one command
    imports its own module only (``provchain scan`` starts without the other commands' imports, issue
    #20). Listing them (``--help``) and reading :attr:`commands` import every command module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._importing = 0  # how many command imports are under way
        self._complete = False
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        """Every command (the command modules are imported first)."""
        if not self._importing and not self._complete:
            self._import(*_COMMANDS.values())
            self._complete = True
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._commands = value

    def _import(self, *homes: str) -> None:
        # A command module registers its commands on ``cli`` (click's add_command writes to self.commands)
        # while it is imported: meanwhile self.commands is the table as it stands.
        self._importing += 1
        try:
            for home in sorted(set(homes)):
                importlib.import_module(f"{__name__}.{home}")
        finally:
            self._importing -= 1

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        home = _COMMANDS.get(cmd_name)
        if home is not None:
            self._import(home)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)


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
    """Load the key file at ``path`` (``passphrase`` as the :data:`PASSPHRASE` option gives it).

    An encrypted key with no passphrase given is asked for on the terminal (never echoed) when there is
    one; without a terminal the command stops and says to give it.
    """
    try:
        return KeyPair.load(path, passphrase)
    except PassphraseError:
        if passphrase is not None or not sys.stdin.isatty() or not _is_encrypted(path):
            raise
    return KeyPair.load(path, click.prompt(f"Passphrase of {path}", hide_input=True, err=True))


def _is_encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"ENCRYPTED" in f.read(16384)
    except OSError:
        return False


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress callback ``(done, total)`` that draws click's progress bar on stderr when stderr is a
    terminal, or None (quiet when piped or redirected)."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None
    last = 0
    counted = False

    def update(done: int, total: int | None) -> None:
        nonlocal bar, last, counted
        if not total:  # no known total: click's bar needs one, so a count on one line
            sys.stderr.write(f"\r{label} {done:,}")
            sys.stderr.flush()
            counted = True
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True)
            bar.__enter__()
        bar.update(done - last)
        last = done

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        elif counted:
            sys.stderr.write("\n")


JSON_VERSION = 1
"""The version every ``--json`` output carries as its first key (docs/spec/json.md): it changes only when a
key is removed or its meaning changes; new keys may appear without a new version."""


def emit_json(value: dict[str, Any]) -> None:
    """Print ``value`` as the command's JSON output: one object, ``"version"`` first, on stdout."""
    import json

    click.echo(json.dumps({"version": JSON_VERSION, **value}, indent=2, ensure_ascii=False))


OPERATOR_ENV = "PROVCHAIN_OPERATOR"
_MAX_VKEY_FILE = 4096


def _operator_value(value: str) -> str:
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_VKEY_FILE + 1)
    except OSError as exc:
        raise InputError(f"cannot read the operator's verifier key from {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{path} does not hold a verifier key (not UTF-8 text)") from None
    if len(data) > _MAX_VKEY_FILE or not text or "\n" in text:
        raise InputError(f"{path} must hold one verifier key on one line")
    return text


def _read_operator(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_operator_value(v) for v in value)
    return _operator_value(value)


def operator_option(*, required: bool = True, multiple: bool = False, help: str) -> Callable[[F], F]:
    """The ``--operator`` option: the operator's VERIFIER key (public, pinned), given as the key string,
    as ``@FILE`` (a file holding it) or in ``PROVCHAIN_OPERATOR``. (Options that end in ``-key`` name
    private key files; see the CLI reference.)"""
    return click.option(
        "--operator",
        "operators" if multiple else "operator_vkey",
        envvar=OPERATOR_ENV,
        required=required,
        multiple=multiple,
        default=None,
        metavar="VKEY",
        callback=_read_operator,
        help=f"{help} Also @FILE (a file holding the key) or {OPERATOR_ENV}.",
    )


LEDGER = click.Path(dir_okay=False)
"""The type of every LEDGER argument and option: a file path (a directory is refused in one line) or a
``postgresql://`` URL, which passes as it is (see :func:`check_ledger`)."""


def check_ledger(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The callback of every LEDGER parameter: a URL of another scheme than ``postgresql://`` (such as
    ``mysql://``) is refused as a usage error, without echoing it (a URL may hold a password)."""
    from ..store import ledger_location

    if value is not None:
        try:
            ledger_location(value)
        except InputError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return value


def ledger_argument(name: str = "ledger") -> Callable[[F], F]:
    """The LEDGER argument of a command: an SQLite ledger file or a ``postgresql://`` URL."""
    return click.argument(name, type=LEDGER, callback=check_ledger)


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


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provchain")
def cli() -> None:
    """Tamper-evident journeys of physical items: record, prove, scan and audit."""


def render_journey(item: str, events: Sequence[dict[str, Any]]) -> str:
    """A readable table of a journey (shared by ``history`` and ``scan``), drawn by rich.

    Every party is shown with its key id, ``name (3fa1b2c4)``, so two keys never pass for one party.
    Untrusted text goes through :func:`provchain._internal.text.escape` (names, the item id) or
    :func:`~provchain._internal.text.quote` (place and data values) before it reaches the table: no
    character can hide, reorder the line or imitate a separator, and a value that holds ``;``, ``=``,
    ``,`` or quotes is shown quoted. The table shows cell text as is (no markup, no emoji, no colour) and
    never wraps a row, so long names keep the columns aligned.
    """
    from ._table import draw

    rows = []
    for n, e in enumerate(events, 1):
        party = f"{escape(e['party'])} ({e['key_id']})" if e.get("key_id") else escape(e["party"])
        role = ",".join(escape(r) for r in e.get("roles") or ()) or "-"
        detail = quote(e["place"]) if e.get("place") is not None else ""
        if e.get("data"):
            kv = ", ".join(f"{escape(k)}={v if isinstance(v, int) else quote(v)}" for k, v in sorted(e["data"].items()))
            detail = f"{detail}; {kv}" if detail else kv
        when = e["at"].replace("T", " ")[:19]
        rows.append([str(n), escape(e["stage"]), party, role, escape(e["country"]), escape(when), detail])
    header = ["#", "stage", "party", "role", "ctry", "time (UTC)", "place / data"]
    return f"Item {escape(item)}\n" + draw(header, rows, right={0}, indent="  ")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``provchain`` command."""
    args = list(argv) if argv is not None else sys.argv[1:]
    _check_utf8(args)
    try:
        cli.main(args=args, prog_name="provchain")
    except KeyFileError as exc:  # pragma: no cover - raised before a command runs
        _fail(str(exc), EXIT_CANNOT_RUN)


# The environment variables the commands read.
_ENV = ("PROVCHAIN_PASSPHRASE", "PROVCHAIN_OPERATOR_KEY", "PROVCHAIN_OPERATOR")
_SECRET = ("--passphrase",)  # options whose value is never echoed


def _shown(text: str) -> str:
    """An argument that is not UTF-8, quoted as the bytes it was given as (escaped), cut short if long."""
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes as given, on POSIX
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        raw = text.encode("utf-8", "backslashreplace")
    return ascii(raw[:60]) + ("..." if len(raw) > 60 else "")


def _check_utf8(args: Sequence[str]) -> None:
    """Refuse an argument or a ``PROVCHAIN_*`` variable that is not valid UTF-8, with one line naming it.

    On POSIX, Python decodes argv and the environment with ``surrogateescape``: bytes that are not UTF-8
    become lone surrogates, which pass through parsing and fail deep inside a command (encoding a path,
    an item id, a message). Every text provchain writes is UTF-8, so such an argument is refused first.
    """
    for n, arg in enumerate(args, 1):
        if not _is_utf8(arg):
            prev = args[n - 2] if n > 1 else ""
            secret = prev in _SECRET or arg.startswith(tuple(f"{o}=" for o in _SECRET))
            shown = "(not shown: a passphrase)" if secret else _shown(arg)
            _fail(f"argument {n} is not valid UTF-8 text: {shown}", EXIT_CANNOT_RUN)
    for name in _ENV:
        value = os.environ.get(name)
        if value is not None and not _is_utf8(value):
            shown = "(not shown: a passphrase)" if name == "PROVCHAIN_PASSPHRASE" else _shown(value)
            _fail(f"the environment variable {name} is not valid UTF-8 text: {shown}", EXIT_CANNOT_RUN)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8
        return False
    return True

