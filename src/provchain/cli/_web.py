"""The ``verifier-page`` command: write the self-contained page that verifies codes in a browser."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .._internal.files import check_output, write_atomic
from ..errors import InputError
from ..witness import WitnessPolicy
from . import cli, operator_option


@cli.command("verifier-page")
@click.argument("outdir", type=click.Path(file_okay=False))
@operator_option(
    multiple=True,
    help="A verifier key (name+hex8+base64) whose codes the page trusts; repeat for several operators.",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="WVKEY",
    help="A witness verifier key the page requires (repeat for several): the page then refuses every code "
    "that is not a witnessed code whose checkpoint --quorum of these witnesses cosigned.",
)
@click.option(
    "--quorum",
    type=click.IntRange(min=1),
    default=None,
    help="How many of the --witness keys must have cosigned (default: all).",
)
@click.option(
    "--policy",
    "policy_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="A witness policy file (C2SP tlog-policy) the page requires, instead of --witness and --quorum.",
)
@click.option(
    "--register",
    default=None,
    metavar="BASE",
    help="A provchain service (https://HOST/PATH/) whose scan register the page reports verified codes to.",
)
@click.option(
    "--log-url",
    default=None,
    metavar="URL_PREFIX",
    help="Where the operator publishes its log (provchain publish LEDGER SITE/log): https://HOST/PATH/, or a "
    "path relative to the page such as log/. The page fetches the hash tiles of a witnessed-published code's "
    "inclusion proof from there; without it, or offline, it refuses such codes.",
)
@click.option("--force", is_flag=True, help="Replace the page's files in OUTDIR if they exist (never through a link).")
def verifier_page_command(
    outdir: str,
    operators: tuple[str, ...],
    witnesses: tuple[str, ...],
    quorum: int | None,
    policy_file: str | None,
    register: str | None,
    log_url: str | None,
    force: bool,
) -> None:
    """Write the verifier page to OUTDIR: index.html (self-contained), sw.js (offline copy over https), and
    THIRD_PARTY_LICENSES.txt (the licences of the packages in its script).

    Publish them at the address your URL codes start with (provchain code --url BASE). Opened from a code's
    URL, the page verifies the code on the phone, offline, with the pinned keys; it also scans with the camera
    and checks pasted code text. OUTDIR is created if missing (its parent must exist). With --register, the page
    also posts each code it verified to that service's scan register and shows how often the item was scanned
    (the service must allow the page's origin: provchain serve --cors-origin).
    """
    from ..web import LICENSES_NAME, PAGE_NAME, WORKER_NAME, verifier_page

    policy = None
    if policy_file is not None:
        if witnesses or quorum is not None:
            raise InputError("give either --policy or --witness (and --quorum), not both")
        policy = WitnessPolicy.load(policy_file)
    files = verifier_page(list(operators), list(witnesses), quorum, register=register, policy=policy, log_url=log_url)
    out = Path(outdir)
    if not out.exists():
        if not out.parent.is_dir():
            raise InputError(f"cannot create {outdir}: the directory {out.parent} does not exist")
        os.mkdir(out)
    elif out.is_symlink() or not out.is_dir():
        raise InputError(f"{outdir} is not a directory")
    names = (PAGE_NAME, WORKER_NAME, LICENSES_NAME)
    for name in names:  # all checked before any is written
        check_output(out / name, force=force)
    for name in names:
        write_atomic(out / name, files[name], force=force)
    size = len(files[PAGE_NAME])
    click.echo(
        f"wrote {out / PAGE_NAME} ({size} bytes), {WORKER_NAME} and {LICENSES_NAME}, trusting {len(operators)} "
        f"operator key{'s' if len(operators) != 1 else ''}"
        + (f", requiring {quorum or len(witnesses)} of {len(witnesses)} witnesses" if witnesses else "")
        + (f", reading published proofs from {log_url}" if log_url is not None else "")
    )
