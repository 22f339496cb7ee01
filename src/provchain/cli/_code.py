"""The ``code``, ``scan`` and ``demo`` commands (one item, one code)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .. import code as item_code
from .. import qr
from .._internal.files import check_output
from ..entries import ms_to_iso
from ..errors import CodeFormatError, ImageDecodeError, InputError, ProvchainError, VerificationError
from ..ledger import Ledger
from . import EXIT_CANNOT_RUN, EXIT_FINDINGS, PASSPHRASE, cli, load_key, parse_time, render_journey

# --- code -----------------------------------------------------------------------------------------


@cli.command("code")
@click.argument("ledger", type=click.Path(dir_okay=False))
@click.argument("item")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the code: a .png or .svg image, or a .txt file with the code text.",
)
@click.option(
    "--profile",
    type=click.Choice(item_code.PROFILES),
    default="compact",
    show_default=True,
    help="compact: the operator vouches for the journey; full: every party's signature too (larger).",
)
@click.option(
    "--operator-key",
    "operator_key",
    required=True,
    envvar="PROVCHAIN_OPERATOR_KEY",
    type=click.Path(dir_okay=False),
    help="The operator's key file: the operator signs the code (or set PROVCHAIN_OPERATOR_KEY).",
)
@click.option("--at", default=None, help="ISO 8601 issue time of the code (default: now; no offset means UTC).")
@click.option(
    "--force", is_flag=True, help="Replace OUTPUT if it exists (never a ledger or an export, never through a link)."
)
@PASSPHRASE
def code_command(
    ledger: str,
    item: str,
    output: str,
    profile: str,
    operator_key: str,
    at: str | None,
    force: bool,
    passphrase: str | None,
) -> None:
    """Write ITEM's code (PC1:...) as a QR image or text, signed by the operator.

    OUTPUT is written whole or not at all; an existing file is replaced only with --force.
    """
    if Path(output).suffix.lower() not in (".png", ".svg", ".txt"):
        raise InputError(f"cannot write a code to {output!r}: the file name must end in .png, .svg or .txt")
    check_output(output, force=force, protect=[ledger])  # before any work; qr.write checks again
    op = load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        text = item_code.make(led, item, profile, at=parse_time(at))
    qr.write(text, output, force=force, protect=[ledger])
    click.echo(
        f"wrote the {profile} code of {item} to {output}: {len(text)} characters, "
        f"QR version {qr.qr_version(text)} at level {qr.EC_LEVEL}"
    )


# --- scan -----------------------------------------------------------------------------------------


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _read_source(source: str) -> str:
    """The code text in ``source``: a .txt file, an image file, or else the text itself."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        raise ImageDecodeError(f"{source}: SVG images cannot be scanned; scan the PNG or the code text")
    if suffix == ".txt" or (path.is_file() and suffix not in _IMAGE_SUFFIXES):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CodeFormatError(f"{source} does not exist") from None
        except UnicodeDecodeError:
            raise CodeFormatError(f"{source} is not a text file") from None
        return text.removesuffix("\n").removesuffix("\r")
    if suffix in _IMAGE_SUFFIXES or path.is_file():
        return qr.read_image(path)
    return source


def _verdict(report: item_code.CodeReport) -> str:
    signers = "every party and the operator" if report.profile == "full" else "the operator"
    return (
        f"VERIFIED  {len(report.events)} events of {report.item}, vouched for by {signers} of {report.origin} "
        f"({report.profile} code issued {ms_to_iso(report.issued)})"
    )


@cli.command()
@click.argument("source")
@click.option("--operator", "operator_vkey", required=True, help="The operator's verifier key (pinned).")
@click.option("--json", "as_json", is_flag=True, help='Print {"item": ..., "events": [...], "checks": {...}}.')
@click.option("--at", default=None, help="Verify as of this ISO 8601 time (default: now).")
def scan(source: str, operator_vkey: str, as_json: bool, at: str | None) -> None:
    """Read an item code (an image, a .txt file, or the PC1:... text) and verify it offline.

    Exit 0 verified, 1 refused, 2 unreadable.
    """
    when = parse_time(at)
    try:
        report = item_code.verify(_read_source(source), operator_vkey, at=when)
    except ProvchainError as exc:
        refused = isinstance(exc, VerificationError)
        verdict = "REFUSED" if refused else "UNREADABLE"
        if as_json:
            error = {"type": type(exc).__name__, "message": str(exc)}
            click.echo(json.dumps({"verified": False, "verdict": verdict.lower(), "error": error}, indent=2))
        else:
            click.echo(f"{verdict}  {type(exc).__name__}: {exc}")
        sys.exit(EXIT_FINDINGS if refused else EXIT_CANNOT_RUN)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    events = [e.to_json() for e in report.events]
    click.echo(render_journey(report.item, events))
    revoked = sorted({e.party for e in report.events if e.key_revoked_later})
    click.echo("")
    click.echo("  checks: " + ", ".join(report.checks))
    if revoked:
        click.echo(f"  note: the key of {', '.join(revoked)} was revoked after it signed these events")
    click.echo(_verdict(report))


# --- demo -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Run the whole story in a fresh folder: a journey recorded, its code written, scanned and verified,
    and a forged copy refused."""
    from ..demo import run_demo

    ok = run_demo(directory, click.echo)
    sys.exit(0 if ok else EXIT_FINDINGS)
