"""The ``publish`` and ``check-published`` commands: the ledger as static C2SP tlog-tiles files, and an item
code checked against them (docs/spec/tiles.md)."""

from __future__ import annotations

import click

from ..errors import FormatError, InputError, VerificationError
from ..keys import parse_vkey
from . import cli, ledger_argument, parse_time, progress_bar


@cli.command()
@ledger_argument()
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
        with progress_bar("publishing") as bar:
            result = publish_once(ledger, directory, progress=bar)
        click.echo(str(result))
        return
    publish_loop(ledger, directory, interval=interval, rounds=rounds, on_round=lambda r: click.echo(str(r)))


@cli.command("check-published")
@click.argument("code_text", metavar="CODE")
@click.option("--log", "location", required=True, help="The published log: a directory or an http(s):// URL.")
@click.option("--operator", "operator_vkey", required=True, help="The operator's verifier key (pinned).")
@click.option("--at", default=None, help="Verify the code as of this ISO 8601 time (default: now).")
def check_published(code_text: str, location: str, operator_vkey: str, at: str | None) -> None:
    """Verify an item CODE (its text: PC1:... or a URL code) and check its anchor against a published log.

    The code is verified as `scan` does (a witnessed-published code with its inclusion proof built from
    this log); then the published checkpoint is verified by --operator, and proofs built from the published
    tiles show that the tree the code is anchored in is a prefix of the published tree and that the item's
    last event is in it. Exit 0 when all holds, 1 when the code or a proof is refused, 2 when the log
    cannot be read.
    """
    from .. import code as item_code
    from .._internal.text import escape
    from ..tlog import TiledLog, open_fetcher

    when = parse_time(at)
    parse_vkey(operator_vkey)  # a bad --operator is a bad argument (exit 2), not a verdict on the code
    with TiledLog(open_fetcher(location)) as log:
        try:
            report = item_code.verify(code_text, operator_vkey, at=when, log=log)
        except FormatError as exc:  # as for `scan`: a code that was given but does not parse is refused
            raise VerificationError(f"the code is refused: {exc}") from None
        published, _ = log.checkpoint(operator_vkey)
        log.verify_anchor(report.head_hash, report.head_index, report.tree_size, report.root, published)
    click.echo(
        f"VERIFIED  {len(report.events)} events of {escape(report.item)}; the code's tree of {report.tree_size} "
        f"entries is a prefix of the published tree of {published.size} entries, and its last event (entry "
        f"{report.head_index}) is in it"
    )
