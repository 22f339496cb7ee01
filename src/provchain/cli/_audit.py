"""The ``audit`` command (the auditor's replay)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import EXIT_FINDINGS, cli

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
    from ..audit import audit_path

    report = audit_path(ledger, operator_vkey)
    if json_path == "-":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        if json_path:
            Path(json_path).write_text(json.dumps(report.to_json(), indent=2) + "\n")
        click.echo(report.summary())
    sys.exit(0 if report.clean else EXIT_FINDINGS)
