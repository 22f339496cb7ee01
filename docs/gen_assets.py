"""Generate the README's picture of a real item code and the terminal output of scanning it.

    python docs/gen_assets.py            # writes docs/img/item-code.png and docs/img/scan-output.txt
    python docs/gen_assets.py OUTDIR     # writes them to OUTDIR instead

Everything is deterministic: the keys come from fixed seeds (``KeyPair.from_seed``), every entry and the
code carry fixed times, and the scan runs ``--at`` a fixed time. Ed25519 signatures are deterministic, so
the same library gives the same code, byte for byte. ``tests/test_docs.py`` runs this script again in a
temporary folder and requires README.md to show exactly the transcript it prints.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from provchain import KeyPair, Ledger, qr
from provchain import code as item_code
from provchain.cli import cli
from provchain.demo import HOUR, ITEM, JOURNEY, ORIGIN, PARTIES, START

ISSUED = START + 21 * 24 * HOUR + HOUR  # the code is printed an hour after delivery
SCAN_AT = "2025-12-01T09:00:00Z"  # the buyer scans it a week later
SHOWN_PATH = "docs/img/item-code.png"  # the path the README's command names

# The demo's story (provchain.demo): parties, journey and start time. Each party's seed here is its
# position (1..5) repeated 32 times.


def operator_key() -> KeyPair:
    """The operator's key: seed 00 01 02 .. 1f, named after the origin."""
    return KeyPair.from_seed(ORIGIN, bytes(range(32)))


def party_keys() -> dict[str, KeyPair]:
    """The parties' keys, by role."""
    return {role: KeyPair.from_seed(name, bytes([n]) * 32) for n, (role, name) in enumerate(PARTIES.items(), 1)}


def build_code(workdir: Path) -> str:
    """Record the serum's journey in a fresh ledger under ``workdir`` and return its item code."""
    op = operator_key()
    keys = party_keys()
    registered = START - 48 * HOUR
    with Ledger.create(workdir / "ledger.db", origin=ORIGIN, operator=op, at=registered) as led:
        for role, kp in keys.items():
            led.register_party(kp.name, [role], kp.public_key, at=registered, valid_from=registered)
        for stage, role, country, place, data, hours in JOURNEY:
            led.append(ITEM, stage, keys[role], country=country, place=place, data=data, at=START + hours * HOUR)
        return item_code.make(led, ITEM, at=ISSUED)


def scan_transcript(png: Path) -> str:
    """The console transcript of ``provchain scan`` on ``png``: the command line, then what it prints."""
    args = [str(png), "--operator", operator_key().vkey, "--at", SCAN_AT]
    result = CliRunner().invoke(cli, ["scan", *args], prog_name="provchain")
    if result.exit_code != 0:
        raise SystemExit(f"scan failed ({result.exit_code}): {result.output}")
    shown = shlex.join(["provchain", "scan", SHOWN_PATH, *args[1:]])
    return f"$ {shown}\n{result.output}"


def generate(outdir: Path) -> tuple[Path, Path]:
    """Write ``item-code.png`` and ``scan-output.txt`` into ``outdir``; return their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="provchain-assets-") as tmp:
        payload = build_code(Path(tmp))
    png = outdir / "item-code.png"
    qr.write(payload, png, force=True)  # regenerating replaces the previous picture
    if qr.read_image(png) != payload:
        raise SystemExit("the PNG does not read back as the code")
    transcript = outdir / "scan-output.txt"
    transcript.write_text(scan_transcript(png), encoding="utf-8")
    return png, transcript


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0]) if args else Path(__file__).resolve().parent / "img"
    png, transcript = generate(outdir)
    print(f"wrote {png} and {transcript}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
