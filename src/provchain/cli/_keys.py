"""``provchain key show``: the verifier key of a key file, to find it again."""

from __future__ import annotations

import click

from ..errors import WitnessKeyError
from ..witness import WitnessKey
from . import PASSPHRASE, cli, load_key


@cli.group()
def key() -> None:
    """Inspect key files."""


@key.command("show")
@click.argument("keyfile", type=click.Path(dir_okay=False))
@PASSPHRASE
def key_show(keyfile: str, passphrase: str | None) -> None:
    """Print the verifier key of KEYFILE (a witness key file: its 0x04 witness verifier key).

    This is the public key to give others (--vkey of 'party add', --operator of scan and audit, --witness);
    the private key never leaves the file.
    """
    try:
        click.echo(load_key(keyfile, passphrase).vkey)
    except WitnessKeyError:
        click.echo(WitnessKey.load(keyfile, passphrase).vkey)
