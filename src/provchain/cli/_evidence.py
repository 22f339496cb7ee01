"""``provchain compare``: evidence that an operator signed two histories."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._internal.validate import canonical_b64decode
from ..errors import InputError, ProofFormatError
from . import EXIT_FINDINGS, LEDGER, check_ledger, cli, operator_option

_MAX_INPUT = 1 << 20


def _read(path: str, what: str) -> bytes:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(_MAX_INPUT + 1)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory") from None
    if len(data) > _MAX_INPUT:
        raise InputError(f"{what} {path} is larger than {_MAX_INPUT} bytes")
    return data


def _proof_file(path: str) -> list[bytes]:
    text = _read(path, "the proof file")
    try:
        lines = text.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise ProofFormatError(f"the proof file {path} is not base64 text") from None
    return [canonical_b64decode(line, f"line {n} of the proof file", ProofFormatError, length=32)
            for n, line in enumerate(lines, 1) if line]


@cli.command("compare")
@click.argument("note_a", type=click.Path(dir_okay=False))
@click.argument("note_b", type=click.Path(dir_okay=False), required=False)
@operator_option(help="The operator's verifier key (pinned).")
@click.option(
    "--ledger",
    default=None,
    type=LEDGER,
    callback=check_ledger,
    help="For two sizes: the ledger that holds the larger checkpoint's tree (the consistency proof comes from it).",
)
@click.option(
    "--proof",
    "proof_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="For two sizes: a file of base64 hashes, the consistency proof from the smaller size to the larger.",
)
def compare_command(
    note_a: str, note_b: str | None, operator_vkey: str, ledger: str | None, proof_path: str | None
) -> None:
    """Compare two signed checkpoints NOTE_A and NOTE_B of one operator, or check an evidence file.

    Exit 0 when they agree (one extends the other). Exit 1, printing a line that starts with EQUIVOCATION
    and then the evidence (a self-contained proof that anyone can check with 'provchain compare EVIDENCE
    --operator V'), when they are the same size with two roots, or two sizes that do not extend each other.
    Exit 2 when they cannot be compared (not the operator's checkpoints; two sizes without --ledger or
    --proof). With one file, NOTE_A is an evidence file: exit 1 and print its statement when it proves
    equivocation.
    """
    from ..equivocation import Comparison, check_evidence, compare, compare_with_ledger
    from ..ledger import Ledger

    if note_b is None:
        if ledger or proof_path:
            raise InputError("an evidence file is checked on its own, without --ledger or --proof")
        statement = check_evidence(_read(note_a, "the evidence file"), operator_vkey)
        click.echo(f"EQUIVOCATION: {statement} (the evidence checks out)")
        sys.exit(EXIT_FINDINGS)
    if ledger and proof_path:
        raise InputError("give --ledger or --proof, not both")
    a, b = _read(note_a, "the note"), _read(note_b, "the note")
    result: Comparison
    if ledger:
        with Ledger.open(ledger) as led:
            if led.operator_vkey != operator_vkey:
                raise InputError("the ledger belongs to another operator than --operator")
            result = compare_with_ledger(a, b, led)
    else:
        proof = _proof_file(proof_path) if proof_path else None
        result = compare(a, b, operator_vkey, proof=proof)
    if result.consistent:
        click.echo(f"CONSISTENT: {result.message}")
        return
    assert result.evidence is not None
    sys.stdout.flush()
    sys.stdout.buffer.write(result.evidence)
    sys.stdout.buffer.flush()
    sys.exit(EXIT_FINDINGS)
