"""The ``code``, ``scan`` and ``demo`` commands (one item, one code)."""

from __future__ import annotations

import sys

import click

from . import EXIT_FINDINGS, cli

# --- demo -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Run the whole story in a fresh folder: a journey recorded, its code written, scanned and verified,
    and a forged copy refused."""
    from ..demo import run_demo

    ok = run_demo(directory, click.echo)
    sys.exit(0 if ok else EXIT_FINDINGS)
