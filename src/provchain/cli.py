"""The ``provchain`` command line: a thin skin over the Python API.

Each command parses its flags, calls one public function and renders the result. One boundary
(:class:`_Group`) turns every :class:`~provchain.errors.ProvchainError` into one line on stderr and an
exit status: 1 when something was checked and found wrong (a :class:`VerificationError`), 2 when the
command could not run (unreadable input, missing ledger, bad argument).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .entries import ms_to_iso
from .errors import InputError, KeyFileError, ProvchainError, VerificationError
from .keys import KeyPair, parse_vkey
from .ledger import Ledger

__all__ = ["main"]

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


def _parse_data(pairs: Sequence[str]) -> dict[str, str | int]:
    data: dict[str, str | int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--data takes KEY=VALUE, not {pair!r}")
        if key in data:
            raise InputError(f"--data names {key!r} twice")
        data[key] = value
    return data


def _load_key(path: str, passphrase: str | None) -> KeyPair:
    return KeyPair.load(path, passphrase or None)


PASSPHRASE = click.option(
    "--passphrase",
    envvar="PROVCHAIN_PASSPHRASE",
    default=None,
    help="Passphrase of the key file (or set PROVCHAIN_PASSPHRASE).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provchain")
def cli() -> None:
    """Tamper-evident journeys of physical items: record, prove, scan and audit."""


# --- keys and ledgers ---------------------------------------------------------------------------


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="The key's name: the party name (no spaces or '+').")
@PASSPHRASE
def keygen(path: str, name: str, passphrase: str | None) -> None:
    """Create a new Ed25519 key file (mode 0600) and print its verifier key."""
    kp = KeyPair.generate(name)
    kp.save(path, passphrase or None)
    click.echo(kp.vkey)


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--origin", required=True, help="The ledger's origin, e.g. example.com/acme-ledger.")
@click.option(
    "--operator-key",
    "operator_key",
    required=True,
    type=click.Path(dir_okay=False),
    help="The operator's key file; created when absent.",
)
@PASSPHRASE
def init(ledger: str, origin: str, operator_key: str, passphrase: str | None) -> None:
    """Create a ledger (and the operator key if absent); print the operator's verifier key."""
    if Path(ledger).exists():
        raise InputError(f"{ledger} already exists; not overwriting it")
    if Path(operator_key).exists():
        op = _load_key(operator_key, passphrase)
    else:
        op = KeyPair.generate(origin)
        op.save(operator_key, passphrase or None)
    Ledger.create(ledger, origin=origin, operator=op).close()
    click.echo(op.vkey)


# --- parties --------------------------------------------------------------------------------------


@cli.group(cls=_Group)
def party() -> None:
    """Register, list and revoke the parties that may sign events."""


@party.command("add")
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--operator-key", "operator_key", required=True, type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="The party's name (must match the verifier key's name).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="A role of the party (repeat for several): origin, customs, warehouse, appraiser, courier.",
)
@click.option("--vkey", required=True, help="The party's verifier key, as printed by 'provchain keygen'.")
@click.option("--valid-from", default=None, help="ISO 8601 start of validity (default: now).")
@click.option("--valid-until", default=None, help="ISO 8601 end of validity (default: open-ended).")
@PASSPHRASE
def party_add(
    ledger: str,
    operator_key: str,
    name: str | None,
    roles: tuple[str, ...],
    vkey: str,
    valid_from: str | None,
    valid_until: str | None,
    passphrase: str | None,
) -> None:
    """Register a party's key and roles (operator)."""
    vname, kid, pub = parse_vkey(vkey)
    if name is not None and name != vname:
        raise InputError(f"--name {name!r} does not match the verifier key's name {vname!r}")
    op = _load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        entry = led.register_party(
            vname,
            roles=list(roles),
            public_key=pub,
            valid_from=parse_time(valid_from),
            valid_until=parse_time(valid_until),
        )
    click.echo(
        f"registered {vname} (key {kid.hex()}, roles: {', '.join(sorted(roles))}) as entry {entry.index}"
    )


