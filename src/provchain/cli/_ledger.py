"""Commands for keys, ledgers, parties and events."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from .._internal.text import escape
from ..entries import ms_to_iso
from ..errors import InputError
from ..keys import KeyPair, format_vkey, parse_vkey
from ..witness import WitnessKey
from . import PASSPHRASE, _Group, cli, emit_json, ledger_argument, load_key, parse_time, render_journey


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


# --- keys and ledgers ---------------------------------------------------------------------------


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="The key's name: the party name (no spaces or '+').")
@click.option(
    "--witness",
    "is_witness",
    is_flag=True,
    help="Make a witness key (it signs cosignatures only); prints its cosignature/v1 (0x04) verifier key.",
)
@PASSPHRASE
def keygen(path: str, name: str, is_witness: bool, passphrase: str | None) -> None:
    """Create a new Ed25519 key file (mode 0600) and print its verifier key.

    The file is private from its creation and never replaces an existing file (or link). With
    --witness the file is marked as a witness key, which no other command accepts, and the key is
    printed in the C2SP tlog-cosignature form (a witness's name is usually a URL without scheme, such as
    witness.example.com/w1).
    """
    if is_witness:
        wk = WitnessKey.generate(name)
        wk.save(path, passphrase)
        click.echo(wk.vkey)
        return
    kp = KeyPair.generate(name)
    kp.save(path, passphrase)
    click.echo(kp.vkey)


@cli.command()
@ledger_argument()
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
    """Create a ledger (and the operator key if absent); print the operator's verifier key.

    LEDGER is a new file, or a postgresql:// URL of a database that holds no ledger yet.
    """
    from ..ledger import Ledger
    from ..store import is_database_url

    if not is_database_url(ledger):  # a database that holds a ledger already is refused by Ledger.create
        if os.path.lexists(ledger):
            raise InputError(f"{ledger} already exists; not overwriting it")
        if os.path.abspath(ledger) == os.path.abspath(operator_key):
            raise InputError("the ledger and the operator key must be two different files")
    if os.path.lexists(operator_key):
        op = load_key(operator_key, passphrase)
    else:
        op = KeyPair.generate(origin)
        op.save(operator_key, passphrase)
    Ledger.create(ledger, origin=origin, operator=op).close()
    click.echo(op.vkey)


# --- parties --------------------------------------------------------------------------------------


@cli.group(cls=_Group)
def party() -> None:
    """Register, list and revoke the parties that may sign events."""


@party.command("add")
@ledger_argument()
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
    from ..ledger import Ledger

    vname, kid, pub = parse_vkey(vkey)
    if name is not None and name != vname:
        raise InputError(f"--name {name!r} does not match the verifier key's name {vname!r}")
    op = load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        entry = led.register_party(
            vname,
            roles=list(roles),
            public_key=pub,
            valid_from=parse_time(valid_from),
            valid_until=parse_time(valid_until),
        )
    held = ", ".join(sorted(roles))
    click.echo(f"registered {escape(vname)} (key {kid.hex()}, roles: {held}) as entry {entry.index}")


@party.command("list")
@ledger_argument()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def party_list(ledger: str, as_json: bool) -> None:
    """List registered party keys."""
    from ..ledger import Ledger

    with Ledger.open(ledger, readonly=True) as led:
        rows: list[dict[str, Any]] = [
            {
                "name": r.name,
                "key_id": r.key_id.hex(),
                "vkey": format_vkey(r.name, r.public_key),
                "roles": sorted(r.roles),
                "valid_from": ms_to_iso(r.valid_from),
                "valid_until": ms_to_iso(r.valid_until) if r.valid_until is not None else None,
                "registered": r.registered_index,
                "revoked": r.revoked_index,
            }
            for r in led.parties()
        ]
    if as_json:
        emit_json({"parties": rows})
        return
    click.echo(_party_table(rows))


def _party_table(rows: Sequence[dict[str, Any]]) -> str:
    """The ``party list`` table: one line per key, its name (escaped) and its key id side by side."""
    from ._table import draw

    cells = [
        [
            escape(r["name"]),
            r["key_id"],
            ",".join(escape(role) for role in r["roles"]),
            f"revoked by entry {r['revoked']}" if r["revoked"] is not None else "active",
        ]
        for r in rows
    ]
    return draw(["name", "key id", "roles", "state"], cells)


@party.command("revoke")
@ledger_argument()
@click.argument("key")
@click.option("--operator-key", "operator_key", required=True, type=click.Path(dir_okay=False))
@click.option("--reason", default=None)
@PASSPHRASE
def party_revoke(ledger: str, key: str, operator_key: str, reason: str | None, passphrase: str | None) -> None:
    """Revoke a party key: KEY is a key id (8 hex digits), a verifier key, or a party name (all its keys)."""
    from ..ledger import Ledger

    op = load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        for e in led.revoke_party(key, reason=reason):
            click.echo(f"revoked key {e.content.revoked.hex()} as entry {e.index}")  # type: ignore[union-attr]


# --- events ---------------------------------------------------------------------------------------


@cli.command()
@ledger_argument()
@click.argument("item")
@click.argument("stage")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The party's key file.")
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
    from ..ledger import Ledger

    signer = load_key(key_path, passphrase)
    parsed = _parse_data(data)
    with Ledger.open(ledger) as led:
        entry = led.append(item, stage, signer, country=country, place=place, data=parsed or None, at=parse_time(at))
    click.echo(f"recorded {stage} of {escape(item)} as entry {entry.index} ({entry.leaf_hash.hex()[:16]})")


@cli.command()
@ledger_argument()
@click.argument("item")
@click.option("--json", "as_json", is_flag=True, help='Print {"item": ..., "events": [...]} as JSON.')
def history(ledger: str, item: str, as_json: bool) -> None:
    """Show ITEM's journey as recorded in the ledger."""
    from ..ledger import Ledger

    with Ledger.open(ledger, readonly=True) as led:
        events = led.history(item)
    if not events:  # the same in both modes: exit 2, one line
        raise InputError(f"the ledger has no events for item {item!r}")
    if as_json:
        emit_json({"item": item, "events": [e.to_json() for e in events]})
        return
    click.echo(render_journey(item, [e.to_json() for e in events]))
