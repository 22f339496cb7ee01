"""The ``code``, ``scan`` and ``demo`` commands (one item, one code)."""

from __future__ import annotations

import os
import stat
import sys
import warnings
from typing import NoReturn

import click

from .. import code as item_code
from .._internal.text import escape
from ..entries import ms_to_iso
from ..errors import CodeFormatError, ImageDecodeError, InputError, ProvchainError
from ..keys import parse_vkey
from . import (
    EXIT_CANNOT_RUN,
    EXIT_FINDINGS,
    PASSPHRASE,
    cli,
    emit_json,
    ledger_argument,
    load_key,
    operator_option,
    parse_time,
    render_journey,
)
from ._witnessopts import witness_options as _witness_options
from ._witnessopts import witness_policy as _witness_policy

# --- code -----------------------------------------------------------------------------------------


@cli.command("code")
@ledger_argument()
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
    help="compact: the operator vouches for the journey; full: every party's signature too (larger); "
    "witnessed: compact, plus the inclusion proof and the witnesses' cosignatures of a stored cosigned "
    "checkpoint (run checkpoint --witness first), for verifiers that require witnesses; witnessed-published: "
    "witnessed without the inclusion proof (a smaller QR code), which verifiers build from the log you "
    "publish (provchain publish): they need to be online.",
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
    "--url",
    "base",
    default=None,
    metavar="BASE",
    help="Make a URL code: BASE (an https address, such as your verifier page's), then '#' and the signed "
    "code as digits, which a phone camera opens. BASE is not signed. Scheme and host are written in upper "
    "case; a path in upper case too keeps the QR code smaller (lower case needs 8 bits a character, not 5.5).",
)
@click.option(
    "--force", is_flag=True, help="Replace OUTPUT if it exists (never a ledger or an export, never through a link)."
)
@_witness_options("whose valid cosignatures a witnessed code carries (the quorum must be met)")
@PASSPHRASE
def code_command(
    ledger: str,
    item: str,
    output: str,
    profile: str,
    operator_key: str,
    at: str | None,
    base: str | None,
    force: bool,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    policy_file: str | None,
    passphrase: str | None,
) -> None:
    """Write ITEM's code (PC1:..., or with --url a URL) as a QR image or text, signed by the operator.

    OUTPUT is written whole or not at all; an existing file is replaced only with --force.
    """
    from .. import qr
    from .._internal.files import check_output
    from ..ledger import Ledger

    if _suffix(output) not in (".png", ".svg", ".txt"):
        raise InputError(f"cannot write a code to {output!r}: the file name must end in .png, .svg or .txt")
    check_output(output, force=force, protect=[ledger])  # before any work; qr.write checks again
    if base is not None:
        item_code.check_base(base)  # a bad --url is refused before the key is read
    witnesses = _witness_policy(witness_keys, quorum, policy_file)
    if witnesses is not None and profile not in ("witnessed", "witnessed-published"):
        raise InputError("--witness, --quorum and --policy go with --profile witnessed or witnessed-published")
    op = load_key(operator_key, passphrase)
    with Ledger.open(ledger, operator=op) as led:
        text = item_code.make(led, item, profile, at=parse_time(at), url=base, witnesses=witnesses)
    qr.write(text, output, force=force, protect=[ledger])
    kind = "code" if base is None else "URL code"
    click.echo(
        f"wrote the {profile} {kind} of {item} to {output}: {len(text)} characters, "
        f"QR version {qr.qr_version(text)} at level {qr.EC_LEVEL}"
    )


# --- scan -----------------------------------------------------------------------------------------


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")

MAX_TEXT_BYTES = 64 * 1024
"""The largest text file ``scan`` reads: a code has at most 3391 characters, so 64 KiB is plenty."""