@party.command("list")
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def party_list(ledger: str, as_json: bool) -> None:
    """List registered party keys."""
    with Ledger.open(ledger, readonly=True) as led:
        rows: list[dict[str, Any]] = [
            {
                "name": r.name,
                "key_id": r.key_id.hex(),
                "roles": sorted(r.roles),
                "valid_from": ms_to_iso(r.valid_from),
                "valid_until": ms_to_iso(r.valid_until) if r.valid_until is not None else None,
                "registered": r.registered_index,
                "revoked": r.revoked_index,
            }
            for r in led.parties()
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked by entry {r['revoked']}" if r["revoked"] is not None else "active"
        click.echo(f"{r['name']:<28} {r['key_id']}  {','.join(r['roles']):<20} {state}")


@party.command("revoke")
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("key")
@click.option("--operator-key", "operator_key", required=True, type=click.Path(dir_okay=False))
@click.option("--reason", default=None)
@PASSPHRASE
def party_revoke(
    ledger: str, key: str, operator_key: str, reason: str | None, passphrase: str | None
) -> None:
    """Revoke a party key: KEY is a key id (8 hex digits), a verifier key, or a party name (all its keys)."""
    op = _load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        for e in led.revoke_party(key, reason=reason):
            click.echo(f"revoked key {e.content.revoked.hex()} as entry {e.index}")  # type: ignore[union-attr]


# --- events ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("item")
@click.argument("stage")
@click.option(
    "--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The party's key file."
)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code of where it happened, e.g. CN.")
@click.option("--place", default=None, help="Where it happened, in words.")
@click.option("--at", default=None, help="ISO 8601 time (default: now; no offset means UTC).")
@click.option("--data", "data", multiple=True, help="KEY=VALUE stage data (repeatable).")
@PASSPHRASE
def record(
    ledger: str,
    item: str,
    stage: str,
    key_path: str,
    country: str,
    place: str | None,
    at: str | None,
    data: tuple[str, ...],
    passphrase: str | None,
) -> None:
    """Record the next event of ITEM's journey, signed with --key."""
    signer = _load_key(key_path, passphrase)
    parsed = _parse_data(data)
    with Ledger.open(ledger) as led:
        entry = led.append(
            item, stage, signer, country=country, place=place, data=parsed or None, at=parse_time(at)
        )
    click.echo(f"recorded {stage} of {item} as entry {entry.index} ({entry.leaf_hash.hex()[:16]})")


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("item")
@click.option("--json", "as_json", is_flag=True, help='Print {"item": ..., "events": [...]} as JSON.')
def history(ledger: str, item: str, as_json: bool) -> None:
    """Show ITEM's journey as recorded in the ledger."""
    with Ledger.open(ledger, readonly=True) as led:
        events = led.history(item)
    if as_json:
        click.echo(json.dumps({"item": item, "events": [e.to_json() for e in events]}, indent=2))
        return
    if not events:
        raise InputError(f"the ledger has no events for item {item!r}")
    click.echo(render_journey(item, [e.to_json() for e in events]))


def render_journey(item: str, events: Sequence[dict[str, Any]]) -> str:
    """A readable table of a journey (shared by ``history`` and ``scan``)."""
    lines = [f"Item {item}"]
    header = (
        f"  {'#':>2}  {'stage':<10} {'party':<24} {'role':<10} {'ctry':<4} {'time (UTC)':<20} place / data"
    )
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    for n, e in enumerate(events, 1):
        when = e["at"].replace("T", " ")[:19]
        role = ",".join(e.get("roles") or ()) or "-"
        detail = e.get("place") or ""
        if e.get("data"):
            kv = ", ".join(f"{k}={v}" for k, v in sorted(e["data"].items()))
            detail = f"{detail}; {kv}" if detail else kv
        lines.append(
            f"  {n:>2}  {e['stage']:<10} {e['party']:<24} {role:<10} {e['country']:<4} {when:<20} {detail}"
        )
    return "\n".join(lines)


# --- audit ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--operator", "operator_vkey", required=True, help="The operator's verifier key (pinned).")
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write a JSON report to this file ('-' for stdout).",
)
def audit(ledger: str, operator_vkey: str, json_path: str | None) -> None:
    """Replay LEDGER and check everything. Exit 0 clean, 1 findings, 2 cannot run."""
    from .audit import audit_path

    report = audit_path(ledger, operator_vkey)
    if json_path == "-":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        if json_path:
            Path(json_path).write_text(json.dumps(report.to_json(), indent=2) + "\n")
        click.echo(report.summary())
    sys.exit(0 if report.clean else EXIT_FINDINGS)


# --- demo -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Run the whole story in a fresh folder: a journey recorded, its code written, scanned and verified,
    and a forged copy refused."""
    from .demo import run_demo

    ok = run_demo(directory, click.echo)
    sys.exit(0 if ok else EXIT_FINDINGS)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``provchain`` command."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="provchain")
    except KeyFileError as exc:  # pragma: no cover - raised before a command runs
        _fail(str(exc), EXIT_CANNOT_RUN)
