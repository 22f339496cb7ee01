"""``provchain key show``: the verifier key of a key file, to find it again."""

from __future__ import annotations

import click

from ..errors import WitnessKeyError
from ..keys import KeyPair
from ..witness import WitnessKey
from . import PASSPHRASE, cli, emit_json, load_key


@cli.group()
def key() -> None:
    """Inspect key files."""


@key.command("show")
@click.argument("keyfile", type=click.Path(dir_okay=False))
@PASSPHRASE
@click.option("--json", "as_json", is_flag=True, help='Print {"version": 1, "name", "key_id", "vkey", "type"}.')
def key_show(keyfile: str, passphrase: str | None, as_json: bool) -> None:
    """Print the verifier key of KEYFILE (a witness key file: its 0x04 witness verifier key).

    This is the public key to give others (--vkey of 'party add', --operator of scan and audit, --witness);
    the private key never leaves the file.
    """
    key: KeyPair | WitnessKey
    try:
        key, kind = load_key(keyfile, passphrase), "signer"
    except WitnessKeyError:
        key, kind = WitnessKey.load(keyfile, passphrase), "witness"
    if as_json:
        emit_json({"name": key.name, "key_id": key.key_id.hex(), "vkey": key.vkey, "type": kind})
    else:
        click.echo(key.vkey)
