"""The ``provchain demo`` story: one French serum, from Grasse to a buyer in Beijing, in one QR code.

:func:`run_demo` runs everything for real in a fresh folder: keys, a SQLite ledger, six signed events, a
checkpoint, the item's code written as a PNG, the PNG read back with the QR decoder and verified offline
with nothing but the operator's verifier key, then a forged copy (the appraisal verdict changed) that is
refused. It returns True when the story behaved: the genuine code verified and the forgery was refused.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from . import code, qr
from ._internal.files import write_atomic
from .errors import InputError, ProvchainError, VerificationError
from .keys import KeyPair
from .ledger import Ledger

__all__ = ["HOUR", "ITEM", "JOURNEY", "ORIGIN", "PARTIES", "START", "run_demo"]

ORIGIN = "example.com/acme-ledger"
"""The demo ledger's origin (and the operator key's name)."""

ITEM = "SERUM-FR-0731"
"""The demo item: a bottle of serum made in Grasse."""

HOUR = 3_600_000
START = int(datetime(2025, 11, 3, 8, 0, tzinfo=UTC).timestamp() * 1000)
"""When the serum leaves Grasse (the demo's, the README's and the examples' story)."""

# role -> party name
PARTIES = {
    "origin": "grasse-labs",
    "customs": "shanghai-customs-broker",
    "warehouse": "hz-bonded-wh-3",
    "appraiser": "cciq-inspection",
    "courier": "sf-express",
}
# (stage, role, country, place, data, hours after START)
JOURNEY: list[tuple[str, str, str, str, dict[str, str | int], int]] = [
    ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}, 0),
    ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}, 14 * 24),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}, 15 * 24),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}, 18 * 24),
    ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "grade-b"}, 19 * 24),
    ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}, 21 * 24),
]
_FORGED_VERDICT = "grade-a"


def _folder(directory: str | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="provchain-demo-"))
    folder = Path(directory)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder} is not an empty folder; the demo needs a fresh one")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _forge(payload: str, origin: str) -> str:
    """The code with the appraisal verdict changed and everything else (the signature too) kept."""
    bundle = code.parse(payload, origin)
    events = tuple(
        replace(e, data={**e.data, "verdict": _FORGED_VERDICT}) if e.stage == "appraisal" else e for e in bundle.events
    )
    return replace(bundle, events=events).payload()


def run_demo(directory: str | None, echo: Callable[[str], None]) -> bool:
    """Run the demo story in ``directory`` (a new temporary folder when None; an existing one must be
    empty), writing what happens through ``echo``. Returns True when the genuine code verified and the
    forged one was refused (and, when the auditor is available, the ledger audited clean)."""
    from .cli import render_journey

    folder = _folder(directory)
    keys_dir = folder / "keys"
    keys_dir.mkdir()
    echo("provchain demo: one item, one code")
    echo(f"  folder  {folder}")

    # 1. The operator and the parties.
    operator = KeyPair.generate(ORIGIN)
    operator.save(keys_dir / "operator.key")
    parties = {role: KeyPair.generate(name) for role, name in PARTIES.items()}
    for kp in parties.values():
        kp.save(keys_dir / f"{kp.name}.key")
    ledger_path = folder / "ledger.db"
    echo("")
    echo("1. The operator creates the ledger and registers five parties")
    echo(f"   operator key  {operator.vkey}")
    with Ledger.create(ledger_path, origin=ORIGIN, operator=operator, at=START - 48 * HOUR) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, [role], kp.public_key, at=START - 48 * HOUR, valid_from=START - 48 * HOUR)
            echo(f"   {kp.name:<25} {role:<10} key {kp.key_id.hex()}")

        # 2. The journey.
        for stage, role, country, place, data, hours in JOURNEY:
            led.append(ITEM, stage, parties[role], country=country, place=place, data=data, at=START + hours * HOUR)
        echo("")
        echo(f"2. Each party records its step of {ITEM}, signed with its own key")
        stages = " -> ".join(stage for stage, *_ in JOURNEY)
        echo(f"   {stages} ({len(JOURNEY)} events; the ledger holds {led.size} entries)")

        # 3. The checkpoint and the code.
        led.checkpoint()
        payload = code.make(led, ITEM)
    png = folder / "item.png"
    qr.write(payload, png)
    write_atomic(folder / "item.txt", (payload + "\n").encode("utf-8"))
    echo("")
    echo("3. The operator signs a checkpoint and prints the item's code")
    echo(f"   {png.name}  compact code, {len(payload)} characters, QR version {qr.qr_version(payload)}, level M")

    # 4. The buyer scans it.
    echo("")
    echo("4. A buyer scans item.png: decoded from the image, verified offline, only the operator key pinned")
    genuine = False
    try:
        scanned = qr.read_image(png)
        report = code.verify(scanned, operator.vkey)
        genuine = scanned == payload
        for line in render_journey(report.item, [e.to_json() for e in report.events]).splitlines():
            echo(f"   {line}")
        echo(f"   checks  {', '.join(report.checks)}")
        echo(f"   VERIFIED  {len(report.events)} events of {report.item}, vouched for by {report.origin}")
    except ProvchainError as exc:
        echo(f"   NOT VERIFIED  {type(exc).__name__}: {exc}")

    # 5. The forgery.
    forged = _forge(payload, ORIGIN)
    forged_png = folder / "forged.png"
    qr.write(forged, forged_png)
    echo("")
    echo(f"5. A forger edits the appraisal verdict (grade-b -> {_FORGED_VERDICT}) and prints {forged_png.name}")
    refused = False
    try:
        code.verify(qr.read_image(forged_png), operator.vkey)
        echo("   ACCEPTED  the forgery was not detected (this is a bug)")
    except VerificationError as exc:
        refused = True
        echo(f"   REFUSED  {type(exc).__name__}: {exc}")
    except ProvchainError as exc:
        echo(f"   UNREADABLE  {type(exc).__name__}: {exc}")

    # 6. The auditor, when it is installed.
    audited = _audit(ledger_path, operator.vkey, echo)

    ok = genuine and refused and audited
    echo("")
    if ok:
        echo("Result: the genuine code verified and the forgery was refused.")
    else:
        echo("Result: FAILED: the demo did not behave as expected (see above).")
    echo(f"Try it: {_command()} scan {shlex.quote(str(png))} --operator '{operator.vkey}'")
    return ok


def _command() -> str:
    """How to call provchain from the user's shell: ``provchain`` when that name on the PATH is the program
    running now, else its full path (a virtualenv that was not activated), else ``python -m provchain``."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "provchain" and script.is_file():
        found = shutil.which("provchain")
        if found is not None and Path(found).resolve() == script.resolve():
            return "provchain"
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m provchain"


def _audit(ledger_path: Path, vkey: str, echo: Callable[[str], None]) -> bool:
    try:
        from .audit import audit_path
    except ImportError:
        return True
    echo("")
    echo("6. The auditor replays the whole ledger")
    report = audit_path(str(ledger_path), vkey)
    for line in str(report.summary()).splitlines():
        echo(f"   {line}")
    return bool(report.clean)
