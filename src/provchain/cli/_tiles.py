"""The ``publish`` command: the ledger as static C2SP tlog-tiles files (docs/spec/tiles.md)."""

from __future__ import annotations

import click

from ..errors import InputError
from . import cli


@cli.command()
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("directory", type=click.Path())
@click.option("--watch", is_flag=True, help="Keep publishing as the ledger grows (until interrupted).")
@click.option(
    "--interval", default=10.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds between --watch runs."
)
@click.option("--rounds", default=None, type=click.IntRange(min=1), help="With --watch: stop after this many runs.")
def publish(ledger: str, directory: str, watch: bool, interval: float, rounds: int | None) -> None:
    """Publish LEDGER as a static tlog-tiles tree in DIRECTORY, up to its latest signed checkpoint.

    Writes the entry bundles (tile/entries/...), their signatures (tile/sigs/...) and the hash tiles
    (tile/<L>/...), only those not already there, each file whole (temporary file, then rename); then the
    checkpoint, last. Serve DIRECTORY from any static web server; audit it with
    `provchain audit DIRECTORY_OR_URL --operator KEY`.
    """
    from ..tlog import publish as publish_once
    from ..tlog import publish_loop

    if not watch:
        if rounds is not None:
            raise InputError("--rounds needs --watch")
        click.echo(str(publish_once(ledger, directory)))
        return
    publish_loop(ledger, directory, interval=interval, rounds=rounds, on_round=lambda r: click.echo(str(r)))