def _suffix(name: str) -> str:
    """The extension of the file ``name`` names, in lower case: ``Path(name).suffix.lower()``, without
    importing pathlib (not otherwise needed by a scan, whose start-up counts: issue #20)."""
    for sep in (os.sep, os.altsep):
        if sep and sep != "/":
            name = name.replace(sep, "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    last = parts[-1] if parts else ""
    dot = last.rfind(".")
    return last[dot:].lower() if 0 < dot < len(last) - 1 else ""


class _Unreadable(Exception):
    """``scan`` could not read its source: no symbol was decoded, or the file cannot be read (exit 2)."""

    def __init__(self, error: ProvchainError) -> None:
        super().__init__(str(error))
        self.error = error


def _read_source(source: str) -> list[str]:
    """The code texts in ``source``: the text itself if it starts with ``PC1:`` or ``https://`` (a URL code),
    else the content of the
    file at that path: a text file (UTF-8, BOM and surrounding whitespace allowed, at most
    :data:`MAX_TEXT_BYTES`) or an image (every distinct QR code in it, within :mod:`provchain.qr`'s bounds).

    A text that starts with the prefix is never taken for a path (Base45 contains ``/``), and any other
    text is never taken for a code. Raises :class:`_Unreadable` when nothing can be read.
    """
    if source.startswith(item_code.PREFIX) or item_code.is_url(source):
        return [source]
    suffix = _suffix(source)
    try:
        if suffix == ".svg":
            raise ImageDecodeError(f"{source}: SVG images cannot be scanned; scan the PNG or the code text")
        _check_file(source)
        if suffix in _IMAGE_SUFFIXES:
            from PIL import Image  # only an image needs Pillow and the QR reader

            from .. import qr

            with warnings.catch_warnings():  # Pillow warns of big images; read_texts refuses them anyway
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                texts = list(qr.read_texts(source))
            if not texts:
                raise ImageDecodeError(f"no QR code found in {source}")
            return texts
        return [_read_text_file(source)]
    except ProvchainError as exc:
        raise _Unreadable(exc) from None


def _check_file(source: str) -> None:
    """Raise :class:`CodeFormatError` unless ``source`` names a file that exists."""
    try:
        is_folder = stat.S_ISDIR(os.stat(source or ".").st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise CodeFormatError(
            f"{source}: no such file (a code given as text starts with {item_code.PREFIX!r} or https://)"
        ) from None
    except OSError as exc:
        raise CodeFormatError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    except ValueError:
        raise CodeFormatError(f"{source!r} is not a file name") from None
    if is_folder:
        raise CodeFormatError(f"{source} is a folder, not a code file or an image")


def _read_text_file(path: str) -> str:
    """The code text in a text file: UTF-8 (a BOM allowed), surrounding whitespace and line ends removed."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_TEXT_BYTES + 1)
    except IsADirectoryError:
        raise CodeFormatError(f"{path} is a folder, not a code file") from None
    except OSError as exc:
        raise CodeFormatError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_TEXT_BYTES:
        raise CodeFormatError(
            f"{path} is larger than {MAX_TEXT_BYTES // 1024} KiB: a code file holds one code of at most "
            f"{item_code.MAX_CODE_CHARS} characters"
        )
    try:  # UTF-8 after one optional BOM ("utf-8-sig", whose codec module is one more import)
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CodeFormatError(
            f"{path} is not a UTF-8 text file (scan an image by a name ending in {', '.join(_IMAGE_SUFFIXES)})"
        ) from None


def _one_code(source: str, texts: list[str]) -> str:
    """The one code among the texts read from ``source``: the only text, or else the only item code (a QR
    code of another kind beside it, such as a shop's web address, is left aside). Raises
    :class:`ImageDecodeError` (a refusal) for two different item codes: a label stuck over another, or two
    items in one photo, and for several QR codes none of which is an item code."""
    if len(texts) == 1:
        return texts[0]
    codes = [t for t in texts if _is_item_code(t)]
    if len(codes) == 1:
        return codes[0]
    if codes:
        raise ImageDecodeError(f"{source} holds {len(codes)} different item codes; a label has exactly one")
    raise ImageDecodeError(f"{source} holds {len(texts)} QR codes, none of them an item code")


def _is_item_code(text: str) -> bool:
    """True for a text that claims to be an item code: ``PC1:...``, or an https URL whose fragment starts
    with the version digits (a shop's web address beside the code has no such fragment)."""
    if text.startswith(item_code.PREFIX):
        return True
    _base, hash_sign, fragment = text.partition("#")
    return item_code.is_url(text) and bool(hash_sign) and fragment.startswith(item_code.FRAGMENT_VERSION)


def _duration(ms: int) -> str:
    """``ms`` for people: ``45 s``, ``10 min``, ``23 h 5 min``."""
    if ms < 60_000:
        return f"{max(1, (ms + 500) // 1000)} s"
    hours, minutes = divmod((ms + 30_000) // 60_000, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _verdict(report: item_code.CodeReport) -> str:
    signers = "every party and the operator" if report.profile == "full" else "the operator"
    kind = "code" if report.version == 1 else "URL code"
    return (
        f"VERIFIED  {len(report.events)} events of {escape(report.item)}, vouched for by {signers} of "
        f"{escape(report.origin)} "
        f"({report.profile} {kind} issued {ms_to_iso(report.issued)})"
    )


def _witness_lines(report: item_code.CodeReport) -> list[str]:
    """What ``scan`` says of the witnesses: each counted cosignature and the freshness of the newest."""
    if report.witness_policy is None:
        if report.profile in ("witnessed", "witnessed-published"):
            return [
                f"  note: the code carries {report.cosignatures_carried} witness cosignature(s), not checked: "
                "give --witness or --policy to require them"
            ]
        return []
    lines = [f"  witnesses: {len(report.witnesses)} counted ({escape(report.witness_policy)})"]
    for w in report.witnesses:
        lines.append(f"    {escape(w.witness)}  key {w.key_id.hex()}  cosigned {ms_to_iso(w.timestamp * 1000)}")
    age = report.witness_age_ms
    if report.witnessed_at is not None and age is not None:
        when = ms_to_iso(report.witnessed_at * 1000)
        relation = f"{_duration(age)} before this check" if age >= 0 else f"{_duration(-age)} after this device's clock"
        lines.append(f"  freshness: the checkpoint was last cosigned {when}, {relation}")
    return lines


def _fail_scan(verdict: str, error: ProvchainError, as_json: bool) -> NoReturn:
    """Print the verdict and the error (its messages never quote an unverified code), then exit 1
    (REFUSED) or 2 (UNREADABLE)."""
    if as_json:
        body = {"type": type(error).__name__, "message": str(error)}
        emit_json({"verified": False, "verdict": verdict.lower(), "error": body})
    else:
        click.echo(f"{verdict}  {type(error).__name__}: {error}")
    sys.exit(EXIT_FINDINGS if verdict == "REFUSED" else EXIT_CANNOT_RUN)


@cli.command()
@click.argument("source")
@operator_option(help="The operator's verifier key (pinned).")
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"version": 1, "verified": ..., "item": ..., "events": [...], ...}.'
)
@click.option("--at", default=None, help="Verify as of this ISO 8601 time (default: now).")
@_witness_options("that must have cosigned the code's checkpoint")
@click.option(
    "--log",
    "location",
    default=None,
    metavar="DIR_OR_URL",
    help="The operator's published log (provchain publish): a directory or an http(s):// URL. A "
    "witnessed-published code's inclusion proof is built from it; without it such a code is refused.",
)
def scan(
    source: str,
    operator_vkey: str,
    as_json: bool,
    at: str | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    policy_file: str | None,
    location: str | None,
) -> None:
    """Read an item code and verify it offline. SOURCE is the code text (it starts with PC1:, or https://
    for a URL code, whose web address is not verified) or the path of an image or a .txt file.

    Exit 0 verified; 1 refused: the code was read (from a QR symbol, a file or the text given) but is
    not genuine, malformed codes included; 2 unreadable: no QR code found, or the file cannot be read.
    A code dated up to 24 hours after this device's clock verifies, with a note.

    With --witness (or --policy), a code is refused unless it is a witnessed code whose checkpoint a
    quorum of those witnesses cosigned; the cosignatures and their time are shown. A witnessed-published
    code carries no inclusion proof: give --log, where the operator publishes its log, to check it.
    """
    when = parse_time(at)
    if when is not None and when < 0:
        raise InputError("--at must not be before 1970")
    parse_vkey(operator_vkey)  # a bad --operator is a bad argument (exit 2), not a verdict on the code
    witnesses = _witness_policy(witness_keys, quorum, policy_file)  # so is a bad witness option
    log = None
    if location is not None:
        from ..tlog import TiledLog, open_fetcher

        log = TiledLog(open_fetcher(location))  # a missing directory or a bad URL: a bad argument too
    try:
        texts = _read_source(source)
    except _Unreadable as exc:
        _fail_scan("UNREADABLE", exc.error, as_json)
    try:
        report = item_code.verify(_one_code(source, texts), operator_vkey, at=when, witnesses=witnesses, log=log)
    except ProvchainError as exc:  # the text was read exactly (a QR symbol's error correction), so: refused
        _fail_scan("REFUSED", exc, as_json)
    finally:
        if log is not None:
            log.close()
    if as_json:
        emit_json(report.to_json())
        return
    events = [e.to_json() for e in report.events]
    click.echo(render_journey(report.item, events))
    revoked = sorted({e.party for e in report.events if e.key_revoked_later})
    click.echo("")
    click.echo("  checks: " + ", ".join(report.checks))
    if revoked:
        click.echo(f"  note: the key of {', '.join(map(escape, revoked))} was revoked after it signed these events")
    if report.version != 1:
        click.echo("  note: the web address before '#' is not signed: only the code after it was verified")
    if report.profile == "witnessed-published" and location is not None:
        click.echo(f"  note: the inclusion proof was built from the log published at {escape(location)}")
    for line in _witness_lines(report):
        click.echo(line)
    if report.clock_skew_ms:
        click.echo(
            f"  note: this device's clock is {_duration(report.clock_skew_ms)} behind the code's issue time "
            f"({ms_to_iso(report.issued)}); codes up to 24 h ahead of the clock are accepted"
        )
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
