"""``provchain epcis``: GS1 EPCIS 2.0 documents in and out of a ledger (docs/spec/epcis.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from .._internal.files import check_output, write_atomic
from .._internal.text import escape
from ..errors import EpcisError, InputError
from . import EXIT_FINDINGS, PASSPHRASE, _fail, _Group, cli, ledger_argument, load_key, parse_time, progress_bar


def _read(path: str, max_bytes: int) -> bytes:
    """The bytes of ``path``, refused before reading when the file is larger than ``max_bytes``."""
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise EpcisError(f"{path} has {size} bytes, more than the limit of {max_bytes} (raise it with --max-bytes)")
    with p.open("rb") as f:
        return f.read(max_bytes + 1)


def _stage_map(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        biz_step, sep, stage = pair.rpartition("=")
        if not sep or not biz_step or not stage:
            raise InputError(f"--stage takes BIZSTEP=STAGE, not {pair!r}")
        if biz_step in out:
            raise InputError(f"--stage maps {biz_step!r} twice")
        out[biz_step] = stage
    return out


_MAX_DOCUMENT = 64 * 1024 * 1024  # epcis.MAX_DOCUMENT, which imports the EPCIS package (tests/test_imports.py)

MAX_BYTES = click.option(
    "--max-bytes",
    type=click.IntRange(1, 2**40),
    default=_MAX_DOCUMENT,
    show_default=True,
    help="Refuse a larger document before reading it.",
)


@cli.group("epcis", cls=_Group)
def epcis_group() -> None:
    """Exchange GS1 EPCIS 2.0 events with partners' systems."""


@epcis_group.command("export")
@ledger_argument()
@click.argument("items", nargs=-1)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .json file to write.")
@click.option("--no-proofs", is_flag=True, help="Leave out the inclusion proofs and the checkpoint.")
@click.option("--at", default=None, help="ISO 8601 creation time of the document (default: now).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def export_cmd(ledger: str, items: tuple[str, ...], output: str, no_proofs: bool, at: str | None, force: bool) -> None:
    """Write the events of ITEMs (default: every event) as an EPCIS 2.0 document.

    One ObjectEvent per event, with its CBV business step and disposition, and provchain's evidence (party,
    key id, signed body, signature, leaf hash, log index, inclusion proof against the latest checkpoint).
    """
    from .. import epcis  # here: the package loads GS1's schema and its validator
    from ..ledger import Ledger

    check_output(output, force=force, protect=[ledger])
    with Ledger.open(ledger, readonly=True) as led, progress_bar("exporting events") as bar:
        doc = epcis.export_document(
            led, list(items) or None, proofs=not no_proofs, now=parse_time(at), progress=bar
        )
    epcis.validate(doc)  # never write a document GS1's schema refuses
    write_atomic(output, epcis.to_json(doc), force=force, protect=[ledger])
    count = len(doc["epcisBody"]["eventList"])
    click.echo(f"wrote {count} EPCIS event{'s' * (count != 1)} to {escape(output)}")


@epcis_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@ledger_argument()
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="The party's key file.")
@click.option("--country", default=None, help="Country (ISO 3166-1 alpha-2) of events without provchain:country.")
@click.option("--stage", "stages", multiple=True, metavar="BIZSTEP=STAGE", help="Map a business step to a stage.")
@MAX_BYTES
@PASSPHRASE
def import_cmd(
    file: str,
    ledger: str,
    key_path: str,
    country: str | None,
    stages: tuple[str, ...],
    max_bytes: int,
    passphrase: str | None,
) -> None:
    """Record the events of an EPCIS 2.0 document, signed with --key: all of them or none.

    The document is checked against GS1's JSON Schema and every event mapped before anything is written.
    """
    from .. import epcis  # here: the package loads GS1's schema and its validator
    from ..ledger import Ledger

    table = _stage_map(stages)
    data = _read(file, max_bytes)  # a file over the cap is refused before the key is even read
    signer = load_key(key_path, passphrase)
    with Ledger.open(ledger) as led, progress_bar("importing events") as bar:
        written = epcis.import_document(
            led, data, signer, country=country, stages=table, max_bytes=max_bytes, progress=bar
        )
    first, last = written[0].index, written[-1].index
    click.echo(f"imported {len(written)} event{'s' * (len(written) != 1)} as entries {first} to {last}")


@epcis_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@MAX_BYTES
def validate_cmd(file: str, max_bytes: int) -> None:
    """Check FILE against GS1's EPCIS 2.0 JSON Schema (with format checking); exit 1 if it breaks it."""
    from .. import epcis  # here: the package loads GS1's schema and its validator

    data = _read(file, max_bytes)
    repeated: list[str] = []
    doc = epcis.load_json(data, max_bytes=max_bytes, duplicates=repeated)
    errors = epcis.schema_errors(doc, 1)
    if errors:
        _fail(f"{file} is not valid EPCIS 2.0: {errors[0]}", EXIT_FINDINGS)
    body = doc.get("epcisBody") if isinstance(doc, dict) else None
    events = body.get("eventList", []) if isinstance(body, dict) else []
    click.echo(f"{escape(file)}: valid EPCIS 2.0 ({len(events)} event{'s' * (len(events) != 1)})")
    if repeated:
        click.echo(
            f"note: the key {escape(repeated[0])!r} appears twice in one object; the last value was checked, "
            "and 'provchain epcis import' refuses such a document"
        )


@epcis_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--operator", "operator_vkey", required=True, help="The ledger operator's verifier key.")
@MAX_BYTES
def check_cmd(file: str, operator_vkey: str, max_bytes: int) -> None:
    """Check an exported document's evidence: each event against its signed body and the signed checkpoint."""
    from .. import epcis  # here: the package loads GS1's schema and its validator

    doc = epcis.load_json(_read(file, max_bytes), max_bytes=max_bytes)
    report = epcis.check_evidence(doc, operator_vkey)  # checks GS1's schema first
    size = report.checkpoint_size
    where = f"the checkpoint of size {size}" if size is not None else "no checkpoint"
    click.echo(f"{report.events} events match their signed bodies; {report.proven} proven included in {where}")
