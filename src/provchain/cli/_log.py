"""Commands for the Merkle log: sign checkpoints, prove inclusion, check consistency."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from .._internal.text import escape
from ..checkpoint import open_checkpoint
from ..errors import InputError, KeyFormatError, OperatorKeyError
from ..note import new_verifier
from ..witness import WitnessPolicy
from . import PASSPHRASE, cli, emit_json, ledger_argument, load_key, operator_option


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


@cli.command()
@ledger_argument()
@click.option("--operator-key", "operator_key", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A witness to ask for a cosignature, as URL=WITNESS_VKEY (repeat for several).",
)
@click.option(
    "--quorum",
    type=click.IntRange(min=1),
    default=None,
    help="How many of the --witness witnesses must cosign (default: all).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A witness policy file (C2SP tlog-policy) whose witness lines carry URLs; replaces --witness.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=3600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the witnesses, all together.",
)
@PASSPHRASE
def checkpoint(
    ledger: str,
    operator_key: str,
    witnesses: tuple[str, ...],
    quorum: int | None,
    policy_file: str | None,
    timeout: float,
    passphrase: str | None,
) -> None:
    """Sign a checkpoint of LEDGER's current tree, store it in the ledger and print it.

    The new tree is first proven consistent with the last stored checkpoint: a ledger never signs two
    inconsistent checkpoints (exit 1 if it would have to). With --witness or --policy, the witnesses are
    asked in parallel to cosign it (C2SP tlog-witness); their valid cosignatures are stored with it and
    printed; a witness that fails is named on stderr, and the exit status is 1 when fewer than the
    quorum cosigned.
    """
    from ..ledger import Ledger
    from ..witness_client import collect, parse_witness_arg

    if policy_file is not None and (witnesses or quorum is not None):
        raise InputError("--policy carries the witnesses and the quorum: give no --witness or --quorum with it")
    if quorum is not None and not witnesses:
        raise InputError("--quorum counts --witness witnesses: name them")
    op = load_key(operator_key, passphrase)
    if policy_file is None and not witnesses:
        with Ledger.open(ledger, operator=op) as led:
            note = led.checkpoint()
        click.echo(note.decode("utf-8"), nl=False)
        return
    spec: WitnessPolicy | list[tuple[str, str]]
    spec = WitnessPolicy.load(policy_file) if policy_file is not None else [parse_witness_arg(w) for w in witnesses]
    with Ledger.open(ledger, operator=op) as led:
        result = collect(led, spec, quorum=quorum, timeout=timeout)
    click.echo(result.note.decode("utf-8"), nl=False)
    result.check()  # below the quorum: one error line naming every witness that failed, exit 1
    for name, reason in sorted(result.failed.items()):
        click.echo(f"provchain: warning: witness {escape(name)} did not cosign: {reason}", err=True)


@cli.command()
@ledger_argument()
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
    from ..ledger import Ledger

    with Ledger.open(ledger, readonly=True) as led:
        text = led.prove(item, size)
    click.echo(text.decode("utf-8"), nl=False)


@cli.command()
@ledger_argument()
@click.argument("old_checkpoint", type=click.Path(dir_okay=False))
@operator_option(required=False, help="The operator's verifier key, pinned (default: the key recorded in LEDGER).")
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"version": 1, "consistent": true, "old", "ledger", "proof"}.'
)
def consistency(ledger: str, old_checkpoint: str, operator_vkey: str | None, as_json: bool) -> None:
    """Prove that LEDGER extends OLD_CHECKPOINT, a checkpoint it signed before; print the proof and a verdict.

    Exit 0 when consistent, 1 when the ledger was truncated or its history rewritten, 2 when the check
    cannot run.
    """
    from ..ledger import Ledger

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
        lines = [f"old checkpoint: {old.origin} size {old.size} root {_b64(old.root)}"]
        root, proof = b"", []
        if old.size <= size:
            root = led.root()
            proof = led.consistency_proof(old.size) if old.size else []
            lines.append(f"ledger:         {led.origin} size {size} root {_b64(root)}")
            lines.append(f"consistency proof from {old.size} to {size} ({len(proof)} hashes):")
            lines += [_b64(h) for h in proof]
        if not as_json:
            click.echo("\n".join(lines))
        led.check_consistency(note)
    if as_json:
        emit_json(
            {
                "consistent": True,
                "origin": old.origin,
                "old": {"size": old.size, "root": old.root.hex()},
                "ledger": {"size": size, "root": root.hex()},
                "proof": [h.hex() for h in proof],
            }
        )
        return
    click.echo(f"consistent: the ledger's {size} entries extend the checkpoint of {old.size}")
