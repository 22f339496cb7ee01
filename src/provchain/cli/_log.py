"""Commands for the Merkle log: sign checkpoints, prove inclusion, check consistency."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from ..checkpoint import open_checkpoint
from ..errors import InputError, KeyFormatError, OperatorKeyError
from ..ledger import Ledger
from ..note import new_verifier
from . import PASSPHRASE, cli, load_key, operator_option


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--operator-key", "operator_key", required=True, type=click.Path(dir_okay=False))
@PASSPHRASE
def checkpoint(ledger: str, operator_key: str, passphrase: str | None) -> None:
    """Sign a checkpoint of LEDGER's current tree, store it in the ledger and print it.

    The new tree is first proven consistent with the last stored checkpoint: a ledger never signs two
    inconsistent checkpoints (exit 1 if it would have to).
    """
    op = load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        note = led.checkpoint()
    click.echo(note.decode("utf-8"), nl=False)


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("item")
@click.option(
    "--size",
    type=click.IntRange(min=0),
    default=None,
    help="Prove against the stored checkpoint of this size (default: the latest one).",
)
def prove(ledger: str, item: str, size: int | None) -> None:
    """Print a C2SP tlog-proof that ITEM's head entry is in a signed checkpoint of LEDGER.

    The proof's extra data is the entry's body; store it as ITEM.tlog-proof.
    """
    with Ledger.open(ledger, readonly=True) as led:
        text = led.prove(item, size)
    click.echo(text.decode("utf-8"), nl=False)


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("old_checkpoint", type=click.Path(dir_okay=False))
@operator_option(required=False, help="The operator's verifier key, pinned (default: the key recorded in LEDGER).")
def consistency(ledger: str, old_checkpoint: str, operator_vkey: str | None) -> None:
    """Prove that LEDGER extends OLD_CHECKPOINT, a checkpoint it signed before; print the proof and a verdict.

    Exit 0 when consistent, 1 when the ledger was truncated or its history rewritten, 2 when the check
    cannot run.
    """
    note = Path(old_checkpoint).read_bytes()
    with Ledger.open(ledger, readonly=True) as led:
        vkey = operator_vkey or led.operator_vkey
        try:
            verifier = new_verifier(vkey)
        except KeyFormatError as exc:
            raise InputError(f"--operator: {exc}") from exc
        if vkey != led.operator_vkey:
            raise OperatorKeyError(f"{ledger} is operated by {led.operator_vkey}, not by the pinned key {vkey}")
        old, _ = open_checkpoint(note, led.origin, verifier)
        size = led.size
        click.echo(f"old checkpoint: {old.origin} size {old.size} root {_b64(old.root)}")
        if old.size <= size:
            root = led.root()
            proof = led.consistency_proof(old.size) if old.size else []
            click.echo(f"ledger:         {led.origin} size {size} root {_b64(root)}")
            click.echo(f"consistency proof from {old.size} to {size} ({len(proof)} hashes):")
            for h in proof:
                click.echo(_b64(h))
        led.check_consistency(note)
    click.echo(f"consistent: the ledger's {size} entries extend the checkpoint of {old.size}")
