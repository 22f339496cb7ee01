"""The ``audit``, ``export`` and ``import`` commands (the auditor's replay and the portable ledger file)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

import click

from . import EXIT_FINDINGS, cli


class _ProgressLine:
    """A one-line progress display on a terminal: entries done, rate, time left. Silent elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if now - self._last < 0.5 and not final:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        line = f"\r  audited {done:,}"
        if total:
            pct = 100.0 * done / total
            left = (total - done) / rate if rate > 0 else 0.0
            line += f" / {total:,} entries ({pct:5.1f}%)  {rate:,.0f}/s  {int(left) // 60}:{int(left) % 60:02d} left"
        else:
            line += f" entries  {rate:,.0f}/s"
        self._stream.write(line + "   ")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("--operator", "operator_vkey", required=True, help="The operator's verifier key (pinned).")
@click.option(
    "--since",
    "since_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="A checkpoint saved from an earlier audit (signed note or checkpoint text): the ledger must extend it.",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write a JSON report to this file ('-' for stdout instead of the summary).",
)
@click.option(
    "--save-checkpoint",
    "save_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="When the audit is clean, write the checkpoint to pass as --since next time.",
)
@click.option(
    "--workers", default=None, type=click.IntRange(min=1), help="Processes for signatures (default: all cores)."
)
def audit(
    ledger: str,
    operator_vkey: str,
    since_path: str | None,
    json_path: str | None,
    save_path: str | None,
    workers: int | None,
) -> None:
    """Replay LEDGER (SQLite file or export) and check everything. Exit 0 clean, 1 findings, 2 cannot run."""
    from ..audit import audit_path
    from ..ledger import now_ms

    since = Path(since_path).read_bytes() if since_path else None
    bar = _ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        report = audit_path(ledger, operator_vkey, since=since, workers=workers, progress=bar, now=now_ms())
    finally:
        if bar is not None:
            bar.close()
    if json_path == "-":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        if json_path:
            Path(json_path).write_text(json.dumps(report.to_json(), indent=2) + "\n")
        click.echo(report.summary())
    if save_path and report.clean:
        Path(save_path).write_text(report.checkpoint_to_save)
    sys.exit(0 if report.clean else EXIT_FINDINGS)


@cli.command("export")
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="The export file.")
def export_cmd(ledger: str, output: str) -> None:
    """Write LEDGER as a portable, streaming export file (docs/spec/ledger-file.md)."""
    from ..export import export_ledger

    s = export_ledger(ledger, output)
    cps = f"{s.checkpoints} checkpoint{'' if s.checkpoints == 1 else 's'}"
    entries = f"{s.entries} entr{'y' if s.entries == 1 else 'ies'}"
    click.echo(f"exported {entries} and {cps} to {output} (root {s.root.hex()})")


@cli.command("import")
@click.argument("export_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="The new ledger file.")
def import_cmd(export_file: str, output: str) -> None:
    """Rebuild a ledger file from an export (no key needed; audit the result)."""
    from ..export import import_ledger

    with import_ledger(export_file, output) as led:
        size, root = led.size, led.root()
    click.echo(f"imported {size} entries into {output} (root {root.hex()})")
