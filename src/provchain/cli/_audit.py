"""The ``audit``, ``export`` and ``import`` commands (the auditor's replay and the portable ledger file)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .._internal.files import check_output, write_atomic
from ..errors import InputError
from . import (
    EXIT_FINDINGS,
    JSON_VERSION,
    LEDGER,
    check_ledger,
    cli,
    emit_json,
    ledger_argument,
    operator_option,
    progress_bar,
)
from ._witnessopts import witness_options
from ._witnessopts import witness_policy as witness_policy_from

WORKERS = click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Processes that hash, parse and verify the entries (default: all cores).",
)


@cli.command()
@click.argument("ledger", type=click.Path())
@operator_option(help="The operator's verifier key (pinned).")
@click.option(
    "--since",
    "since_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="A checkpoint saved from an earlier audit (signed note or checkpoint text): the ledger must extend it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the summary.")
@click.option(
    "--report",
    "report_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the JSON report to this file.",
)
@click.option(
    "--save-checkpoint",
    "save_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="When the audit is clean, write the checkpoint to pass as --since next time.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the --report and --save-checkpoint files if they exist (never a ledger or an export, never "
    "through a link).",
)
@witness_options("that must have cosigned the checkpoint the audit is anchored on")
@WORKERS
def audit(
    ledger: str,
    operator_vkey: str,
    since_path: str | None,
    as_json: bool,
    report_path: str | None,
    save_path: str | None,
    force: bool,
    workers: int | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    policy_file: str | None,
) -> None:
    """Replay LEDGER (SQLite file, postgresql:// URL or export) and check everything. Exit 0 clean, 1
    findings, 2 cannot run.

    LEDGER may also be a published log (`provchain publish`): a directory or an http(s):// URL. Its
    checkpoint must verify by --operator; every file it needs is fetched and checked.

    With --witness keys (and --quorum) or --policy, the latest checkpoint that matches the ledger must carry
    the cosignatures they require (a 'witness' finding otherwise); the summary shows who cosigned, and when.

    The --report and --save-checkpoint files are written whole or not at all; an existing one is replaced
    only with --force.
    """
    from ..audit import audit_path
    from ..ledger import now_ms

    outputs = [p for p in (report_path, save_path) if p]
    if len(outputs) == 2 and os.path.abspath(outputs[0]) == os.path.abspath(outputs[1]):
        raise InputError("--report and --save-checkpoint name the same file")
    for out in outputs:  # before the audit, which may take long; each is checked again when written
        check_output(out, force=force, protect=[ledger])
    since = Path(since_path).read_bytes() if since_path else None
    policy = witness_policy_from(witness_keys, quorum, policy_file)
    with progress_bar("auditing") as bar:
        report = audit_path(
            ledger, operator_vkey, since=since, workers=workers, progress=bar, now=now_ms(), witnesses=policy
        )
    doc = {"version": JSON_VERSION, **report.to_json()}
    if report_path:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        write_atomic(report_path, text.encode("utf-8"), force=force, protect=[ledger])
    if as_json:
        emit_json(report.to_json())
    else:
        click.echo(report.summary())
    if save_path and report.clean:
        write_atomic(save_path, report.checkpoint_to_save.encode("utf-8"), force=force, protect=[ledger])
    sys.exit(0 if report.clean else EXIT_FINDINGS)


@cli.command("export")
@ledger_argument()
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="The export file.")
@click.option(
    "--force", is_flag=True, help="Replace OUTPUT if it exists (never a ledger or an export, never through a link)."
)
def export_cmd(ledger: str, output: str, force: bool) -> None:
    """Write LEDGER as a portable, streaming export file (docs/spec/ledger-file.md).

    OUTPUT is streamed to a temporary file beside it and renamed when complete: it is never left half
    written, and an existing file is replaced only with --force.
    """
    from ..export import export_ledger

    check_output(output, force=force, protect=[ledger])  # before opening the ledger; checked again at the end
    with progress_bar("exporting") as bar:
        s = export_ledger(ledger, output, force=force, progress=bar)
    cps = f"{s.checkpoints} checkpoint{'' if s.checkpoints == 1 else 's'}"
    entries = f"{s.entries} entr{'y' if s.entries == 1 else 'ies'}"
    click.echo(f"exported {entries} and {cps} to {output} (root {s.root.hex()})")


@cli.command("import")
@click.argument("export_file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=LEDGER,
    callback=check_ledger,
    help="The new ledger: a file, or a postgresql:// URL.",
)
@operator_option(
    required=False,
    help="The operator's verifier key, pinned (default: the key the export names, which then proves only "
    "that the file is self-consistent).",
)
@WORKERS
def import_cmd(export_file: str, output: str, operator_vkey: str | None, workers: int | None) -> None:
    """Verify an export completely, then rebuild a ledger from it (no signing key needed).

    Every entry, signature, rule, chain link and checkpoint is checked, and the trailer's root and counts,
    as the audit does, before the new ledger appears. Exit 1 when the export does not verify, 2 when it
    cannot be read or OUTPUT exists (never overwritten); either way no ledger is created.

    OUTPUT may be a postgresql:// URL of a database that holds no ledger yet: this is how a ledger moves
    from SQLite to PostgreSQL (export it, then import the export).
    """
    from ..export import import_ledger
    from ..ledger import now_ms
    from ..store import display_location

    with progress_bar("importing") as bar:
        led = import_ledger(
            export_file, output, operator_vkey=operator_vkey, now=now_ms(), workers=workers, progress=bar
        )
    with led:
        size, root = led.size, led.root()
    click.echo(f"imported {size} entries into {display_location(output)} (root {root.hex()})")
